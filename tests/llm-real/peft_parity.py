#!/usr/bin/env python3
"""Do transformers + PEFT and `acdp logits` give the same next-token logits, base and adapter?

Against a real Hugging Face Qwen2.5 folder (never in CI: the weights are not the project's;
../shared/tools/gguf_to_hf.py makes one from the GGUF of ../shared/MODELS.md), after the same
token ids (a fixed prompt, tokenized by the folder's tokenizer with transformers):

1. random: a random LoRA adapter of the model's shapes (rank 8, alpha 16 on q/k/v/o, also
   gate/up/down with --mlp; A ~ N(0, 1/in), B ~ N(0, 0.02^2), so it moves the logits clearly)
   in the PEFT layout;
2. trained (unless --no-train): the adapter `acdp train` writes after a few steps on three
   tiny chat samples, loaded by `PeftModel.from_pretrained` (every tensor of the file must
   land in PEFT's LoRA modules, unchanged).

For the base model and each adapter, transformers computes the logits in float32
(`AutoModelForCausalLM`, then `PeftModel.from_pretrained` on it) and `acdp logits` computes
them from the same bf16 weights, also in f32 (the adapter merged into the weights). Both
engines compute the same function in the same precision, so they must agree up to f32
rounding: the checks bound the max abs difference relative to the largest |logit|, the
cosine of the two engines' adapter shifts (adapted minus base logits) and their relative
disagreement on that shift, and the top token. A negative control shows the bound is tight
enough to matter: acdp given the random adapter with lora_alpha 1% too large must fail it by
10x. Prints one JSON report; exits non-zero when a check fails. About 30 s on 2 cores.

Usage: ~/peft-venv/bin/python tests/llm-real/peft_parity.py HF_DIR [--acdp BIN] [--work DIR]
       [--mlp] [--no-train] [--train-steps 3]
(~/peft-venv: a venv with torch transformers accelerate safetensors peft, see MODELS.md.)
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from peft import PeftModel
from safetensors.torch import load_file, save_file
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer
from transformers.utils import logging as hf_logging

PROMPT = """public void cancelOrder(Long orderId, Long memberId) {
    OmsOrder order = orderMapper.selectByPrimaryKey(orderId);
    if (order == null || !memberId.equals(order.getMemberId())) {
        Asserts.fail("order not found");
    }
}
Question: what does cancelOrder check first? Answer:"""

ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]
MLP = ["gate_proj", "up_proj", "down_proj"]

# Tolerances. Both engines read the same bf16 weights into f32 and compute in f32; they differ
# only in the order of f32 sums (matmul kernels, the merged W + sBA against PEFT's separate
# s(xA^T)B^T, the RMSNorm and softmax formulas). Measured on Qwen2.5-Coder-0.5B (64 tokens,
# logits up to |14|): max abs diff 1.7-4.8e-5, i.e. 1.2-3.4e-6 of the largest |logit| (the
# most with the MLP adapted), the size of transformers' own sdpa against eager attention
# (1.9e-5). The bound is 6-15x that and still far below what a real mistake does: the negative
# control (the adapter scaled by 1.01 for acdp only) moves the logits by 4.8e-3 (9.5e-3 with
# the MLP) of their scale; a missing bias, a wrong rope base or a transposed adapter by percents.
MAX_REL_DIFF = 2e-5  # max |acdp - transformers| / max |transformers logit|
# The adapter's shift (adapted minus base logits) as the two engines see it: measured
# |shift_acdp - shift_peft| / |shift_peft| 4-7e-6, cosine 1 - 2e-11.
MAX_SHIFT_REL_DISAGREEMENT = 1e-4
MIN_SHIFT_COSINE = 0.99999
# The negative control's error in the adapter scale; it must fail MAX_REL_DIFF by 10x.
CONTROL_SCALE_ERROR = 0.01

TRAIN_SAMPLES = [
    ("You answer questions about Java code.", "What does `orderMapper.selectByPrimaryKey(orderId)` return when no order has that id?",
     "It returns null; cancelOrder checks for that and fails with \"order not found\"."),
    ("You answer questions about Java code.", "Which exception does `Asserts.fail` throw?",
     "Asserts.fail throws an ApiException carrying the message it is given."),
    ("You answer questions about Java code.", "Why does cancelOrder compare memberId with order.getMemberId()?",
     "So that a member can only cancel their own orders: another member's order reads as not found."),
]


def write_random_adapter(directory: Path, config, mlp: bool, rank=8, alpha=16.0, seed=7):
    """A random adapter in PEFT's layout (adapter_config.json, adapter_model.safetensors)."""
    hidden, inter = config.hidden_size, config.intermediate_size
    kv_dim = config.num_key_value_heads * (hidden // config.num_attention_heads)
    shapes = {"q_proj": (hidden, hidden), "k_proj": (kv_dim, hidden), "v_proj": (kv_dim, hidden), "o_proj": (hidden, hidden)}
    if mlp:
        shapes |= {"gate_proj": (inter, hidden), "up_proj": (inter, hidden), "down_proj": (hidden, inter)}
    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for layer in range(config.num_hidden_layers):
        for module, (out_dim, in_dim) in shapes.items():
            block = "mlp" if module in MLP else "self_attn"
            key = f"base_model.model.model.layers.{layer}.{block}.{module}"
            tensors[f"{key}.lora_A.weight"] = torch.randn(rank, in_dim, generator=generator) / in_dim ** 0.5
            tensors[f"{key}.lora_B.weight"] = torch.randn(out_dim, rank, generator=generator) * 0.02
    directory.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(directory / "adapter_model.safetensors"))
    adapter_config = {"peft_type": "LORA", "task_type": "CAUSAL_LM", "r": rank, "lora_alpha": alpha, "lora_dropout": 0.0,
                      "target_modules": list(shapes), "bias": "none", "fan_in_fan_out": False, "inference_mode": True}
    (directory / "adapter_config.json").write_text(json.dumps(adapter_config, indent=2))


