"""The OpenAI Batch API: the same requests at half the price, from their own rate-limit pool, answered within 24 h.

The pending requests become JSONL files (custom_id = the job id; split at the API's limits of 50,000 requests
and 200 MB a file), each uploaded and turned into a batch. The run log gets, at once, a line per uploaded file
(its id and job ids) and per batch (its id); results are folded into the same log as done or failed entries,
then the batch is marked closed. So a run killed at any moment resumes, by the same command, where it stood:

- killed after an upload: the logged file is used; the batches on the account are searched for one made from it
  (a kill between creating a batch and logging it) before one is created, so no batch is created twice;
- killed while polling or downloading: the same batch ids are polled again and their results folded, each
  request's once;
- resumed after a logged file expired (the API keeps batch input files 30 days) or was deleted: its requests are
  uploaded again in a new file.

A batch's results that fail to download (a 5xx, a dropped connection) are fetched again at the next poll rather
than ending the run. A batch the API refuses for the organisation's enqueued-token limit (`token_limit_exceeded`:
too many tokens already queued in unfinished batches) is created again from the same file once this run's other
batches have finished, never folded as failed requests to be resubmitted unchanged; refused with nothing of this
run queued, it waits and tries again, and after QUEUE_RETRIES such refusals stops with one line naming the limit.

Results are read like synchronous answers (refusals, truncation, `parse`); a request the batch could not answer
(an error line, or none by the time a batch expired, failed or was cancelled) is logged as failed, and the next
run sends it again in a new batch.
"""

import asyncio
import json
import logging

import openai

from .runlog import Job, RunLog, Summary, answer_entry, keep_logged_truncated
from .client import Refusal, Teacher, TeacherError, TeacherUnusable, read_answer, redact

logger = logging.getLogger(__name__)

ENDPOINT = "/v1/chat/completions"
TERMINAL = ("completed", "failed", "expired", "cancelled")
QUEUE_FULL = "token_limit_exceeded"  # the organisation's enqueued-token limit
QUEUE_RETRIES = 5  # refusals in a row with none of this run's batches queued before the run gives up


def batch_inputs(jobs: list[Job], teacher: Teacher) -> list[tuple[list[str], bytes]]:
    """The jobs as JSONL request files within the per-file limits: [(job ids, file content)]."""
    config = teacher.config
    files, ids, lines, size = [], [], [], 0
    for job in jobs:
        request = {
            "custom_id": job.id, "method": "POST", "url": ENDPOINT, "body": teacher.body(job.messages, job.params),
        }
        line = (json.dumps(request, ensure_ascii=False) + "\n").encode()
        if ids and (len(ids) == config.batch_max_requests or size + len(line) > config.batch_max_bytes):
            files.append((ids, b"".join(lines)))
            ids, lines, size = [], [], 0
        ids.append(job.id)
        lines.append(line)
        size += len(line)
    if ids:
        files.append((ids, b"".join(lines)))
    return files


