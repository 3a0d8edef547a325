"""Turns `tmux capture-pane -e -p` output (SGR colours) into an HTML page of a terminal, for
a headless-browser screenshot. Usage: ansi_to_html.py < capture.txt > capture.html"""

import html
import re
import sys
import unicodedata

BASIC = ["#1e1e1e", "#f44747", "#6a9955", "#d7ba7d", "#569cd6", "#c586c0", "#4ec9b0", "#d4d4d4",
         "#808080", "#f44747", "#b5cea8", "#dcdcaa", "#9cdcfe", "#d16969", "#4ec9b0", "#ffffff"]


def xterm(n: int) -> str:
    if n < 16:
        return BASIC[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return "#%02x%02x%02x" % (steps[n // 36], steps[(n // 6) % 6], steps[n % 6])
    v = 8 + (n - 232) * 10
    return "#%02x%02x%02x" % (v, v, v)


def cells(text: str) -> str:
    """`text` as HTML in terminal cells: a wide character (CJK) takes exactly two cells, as in
    the terminal, whatever width the fallback font gives its glyph, so the columns after it
    stay in place."""
    out = []
    for ch in text:
        if unicodedata.east_asian_width(ch) in ("W", "F"):
            out.append(f'<span class="w">{html.escape(ch)}</span>')
        else:
            out.append(html.escape(ch))
    return "".join(out)


def main():
    text = sys.stdin.read()
    fg = bg = None
    bold = reverse = False
    out = []
    for part in re.split(r"(\x1b\[[0-9;:]*m)", text):
        m = re.fullmatch(r"\x1b\[([0-9;:]*)m", part)
        if not m:
            if part:
                f, b = (bg, fg) if reverse else (fg, bg)
                style = []
                if f:
                    style.append(f"color:{f}")
                if b:
                    style.append(f"background:{b}")
                if bold:
                    style.append("font-weight:bold")
                out.append(f'<span style="{";".join(style)}">{cells(part)}</span>')
            continue
        codes = [int(c) if c else 0 for c in re.split("[;:]", m.group(1) or "0")]
        i = 0
        while i < len(codes):
            c = codes[i]
            if c == 0:
                fg = bg = None
                bold = reverse = False
            elif c == 1:
                bold = True
            elif c == 22:
                bold = False
            elif c == 7:
                reverse = True
            elif c == 27:
                reverse = False
            elif 30 <= c <= 37:
                fg = BASIC[c - 30]
            elif 90 <= c <= 97:
                fg = BASIC[c - 90 + 8]
            elif 40 <= c <= 47:
                bg = BASIC[c - 40]
            elif 100 <= c <= 107:
                bg = BASIC[c - 100 + 8]
            elif c == 39:
                fg = None
            elif c == 49:
                bg = None
            elif c in (38, 48) and i + 1 < len(codes):
                if codes[i + 1] == 5 and i + 2 < len(codes):
                    color = xterm(codes[i + 2])
                    i += 2
                elif codes[i + 1] == 2 and i + 4 < len(codes):
                    color = "#%02x%02x%02x" % tuple(codes[i + 2 : i + 5])
                    i += 4
                else:
                    color = None
                if c == 38:
                    fg = color
                else:
                    bg = color
            i += 1
    print(
        "<!DOCTYPE html><html><head><meta charset='utf-8'><style>"
        "body{margin:0;background:#1e1e1e}"
        "pre{margin:0;padding:8px;color:#d4d4d4;font:14px/1.25 'DejaVu Sans Mono','Noto Sans Mono CJK SC',monospace}"
        ".w{display:inline-block;width:2ch;height:1.25em;vertical-align:top;overflow:hidden;text-align:center}"
        "</style></head><body><pre>" + "".join(out) + "</pre></body></html>"
    )


if __name__ == "__main__":
    main()
