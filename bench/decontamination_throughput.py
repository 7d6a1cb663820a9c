"""Decontamination speed: training data the size of the 52K Alpaca-GPT4 release against every registered benchmark,
in one run.

    python -m bench.decontamination_throughput [--records 52000] [--against NAME_OR_FILE ...] [--repeats 3]

The training records are drawn like the release (bench/sft_throughput.py's `alpaca_like_records`: instructions of
~13 words, an input on 40%, outputs of ~114 words with a long tail). The benchmarks are those given with --against
(registered names or files), else stand-ins written here at the registered benchmarks' sizes and shapes: Vicuna-80
(80 questions of ~17 words), User-Oriented-252 (252 tasks, an instance each with an output), the Unnatural
Instructions core set (66,010 instructions with 68,478 instances) and MT-bench (80 two-turn questions, references
on 39). One copy of a benchmark prompt's 13 tokens per benchmark is planted in a training instruction, and every one
must be found (the default compares prompts with prompts). The time is that of
`gpt4llm.decontaminate.find`: the benchmarks indexed and every record checked, the median of --repeats runs.
Results also go to bench/results/decontamination_throughput.json.
"""

import argparse
import json
import random
import statistics
import time
from pathlib import Path

from gpt4llm.benchmarks import read_benchmark
from gpt4llm.data import Records
from gpt4llm.decontaminate import find, item_texts, load_benchmarks
from gpt4llm.precision import describe_cpu

ROOT = Path(__file__).resolve().parents[1]


def stand_in_benchmarks(vocab: list[str], seed: int = 1) -> dict:
    """The registered benchmarks' sizes and shapes, with text drawn from `vocab`."""
    rng = random.Random(seed)

    def text(mean: int) -> str:
        return " ".join(rng.choice(vocab) for _ in range(max(1, round(rng.gauss(mean, mean / 3))))) + "."

    def records(rows: list[dict], name: str) -> Records:
        return Records(name, rows, [f"{name}: row {i}" for i in range(len(rows))])

    vicuna = [{"question_id": i, "text": text(17), "category": "generic"} for i in range(1, 81)]
    user_oriented = [{"id": f"user_oriented_task_{i}", "motivation_app": "app", "instruction": text(12),
                      "instances": [{"input": text(20), "output": text(40)}]} for i in range(252)]
    # 66,010 instructions, 68,478 instances: 2,468 of the instructions have two
    unnatural = [{"instruction": text(25),
                  "instances": [{"input": text(15), "output": text(4)} for _ in range(1 + (i < 2468))]}
                 for i in range(66_010)]
    mt_bench = [{"question_id": 81 + i, "category": "writing", "turns": [text(30), text(12)],
                 **({"reference": [text(40), text(30)]} if i < 39 else {})} for i in range(80)]
    shapes = {"vicuna80": vicuna, "user_oriented252": user_oriented, "unnatural_core": unnatural, "mt_bench": mt_bench}
    return {name: read_benchmark(records(rows, name)) for name, rows in shapes.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=52_000)
    parser.add_argument("--against", nargs="+", help="benchmarks (names or files) instead of the stand-ins")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    from bench.sft_throughput import VOCAB, alpaca_like_records  # imports torch: not timed

    rows = alpaca_like_records(args.records)
    benchmarks = load_benchmarks(args.against) if args.against else stand_in_benchmarks(list(VOCAB))
    rng = random.Random(2)
    planted = {}
    for name, bench in benchmarks.items():  # 13 tokens of a long enough prompt of one item, inside an instruction
        part, text = next((p, t) for item in rng.sample(bench.items, len(bench.items)) for p, t in item_texts(item)
                          if len(t.split()) >= 16)
        row = rng.randrange(len(rows))
        while row in planted:
            row = rng.randrange(len(rows))
        rows[row]["instruction"] += " " + " ".join(text.split()[2:15])
        planted[row] = name
    records = Records("alpaca-like", rows, [f"alpaca-like: row {i}" for i in range(len(rows))])
    words = sum(len(str(v).split()) for row in rows for v in row.values())
    seconds = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        found = find(records, benchmarks)
        seconds.append(time.perf_counter() - started)
    missed = [(row, name) for row, name in planted.items()
              if name not in {m.benchmark for m in found.matches.get(row, [])}]
    assert not missed, f"planted overlaps not found: {missed}"
    texts = sum(b["texts"] for b in found.benchmarks)
    median = statistics.median(seconds)
    print(f"CPU: {describe_cpu()}")
    print(f"{args.records} records ({words} words) against {', '.join(benchmarks)} ({texts} benchmark texts)")
    print("\n".join(found.lines()))
    print(f"find: {median:.2f} s (median of {args.repeats}: {', '.join(f'{s:.2f}' for s in seconds)}), "
          f"{args.records / median:,.0f} records/s; all {len(planted)} planted overlaps found")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    result = {"cpu": describe_cpu(), "records": args.records, "words": words, "benchmarks": found.benchmarks,
              "seconds": seconds, "median_seconds": median, "removed": len(found.matches)}
    (out / "decontamination_throughput.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
