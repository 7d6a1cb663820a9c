"""Durable batches of teacher requests: every finished request is on disk the moment it finishes.

A run keeps an append-only JSONL log next to its output (`OUTPUT.records.jsonl`), one line per finished
request, keyed by a stable id (a hash of the input and the generation parameters). Running the same command
again skips what is done and retries what failed. A run killed at any instant (even kill -9) loses only the
requests in flight: each line reaches the kernel in one `write` on an O_APPEND descriptor, and a line cut short
by the kill is cut off the file when the log is next opened. The final dataset is then written atomically.
"""

import asyncio
import hashlib
import json
import logging
import os
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from .teacher import Teacher, TeacherError, TeacherUnusable

logger = logging.getLogger(__name__)


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


class RunLog:
    """The log of finished requests; `done` and `failed` map ids to their latest entry."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.done: dict[str, dict] = {}
        self.failed: dict[str, dict] = {}
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
                key, status = entry["id"], entry["status"]
            except (ValueError, KeyError, TypeError):
                raise ValueError(f"{self.path}: line {number}: not a log entry; was this file written by data_gen?")
            if status == "done":
                self.done[key] = entry
                self.failed.pop(key, None)
            elif key not in self.done:
                self.failed[key] = entry

    def append(self, entry: dict) -> None:
        line = (json.dumps(entry, ensure_ascii=False) + "\n").encode()
        written = os.write(self._fd, line)
        while written < len(line):  # regular files take it whole; this is for the exotic ones
            written += os.write(self._fd, line[written:])
        (self.done if entry["status"] == "done" else self.failed)[entry["id"]] = entry
        if entry["status"] == "done":
            self.failed.pop(entry["id"], None)

    def close(self) -> None:
        os.close(self._fd)


@dataclass
class Summary:
    total: int
    done: int
    failed: int
    skipped: int
    reasons: Counter

    def lines(self) -> list[str]:
        lines = [f"{self.done}/{self.total} done ({self.skipped} from earlier runs), {self.failed} failed"]
        lines += [f"  {count} failed with {kind}" for kind, count in self.reasons.most_common()]
        return lines


async def run_jobs(jobs: list[Job], teacher: Teacher, log: RunLog, *, desc: str) -> Summary:
    """Send every job not yet done, `teacher.config.concurrency` at a time, logging each as it finishes."""
    unique = {job.id: job for job in jobs}
    pending = [job for key, job in unique.items() if key not in log.done]
    skipped = len(unique) - len(pending)
    reasons: Counter = Counter()
    queue: asyncio.Queue = asyncio.Queue()
    for job in pending:
        queue.put_nowait(job)
    bar = tqdm(total=len(unique), initial=skipped, desc=desc, unit="req", dynamic_ncols=True)

    async def worker():
        while not queue.empty():
            job = queue.get_nowait()
            try:
                text, value = await teacher.complete(job.messages, parse=job.parse, **job.params)
                log.append({"id": job.id, "status": "done", "text": text, "value": value})
            except TeacherUnusable:
                raise
            except TeacherError as error:
                log.append({"id": job.id, "status": "failed", "kind": error.kind, "error": str(error)})
                reasons[error.kind] += 1
            bar.update()
            usage = teacher.usage
            bar.set_postfix(failed=sum(reasons.values()), tokens=usage.prompt_tokens + usage.completion_tokens, refresh=False)

    workers = [asyncio.create_task(worker()) for _ in range(min(teacher.config.concurrency, len(pending)) or 1)]
    try:
        await asyncio.gather(*workers)
    finally:
        for task in workers:
            task.cancel()
        bar.close()
    done = sum(1 for key in unique if key in log.done)
    failed = sum(1 for key in unique if key in log.failed)
    return Summary(len(unique), done, failed, skipped, reasons)


def write_json_atomic(path: Path, data) -> None:
    """Write JSON so that the file is either the old one or the whole new one, never a part."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    os.chmod(tmp, 0o644)  # mkstemp's 0600 would make the dataset private to its writer
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            json.dump(data, file, ensure_ascii=False, indent=2)
            file.write("\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
