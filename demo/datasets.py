"""make data: the CPU demo datasets, made by this pipeline with the embedded teacher (SmolLM2-135M on llama.cpp).

    python -m demo.datasets [--comparisons 120]

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
import logging
import sys
from dataclasses import replace
from pathlib import Path

from data_gen.runner import run_task
from data_gen.tasks import SCORE_FIRST_GRAMMAR, AnswerTask, RateTask
from data_gen.teacher_server import EmbeddedTeacher
from gpt4llm.data import DataError
from gpt4llm.teacher.client import TeacherError
from gpt4llm.teacher.options import TeacherConfig

ROOT = Path(__file__).resolve().parents[1]
SEEDS = str(ROOT / "data_gen" / "seeds" / "seed_instructions_en.jsonl")
ANSWERS = ROOT / "data" / "demo" / "alpaca_smollm2_en.json"
COMPARISONS = ROOT / "data" / "demo" / "comparisons_smollm2_en.json"
WORK = ROOT / "outputs" / "data_gen_demo"


def demo_datasets(comparisons: int = 120) -> tuple[Path, Path]:
    """The answers and the comparisons of the first `comparisons` seeds; returns their paths."""
    with EmbeddedTeacher() as embedded:
        teacher = TeacherConfig(embedded.model, base_url=embedded.base_url, concurrency=2)
        answers = run_task(AnswerTask(), SEEDS, ANSWERS, teacher).path
        greedy = run_task(AnswerTask(), SEEDS, WORK / "answers_greedy.json", teacher, temperature=0,
                          limit=comparisons).path
        short = run_task(AnswerTask(), SEEDS, WORK / "answers_short.json", replace(teacher, keep_truncated=True),
                         max_tokens=32, limit=comparisons).path
        sources = {"smollm2-sampled": str(answers), "smollm2-greedy": str(greedy), "smollm2-short32": str(short)}
        rated = run_task(RateTask(responses=sources), SEEDS, COMPARISONS, teacher, limit=comparisons, max_tokens=32,
                         extra_body={"grammar": SCORE_FIRST_GRAMMAR}).path
    return answers, rated


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m demo.datasets", description=__doc__)
    parser.add_argument("--comparisons", type=int, default=120, help="prompts in the comparison set")
    args = parser.parse_args(argv)
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    try:
        demo_datasets(args.comparisons)
    except (DataError, TeacherError) as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    main()
