"""Sending jobs to a teacher: every job not yet in the run log, through the Batch API or as requests many at a
time, each result logged as it arrives; or, for a dry run, the first requests printed with the cost.

The client (openai, aiohttp) is imported here, not in the run log, so that local generation and the commands'
--help load neither.
"""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from .batch import run_batches
from .client import Teacher, TeacherError, TeacherUnusable, request_body, token_parameter, unavailable_model_hint
from .limits import TokenEstimator
from .options import BATCH_PRICE_FACTOR, PRICES_READ_ON, SHUT_DOWN_MODELS, TeacherConfig
from ..files import write_rows
from .runlog import (
    Job,
    RunLog,
    Summary,
    Written,
    answer_entry,
    failure_entry,
    keep_logged_truncated,
    records_path,
    report_failures,
)

logger = logging.getLogger(__name__)


async def send(jobs: list[Job], config: TeacherConfig, log: RunLog, *, desc: str) -> Summary:
    """Every job not yet done, through the Batch API with `config.batch`, else as requests `config.concurrency`
    at a time; each result goes to the log as it arrives."""
    teacher = Teacher(config)
    try:
        if config.batch:
            summary = await run_batches(jobs, teacher, log, desc=desc)
        else:
            summary = await run_jobs(jobs, teacher, log, desc=desc)
    finally:
        await teacher.close()
    return replace(summary, usage=teacher.usage, cost=teacher.cost(batch=config.batch), batch=config.batch)


def send_to_file(jobs: list[Job], config: TeacherConfig, output, *, desc: str,
                 to_records: Callable[[dict], list[dict]], dry_run: bool = False) -> tuple[list[dict], Written] | None:
    """Send `jobs`, logged to OUTPUT.records.jsonl; write the records `to_records(done)` makes of the finished
    answers to `output` and the rows that failed to OUTPUT.failures.jsonl: (records, what was written). With
    `dry_run`, print the first requests and the cost instead, send nothing and return None."""
    if dry_run:
        print_dry_run(jobs, config)
        return None
    log = RunLog(records_path(output))
    summary = asyncio.run(send(jobs, config, log, desc=desc))
    logger.info("; ".join(summary.lines()))
    records = to_records(log.done)
    write_rows(output, records)
    failures = report_failures(output, jobs, log)
    log.close()
    return records, Written(Path(output), failures)


async def run_jobs(jobs: list[Job], teacher, log: RunLog, *, desc: str) -> Summary:
    """Send every job not yet done, `teacher.config.concurrency` at a time, logging each as it finishes."""
    from tqdm.auto import tqdm

    unique = {job.id: job for job in jobs}
    keep_truncated = teacher.config.keep_truncated
    if keep_truncated:
        keep_logged_truncated(unique, log)
    pending = [job for key, job in unique.items() if key not in log.done]
    skipped = len(unique) - len(pending)
    queue: asyncio.Queue = asyncio.Queue()
    for job in pending:
        queue.put_nowait(job)
    bar = tqdm(total=len(unique), initial=skipped, desc=desc, unit="req", dynamic_ncols=True)
    failures = 0

    async def worker():
        nonlocal failures
        while not queue.empty():
            job = queue.get_nowait()
            try:
                entry = answer_entry(
                    job, await teacher.complete(job.messages, parse=job.parse, **job.params), keep_truncated
                )
            except TeacherUnusable:
                raise
            except TeacherError as error:
                entry = failure_entry(job, error)
            log.append(entry)
            failures += entry["status"] == "failed"
            bar.update()
            # formatting it for every answer costs more than the rest
            if entry["status"] == "failed" or bar.n % 32 == 0:
                usage = teacher.usage
                bar.set_postfix(failed=failures, tokens=usage.prompt_tokens + usage.completion_tokens, refresh=False)

    workers = [asyncio.create_task(worker()) for _ in range(min(teacher.config.concurrency, len(pending)) or 1)]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
        bar.close()
    return Summary.of(unique, log, skipped)


def print_dry_run(jobs: list[Job], config: TeacherConfig) -> None:
    """Print the first requests as they would be sent and an upper estimate of the cost; send nothing."""
    jobs = list({job.id: job for job in jobs}.values())  # identical requests are sent once
    for job in jobs[:3]:
        body = request_body(config, job.messages, job.params)
        print(
            f"--- request {job.id} to {config.model} "
            f"{({k: v for k, v in body.items() if k not in ('model', 'messages')})}"
        )
        for message in job.messages:
            print(f"[{message['role']}]\n{message['content']}")
    estimator = TokenEstimator()
    estimator.per_byte = 0.25  # about 4 characters a token in English
    prompt_tokens = sum(estimator.prompt_tokens(job.messages) for job in jobs)
    length = token_parameter(config)
    completion_tokens = sum(request_body(config, job.messages, job.params).get(length) or 0 for job in jobs)
    price = config.prices.get(config.model)
    factor = BATCH_PRICE_FACTOR if config.batch else 1.0
    cost = (
        f"at most ${factor * (prompt_tokens * price[0] + completion_tokens * price[1]) / 1e6:.2f}"
        if price else f"no price known (the built-in table is OpenAI's of {PRICES_READ_ON}; --price-table adds others)"
    )
    how = " through the Batch API (batch prices)" if config.batch else ""
    print(f"=== {len(jobs)} requests to {config.model}{how}: ~{prompt_tokens:.0f} prompt tokens, "
          f"at most {completion_tokens} completion tokens, {cost}")
    if config.model in SHUT_DOWN_MODELS and not config.base_url:
        print(f"=== note: {unavailable_model_hint(config.model, 'the OpenAI API')}")
