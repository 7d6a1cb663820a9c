"""data_gen against a local fault-injecting OpenAI-compatible server: retries, permanent failures, kill -9 and
re-runs, bad input, the four tasks' schemas, and the API key never leaving the client."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT
from fake_openai import FakeOpenAI, prompt_tokens

from data_gen.runner import run_task
from data_gen.tasks import AnswerTask, RateTask, TranslateTask, UnnaturalTask, parse_score
from gpt4llm.teacher.client import Teacher, TeacherError
from gpt4llm.teacher.options import TeacherConfig
from gpt4llm.templates import RATING_PROMPT, alpaca_user_input

SECRET = "sk-test-DoNotLeakThis0123456789"


def data_gen(*args, env=None, check=True, **popen):
    command = [sys.executable, "-m", "data_gen", *map(str, args)]
    environment = {**os.environ, "OPENAI_API_KEY": SECRET, **(env or {})}
    result = subprocess.run(command, cwd=ROOT, env=environment, capture_output=True, text=True, timeout=300)
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def write(path: Path, records) -> Path:
    path.write_text(json.dumps(records, ensure_ascii=False))
    return path


def log_entries(output: Path) -> list[dict]:
    return [json.loads(line) for line in Path(f"{output}.records.jsonl").read_text().splitlines()]


@pytest.mark.parametrize(
    "text, score",
    [("8", 8), ("9", 9), ("8/10", 8), ("9/10", 9), ("Score: 8.5", 8.5), ("Rating (1-10): 9", 9),
     ("Rating (1–10): 9", 9), ("I would rate it 7 out of 10", 7), ("7 out of 10", 7),
     ("On a scale of 1 to 10, I give 7", 7), ("1. Helpfulness: 9", 9), ("8. Accurate and complete.", 8),
     ("GPT-4 would say 6", 6), ("Score: 9/10 (a 1-10 scale)", 9),
     ("9 out of 10\nbecause", 9), (" 10 \nGreat", 10), ("\n\n7\n", 7), ("0", 0), ("7.5/10.", 7.5), ("10/10", 10)],
)
def test_parse_score_reads_a_rating_as_a_person_does(text, score):
    assert parse_score(text) == score


@pytest.mark.parametrize(
    "text, reason",
    [("", "no score"), ("Great answer\n8", "no score"), ("n/a", "no score"), ("Score: 11", "not from 0 to 10"),
     ("8 or 9", "competing"), ("8-9", "competing"), ("Helpfulness: 9, Accuracy: 7", "competing"),
     ("I'd give it 7/10, maybe 8/10", "competing")],
)
def test_parse_score_rejects_a_first_line_without_one_clear_score(text, reason):
    with pytest.raises(ValueError, match=reason):
        parse_score(text)


def test_every_retryable_fault_ends_done_and_permanent_ones_are_recorded(tmp_path):
    records = [{"instruction": f"Plain task {i}", "input": ""} for i in range(5)]
    for fault in ["429*2", "500*2", "slow*1", "drop*2", "empty*1"]:
        records.append({"instruction": f"Retryable [fault:{fault}]", "input": "context"})
    records += [{"instruction": "Always failing [fault:500*0]", "input": ""},
                {"instruction": "Bad [fault:400*0]", "input": ""}]
    output = tmp_path / "out.json"
    with FakeOpenAI(slow_seconds=1.5) as server:
        flags = ("--base-url", server.url, "--timeout", "0.5", "--max-attempts", "4", "--concurrency", "4")
        result = data_gen("answer", "--input", write(tmp_path / "in.json", records), "--output", output,
                          "--model", "m", *flags, check=False)
        first_run_requests = len(server.requests)
        # the same command again: nothing done is asked again; the two failures are retried (and fail again)
        again = data_gen("answer", "--input", tmp_path / "in.json", "--output", output, "--model", "m", *flags,
                         check=False)
    assert result.returncode == again.returncode == 3  # done, but rows failed
    failures = [json.loads(line) for line in Path(f"{output}.failures.jsonl").read_text().splitlines()]
    assert failures == [
        {"row": 10, "instruction": "Always failing [fault:500*0]", "kind": "HTTP 500",
         "reason": "gave up after 4 attempts: HTTP 500: injected 500"},
        {"row": 11, "instruction": "Bad [fault:400*0]", "kind": "HTTP 400", "reason": "HTTP 400: injected 400"},
    ]
    assert f"{output}.failures.jsonl lists them" in again.stderr

    dataset = json.loads(output.read_text())
    assert [r["instruction"] for r in dataset] == [r["instruction"] for r in records[:10]]
    assert all(r["output"] == f"Answer: {r['instruction']}" for r in dataset)
    failed = [e for e in log_entries(output) if e["status"] == "failed"]
    assert {e["kind"] for e in failed} == {"HTTP 500", "HTTP 400"}
    assert "gave up after 4 attempts: HTTP 500: injected 500" in {e["error"] for e in failed}
    assert "10/12 done (0 from earlier runs), 2 failed" in result.stderr
    assert "1 failed with HTTP 500" in result.stderr and "1 failed with HTTP 400" in result.stderr
    assert "10/12 done (10 from earlier runs), 2 failed" in again.stderr
    assert first_run_requests == 5 + 3 + 3 + 2 + 3 + 2 + 4 + 1  # plain, 429*2, 500*2, slow, drop*2, empty, 500 x4, 400
    assert len(server.requests) - first_run_requests == 4 + 1


def test_kill_9_loses_nothing_finished_and_the_rerun_duplicates_nothing(tmp_path):
    records = [{"instruction": f"Task number {i}", "input": ""} for i in range(300)]
    source, output = write(tmp_path / "in.json", records), tmp_path / "out.json"
    log = Path(f"{output}.records.jsonl")
    with FakeOpenAI(latency=0.05) as server:
        command = [sys.executable, "-m", "data_gen", "answer", "--input", source, "--output", output, "--model", "m",
                   "--base-url", server.url, "--concurrency", "8"]
        process = subprocess.Popen(list(map(str, command)), cwd=ROOT, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, env={**os.environ, "OPENAI_API_KEY": SECRET})
        deadline = time.monotonic() + 60
        while (not log.exists() or log.read_text().count("\n") < 60) and time.monotonic() < deadline:
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait()
        assert not output.exists()
        finished = log.read_text().count("\n")
        assert 60 <= finished < 300
        with open(log, "a") as file:  # as if the kill had come in the middle of writing a line
            file.write('{"id": "cut-off mid-wr')
        data_gen("answer", "--input", source, "--output", output, "--model", "m", "--base-url", server.url)
    dataset = json.loads(output.read_text())
    assert [r["instruction"] for r in dataset] == [r["instruction"] for r in records]
    entries = log_entries(output)
    assert len(entries) == len({e["id"] for e in entries}) == 300  # each request answered exactly once
    assert 300 <= len(server.requests) <= 300 + 8  # only the 8 requests in flight at the kill were sent again


def test_api_key_never_appears_in_outputs_or_logs(tmp_path):
    records = [{"instruction": "Fine", "input": ""}, {"instruction": "Refused [fault:401*1]", "input": ""}]
    output = tmp_path / "out.json"
    with FakeOpenAI() as server:
        ok = data_gen("answer", "--input", write(tmp_path / "in.json", records[:1]), "--output", output,
                      "--model", "m", "--base-url", server.url)
        refused = data_gen("answer", "--input", write(tmp_path / "bad.json", records[1:]),
                           "--output", tmp_path / "bad_out.json", "--model", "m", "--base-url", server.url,
                           check=False)
    assert refused.returncode != 0 and "HTTP 401" in refused.stderr and "[redacted]" in refused.stderr
    assert server.requests  # the key did reach the server it is meant for
    texts = [ok.stdout, ok.stderr, refused.stdout, refused.stderr] + [p.read_text() for p in tmp_path.iterdir()]
    assert not any(SECRET in text or SECRET[8:] in text for text in texts)


def test_rate_scores_k_responses_per_prompt_in_the_released_schema(tmp_path):
    prompts = [{"instruction": "Name a fruit.", "input": ""}, {"instruction": "Add the numbers.", "input": "2 and 3"}]
    gpt4 = [{**prompts[0], "output": "An apple."}, {**prompts[1], "output": "5"}]
    small = [{**prompts[0], "output": "Maybe a pear [fault:noscore*1]"}, {**prompts[1], "output": ""}]
    output = tmp_path / "cmp.json"
    task = RateTask(responses={"gpt4": str(write(tmp_path / "a.json", gpt4)),
                               "small": str(write(tmp_path / "b.json", small))}, responders=["local-model"])
    with FakeOpenAI() as server:
        written = run_task(task, str(write(tmp_path / "p.json", prompts)), output, TeacherConfig("judge", server.url))
    assert written.path == output and written.failures is None
    dataset = json.loads(output.read_text())
    assert [r["user_input"] for r in dataset] == [alpaca_user_input(**p) for p in prompts]
    first = dataset[0]["responses_and_scores"]
    assert [(r["source"], r["score"]) for r in first] == [("gpt4", 8.0), ("small", 8.0), ("local-model", 8.0)]
    assert first[2]["response"] == "Answer: Name a fruit."
    second = dataset[1]["responses_and_scores"]
    assert {r["source"]: r["score"] for r in second}["small"] == 0.0  # an empty response is not sent, scored 0
    rating = next(r for r in server.requests if "An apple." in r["messages"][-1]["content"])
    assert rating["messages"][-1]["content"] == RATING_PROMPT.format(instruction="Name a fruit.", response="An apple.")
    assert rating["model"] == "judge"


def test_unparseable_ratings_are_retried_then_fail_and_leave_the_prompt_out(tmp_path):
    prompts = [{"instruction": "One", "input": ""}, {"instruction": "Two", "input": ""}]
    answers = [{**prompts[0], "output": "fine"}, {**prompts[1], "output": "never scored [fault:noscore*0]"}]
    output = tmp_path / "cmp.json"
    with FakeOpenAI() as server:
        result = data_gen("rate", "--input", write(tmp_path / "p.json", prompts), "--output", output,
                          "--model", "judge", "--responses", f"x={write(tmp_path / 'a.json', answers)}",
                          "--base-url", server.url, "--max-attempts", "3", check=False)
    assert [r["user_input"] for r in json.loads(output.read_text())] == [alpaca_user_input("One")]
    assert "1 failed with bad answer" in result.stderr and result.returncode == 3
    (failure,) = [json.loads(line) for line in Path(f"{output}.failures.jsonl").read_text().splitlines()]
    assert failure == {"row": 1, "instruction": "Two", "response_source": "x", "kind": "bad answer",
                       "reason": "gave up after 3 attempts: bad answer: no score on the first line: "
                                 "'no idea'"}
    assert sum("never scored" in r["messages"][-1]["content"] for r in server.requests) == 3


def test_translate_then_answer_in_chinese_keeps_ids(tmp_path):
    records = [{"instruction": "Say hello.", "input": ""}, {"instruction": "Summarise.", "input": "A long text."}]
    translated, answers = tmp_path / "zh.json", tmp_path / "answers_zh.json"
    with FakeOpenAI() as server:
        english = str(write(tmp_path / "en.json", records))
        run_task(TranslateTask(), english, translated, TeacherConfig("cheap", server.url))
        run_task(AnswerTask(lang="zh"), str(translated), answers, TeacherConfig("teacher", server.url))
    zh = json.loads(translated.read_text())
    assert len(zh) == 2 and len({r["id"] for r in zh}) == 2
    assert zh[1]["input"].startswith("Answer: ")  # the fake server's "translation" of the input
    assert len([r for r in server.requests if r["model"] == "cheap"]) == 3  # two instructions and one input
    answered = json.loads(answers.read_text())
    assert [r["id"] for r in answered] == [r["id"] for r in zh]
    assert all(r["messages"][0] == {"role": "system", "content": "请用简体中文回答。"}
               for r in server.requests if r["model"] == "teacher")


def test_unnatural_keeps_the_ground_truth_as_label(tmp_path):
    core = [{"instruction": "Reverse the word.",
             "instances": [{"input": "abc", "output": "cba"}, {"input": "xy", "output": "yx"}]}]
    path, output = tmp_path / "core.jsonl", tmp_path / "un.json"
    path.write_text("\n".join(json.dumps(r) for r in core) + "\n")
    with FakeOpenAI() as server:
        run_task(UnnaturalTask(), str(path), output, TeacherConfig("teacher", server.url))
    assert json.loads(output.read_text()) == [
        {"instruction": "Reverse the word.", "input": "abc", "output": "Answer: Reverse the word.", "label": "cba"},
        {"instruction": "Reverse the word.", "input": "xy", "output": "Answer: Reverse the word.", "label": "yx"},
    ]


def test_dry_run_shows_prompts_and_cost_and_sends_nothing(tmp_path):
    output = tmp_path / "out.json"
    with FakeOpenAI() as server:
        result = data_gen("answer", "--input", write(tmp_path / "in.json", [{"instruction": "Hi", "input": ""}] * 3),
                          "--output", output, "--model", "gpt-4o", "--base-url", server.url, "--dry-run")
    assert not server.requests and not list(tmp_path.glob("out.json*"))
    assert "### Instruction:\nHi\n\n### Response:" in result.stdout
    assert "1 requests to gpt-4o" in result.stdout and "$" in result.stdout


def test_a_dry_run_for_a_shut_down_model_says_so_and_prices_nothing(tmp_path):
    result = data_gen("answer", "--input", write(tmp_path / "in.json", [{"instruction": "Hi", "input": ""}]),
                      "--output", tmp_path / "out.json", "--model", "gpt-4", "--dry-run")
    lines = result.stdout.strip().splitlines()
    assert lines[-2].endswith("no price known (the built-in table is OpenAI's of 2026-11-01; --price-table adds "
                              "others)")
    assert lines[-1].startswith("=== note: gpt-4 is unavailable at the OpenAI API (OpenAI shut it down on 2026-10-23)")
    assert "python -m eval calibrate" in lines[-1] and not list(tmp_path.glob("out.json*"))


@pytest.mark.parametrize(
    "content, message",
    [
        (None, "no such file"),
        ("", "not JSON"),
        ("[]", "no records"),
        ("{oops", "not JSON"),
        ('[{"instruction": "a"}, {"input": "b"}]', "row 1: field 'instruction' is missing"),
        ('[{"instruction": 5}]', "row 0: field 'instruction' must be a string, got int"),
    ],
)
def test_bad_input_is_a_clear_error_and_overwrites_nothing(tmp_path, content, message):
    source, output = tmp_path / "in.json", tmp_path / "out.json"
    if content is not None:
        source.write_text(content)
    output.write_text("previous dataset")
    result = data_gen("answer", "--input", source, "--output", output, "--model", "m",
                      "--base-url", "http://127.0.0.1:9/v1", check=False)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines()[-1].startswith(f"error: {source}") and message in result.stderr
    assert output.read_text() == "previous dataset" and not Path(f"{output}.records.jsonl").exists()


def test_unreachable_hub_id_is_a_clear_error(tmp_path):
    result = data_gen("answer", "--input", "someone/missing-dataset", "--output", tmp_path / "o.json", "--model", "m",
                      "--base-url", "http://127.0.0.1:9/v1", check=False)
    assert result.returncode != 0 and "error: someone/missing-dataset: cannot load this Hub dataset" in result.stderr


# ---------------------------------------------------------------- the client itself


def run(coroutine):
    return asyncio.run(coroutine)


async def _complete_all(config: TeacherConfig, prompts: list[str]):
    teacher = Teacher(config)
    try:
        return await asyncio.gather(*(teacher.complete([{"role": "user", "content": p}]) for p in prompts)), teacher
    finally:
        await teacher.close()


@pytest.mark.parametrize("fault", ["429", "429ms"])  # Retry-After: 0.05; retry-after: 30 beside retry-after-ms: 50
def test_retry_after_is_honoured_instead_of_backoff(fault):
    with FakeOpenAI() as server:
        config = TeacherConfig(model="m", base_url=server.url, backoff_base=30.0, max_attempts=3)
        start = time.monotonic()
        (answer,), teacher = run(_complete_all(config, [f"x [fault:{fault}*2]"]))
    assert answer.text.startswith("Answer:") and time.monotonic() - start < 5
    assert teacher.usage.retries == 2 and teacher.usage.requests == 3


def test_requests_per_minute_limit_holds_against_a_server_that_enforces_it():
    with FakeOpenAI(latency=0.01, requests_per_period=20, period=1.5) as server:  # a "minute" of 1.5 s
        config = TeacherConfig(model="m", base_url=server.url, concurrency=32, requests_per_minute=20,
                               limit_period=1.5)
        start = time.monotonic()
        answers, _ = run(_complete_all(config, [f"prompt {i}" for i in range(50)]))
        elapsed = time.monotonic() - start
    assert len(answers) == 50 and server.rate_limited == 0
    assert 3.0 <= elapsed < 10  # 20 in the first window, 20 in the second, the last 10 in the third


def test_usage_and_cost_are_counted_from_responses():
    with FakeOpenAI() as server:
        config = TeacherConfig(model="gpt-4o", base_url=server.url)
        _, teacher = run(_complete_all(config, ["a", "b"]))
    # as the server reported, at gpt-4o's $2.50 and $10 per million
    assert teacher.usage.prompt_tokens == 2 * prompt_tokens([{"role": "user", "content": "a"}])
    assert teacher.cost() == pytest.approx(
        (teacher.usage.prompt_tokens * 2.5 + teacher.usage.completion_tokens * 10) / 1e6
    )
    assert teacher.cost(batch=True) == pytest.approx(teacher.cost() / 2)  # the Batch API's half price


def test_missing_key_for_the_openai_api_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(TeacherError, match="OPENAI_API_KEY is not set"):
        Teacher(TeacherConfig(model="gpt-4o"))


def test_translated_questions_keep_ids_and_categories_and_feed_the_judge(tmp_path):
    questions = tmp_path / "q.jsonl"
    questions.write_text("".join(json.dumps({"question_id": q, "text": f"Question {q}?", "category": c}) + "\n"
                                 for q, c in [(1, "generic"), (2, "math")]))
    output = tmp_path / "q_zh.json"
    with FakeOpenAI() as server:
        run_task(TranslateTask(), str(questions), output, TeacherConfig("cheap", server.url))
    translated = json.loads(output.read_text())
    assert [(q["question_id"], q["category"]) for q in translated] == [(1, "generic"), (2, "math")]
    assert translated[0]["text"].startswith("Answer: ")  # the fake server's "translation"
    from gpt4llm.benchmarks import read_benchmark
    from gpt4llm.data import load_records

    assert read_benchmark(load_records(str(output))).keys() == [1, 2]