def write_train_data(directory: Path, samples: int):
    """`samples` chat samples (the three above, cycled) in train.jsonl, the first in dev.jsonl."""
    directory.mkdir(parents=True, exist_ok=True)
    lines = []
    for i in range(samples):
        system, user, assistant = TRAIN_SAMPLES[i % len(TRAIN_SAMPLES)]
        messages = [{"role": "system", "content": system}, {"role": "user", "content": user},
                    {"role": "assistant", "content": assistant}]
        lines.append(json.dumps({"messages": messages, "sample_id": f"parity-{i}"}))
    (directory / "train.jsonl").write_text("\n".join(lines) + "\n")
    (directory / "dev.jsonl").write_text(lines[0] + "\n")


def base_model(model_dir: str):
    model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)
    return model.eval()


@torch.no_grad()
def torch_logits(model, tokens: list) -> np.ndarray:
    out = model(input_ids=torch.tensor([tokens]), use_cache=False)
    return out.logits[0, -1].float().numpy()


def peft_load(model_dir: str, adapter: Path):
    """PEFT on a fresh base model, and whether every tensor of the adapter file reached it."""
    model = PeftModel.from_pretrained(base_model(model_dir), str(adapter)).eval()
    saved = load_file(str(adapter / "adapter_model.safetensors"))
    # PEFT's names: base_model.model.model.layers.N.self_attn.q_proj.lora_A.default.weight
    loaded = {name.replace(".default.weight", ".weight"): p.detach() for name, p in model.named_parameters() if "lora_" in name}
    missing = sorted(set(saved) - set(loaded))
    unloaded = sorted(set(loaded) - set(saved))
    max_diff = max((float((loaded[k].float() - saved[k].float()).abs().max()) for k in saved if k in loaded), default=float("nan"))
    return model, {"file_tensors": len(saved), "peft_lora_tensors": len(loaded), "missing_in_peft": missing[:5],
                   "peft_not_in_file": unloaded[:5], "max_abs_diff_file_vs_peft": max_diff}


