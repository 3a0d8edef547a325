#!/usr/bin/env python3
"""Rewrites a PNG (8-bit RGB or RGBA, not interlaced, as headless Chromium writes them) as a
256-colour palette PNG, in place: a rendered terminal has a few colours plus the antialiasing
between them, so the 256 most frequent colours keep it sharp at a fraction of the size. Every
other colour becomes the nearest of those. Standard library only.

    python3 png8.py FILE.png [FILE.png ...]
"""

import struct
import sys
import zlib
from collections import Counter

SIGNATURE = b"\x89PNG\r\n\x1a\n"


def chunks(data: bytes):
    pos = len(SIGNATURE)
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        yield data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length


def paeth(a: int, b: int, c: int) -> int:
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def read_rgb(path: str):
    """Width, height and the rows as lists of (r, g, b)."""
    data = open(path, "rb").read()
    if not data.startswith(SIGNATURE):
        raise SystemExit(f"{path}: not a PNG")
    idat = b""
    for kind, body in chunks(data):
        if kind == b"IHDR":
            width, height, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            if depth != 8 or ctype not in (2, 6) or interlace:
                raise SystemExit(f"{path}: only 8-bit RGB/RGBA, not interlaced (depth {depth}, type {ctype})")
        elif kind == b"IDAT":
            idat += body
    bpp = 3 if ctype == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    prev = bytearray(stride)
    rows = []
    i = 0
    for _ in range(height):
        kind, line = raw[i], bytearray(raw[i + 1 : i + 1 + stride])
        i += 1 + stride
        for x in range(stride):
            a = line[x - bpp] if x >= bpp else 0
            if kind == 1:
                line[x] = (line[x] + a) & 255
            elif kind == 2:
                line[x] = (line[x] + prev[x]) & 255
            elif kind == 3:
                line[x] = (line[x] + ((a + prev[x]) >> 1)) & 255
            elif kind == 4:
                line[x] = (line[x] + paeth(a, prev[x], prev[x - bpp] if x >= bpp else 0)) & 255
        rows.append([bytes(line[x : x + 3]) for x in range(0, stride, bpp)])
        prev = line
    return width, height, rows


def write_png8(path: str, width: int, height: int, rows) -> None:
    counts = Counter(pixel for row in rows for pixel in row)
    palette = [color for color, _ in counts.most_common(256)]
    index = {color: i for i, color in enumerate(palette)}

    def nearest(color: bytes) -> int:
        r, g, b = color
        best = min(range(len(palette)), key=lambda i: (palette[i][0] - r) ** 2 + (palette[i][1] - g) ** 2 + (palette[i][2] - b) ** 2)
        index[color] = best
        return best

    raw = bytearray()
    for row in rows:
        raw.append(0)
        raw.extend(index[p] if p in index else nearest(p) for p in row)

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    out = SIGNATURE
    out += chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 3, 0, 0, 0))
    out += chunk(b"PLTE", b"".join(palette))
    out += chunk(b"IDAT", zlib.compress(bytes(raw), 9))
    out += chunk(b"IEND", b"")
    with open(path, "wb") as f:
        f.write(out)


def main(argv) -> int:
    if not argv:
        print(__doc__.strip(), file=sys.stderr)
        return 2
    for path in argv:
        write_png8(path, *read_rgb(path))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