async def run_batches(jobs: list[Job], teacher: Teacher, log: RunLog, *, desc: str) -> Summary:
    """Send the jobs not yet done through the Batch API, wait for every batch of this run, fold the results."""
    from tqdm.auto import tqdm

    unique = {job.id: job for job in jobs}
    if teacher.config.keep_truncated:
        keep_logged_truncated(unique, log)
    skipped = sum(1 for key in unique if key in log.done)
    client = teacher.client
    batch_of_file = {entry["file"]: key for key, entry in log.batches.items()}
    open_batches = {key: entry["file"] for key, entry in log.batches.items() if key not in log.closed}
    for key in open_batches:
        logger.info("batch %s of an earlier run: polling it again", key)

    # files an earlier run uploaded and was stopped before it logged their batch
    for file_id, entry in log.files.items():
        if file_id in batch_of_file or not any(key not in log.done for key in entry["jobs"]):
            continue
        batch_id = await _batch_made_from(client, entry)
        if batch_id:
            logger.info("batch %s was created from %s by an earlier run: polling it", batch_id, file_id)
            log.append({"id": batch_id, "status": "batch", "file": file_id})
        elif teacher.config.cancel_batches:
            continue
        else:
            try:
                batch_id = await _create(client, file_id, log)
            except TeacherError as error:
                if error.kind not in ("HTTP 400", "HTTP 404"):
                    raise
                # expired or deleted: its requests go out again in a new file, below
                logger.warning("file %s of an earlier run is gone (%s): uploading its requests again", file_id, error)
                continue
        open_batches[batch_id] = file_id

    if not teacher.config.cancel_batches:
        in_open = {key for file_id in open_batches.values() for key in log.files[file_id]["jobs"]}
        pending = [job for key, job in unique.items() if key not in log.done and key not in in_open]
        for number, (ids, content) in enumerate(batch_inputs(pending, teacher), start=1):
            upload = await _call(client.files.create(file=(f"{log.path.stem}-{number}.jsonl", content,
                                                           "application/jsonl"),
                                                     purpose="batch"), "uploading a batch file")
            log.append({
                "id": upload.id, "status": "batch_file", "jobs": ids, "bytes": len(content),
                "created_at": upload.created_at,
            })
            open_batches[await _create(client, upload.id, log)] = upload.id
    else:
        for batch_id in open_batches:
            try:
                await _call(client.batches.cancel(batch_id), f"cancelling batch {batch_id}")
                logger.info("batch %s: cancelling (its finished requests are kept)", batch_id)
            except TeacherUnusable:
                raise
            except TeacherError as error:  # e.g. it finished meanwhile: its results are folded below
                logger.warning("%s", error)

    total = sum(len(log.files[file_id]["jobs"]) for file_id in open_batches.values())
    with tqdm(total=total, desc=f"{desc}, {len(open_batches)} batches", unit="req", dynamic_ncols=True) as bar:
        await _poll(client, open_batches, unique, log, teacher, bar)
    return Summary.of(unique, log, skipped)


async def _create(client, file_id: str, log: RunLog) -> str:
    batch = await _call(client.batches.create(input_file_id=file_id, endpoint=ENDPOINT, completion_window="24h",
                                              metadata={"input_file": file_id}), "creating a batch")
    log.append({"id": batch.id, "status": "batch", "file": file_id})
    logger.info("batch %s: %d requests from %s", batch.id, len(log.files[file_id]["jobs"]), file_id)
    return batch.id


async def _batch_made_from(client, file_entry: dict) -> str | None:
    """The batch created from an uploaded file, if any: batches are listed newest first, so the search stops at
    the first one older than the file."""
    try:
        async for batch in client.batches.list(limit=100):
            if batch.input_file_id == file_entry["id"]:
                return batch.id
            if batch.created_at < file_entry.get("created_at", 0):
                return None
    except openai.APIStatusError as error:
        raise _error(error, "listing batches") from None
    return None


async def _poll(
    client, open_batches: dict[str, str], unique: dict[str, Job], log: RunLog, teacher: Teacher, bar
) -> None:
    progress: dict[str, int] = {}
    waiting: list[str] = []  # files whose batch the enqueued-token limit refused, to create again
    refusals = 0  # in a row, with none of this run's batches queued
    while open_batches or waiting:
        for batch_id in list(open_batches):
            try:
                batch = await client.batches.retrieve(batch_id)
            except (openai.APIConnectionError, openai.InternalServerError, openai.RateLimitError) as error:
                logger.warning("batch %s: %s; polling again", batch_id, type(error).__name__)
                continue
            except openai.APIStatusError as error:
                raise _error(error, f"polling batch {batch_id}") from None
            counts = batch.request_counts
            progress[batch_id] = (counts.completed + counts.failed) if counts else 0
            if batch.status == "failed" and _queue_full(batch):
                alone = len(open_batches) == 1
                refusals = refusals + 1 if alone else 0
                if refusals >= QUEUE_RETRIES:
                    raise TeacherError(f"batch {batch_id}: refused {refusals} times for the organisation's enqueued-"
                                       f"token limit with nothing else of this run queued ({_why(batch)}); send "
                                       "smaller files (batch_max_requests) or wait for other batches to finish",
                                       QUEUE_FULL)
                log.append({"id": batch_id, "status": "batch_closed", "state": "refused: queue full"})
                waiting.append(open_batches.pop(batch_id))
                logger.info("batch %s: the enqueued-token limit is reached; created again when %s", batch_id,
                            "this run's other batches finish" if not alone else "the queue has room")
                continue
            if batch.status in TERMINAL:
                try:
                    await _fold(client, batch, log.files[open_batches[batch_id]], unique, log, teacher)
                except TeacherUnusable:
                    raise
                except TeacherError as error:  # a download that failed: the results are still there next poll
                    logger.warning("%s; downloading again at the next poll", error)
                    continue
                open_batches.pop(batch_id)
                progress[batch_id] = len(log.files[batch.input_file_id]["jobs"])
        if waiting and not open_batches:  # the queue has room for this run again: one file at a time
            file_id = waiting.pop(0)
            open_batches[await _create(client, file_id, log)] = file_id
        bar.n = sum(progress.values())
        bar.refresh()
        if open_batches or waiting:
            await asyncio.sleep(teacher.config.batch_poll * (2 ** min(refusals, 4) if refusals else 1))


