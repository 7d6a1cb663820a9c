"""Durable batches of teacher requests: every finished request is on disk the moment it finishes, and what
failed is named row by row.

A run keeps an append-only JSONL log next to its output (`OUTPUT.records.jsonl`), one line per finished
request, keyed by a stable id (a hash of the input and the generation parameters), plus, with the Batch API, one
line per uploaded file and per batch. Running the same command again skips what is done, retries what failed and
polls the batches still open. A run killed at any instant (even kill -9) loses only the requests in flight: each
line reaches the kernel in one `write` on an O_APPEND descriptor, and a line cut short by the kill is cut off the
file when the log is next opened. The final dataset is then written atomically, and the rows that did not make it
go to `OUTPUT.failures.jsonl`: `{row or id..., kind, reason[, text]}`, one line each.

Exit statuses of the commands built on this: 0 every row done; 1 an error stopped the run (bad input, a teacher
that refuses every request); 2 bad command line; 3 the run finished but rows failed (see the failures file; the
same command again retries them).
"""

import asyncio
import hashlib
import json
import logging
import os
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

logger = logging.getLogger(__name__)

EXIT_FAILED_ROWS = 3


def job_id(*parts) -> str:
    """A stable id for a request: the same input and parameters always give the same id."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


@dataclass
class Job:
    id: str
    messages: list[dict]
    params: dict
    parse: Callable[[str], object] | None = None  # raises ValueError on an answer worth asking for again
    meta: dict = field(default_factory=dict)  # what the caller needs to turn the answer into a record
    source: dict = field(default_factory=dict)  # the input row it serves, as the failures file names it


class RunLog:
    """The log of a run: `done` and `failed` map request ids to their latest entry; `files` and `batches` are the
    Batch API's uploaded input files and batches, `closed` the batches whose results are all in the log."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.done: dict[str, dict] = {}
        self.failed: dict[str, dict] = {}
        self.files: dict[str, dict] = {}
        self.batches: dict[str, dict] = {}
        self.closed: set[str] = set()
        if self.path.exists():
            self._load()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _load(self) -> None:
        data = self.path.read_bytes()
        complete = data.rfind(b"\n") + 1
        if complete < len(data):  # the last line was being written when the run was killed
            logger.warning("%s: dropping a cut-off last line (%d bytes)", self.path, len(data) - complete)
            os.truncate(self.path, complete)
        for number, line in enumerate(data[:complete].splitlines(), start=1):
            try:
                entry = json.loads(line)
                entry["id"], entry["status"]
            except (ValueError, KeyError, TypeError):
                raise ValueError(f"{self.path}: line {number}: not a log entry; was this file written by data_gen?")
            self._index(entry)

    def _index(self, entry: dict) -> None:
        key, status = entry["id"], entry["status"]
        if status == "done":
            self.done[key] = entry
            self.failed.pop(key, None)
        elif status == "failed":
            if key not in self.done:
                self.failed[key] = entry
        elif status == "batch_file":
            self.files[key] = entry
        elif status == "batch":
            self.batches[key] = entry
        elif status == "batch_closed":
            self.closed.add(key)

    def append(self, entry: dict) -> None:
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode()
        written = os.write(self._fd, line)
        while written < len(line):  # regular files take it whole; this is for the exotic ones
            written += os.write(self._fd, line[written:])
        self._index(entry)

    def close(self) -> None:
        os.close(self._fd)


def answer_entry(job: Job, answer, keep_truncated: bool) -> dict:
    """The log entry for an answer: done, or failed as "truncated" when it was cut at the length limit and neither
    `keep_truncated` nor a value parsed from it (a rating whose score came before the cut) keeps it."""
    if answer.truncated and not (answer.text and keep_truncated) and not (job.parse and answer.value is not None):
        return {"id": job.id, "status": "failed", "kind": "truncated", "text": answer.text,
                "error": "the answer was cut at the length limit (finish_reason: length)"}  # fmt: skip
    entry = {"id": job.id, "status": "done", "text": answer.text, "value": answer.value}
    return entry | {"truncated": True} if answer.truncated else entry


def failure_entry(job: Job, error) -> dict:
    return {"id": job.id, "status": "failed", "kind": error.kind, "error": str(error)}


def keep_logged_truncated(jobs: dict[str, Job], log: RunLog) -> None:
    """With --keep-truncated, answers an earlier run left out as truncated are kept without asking again."""
    for key in jobs:
        entry = log.failed.get(key)
        if entry and entry.get("kind") == "truncated" and entry.get("text"):
            log.append({"id": key, "status": "done", "text": entry["text"], "value": None, "truncated": True})


