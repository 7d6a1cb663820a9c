"""Generate the paper's datasets with a teacher behind any OpenAI-compatible endpoint.

    python -m data_gen answer     --input data_gen/seeds/seed_instructions_en.jsonl --output out/answers.json
                                  --model gpt-4
    python -m data_gen translate  --input release:alpaca_gpt4_en --output out/zh_instructions.json
                                  --model gpt-3.5-turbo
    python -m data_gen answer     --input out/zh_instructions.json --output out/answers_zh.json --model gpt-4 --lang zh
    python -m data_gen rate       --input prompts.json --responses gpt4=a.json --responses opt=b.json
                                  --output out/cmp.json --model gpt-4
    python -m data_gen unnatural  --input core_data.jsonl --output out/unnatural.json --model gpt-4
    python -m data_gen translate  --input vicuna80 --output out/vicuna80_zh.json --model gpt-3.5-turbo   (Chinese eval)
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
import asyncio
import logging
import sys
from dataclasses import replace
from datetime import date
from pathlib import Path

from gpt4llm.sources import EVALUATION_BENCHMARKS
from gpt4llm.teacher_options import add_teacher_options, teacher_config

from .tasks import TASKS

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
                       "report goes to OUTPUT.decontamination.json")  # fmt: skip
    clean.add_argument("--ngram", type=int, default=13, help="tokens per n-gram (default 13)")
    clean.add_argument("--answers", action="store_true",
                       help="also compare the benchmarks' reference answers and the training outputs and responses "
                       "(default: prompts against prompts)")  # fmt: skip
    clean.add_argument("--examples", type=int, default=5, help="examples per benchmark in the report (default 5)")
    return root


def decontaminate(args) -> int:
    """Write the records of --input that share no n-gram with a benchmark, and the report beside them."""
    from gpt4llm.data import load_records
    from gpt4llm.decontaminate import check_output, find, load_benchmarks, report_path, write_records
    from gpt4llm.jobs import write_json_atomic

    check_output(args.output)
    records = load_records(args.input)
    found = find(records, load_benchmarks(args.against), n=args.ngram, answers=args.answers)
    kept = found.kept(records)
    write_records(args.output, kept.rows)
    write_json_atomic(report_path(args.output), found.report(records, examples=args.examples))
    print("\n".join(found.lines()))
    logger.info("wrote %d records to %s, the report to %s", len(kept), args.output, report_path(args.output))
    return 0


async def generate(args) -> int:
    """Run one task; returns the exit status (0, or EXIT_FAILED_ROWS when rows failed)."""
    from gpt4llm.data import load_records
    from gpt4llm.jobs import RunLog, dry_run, report_failures, send, write_json_atomic

    task = TASKS[args.task]()
    params = {**task.params}
    for name in ("temperature", "top_p", "max_tokens", "extra_body"):
        if getattr(args, name) is not None:
            params[name] = getattr(args, name)
    config = teacher_config(args)
    rows = task.rows(load_records(args.input))
    rows = rows[: args.limit] if args.limit else rows

    log = None if args.dry_run else RunLog(Path(f"{args.output}.records.jsonl"))
    sent, summaries = [], []

    async def run(jobs, model: str) -> dict:
        """Send the jobs to `model` (or only show them, with --dry-run); returns the log's finished entries."""
        if args.dry_run:
            dry_run(jobs, replace(config, model=model))
            return {}
        summary = await send(jobs, replace(config, model=model), log, desc=f"{args.task} ({model})")
        sent.extend(jobs)
        summaries.append((model, summary))
        for line in summary.lines():
            logger.info("%s: %s", model, line)
        return log.done

    jobs = await task.jobs(rows, args.model, params, args, run)
    done = await run(jobs, args.model)
    if args.dry_run:
        return 0
    dataset = task.records(rows, jobs, done, args.model, params, args)
    write_json_atomic(args.output, dataset)
    logger.info("wrote %d records to %s", len(dataset), args.output)
    status = report_failures(args.output, sent, log)
    log.close()
    if args.push_to_hub:
        _push(args, params, dataset, summaries)
    return status


def dataset_card(args, params: dict, dataset: list[dict], summaries: list) -> str:
    """The dataset's card: how it was made, and what did not make it (refused, truncated, failed) per teacher."""
    counts = []
    for model, summary in summaries:
        reasons = summary.reasons
        others = ", ".join(f"{count} {kind}" for kind, count in reasons.most_common()
                           if kind not in ("refusal", "truncated"))
        line = (f"- {model}: {summary.done}/{summary.total} requests answered; {reasons['refusal']} refused and "
                f"{reasons['truncated']} cut at the length limit, left out")  # fmt: skip
        if summary.truncated_kept:
            line += f"; {summary.truncated_kept} cut at the length limit and kept, flagged `truncated`"
        counts.append(line + (f"; other failures: {others}" if others else ""))
    return f"""---
license: cc-by-nc-4.0
tags: [gpt4llm, instruction-tuning, synthetic]
---
# {args.push_to_hub.split('/')[-1]}

Generated on {date.today().isoformat()} by `python -m data_gen {args.task}` of the LLaMA-GPT4 recipes, following
*Instruction Tuning with GPT-4* (Peng et al., 2023).

- teacher: `{args.model}`{" (through the Batch API)" if args.batch else ""}
- parameters: {params}
- input: `{args.input}`{f" (first {args.limit})" if args.limit else ""}
- records: {len(dataset)}
{chr(10).join(counts)}

Licence: the instructions derive from their source's licence (the Alpaca instructions are CC BY-NC 4.0), and the
answers are subject to the teacher provider's terms of use; check both before using this data commercially.
"""


def _push(args, params: dict, dataset: list[dict], summaries: list) -> None:
    from datasets import Dataset
    from huggingface_hub import DatasetCard

    Dataset.from_list(dataset).push_to_hub(args.push_to_hub, private=args.private)
    DatasetCard(dataset_card(args, params, dataset, summaries)).push_to_hub(args.push_to_hub)


def main(argv: list[str] | None = None) -> int:
    """The command line; returns the exit status for rows that failed, exits with 1 on an error."""
    command_line = parser()
    args = command_line.parse_args(argv)
    if args.task != "decontaminate":
        try:
            teacher_config(args)
        except ValueError as error:
            command_line.error(str(error))
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=logging.INFO)
    for name in ("httpx", "httpx2"):  # one line per request otherwise
        logging.getLogger(name).setLevel(logging.WARNING)
    from gpt4llm.data import DataError
    from gpt4llm.teacher import TeacherError

    try:
        return decontaminate(args) if args.task == "decontaminate" else asyncio.run(generate(args))
    except (DataError, TeacherError) as error:
        sys.exit(f"error: {error}")


if __name__ == "__main__":
    sys.exit(main())