def _queue_full(batch) -> bool:
    return any(error.code == QUEUE_FULL for error in (batch.errors.data or [])) if batch.errors else False


def _why(batch) -> str:
    return "; ".join(e.message or e.code or "" for e in (batch.errors.data or [])) if batch.errors else ""


async def _fold(client, batch, file_entry: dict, unique: dict[str, Job], log: RunLog, teacher: Teacher) -> None:
    """Every request of a finished batch into the log, each once: answers, error lines, and the ones it never ran."""
    results = {}
    for file_id in (batch.output_file_id, batch.error_file_id):
        if file_id:
            content = await _call(client.files.content(file_id), f"downloading {file_id} of batch {batch.id}")
            for line in content.content.splitlines():
                if line.strip():
                    result = json.loads(line)
                    results[result["custom_id"]] = result
    why = _why(batch)
    unknown = 0
    for key in file_entry["jobs"]:
        if key in log.done:
            continue
        job = unique.get(key)
        if job is None:  # a request of another command line (other options) that shared this log
            unknown += 1
            continue
        log.append(_result_entry(job, results.get(key), batch, why, teacher))
    if unknown:
        logger.warning("batch %s: %d results belong to requests this command does not make; they stay in file %s",
                       batch.id, unknown, batch.output_file_id)
    log.append({"id": batch.id, "status": "batch_closed", "state": batch.status})
    logger.info("batch %s %s: %d answered, %d failed", batch.id, batch.status, *_counts(batch))


def _result_entry(job: Job, result: dict | None, batch, why: str, teacher: Teacher) -> dict:
    def failed(kind: str, reason: str) -> dict:
        return {"id": job.id, "status": "failed", "kind": kind, "error": redact(reason)[:300]}

    if result is None:
        return failed(f"batch {batch.status}", why or f"batch {batch.id} ended {batch.status} without this request")
    response, error = result.get("response"), result.get("error")
    if response and response.get("status_code") == 200:
        body = response.get("body") or {}
        teacher.usage.requests += 1
        teacher.usage.add(body.get("usage"))
        try:
            return answer_entry(job, read_answer(body, job.parse), teacher.config.keep_truncated)
        except Refusal as refusal:
            return failed("refusal", refusal.text)
        except ValueError as problem:
            return failed("bad answer", str(problem))
    if response:
        detail = (response.get("body") or {}).get("error") or {}
        return failed(f"HTTP {response.get('status_code')}", detail.get("message") or json.dumps(detail))
    error = error or {}
    return failed(error.get("code") or "batch error", error.get("message") or "no response")


def _counts(batch) -> tuple[int, int]:
    counts = batch.request_counts
    return (counts.completed, counts.failed) if counts else (0, 0)


async def _call(awaitable, what: str):
    """An awaited Batch or Files API call, its errors as one line: TeacherUnusable where nothing can succeed."""
    try:
        return await awaitable
    except openai.APIStatusError as error:
        raise _error(error, what) from None
    except openai.APIConnectionError as error:
        raise TeacherError(f"{what}: {type(error).__name__}: {redact(str(error))}", "connection") from None


def _error(error: openai.APIStatusError, what: str) -> TeacherError:
    body = error.body if isinstance(error.body, dict) else {}
    message = redact(str(body.get("message") or error.message)).splitlines()[0][:300]
    if error.status_code in (401, 403, 404):
        hint = " (does this endpoint have the Batch API?)" if error.status_code == 404 else ""
        return TeacherUnusable(f"{what}: HTTP {error.status_code}: {message}{hint}", f"HTTP {error.status_code}")
    return TeacherError(f"{what}: HTTP {error.status_code}: {message}", f"HTTP {error.status_code}")
