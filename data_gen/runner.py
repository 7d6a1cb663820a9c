"""The task runner: one data_gen task from its input to the dataset in the released schema, through a teacher.

Every finished request is logged at once to OUTPUT.records.jsonl (the same call again skips what is done, retries
what failed and resumes polling open batches); the dataset is written to OUTPUT atomically at the end, and the
rows that did not make it (refused, truncated, failed) to OUTPUT.failures.jsonl.
"""

import asyncio
import logging
from dataclasses import replace
from datetime import date
from pathlib import Path

from huggingface_hub.errors import HfHubHTTPError

from gpt4llm.benchmarks import select
from gpt4llm.data import DataError, load_records
from gpt4llm.files import write_json_atomic
from gpt4llm.publish import hub_error
from gpt4llm.teacher.options import TeacherConfig
from gpt4llm.teacher.runlog import RunLog, Summary, Written, records_path, report_failures

from .tasks import Task

logger = logging.getLogger(__name__)


def run_task(task: Task, input: str, output: Path, teacher: TeacherConfig, *, limit: int | None = None,
             temperature: float | None = None, top_p: float | None = None, max_tokens: int | None = None,
             extra_body: dict | None = None, dry_run: bool = False, push_to_hub: str | None = None,
             private: bool = False) -> Written | None:
    """`python -m data_gen TASK`: the task's dataset from the first `limit` records of `input` (a file, a Hub id or
    release:NAME), the task's request parameters overridden by those given; with `push_to_hub`, also published
    with a card. Returns what was written; None after a dry run (the first requests and the cost printed)."""
    params = dict(task.params)
    overrides = {"temperature": temperature, "top_p": top_p, "max_tokens": max_tokens, "extra_body": extra_body}
    params |= {name: value for name, value in overrides.items() if value is not None}
    rows = select(task.rows(load_records(input)), limit=limit)
    return asyncio.run(_run(task, rows, Path(output), teacher, params, dry_run=dry_run, input=input, limit=limit,
                            push_to_hub=push_to_hub, private=private))


async def _run(task: Task, rows: list[dict], output: Path, teacher: TeacherConfig, params: dict, *, dry_run: bool,
               input: str, limit: int | None, push_to_hub: str | None, private: bool) -> Written | None:
    from gpt4llm.teacher.dispatch import print_dry_run, send

    log = None if dry_run else RunLog(records_path(output))
    sent, summaries = [], []

    async def send_to(jobs, model: str) -> dict:
        """Send the jobs to `model` (or only show them, in a dry run); returns the log's finished entries."""
        config = replace(teacher, model=model)
        if dry_run:
            print_dry_run(jobs, config)
            return {}
        summary = await send(jobs, config, log, desc=f"{task.name} ({model})")
        sent.extend(jobs)
        summaries.append((model, summary))
        for line in summary.lines():
            logger.info("%s: %s", model, line)
        return log.done

    jobs = await task.jobs(rows, teacher.model, params, send_to)
    done = await send_to(jobs, teacher.model)
    if dry_run:
        return None
    dataset = task.records(rows, jobs, done, teacher.model, params, teacher.keep_truncated)
    write_json_atomic(output, dataset)
    logger.info("wrote %d records to %s", len(dataset), output)
    failures = report_failures(output, sent, log)
    log.close()
    if push_to_hub:
        card = dataset_card(task.name, push_to_hub, teacher, params, input, limit, dataset, summaries)
        try:
            push_dataset(push_to_hub, dataset, card, private=private)
        except HfHubHTTPError as error:  # the records are safe on disk; a rerun sends no request and pushes again
            raise DataError(f"{output}: written, but not pushed to {push_to_hub}: {hub_error(error)}; the same "
                            "command again pushes it without new requests") from None
    return Written(output, failures)


def dataset_card(task: str, repo_id: str, teacher: TeacherConfig, params: dict, input: str, limit: int | None,
                 dataset: list[dict], summaries: list[tuple[str, Summary]]) -> str:
    """The dataset's card: how it was made, and what did not make it (refused, truncated, failed) per teacher."""
    counts = []
    for model, summary in summaries:
        reasons = summary.reasons
        others = ", ".join(f"{count} {kind}" for kind, count in reasons.most_common()
                           if kind not in ("refusal", "truncated"))
        line = (f"- {model}: {summary.done}/{summary.total} requests answered; {reasons['refusal']} refused and "
                f"{reasons['truncated']} cut at the length limit, left out")
        if summary.truncated_kept:
            line += f"; {summary.truncated_kept} cut at the length limit and kept, flagged `truncated`"
        counts.append(line + (f"; other failures: {others}" if others else ""))
    return f"""---
license: cc-by-nc-4.0
tags: [gpt4llm, instruction-tuning, synthetic]
---
# {repo_id.split('/')[-1]}

Generated on {date.today().isoformat()} by `python -m data_gen {task}` of the LLaMA-GPT4 recipes, following
*Instruction Tuning with GPT-4* (Peng et al., 2023).

- teacher: `{teacher.model}`{" (through the Batch API)" if teacher.batch else ""}
- parameters: {params}
- input: `{input}`{f" (first {limit})" if limit else ""}
- records: {len(dataset)}
{chr(10).join(counts)}

Licence: the instructions derive from their source's licence (the Alpaca instructions are CC BY-NC 4.0), and the
answers are subject to the teacher provider's terms of use; check both before using this data commercially.
"""


def push_dataset(repo_id: str, dataset: list[dict], card: str, *, private: bool = False) -> str:
    """Publish the records as the dataset's train split, then its card with the split sizes and features that
    datasets wrote into the README merged in (so `load_dataset` and the viewer keep them): two commits at most,
    none for data and card already there. `private` applies when the repository is created. Returns its URL."""
    from datasets import Dataset
    from huggingface_hub import DatasetCard, HfApi

    api = HfApi()
    url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    Dataset.from_list(dataset).push_to_hub(url.repo_id, commit_message="Upload the records")
    published = DatasetCard.load(url.repo_id, repo_type="dataset").data
    merged = DatasetCard(card)
    for key in ("dataset_info", "configs"):  # datasets' own keys; everything else is the card's
        if published.get(key) is not None:
            merged.data[key] = published[key]
    # an unchanged file makes no commit (huggingface_hub drops no-op uploads)
    api.upload_file(path_or_fileobj=str(merged).encode(), path_in_repo="README.md", repo_id=url.repo_id,
                    repo_type="dataset", commit_message="Dataset card")
    return url
