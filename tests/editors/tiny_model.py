#!/usr/bin/env python3
"""A tiny random Qwen2 model and a dataset it can train on, for the editor tests: a port of
tests/support/tiny_model.rs (`write_tiny_model`) and of tests/lsp.rs's `write_tiny_dataset`,
in the standard library only (the safetensors file is written by hand).

    python3 tiny_model.py model DIR [--seed 7] [--untied] [--context N]
    python3 tiny_model.py dataset DIR [--copies N]

`model` writes config.json, tokenizer.json (word level over WORDS, ChatML special tokens) and
model.safetensors (2 layers, hidden 64, F32) into DIR: `acdp train` and `acdp lsp` (modelDir)
load it in milliseconds. The weights come from the same SplitMix64 draws as the Rust helper
(f32 arithmetic emulated). `dataset` writes train.jsonl and dev.jsonl (chat `messages`, only
words of the tokenizer) into DIR; `--copies` repeats the training samples.
"""

import argparse
import json
import struct
import sys
from pathlib import Path

WORDS = [
    "system", "user", "assistant", "you", "answer", "about", "the", "shop", "what", "does",
    "order", "service", "cancel", "coupon", "points", "stock", "return", "it", "releases",
    "restores", "refunds", "expires", "grants", "locks", "member", "after", "payment", "a",
    "an", "and", "of", "to", "when", "who", "how", "many",
]
SPECIAL = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
HIDDEN, INTERMEDIATE, LAYERS, KV = 64, 128, 2, 2 * 16
MASK64 = (1 << 64) - 1


def vocab_size() -> int:
    return 1 + len(SPECIAL) + len(WORDS)


def tokenizer_json() -> dict:
    vocab = {"[UNK]": 0}
    added = []
    for i, token in enumerate(SPECIAL):
        vocab[token] = i + 1
        added.append({"id": i + 1, "content": token, "single_word": False, "lstrip": False,
                      "rstrip": False, "normalized": False, "special": True})
    for i, word in enumerate(WORDS):
        vocab[word] = i + 1 + len(SPECIAL)
    return {
        "version": "1.0", "truncation": None, "padding": None, "added_tokens": added,
        "normalizer": None, "pre_tokenizer": {"type": "WhitespaceSplit"},
        "post_processor": None, "decoder": None,
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "[UNK]"},
    }


def config(tie: bool, context: int) -> dict:
    return {
        "architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2",
        "vocab_size": vocab_size(), "hidden_size": HIDDEN, "intermediate_size": INTERMEDIATE,
        "num_hidden_layers": LAYERS, "num_attention_heads": 4, "num_key_value_heads": 2,
        "max_position_embeddings": context, "rope_theta": 10000.0, "rms_norm_eps": 1e-6,
        "tie_word_embeddings": tie, "sliding_window": None, "use_sliding_window": False,
        "hidden_act": "silu", "torch_dtype": "float32",
    }


_F32 = struct.Struct("<f")


def f32(x: float) -> float:
    """`x` rounded to the nearest f32."""
    return _F32.unpack(_F32.pack(x))[0]


class SplitMix64:
    """acdp_model::SplitMix64: next_u64, next_f32 and the sum-of-12-uniforms normal."""

    def __init__(self, seed: int):
        self.state = seed & MASK64

    def next_u64(self) -> int:
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def normal(self) -> float:
        total = 0.0
        for _ in range(12):
            total = f32(total + (self.next_u64() >> 40) / (1 << 24))
        return f32(total - 6.0)


def random(shape: tuple, std: float, rng: SplitMix64) -> tuple:
    n = 1
    for d in shape:
        n *= d
    std = f32(std)
    return shape, [f32(rng.normal() * std) for _ in range(n)]


def ones(n: int) -> tuple:
    return (n,), [1.0] * n


