"""The run log: every finished request (to a teacher or a local model) is on disk the moment it finishes, and
what failed is named row by row.

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

import hashlib
import json
import logging
import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..files import write_jsonl_atomic

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
                "error": "the answer was cut at the length limit (finish_reason: length)"}
    entry = {"id": job.id, "status": "done", "text": answer.text, "value": answer.value}
    if answer.logprobs:
        entry["logprobs"] = answer.logprobs
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
                         f"{' at batch prices' if self.batch else ''}")
        return lines


def records_path(output) -> Path:
    """The run log of a stage that writes `output`."""
    return Path(f"{output}.records.jsonl")


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
        write_jsonl_atomic(path, rows)
    else:
        path.unlink(missing_ok=True)
    return path, kinds


def report_failures(output, jobs: list[Job], log: RunLog) -> Path | None:
    """Write the failures file and say where it is; returns it, or None when every row made it."""
    path, kinds = write_failures(output, jobs, log)
    if not kinds:
        return None
    counts = ", ".join(f"{count} {kind}" for kind, count in kinds.most_common())
    logger.warning("%d rows did not make it (%s): %s lists them; the same command again retries them",
                   sum(kinds.values()), counts, path)
    return path


@dataclass(frozen=True)
class Written:
    """What a stage wrote: its output, the file that lists the rows that did not make it (None: all did), and the
    totals written beside the output (judges and graders: OUTPUT.summary.json)."""

    path: Path
    failures: Path | None = None
    summary: Path | None = None

    @property
    def exit_status(self) -> int:
        return EXIT_FAILED_ROWS if self.failures else 0
