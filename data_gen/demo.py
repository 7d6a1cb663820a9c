"""make data: the CPU demo datasets, made by this pipeline with the embedded teacher (SmolLM2-135M on llama.cpp).

    python -m data_gen.demo [--comparisons 120]

1. data/demo/alpaca_smollm2_en.json: answers to the project's 200 seed instructions, with the paper's
   parameters (temperature 1.0, top_p 1.0, max_tokens 512). The CPU SFT recipe trains on it.
2. data/demo/comparisons_smollm2_en.json: for the first N seeds, three responses (the sampled answer above, a
   greedy one, and one cut at 32 tokens), each rated 1-10 by the same model with the authors' rating prompt,
   in the released comparison_data_v2 schema. The CPU reward recipe trains on it. A 135M judge does not put a
   score on the first line by itself, so a llama.cpp grammar makes it start with one (and 32 tokens are
   enough for the score and the start of its explanation: a rating cut after its score is kept).

Answers cut at their length limit are left out (and listed in OUTPUT.failures.jsonl), except the 32-token ones,
which are cut on purpose.

Each step resumes where it stopped (see `python -m data_gen --help`); a 2-core machine takes about half an hour.
"""

import argparse
import json
from pathlib import Path

from . import __main__ as data_gen
from .tasks import SCORE_FIRST_GRAMMAR
from .teacher_server import EmbeddedTeacher

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "data_gen" / "seeds" / "seed_instructions_en.jsonl"
ANSWERS = ROOT / "data" / "demo" / "alpaca_smollm2_en.json"
COMPARISONS = ROOT / "data" / "demo" / "comparisons_smollm2_en.json"
WORK = ROOT / "outputs" / "data_gen_demo"


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m data_gen.demo", description=__doc__)
    parser.add_argument("--comparisons", type=int, default=120, help="prompts in the comparison set")
    args = parser.parse_args()
    limit = ["--limit", str(args.comparisons)]
    greedy, short = WORK / "answers_greedy.json", WORK / "answers_short.json"
    with EmbeddedTeacher() as teacher:
        common = ["--model", teacher.model, "--base-url", teacher.base_url, "--concurrency", "2"]
        data_gen.main(["answer", "--input", str(SEEDS), "--output", str(ANSWERS), *common])
        data_gen.main(["answer", "--input", str(SEEDS), "--output", str(greedy), "--temperature", "0",
                       *limit, *common])
        data_gen.main(["answer", "--input", str(SEEDS), "--output", str(short), "--max-tokens", "32",
                       "--keep-truncated", *limit, *common])
        data_gen.main([
            "rate", "--input", str(SEEDS), "--output", str(COMPARISONS), *limit, *common, "--max-tokens", "32",
            "--responses", f"smollm2-sampled={ANSWERS}", "--responses", f"smollm2-greedy={greedy}",
            "--responses", f"smollm2-short32={short}", "--extra-body", json.dumps({"grammar": SCORE_FIRST_GRAMMAR}),
        ])  # fmt: skip


if __name__ == "__main__":
    main()
