#!/usr/bin/env python3
"""The llama.cpp baseline of `acdp bench --model`: the same GGUF, threads and prompt.

The prompt is the first N tokens of the repository's Java files concatenated in path order
(what `acdp bench --model` cuts its prompt from), no chat template; timed: `llm.eval` of the
prompt, then greedy steps (`sample` at temperature 0 + `eval`) with a wall clock (the
internal perf counters of llama-cpp-python 0.3.36 read zero). Prints every run and the best,
as `acdp bench` does. Compare only with acdp runs in the same window (docs/model.md).

Usage: ~/llama/bin/python tests/llm-real/llama_cpp_bench.py MODEL.gguf [--repo fixtures/shop]
       [--prompt-tokens 490] [--gen-tokens 32] [--runs 2] [--threads 2]
"""

import argparse
import time
from pathlib import Path

from llama_cpp import Llama


def main():
    here = Path(__file__).resolve().parents[2]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--repo", default=str(here / "fixtures/shop"))
    parser.add_argument("--prompt-tokens", type=int, default=490)
    parser.add_argument("--gen-tokens", type=int, default=32)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    repo = Path(args.repo)
    code = "".join(p.read_text(encoding="utf-8") for p in sorted(repo.rglob("*.java"), key=lambda p: p.relative_to(repo).as_posix()))
    started = time.perf_counter()
    llm = Llama(model_path=args.model, n_ctx=args.prompt_tokens + args.gen_tokens + 16, n_threads=args.threads,
                n_threads_batch=args.threads, n_batch=512, verbose=False)
    print(f"llama.cpp (llama-cpp-python) bench {args.model} (load {1000 * (time.perf_counter() - started):.0f} ms, {args.threads} threads)")
    tokens = llm.tokenize(code.encode(), add_bos=False)[: args.prompt_tokens]
    best_prompt = best_gen = 0.0
    for run in range(args.runs):
        llm.reset()
        start = time.perf_counter()
        llm.eval(tokens)
        prompt_s = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(args.gen_tokens):
            token = llm.sample(temp=0.0)
            llm.eval([token])
        gen_s = time.perf_counter() - start
        prompt_tps, gen_tps = len(tokens) / prompt_s, args.gen_tokens / gen_s
        print(f"run {run}: prompt {len(tokens)} tokens {prompt_tps:.1f} tok/s, generated {args.gen_tokens} tokens {gen_tps:.1f} tok/s")
        best_prompt, best_gen = max(best_prompt, prompt_tps), max(best_gen, gen_tps)
    print(f"best: prompt {best_prompt:.1f} tok/s, generation {best_gen:.1f} tok/s")


if __name__ == "__main__":
    main()