def save_safetensors(tensors: dict, path: Path):
    """The safetensors layout: u64 LE header length, a JSON header (dtype, shape, byte range
    of each tensor in the data), padded with spaces to 8 bytes, then the raw LE data."""
    header, blobs, offset = {}, [], 0
    for name, (shape, values) in tensors.items():
        blob = struct.pack(f"<{len(values)}f", *values)
        header[name] = {"dtype": "F32", "shape": list(shape), "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def write_tiny_model(dir: Path, tie: bool = True, seed: int = 7, context: int = 256):
    """tests/support/tiny_model.rs `write_tiny_model` (+ `set_context_length` when `context`
    is not 256)."""
    dir.mkdir(parents=True, exist_ok=True)
    rng = SplitMix64(seed)
    v, h, i, kv = vocab_size(), HIDDEN, INTERMEDIATE, KV
    t = {"model.embed_tokens.weight": random((v, h), 1.0, rng)}
    for layer in range(LAYERS):
        p = f"model.layers.{layer}"
        w = 0.12
        t[f"{p}.self_attn.q_proj.weight"] = random((h, h), w, rng)
        t[f"{p}.self_attn.q_proj.bias"] = random((h,), w, rng)
        t[f"{p}.self_attn.k_proj.weight"] = random((kv, h), w, rng)
        t[f"{p}.self_attn.k_proj.bias"] = random((kv,), w, rng)
        t[f"{p}.self_attn.v_proj.weight"] = random((kv, h), w, rng)
        t[f"{p}.self_attn.v_proj.bias"] = random((kv,), w, rng)
        t[f"{p}.self_attn.o_proj.weight"] = random((h, h), w, rng)
        t[f"{p}.mlp.gate_proj.weight"] = random((i, h), w, rng)
        t[f"{p}.mlp.up_proj.weight"] = random((i, h), w, rng)
        t[f"{p}.mlp.down_proj.weight"] = random((h, i), 0.09, rng)
        t[f"{p}.input_layernorm.weight"] = ones(h)
        t[f"{p}.post_attention_layernorm.weight"] = ones(h)
    t["model.norm.weight"] = ones(h)
    if not tie:
        t["lm_head.weight"] = random((v, h), 0.5, rng)
    save_safetensors(t, dir / "model.safetensors")
    (dir / "config.json").write_text(json.dumps(config(tie, context)))
    (dir / "tokenizer.json").write_text(json.dumps(tokenizer_json()))


# (question, answer) pairs in the tokenizer's words only (no [UNK] tokens).
TRAIN = [
    ("what locks the stock", "the order service locks the stock"),
    ("who refunds a return", "the return service refunds the member"),
    ("what expires after payment", "a coupon expires after payment"),
    ("what releases the stock", "cancel order releases the stock and restores the coupon"),
    ("who grants points", "the order service grants points to the member after payment"),
]
DEV = [
    ("what refunds the member", "the return service refunds the member and restores the stock"),
]
SYSTEM = "you answer about the shop"


def messages(question: str, answer: str) -> list:
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": question},
        {"role": "assistant", "content": answer},
    ]


def write_tiny_dataset(dir: Path, copies: int = 1):
    """train.jsonl (TRAIN, `copies` times) and dev.jsonl (DEV) in the chat `messages` form of
    `acdp.exportDataset`."""
    dir.mkdir(parents=True, exist_ok=True)
    known = set(WORDS)
    for q, a in TRAIN + DEV:
        unknown = [w for w in f"{SYSTEM} {q} {a}".split() if w not in known]
        assert not unknown, f"not in the tokenizer: {unknown}"
    train = [
        json.dumps({"sample_id": f"s{n}", "messages": messages(q, a)})
        for n, (q, a) in enumerate(TRAIN * max(1, copies))
    ]
    dev = [json.dumps({"sample_id": f"d{n}", "messages": messages(q, a)}) for n, (q, a) in enumerate(DEV)]
    (dir / "train.jsonl").write_text("\n".join(train) + "\n")
    (dir / "dev.jsonl").write_text("\n".join(dev) + "\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="what", required=True)
    model = sub.add_parser("model", help="write the tiny model into DIR")
    model.add_argument("dir", type=Path)
    model.add_argument("--seed", type=int, default=7)
    model.add_argument("--untied", action="store_true", help="a separate lm_head")
    model.add_argument("--context", type=int, default=256, help="max_position_embeddings")
    dataset = sub.add_parser("dataset", help="write train.jsonl and dev.jsonl into DIR")
    dataset.add_argument("dir", type=Path)
    dataset.add_argument("--copies", type=int, default=1)
    args = parser.parse_args(argv)
    if args.what == "model":
        write_tiny_model(args.dir, tie=not args.untied, seed=args.seed, context=args.context)
    else:
        write_tiny_dataset(args.dir, copies=args.copies)
    return 0


if __name__ == "__main__":
    sys.exit(main())