@dataclass
class Summary:
    total: int
    done: int
    failed: int
    skipped: int
    reasons: Counter  # failed requests by kind
    truncated_kept: int = 0
    usage: object = None  # teacher.Usage
    cost: float | None = None
    batch: bool = False

    @classmethod
    def of(cls, jobs: dict[str, Job], log: RunLog, skipped: int, **extra) -> "Summary":
        failed = [log.failed[key] for key in jobs if key in log.failed]
        kept = sum(1 for key in jobs if log.done.get(key, {}).get("truncated"))
        done = sum(1 for key in jobs if key in log.done)
        return cls(len(jobs), done, len(failed), skipped, Counter(e["kind"] for e in failed), kept, **extra)

    def lines(self) -> list[str]:
        lines = [f"{self.done}/{self.total} done ({self.skipped} from earlier runs), {self.failed} failed"]
        lines += [f"  {count} failed with {kind}" for kind, count in self.reasons.most_common()]
        if self.truncated_kept:
            lines.append(f"  {self.truncated_kept} done but cut at the length limit (kept, flagged truncated)")
        if self.usage is not None:
            usage, price = self.usage, f", about ${self.cost:.2f}" if self.cost is not None else ""
            lines.append(f"{usage.requests} requests ({usage.retries} retries), {usage.prompt_tokens} prompt + "
                         f"{usage.completion_tokens} completion tokens{price}"
                         f"{' at batch prices' if self.batch else ''}")  # fmt: skip
        return lines


async def send(jobs: list[Job], config, log: RunLog, *, desc: str) -> Summary:
    """Every job not yet done, through the Batch API with `config.batch`, else as requests `config.concurrency`
    at a time; each result goes to the log as it arrives."""
    from .teacher import Teacher

    teacher = Teacher(config)
    try:
        if config.batch:
            from .batch import run_batches

            summary = await run_batches(jobs, teacher, log, desc=desc)
        else:
            summary = await run_jobs(jobs, teacher, log, desc=desc)
    finally:
        await teacher.close()
    return replace(summary, usage=teacher.usage, cost=teacher.cost(batch=config.batch), batch=config.batch)


async def run_jobs(jobs: list[Job], teacher, log: RunLog, *, desc: str) -> Summary:
    """Send every job not yet done, `teacher.config.concurrency` at a time, logging each as it finishes."""
    from tqdm.auto import tqdm

    from .teacher import TeacherError, TeacherUnusable

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


def failures_path(output) -> Path:
    return Path(f"{output}.failures.jsonl")


def write_failures(output, jobs: list[Job], log: RunLog) -> tuple[Path, Counter]:
    """Write OUTPUT.failures.jsonl: one line per input row whose request failed for good, `{row/id/instruction...,
    kind, reason[, text]}` (text: a refusal's or a truncated answer's); removed when none failed. Returns the path
    and the failed rows by kind."""
    path, rows, kinds = failures_path(output), [], Counter()
    for job in jobs:
        entry = log.failed.get(job.id)
        if entry is None or job.id in log.done:
            continue
        row = {**(job.source or job.meta), "kind": entry["kind"], "reason": entry["error"]}
        if entry.get("text"):
            row["text"] = entry["text"]
        rows.append(row)
        kinds[entry["kind"]] += 1
    if rows:
        write_text_atomic(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    else:
        path.unlink(missing_ok=True)
    return path, kinds


def report_failures(output, jobs: list[Job], log: RunLog) -> int:
    """Write the failures file, say where it is, and return the exit status: 0, or EXIT_FAILED_ROWS."""
    path, kinds = write_failures(output, jobs, log)
    if not kinds:
        return 0
    counts = ", ".join(f"{count} {kind}" for kind, count in kinds.most_common())
    logger.warning("%d rows did not make it (%s): %s lists them; the same command again retries them",
                   sum(kinds.values()), counts, path)  # fmt: skip
    return EXIT_FAILED_ROWS


def dry_run(jobs: list[Job], config) -> None:
    """Print the first requests as they would be sent and an upper estimate of the cost; send nothing."""
    from .limits import TokenEstimator
    from .teacher import request_body, token_parameter
    from .teacher_options import BATCH_PRICE_FACTOR

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
        if price else "no price known"
    )
    how = " through the Batch API (batch prices)" if config.batch else ""
    print(f"=== {len(jobs)} requests to {config.model}{how}: ~{prompt_tokens:.0f} prompt tokens, "
          f"at most {completion_tokens} completion tokens, {cost}")  # fmt: skip


def write_text_atomic(path: Path, text: str) -> None:
    """Write a file so that it is either the old one or the whole new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    os.chmod(tmp, 0o644)  # mkstemp's 0600 would make the dataset private to its writer
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, data) -> None:
    """Write JSON so that the file is either the old one or the whole new one, never a part."""
    write_text_atomic(path, json.dumps(data, ensure_ascii=False, indent=2) + "\n")