def acdp_logits(acdp: str, model: str, tokens: list, adapter: Path | None, out: Path) -> np.ndarray:
    command = [acdp, "logits", "--model", model, "--tokens", ",".join(map(str, tokens)), "--out", str(out)]
    if adapter:
        command += ["--adapter", str(adapter)]
    run_acdp(command)
    return np.fromfile(out, dtype="<f4")


def run_acdp(command: list) -> str:
    """Runs acdp; on failure exits with its stderr (a traceback would hide it)."""
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command[:2])} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return done.stdout


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64), b.astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def compare(ref: np.ndarray, ours: np.ndarray) -> dict:
    scale = float(np.abs(ref).max())
    diff = float(np.abs(ours - ref).max())
    return {"max_abs_diff": diff, "max_abs_logit": scale, "rel_diff": diff / scale,
            "top1": {"transformers": int(ref.argmax()), "acdp": int(ours.argmax())}}


def adapter_report(name: str, peft_lora: np.ndarray, ours_lora: np.ndarray, hf_base: np.ndarray, ours_base: np.ndarray,
                   loading: dict, base_rel: float) -> tuple[dict, dict]:
    shift_hf, shift_ours = peft_lora - hf_base, ours_lora - ours_base
    shift_norm = float(np.linalg.norm(shift_hf))
    report = compare(peft_lora, ours_lora) | {
        "peft_loading": loading,
        "shift_norm": {"peft": shift_norm, "acdp": float(np.linalg.norm(shift_ours))},
        "shift_max_abs": float(np.abs(shift_hf).max()),
        "shift_cosine": cosine(shift_hf, shift_ours),
        "shift_rel_disagreement": float(np.linalg.norm(shift_ours - shift_hf)) / shift_norm,
    }
    checks = {
        f"{name}: PEFT loads every tensor of the file, unchanged":
            not loading["missing_in_peft"] and not loading["peft_not_in_file"] and loading["max_abs_diff_file_vs_peft"] == 0.0,
        f"{name}: the adapter moves the logits (shift >> engine noise)": report["shift_max_abs"] > 100 * base_rel * report["max_abs_logit"],
        f"{name}: max abs diff < {MAX_REL_DIFF:g} x max |logit|": report["rel_diff"] < MAX_REL_DIFF,
        f"{name}: shift cosine > {MIN_SHIFT_COSINE}": report["shift_cosine"] > MIN_SHIFT_COSINE,
        f"{name}: |shift diff| < {MAX_SHIFT_REL_DISAGREEMENT:g} x |shift|": report["shift_rel_disagreement"] < MAX_SHIFT_REL_DISAGREEMENT,
        f"{name}: same top token": report["top1"]["transformers"] == report["top1"]["acdp"],
    }
    return report, checks


