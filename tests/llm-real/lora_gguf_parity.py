#!/usr/bin/env python3
"""Does llama.cpp read the LoRA GGUF `acdp export-adapter` writes, and apply it as acdp does?

Against a real GGUF model (never in CI: the weights are not the project's), with a random
LoRA adapter of the model's shapes (rank 8 on q/k/v/o, written in the PEFT layout `acdp train`
writes):

1. `acdp export-adapter --format gguf` turns it into llama.cpp's LoRA GGUF;
2. llama-cpp-python (`Llama(lora_path=…)`) and `acdp logits` (the adapter applied at run time
   to the quantized model) compute the next-token logits after the same token ids, with and
   without the adapter.

The two engines' kernels differ (llama.cpp quantizes activations to 8 bits in its products;
acdp's prompt path multiplies f32), so their logits differ a little even without an adapter.
The checks: llama.cpp loads the file; the adapter moves both engines' logits the same way
(cosine of the two shifts), and they disagree on that shift no more than on the base model's
logits; with the adapter their logits stay as close as without it; the top token agrees. Prints one JSON report; exits non-zero when a check fails.

Usage: ~/llama/bin/python tests/llm-real/lora_gguf_parity.py MODEL.gguf [--acdp BIN] [--work DIR]
(~/llama is the venv of ../shared/MODELS.md, with llama-cpp-python and numpy.)
"""

import argparse
import json
import struct
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
from llama_cpp import Llama

PROMPT = """public void cancelOrder(Long orderId, Long memberId) {
    OmsOrder order = orderMapper.selectByPrimaryKey(orderId);
    if (order == null || !memberId.equals(order.getMemberId())) {
        Asserts.fail("order not found");
    }
}
Question: what does cancelOrder check first? Answer:"""


def write_safetensors(path: Path, tensors: dict):
    """The safetensors format by hand: little-endian header length, JSON header, raw data."""
    header, offset, blobs = {}, 0, []
    for name in sorted(tensors):
        data = np.ascontiguousarray(tensors[name], dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensors[name].shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    encoded = json.dumps(header).encode()
    encoded += b" " * (-len(encoded) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(encoded)))
        f.write(encoded)
        for blob in blobs:
            f.write(blob)


def write_random_adapter(directory: Path, meta: dict, rank=8, alpha=16.0, seed=7):
    hidden = int(meta["qwen2.embedding_length"])
    layers = int(meta["qwen2.block_count"])
    heads = int(meta["qwen2.attention.head_count"])
    kv_dim = int(meta["qwen2.attention.head_count_kv"]) * (hidden // heads)
    shapes = {"q_proj": (hidden, hidden), "k_proj": (kv_dim, hidden), "v_proj": (kv_dim, hidden), "o_proj": (hidden, hidden)}
    rng = np.random.default_rng(seed)
    tensors = {}
    for layer in range(layers):
        for module, (out_dim, in_dim) in shapes.items():
            key = f"base_model.model.model.layers.{layer}.self_attn.{module}"
            tensors[f"{key}.lora_A.weight"] = rng.normal(0, 1 / np.sqrt(in_dim), (rank, in_dim))
            tensors[f"{key}.lora_B.weight"] = rng.normal(0, 0.02, (out_dim, rank))
    directory.mkdir(parents=True, exist_ok=True)
    write_safetensors(directory / "adapter_model.safetensors", tensors)
    config = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": rank, "lora_alpha": alpha, "lora_dropout": 0.0,
              "target_modules": list(shapes), "bias": "none", "fan_in_fan_out": False, "inference_mode": True}
    (directory / "adapter_config.json").write_text(json.dumps(config, indent=2))


def llama_logits(model: str, tokens: list, lora: str | None) -> np.ndarray:
    llm = Llama(model_path=model, lora_path=lora, n_ctx=512, n_threads=2, n_batch=512, logits_all=True, verbose=False)
    llm.eval(tokens)
    logits = np.array(llm.scores[len(tokens) - 1], dtype=np.float32)
    llm.close()
    return logits


def acdp_logits(acdp: str, model: str, tokens: list, adapter: Path | None, out: Path) -> np.ndarray:
    command = [acdp, "logits", "--model", model, "--tokens", ",".join(map(str, tokens)), "--out", str(out)]
    if adapter:
        command += ["--adapter", str(adapter)]
    subprocess.run(command, check=True, capture_output=True)
    return np.fromfile(out, dtype="<f4")


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--acdp", default=str(Path(__file__).resolve().parents[2] / "target/release/acdp"))
    parser.add_argument("--work", default=None)
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="acdp-lora-gguf-"))

    probe = Llama(model_path=args.model, n_ctx=64, n_threads=2, vocab_only=True, verbose=False)
    meta, tokens = probe.metadata, probe.tokenize(PROMPT.encode(), add_bos=False)
    probe.close()
    adapter = work / "adapter"
    write_random_adapter(adapter, meta)
    lora_gguf = work / "adapter.gguf"
    exported = subprocess.run([args.acdp, "export-adapter", "--adapter", str(adapter), "--format", "gguf", "--out", str(lora_gguf)],
                              check=True, capture_output=True, text=True)

    llama_base = llama_logits(args.model, tokens, None)
    llama_lora = llama_logits(args.model, tokens, str(lora_gguf))
    ours_base = acdp_logits(args.acdp, args.model, tokens, None, work / "base.f32")
    ours_lora = acdp_logits(args.acdp, args.model, tokens, adapter, work / "lora.f32")

    shift_llama, shift_ours = llama_lora - llama_base, ours_lora - ours_base
    report = {
        "model": args.model,
        "tokens": len(tokens),
        "export": json.loads(exported.stdout),
        "max_abs_diff_base": float(np.abs(ours_base - llama_base).max()),
        "max_abs_diff_with_adapter": float(np.abs(ours_lora - llama_lora).max()),
        "adapter_shift_norm": {"llama.cpp": float(np.linalg.norm(shift_llama)), "acdp": float(np.linalg.norm(shift_ours))},
        "adapter_shift_cosine": cosine(shift_llama, shift_ours),
        # How far the engines disagree without an adapter, and on what the adapter adds.
        "engines_disagree_norm_base": float(np.linalg.norm(ours_base - llama_base)),
        "engines_disagree_norm_shift": float(np.linalg.norm(shift_ours - shift_llama)),
        "top_token": {"llama.cpp base": int(llama_base.argmax()), "acdp base": int(ours_base.argmax()),
                      "llama.cpp adapter": int(llama_lora.argmax()), "acdp adapter": int(ours_lora.argmax())},
    }
    checks = {
        "the adapter moves llama.cpp's logits": report["adapter_shift_norm"]["llama.cpp"] > 10 * report["max_abs_diff_base"],
        "both engines move the same way (cosine > 0.95)": report["adapter_shift_cosine"] > 0.95,
        "they disagree on the shift no more than on the base model (within 2x)":
            report["engines_disagree_norm_shift"] <= 2 * report["engines_disagree_norm_base"],
        "with the adapter the engines stay as close as without (within 2x)": report["max_abs_diff_with_adapter"] <= 2 * report["max_abs_diff_base"] + 1e-3,
        "the top token agrees with the adapter": report["top_token"]["llama.cpp adapter"] == report["top_token"]["acdp adapter"],
    }
    report["checks"] = checks
    print(json.dumps(report, indent=2))
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()
