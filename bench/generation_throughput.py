"""Batched generation against one-at-a-time generation (what FastChat's answer scripts do), on the embedded
SmolLM2-135M: new tokens per second, side by side in one run.

Each variant is warmed up on a full batch, then the variants take turns for `--repeats` rounds (so slow and
fast moments of the machine fall on all of them) and the median round is reported.

    python -m bench.generation_throughput [--questions 8] [--new-tokens 64] [--repeats 3]      (make bench)
"""

import argparse
import json
import statistics
from pathlib import Path

from eval.generate import LocalGenerator
from gpt4llm.models import DEFAULT_MODEL, resolve_model
from gpt4llm.precision import describe_cpu, use_bf16
from gpt4llm.templates import alpaca_prompt

ROOT = Path(__file__).resolve().parents[1]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--questions", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    lines = (ROOT / "eval/data/demo_questions.jsonl").read_text().splitlines()[: args.questions]
    prompts = [alpaca_prompt(json.loads(line)["text"]) for line in lines]
    params = {"temperature": 0, "max_tokens": args.new_tokens}
    model = resolve_model(DEFAULT_MODEL)
    n = len(prompts)
    native = use_bf16("auto")  # eval generate's choice: bf16 with packed weights where bf16 is native, else fp32
    here = " (`eval generate`'s choice on this CPU)"
    settings = {"one at a time, fp32 (FastChat's scripts)": {"batch_size": 1, "precision": "fp32"},
                f"batch {n}, fp32{'' if native else here}": {"batch_size": n, "precision": "fp32"}}
    if native:  # emulated bf16 (an AVX2-only CPU) would take minutes a round
        settings[f"batch {n}, bf16, plain weights"] = {"batch_size": n, "precision": "bf16", "pack_weights": False}
        settings[f"batch {n}, bf16, weights packed for oneDNN{here}"] = {"batch_size": n, "precision": "bf16"}
    variants = {name: LocalGenerator(model, template="alpaca", **kwargs) for name, kwargs in settings.items()}
    for generator in variants.values():
        generator.generate(prompts[: generator.batch_size], params)  # warm-up
    rounds = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, generator in variants.items():
            generator.new_tokens = generator.seconds = 0
            for start in range(0, n, generator.batch_size):
                generator.generate(prompts[start : start + generator.batch_size], params)
            rounds[name].append((generator.new_tokens / generator.seconds, generator.new_tokens))
    rates = {name: statistics.median(rate for rate, _ in results) for name, results in rounds.items()}
    baseline = next(iter(rates.values()))
    print(f"\n{describe_cpu()}; SmolLM2-135M, {n} questions, up to {args.new_tokens} new tokens each, "
          f"median of {args.repeats} rounds\n")
    print("| generation | new tokens | tokens/s | speedup |\n|---|---|---|---|")
    for name, rate in rates.items():
        print(f"| {name} | {rounds[name][0][1]} | {rate:.1f} | {rate / baseline:.1f}x |")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    results = [{"variant": name, "tokens_per_second": rates[name], "rounds": rounds[name]} for name in variants]
    (out / "generation_throughput.json").write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