def write_control_adapter(source: Path, directory: Path, factor: float):
    """The same adapter with lora_alpha multiplied by `factor`: a known error for acdp to see."""
    directory.mkdir(parents=True, exist_ok=True)
    config = json.loads((source / "adapter_config.json").read_text())
    config["lora_alpha"] *= factor
    (directory / "adapter_config.json").write_text(json.dumps(config, indent=2))
    shutil.copyfile(source / "adapter_model.safetensors", directory / "adapter_model.safetensors")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="Hugging Face Qwen2 folder (config.json, model.safetensors, tokenizer.json)")
    parser.add_argument("--acdp", default=str(Path(__file__).resolve().parents[2] / "target/release/acdp"))
    parser.add_argument("--work", default=None)
    parser.add_argument("--mlp", action="store_true", help="adapt gate/up/down too (random and trained adapters)")
    parser.add_argument("--no-train", action="store_true", help="skip the adapter that acdp trains")
    parser.add_argument("--train-steps", type=int, default=3, help="samples = optimizer steps (accum 1)")
    args = parser.parse_args()
    hf_logging.disable_progress_bar()
    work = Path(args.work or tempfile.mkdtemp(prefix="acdp-peft-parity-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.time()
    timings = {}

    def timed(label, fn, *a):
        t = time.time()
        value = fn(*a)
        timings[label] = round(time.time() - t, 1)
        return value

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    tokens = tokenizer(PROMPT, add_special_tokens=False)["input_ids"]
    config = AutoConfig.from_pretrained(args.model)

    model = timed("transformers load", base_model, args.model)
    attn = getattr(model.config, "_attn_implementation", None)
    hf_base = timed("transformers base", torch_logits, model, tokens)
    del model
    ours_base = timed("acdp base", acdp_logits, args.acdp, args.model, tokens, None, work / "base.f32")
    base = compare(hf_base, ours_base)
    report = {"model": args.model, "tokens": len(tokens), "transformers_attention": attn, "torch_threads": torch.get_num_threads(),
              "tolerances": {"max_rel_diff": MAX_REL_DIFF, "min_shift_cosine": MIN_SHIFT_COSINE,
                             "max_shift_rel_disagreement": MAX_SHIFT_REL_DISAGREEMENT},
              "base": base}
    checks = {
        f"base: max abs diff < {MAX_REL_DIFF:g} x max |logit|": base["rel_diff"] < MAX_REL_DIFF,
        "base: same top token": base["top1"]["transformers"] == base["top1"]["acdp"],
    }

    adapters = {}
    random_dir = work / "random-adapter"
    write_random_adapter(random_dir, config, args.mlp)
    adapters["random"] = random_dir
    if not args.no_train:
        data, out = work / "train-data", work / "trained"
        write_train_data(data, args.train_steps)
        # warmup 0 and lr 1e-3: three steps move B (zero at start) enough to see the shift.
        command = [args.acdp, "train", "--model", args.model, "--data", str(data), "--out", str(out), "--epochs", "1",
                   "--accum", "1", "--max-len", "128", "--checkpoint-every", "1000", "--warmup", "0", "--lr", "1e-3"]
        if args.mlp:
            command.append("--mlp")
        t = time.time()
        trained = run_acdp(command)
        timings["acdp train"] = round(time.time() - t, 1)
        train_report = json.loads(trained.strip().splitlines()[-1])
        report["train"] = {k: train_report.get(k) for k in ("samples", "steps", "first_loss", "last_loss", "dev_loss", "mean_step_ms")}
        adapters["trained"] = Path(train_report["adapter_dir"])

    for name, directory in adapters.items():
        model, loading = timed(f"peft load {name}", peft_load, args.model, directory)
        peft_lora = timed(f"peft {name}", torch_logits, model, tokens)
        del model
        ours_lora = timed(f"acdp {name}", acdp_logits, args.acdp, args.model, tokens, directory, work / f"{name}.f32")
        report[name], these = adapter_report(name, peft_lora, ours_lora, hf_base, ours_base, loading, base["rel_diff"])
        checks |= these
        if name == "random":
            # Negative control: acdp given the adapter with its scale off by 1% must fail the bound.
            control_dir = work / "control-adapter"
            write_control_adapter(directory, control_dir, 1 + CONTROL_SCALE_ERROR)
            control = acdp_logits(args.acdp, args.model, tokens, control_dir, work / "control.f32")
            report["control"] = {"alpha_factor": 1 + CONTROL_SCALE_ERROR} | compare(peft_lora, control)
            checks[f"control: an adapter scale off by {CONTROL_SCALE_ERROR:.0%} fails the bound by 10x"] = \
                report["control"]["rel_diff"] > 10 * MAX_REL_DIFF

    report["seconds"] = {"total": round(time.time() - started, 1)} | timings
    report["work"] = str(work)
    report["checks"] = checks
    print(json.dumps(report, indent=2))
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()
