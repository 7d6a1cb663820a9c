"""--batch against a fake Batch API (files upload/content, batches create/retrieve/list/cancel): every row answered
once at batch prices; kill -9 after the upload, between creating a batch and logging it, while polling and while
downloading, then the same command: the same batches are polled, none is created twice, nothing is paid twice."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT
from fake_openai import REFUSAL, FakeOpenAI
from test_data_gen import SECRET, data_gen, write


def rows(n: int) -> list[dict]:
    return [{"instruction": f"Batch task {i}", "input": ""} for i in range(n)]


def log_entries(output) -> list[dict]:
    return [json.loads(line) for line in Path(f"{output}.records.jsonl").read_text().splitlines()]


def batch_command(source, output, url, *extra) -> list[str]:
    return ["answer", "--input", str(source), "--output", str(output), "--model", "gpt-4o", "--base-url", url,
            "--batch", "--batch-poll", "0.05", "--batch-max-requests", "4", *map(str, extra)]


def kill_at(point: str, source, output, server, *, before_kill=lambda: None) -> None:
    """Start the command, wait until the server holds it at `point`, then kill -9 it (the hold stays on)."""
    reached = server.hold(point)
    command = [sys.executable, "-m", "data_gen", *batch_command(source, output, server.url)]
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "OPENAI_API_KEY": SECRET})
    assert reached.wait(60), f"the client never reached {point}"
    before_kill()
    process.send_signal(signal.SIGKILL)
    process.wait()


def assert_every_row_once_with_its_own_answer(output, records, server):
    dataset = json.loads(Path(output).read_text())
    assert [r["instruction"] for r in dataset] == [r["instruction"] for r in records]
    assert all(r["output"] == f"Answer: {r['instruction']}" for r in dataset)
    done = [e["id"] for e in log_entries(output) if e["status"] == "done"]
    assert len(done) == len(set(done)) == len(records)  # each request folded into the log once
    assert len(server.processed) == len(records) and set(server.processed.values()) == {1}  # each request paid once


def test_batch_answers_every_row_at_batch_prices_in_files_within_the_limits(tmp_path):
    records, output = rows(10), tmp_path / "out.json"
    with FakeOpenAI(batch_max_requests=4) as server:  # a server that fails a batch of more than 4 requests
        result = data_gen(*batch_command(write(tmp_path / "in.json", records), output, server.url))
    assert_every_row_once_with_its_own_answer(output, records, server)
    inputs = [f for f in server.files.values() if f["purpose"] == "batch"]
    assert sorted(f["content"].count(b"\n") for f in inputs) == [2, 4, 4]  # split at --batch-max-requests
    first = json.loads(inputs[0]["content"].splitlines()[0])
    assert first["url"] == "/v1/chat/completions" and first["body"]["max_tokens"] == 512 and first["custom_id"]
    assert len(server.batches_created) == 3 and not server.requests  # nothing went through the synchronous API
    entries = log_entries(output)
    assert [e["id"] for e in entries if e["status"] == "batch"] == server.batches_created
    assert {e["id"] for e in entries if e["status"] == "batch_closed"} == set(server.batches_created)
    assert "at batch prices" in result.stderr and not Path(f"{output}.failures.jsonl").exists()


@pytest.mark.parametrize("point", ["create", "created", "process", "content"],
                         ids=["after-upload", "created-not-logged", "while-polling", "while-downloading"])
def test_kill_9_at_any_point_then_the_same_command_pays_nothing_twice(tmp_path, point):
    records, output = rows(10), tmp_path / "out.json"
    source = write(tmp_path / "in.json", records)
    with FakeOpenAI() as server:

        def let_it_poll():  # a few times, while held in "process"
            deadline = time.monotonic() + 30
            while point == "process" and sum(server.retrieves.values()) < 4 and time.monotonic() < deadline:
                time.sleep(0.02)

        kill_at(point, source, output, server, before_kill=let_it_poll)
        created_before, uploads_before = list(server.batches_created), len(server.files)
        retrieves_before = dict(server.retrieves)
        server.release(point)
        rerun = data_gen(*batch_command(source, output, server.url))

    assert_every_row_once_with_its_own_answer(output, records, server)
    assert len(server.batches_created) == 3  # one batch per input file, whatever the moment of the kill
    inputs = [f for f in server.files.values() if f["purpose"] == "batch"]
    assert len(inputs) == 3  # and each input file uploaded once
    if point == "create":  # the killed run had uploaded the first file: the rerun made its batch from it
        assert created_before == [] and uploads_before == 1
    if point == "created":  # created by the killed run, found again by the rerun: not created twice
        assert created_before == server.batches_created[:1]
        assert f"batch {created_before[0]} was created from" in rerun.stderr
    if point in ("process", "content"):  # every batch was created before the kill: the rerun polled those same ids
        assert created_before == server.batches_created and uploads_before >= 3
        assert all(server.retrieves[b] > retrieves_before.get(b, 0) for b in created_before)
        assert all(f"batch {b} of an earlier run: polling it again" in rerun.stderr for b in created_before)


def test_a_run_resumed_after_its_uploaded_file_expired_uploads_its_requests_again(tmp_path):
    """Killed after uploading its first file and before creating a batch from it; the file then expired (the API
    keeps batch inputs 30 days) or was deleted: the same command sends those requests in a new file."""
    records, output = rows(10), tmp_path / "out.json"
    source = write(tmp_path / "in.json", records)
    with FakeOpenAI() as server:
        kill_at("create", source, output, server)
        (gone,) = list(server.files)
        del server.files[gone]  # expired
        server.release("create")
        rerun = data_gen(*batch_command(source, output, server.url))
    assert_every_row_once_with_its_own_answer(output, records, server)
    assert f"file {gone} of an earlier run is gone" in rerun.stderr and len(server.batches_created) == 3


def test_a_failed_download_of_results_is_tried_again_not_the_end_of_the_run(tmp_path):
    records, output = rows(6), tmp_path / "out.json"
    with FakeOpenAI(content_failures=2) as server:
        result = data_gen(*batch_command(write(tmp_path / "in.json", records), output, server.url))
    assert_every_row_once_with_its_own_answer(output, records, server)
    assert "downloading again at the next poll" in result.stderr and server.content_failures == 0


def test_batches_refused_for_the_enqueued_token_limit_wait_for_room_and_are_sent_once(tmp_path):
    """An organisation's queue holds one file's tokens at a time here: the batches created beside the first are
    refused (token_limit_exceeded) and created again from their files as room frees, each request answered and
    paid once, none logged as failed; a file over the limit on its own stops the run with one line."""
    records, output = rows(12), tmp_path / "out.json"
    source = write(tmp_path / "in.json", records)
    one_file = 4 * 40  # 4 requests of about 30 prompt tokens each fit, 8 do not
    with FakeOpenAI(enqueued_token_limit=one_file, batch_seconds=0.3) as server:
        result = data_gen(*batch_command(source, output, server.url))
    assert_every_row_once_with_its_own_answer(output, records, server)
    refused = [b for b in server.batches.values() if b["status"] == "failed"]
    assert refused and all(b["errors"]["data"][0]["code"] == "token_limit_exceeded" for b in refused)
    assert "the enqueued-token limit is reached" in result.stderr
    assert not Path(f"{output}.failures.jsonl").exists()

    with FakeOpenAI(enqueued_token_limit=10) as server:  # not even one request fits
        result = data_gen(*batch_command(source, tmp_path / "never.json", server.url), check=False)
    assert result.returncode != 0 and "refused 5 times for the organisation's enqueued-token limit" in result.stderr


def test_a_batch_the_server_fails_names_its_reason_for_every_row(tmp_path):
    source, output = write(tmp_path / "in.json", rows(6)), tmp_path / "out.json"
    with FakeOpenAI(batch_max_requests=4) as server:
        result = data_gen(*batch_command(source, output, server.url, "--batch-max-requests", 6), check=False)
    assert result.returncode == 3 and json.loads(output.read_text()) == []
    failures = [json.loads(line) for line in Path(f"{output}.failures.jsonl").read_text().splitlines()]
    assert [(f["row"], f["kind"], f["reason"]) for f in failures] == [
        (i, "batch failed", "at most 4 requests a batch") for i in range(6)
    ]


def test_refusals_errors_and_truncation_in_a_batch_are_named_and_sent_again_by_the_next_run(tmp_path):
    records = [{"instruction": "Fine", "input": ""}, {"instruction": "No [fault:refusal*0]", "input": ""},
               {"instruction": "Bad [fault:400*1]", "input": ""},
               {"instruction": "Long [fault:length*0]", "input": ""}]
    source, output = write(tmp_path / "in.json", records), tmp_path / "out.json"
    with FakeOpenAI() as server:
        first = data_gen(*batch_command(source, output, server.url), check=False)
        failures = [json.loads(line) for line in Path(f"{output}.failures.jsonl").read_text().splitlines()]
        second = data_gen(*batch_command(source, output, server.url), check=False)
    assert first.returncode == second.returncode == 3
    assert [(f["row"], f["kind"]) for f in failures] == [(1, "refusal"), (2, "HTTP 400"), (3, "truncated")]
    assert failures[0]["reason"] == REFUSAL and failures[1]["reason"] == "injected 400"
    assert len(server.batches_created) == 2  # the second run sent the three failed requests in a new batch
    assert sum(server.processed.values()) == 4 + 3
    # the 400 was once
    assert [r["instruction"] for r in json.loads(output.read_text())] == ["Fine", "Bad [fault:400*1]"]


def test_cancel_batches_keeps_what_finished_and_the_next_run_sends_the_rest(tmp_path):
    records, output = rows(3), tmp_path / "out.json"
    source = write(tmp_path / "in.json", records)
    with FakeOpenAI() as server:
        kill_at("process", source, output, server)
        cancel = subprocess.Popen([sys.executable, "-m", "data_gen",
                                   *batch_command(source, output, server.url, "--cancel-batches")],
                                  cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                  env={**os.environ, "OPENAI_API_KEY": SECRET})
        (batch_id,) = server.batches_created
        deadline = time.monotonic() + 60
        while server.batches[batch_id]["status"] != "cancelling" and time.monotonic() < deadline:
            time.sleep(0.02)
        server.release("process")
        cancel.communicate(timeout=120)
        assert cancel.returncode == 3 and server.batches[batch_id]["status"] == "cancelled"
        assert {json.loads(line)["kind"] for line in Path(f"{output}.failures.jsonl").read_text().splitlines()} == {
            "batch_cancelled"
        }
        assert server.batches_created == [batch_id]  # --cancel-batches sends nothing new
        data_gen(*batch_command(source, output, server.url))
    assert len(server.batches_created) == 2
    assert [r["instruction"] for r in json.loads(output.read_text())] == [r["instruction"] for r in records]


def test_dry_run_prices_a_batch_at_half(tmp_path):
    source = write(tmp_path / "in.json", rows(3))
    costs = []
    for extra in ([], ["--batch"]):
        result = data_gen("answer", "--input", source, "--output", tmp_path / "o.json", "--model", "gpt-4o",
                          "--dry-run", *extra)
        costs.append(float(result.stdout.split("at most $")[-1].split()[0]))
    assert costs[1] == pytest.approx(costs[0] / 2, abs=0.006) and "through the Batch API" in result.stdout


def test_batch_files_split_at_the_size_limit():
    from gpt4llm.teacher.batch import batch_inputs
    from gpt4llm.teacher.client import Teacher
    from gpt4llm.teacher.options import TeacherConfig
    from gpt4llm.teacher.runlog import Job

    teacher = Teacher(TeacherConfig(model="gpt-4o", base_url="http://127.0.0.1:9/v1", batch_max_bytes=1000))
    jobs = [Job(f"job-{i}", [{"role": "user", "content": "x" * 300}], {"max_tokens": 16}) for i in range(7)]
    files = batch_inputs(jobs, teacher)
    assert [ids for ids, _ in files] == [["job-0", "job-1"], ["job-2", "job-3"], ["job-4", "job-5"], ["job-6"]]
    assert all(len(content) <= 1000 for _, content in files)
    assert [json.loads(line)["custom_id"] for _, content in files for line in content.splitlines()] == [
        j.id for j in jobs
    ]
