"""Generate the paper's datasets with a teacher behind any OpenAI-compatible endpoint.

    python -m data_gen answer     --input data_gen/seeds/seed_instructions_en.jsonl --output out/answers.json
                                  --model gpt-4o
    python -m data_gen translate  --input release:alpaca_gpt4_en --output out/zh_instructions.json
                                  --model gpt-4o-mini
    python -m data_gen answer     --input out/zh_instructions.json --output out/answers_zh.json --model gpt-4o
                                  --lang zh
    python -m data_gen rate       --input prompts.json --responses gpt4=a.json --responses opt=b.json
                                  --output out/cmp.json --model gpt-4o
    python -m data_gen unnatural  --input core_data.jsonl --output out/unnatural.json --model gpt-4o
    python -m data_gen translate  --input vicuna80 --output out/vicuna80_zh.json --model gpt-4o-mini  (Chinese)
    python -m data_gen decontaminate --input release:alpaca_gpt4_en --output out/alpaca_gpt4_clean.json
                                     [--against vicuna80 mt_bench my_benchmark.jsonl] [--ngram 13]   (no teacher)
    add --base-url http://127.0.0.1:8000/v1 for vLLM or llama.cpp, --dry-run to see prompts and cost first,
    --batch for the Batch API at half the price.

Each finished request is logged at once to OUTPUT.records.jsonl; the same command again skips what is done,
retries what failed and resumes polling open batches; the dataset is written to OUTPUT atomically at the end, in
the released schema, and the rows that did not make it (refused, truncated, failed) to OUTPUT.failures.jsonl.

Exit status: 0 every row done; 1 an error stopped the run; 2 bad command line; 3 done, but rows failed (listed in
OUTPUT.failures.jsonl; the same command again retries them).
"""

import argparse
import logging
import sys
from dataclasses import fields
from pathlib import Path

from gpt4llm.data import DataError
from gpt4llm.sources import EVALUATION_BENCHMARKS
from gpt4llm.teacher.options import TEACHER_OPTIONS, add_teacher_options, teacher_config

from .tasks import TASKS, response_sources

logger = logging.getLogger("data_gen")


def parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--input", required=True, help="local .json/.jsonl file or directory, Hub id, or release:NAME")
    common.add_argument("--output", required=True, type=Path, help="the dataset to write (JSON)")
    common.add_argument("--limit", type=int, help="the first N input records only")
    common.add_argument("--temperature", type=float)
    common.add_argument("--top-p", type=float)
    common.add_argument("--max-tokens", type=int,
                        help="the answer's length limit (sent as max_completion_tokens to reasoning models)")
    common.add_argument("--push-to-hub", metavar="REPO_ID", help="also publish the dataset with a card")
    common.add_argument("--private", action="store_true", help="with --push-to-hub: a private dataset")
    add_teacher_options(common)

    root = argparse.ArgumentParser(prog="python -m data_gen", description=__doc__,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = root.add_subparsers(dest="task", required=True)
    for name, task in TASKS.items():
        task.add_arguments(commands.add_parser(name, parents=[common], help=task.help))
    clean = commands.add_parser("decontaminate", help="leave out the records that share an n-gram with a benchmark")
    clean.add_argument("--input", required=True, help="training data: Alpaca, chat, prompt/completion or comparisons")
    clean.add_argument("--against", nargs="+", default=list(EVALUATION_BENCHMARKS), metavar="NAME_OR_FILE",
                       help=f"benchmarks, registered or files (default: {' '.join(EVALUATION_BENCHMARKS)})")
    clean.add_argument("--output", required=True, type=Path,
                       help="the records that share nothing (.json, .jsonl or .parquet, the input's schema); the "
                       "report goes to OUTPUT.decontamination.json")
    clean.add_argument("--ngram", type=int, default=13, help="tokens per n-gram (default 13)")
    clean.add_argument("--answers", action="store_true",
                       help="also compare the benchmarks' reference answers and the training outputs and responses "
                       "(default: prompts against prompts)")
    clean.add_argument("--examples", type=int, default=5, help="examples per benchmark in the report (default 5)")
    return root


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status for rows that failed, exits with 1 on an error."""
    command_line = parser()
    args = command_line.parse_args(argv)
    if args.task != "decontaminate":
        try:
            teacher = teacher_config(**{name: getattr(args, name) for name in TEACHER_OPTIONS})
        except ValueError as error:
            command_line.error(str(error))
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    for name in ("httpx", "httpx2"):  # one line per request otherwise
        logging.getLogger(name).setLevel(logging.WARNING)
    from gpt4llm.teacher.client import TeacherError

    try:
        if args.task == "decontaminate":
            from gpt4llm.decontaminate import decontaminate_file

            decontaminate_file(args.input, args.output, args.against, n=args.ngram, answers=args.answers,
                               examples=args.examples)
            return 0
        from .runner import run_task

        task_class = TASKS[args.task]
        options = {f.name: getattr(args, f.name) for f in fields(task_class)}
        if "responses" in options:
            options["responses"] = response_sources(options["responses"])
        written = run_task(task_class(**options), args.input, args.output, teacher, limit=args.limit,
                           temperature=args.temperature, top_p=args.top_p, max_tokens=args.max_tokens,
                           extra_body=args.extra_body, dry_run=args.dry_run, push_to_hub=args.push_to_hub,
                           private=args.private)
        return written.exit_status if written else 0
    except (DataError, TeacherError) as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    sys.exit(main())
