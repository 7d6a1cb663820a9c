"""The teacher client against a server that behaves like today's OpenAI API: rate limits it enforces, reasoning
models that reject max_tokens, errors every request would repeat, refusals and truncated answers, ratings read as a
person reads them, the failures file and exit statuses, and commands that parse before they import."""

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import ROOT
from fake_openai import REFUSAL, FakeOpenAI, count_tokens
from test_data_gen import data_gen, write

from gpt4llm.teacher.limits import RollingWindow


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def topics(n: int) -> list[dict]:
    return [{"instruction": f"Write about topic number {i} in some detail, please.", "input": ""} for i in range(n)]


# ---------------------------------------------------------------- rate limits


@pytest.mark.parametrize(
    "tpm, answer_tokens, max_tokens, rows, concurrency",
    [
        (20_000, 250, 300, 300, 32),  # many small requests, each below a 60th of the limit
        # each larger than a second's budget (6,000/60): the old bucket let these through 30x
        (6_000, 400, 512, 60, 16),
        (6_000, 5_500, 5_600, 5, 4),  # each nearly the whole limit: one a window, waiting for the window to empty
    ],
    ids=["small", "over-a-second", "near-the-whole-limit"],
)
def test_token_limit_is_never_exceeded_and_used_fully(tmp_path, tpm, answer_tokens, max_tokens, rows, concurrency):
    """A server enforcing `tpm` tokens per rolling 2-second "minute" (prompt + length limit charged on admission,
    settled with the usage): a run needing 4-5 minutes of budget gets no 429 and fills >= 85% of every minute."""
    output = tmp_path / "out.json"
    with FakeOpenAI(latency=0.05, tokens_per_period=tpm, period=2.0, answer_tokens=answer_tokens) as server:
        data_gen("answer", "--input", write(tmp_path / "in.json", topics(rows)), "--output", output, "--model", "m",
                 "--base-url", server.url, "--tpm", tpm, "--limit-period", 2, "--max-tokens", max_tokens,
                 "--concurrency", concurrency)
        shares = server.utilization()
    assert server.rate_limited == 0
    assert len(shares) >= 2 and min(shares) >= 0.85, shares
    assert len(json.loads(output.read_text())) == rows


def test_a_request_larger_than_the_whole_token_limit_fails_with_its_reason(tmp_path):
    output = tmp_path / "out.json"
    with FakeOpenAI(tokens_per_period=6_000, period=2.0) as server:
        result = data_gen("answer", "--input", write(tmp_path / "in.json", topics(2)), "--output", output,
                          "--model", "m", "--base-url", server.url, "--tpm", 6000, "--limit-period", 2,
                          "--max-tokens", 7000, check=False)
    assert result.returncode == 3 and not server.requests  # nothing sent: it could never fit
    failures = read_jsonl(f"{output}.failures.jsonl")
    assert [f["kind"] for f in failures] == ["too large", "too large"]
    assert "more than the whole limit of 6000 per 2s (--tpm)" in failures[0]["reason"]


def test_a_large_request_is_not_starved_by_small_ones():
    async def scenario():
        window = RollingWindow(10, period=0.3)
        await window.reserve(8)
        window.settle(8, 8, time.monotonic())  # the window holds 8 for 0.3 s
        order = []

        async def take(name, amount):
            await window.reserve(amount)
            order.append(name)
            window.settle(amount, amount, time.monotonic())

        big = asyncio.create_task(take("big", 9))
        await asyncio.sleep(0.01)
        small = [asyncio.create_task(take(f"small{i}", 1)) for i in range(2)]  # would fit now, but queue behind
        await asyncio.gather(big, *small)
        return order

    assert asyncio.run(scenario())[0] == "big"


# ---------------------------------------------------------------- models and errors every request would repeat


def test_a_reasoning_model_gets_max_completion_tokens_and_no_sampling_parameters(tmp_path):
    output = tmp_path / "out.json"
    with FakeOpenAI(reasoning_models={"o3-mini"}) as server:  # rejects max_tokens and non-default temperatures
        data_gen("answer", "--input", write(tmp_path / "in.json", topics(4)), "--output", output, "--model", "o3-mini",
                 "--base-url", server.url)
        data_gen("translate", "--input", tmp_path / "in.json", "--output", tmp_path / "zh.json", "--model", "o3-mini",
                 "--base-url", server.url)  # temperature 0 for translations: not sent
    assert len(json.loads(output.read_text())) == 4 and len(json.loads((tmp_path / "zh.json").read_text())) == 4
    assert all(set(r) == {"model", "messages", "max_completion_tokens"} for r in server.requests)
    assert {r["max_completion_tokens"] for r in server.requests} == {512, 1024}


def test_the_token_parameter_flag_names_the_limit_for_any_endpoint(tmp_path):
    with FakeOpenAI() as server:
        data_gen("answer", "--input", write(tmp_path / "in.json", topics(1)), "--output", tmp_path / "out.json",
                 "--model", "local", "--base-url", server.url,
                 "--token-parameter", "max_completion_tokens")
    (request,) = server.requests
    assert request["max_completion_tokens"] == 512 and "max_tokens" not in request and request["temperature"] == 1.0


@pytest.mark.parametrize(
    "server_options, model, rows, flags, message",
    [
        ({"reasoning_models": {"o3-mini"}}, "o3-mini", topics(20), ["--token-parameter", "max_tokens"],
         ("HTTP 400 unsupported_parameter: Unsupported parameter: 'max_tokens' is not supported with this model. Use "
          "'max_completion_tokens' instead. (--token-parameter chooses the length limit's name)")),
        ({}, "m", [{"instruction": f"Task {i} [fault:400param*0]", "input": ""} for i in range(20)], [],
         "HTTP 400 unsupported_value: Unsupported value: 'temperature' does not support 0.7 with this model."),
        ({"known_models": {"gpt-4o"}}, "gpt-4-typo", topics(20), [],
         "HTTP 404 model_not_found: The model `gpt-4-typo` does not exist or you do not have access to it."),
        ({"retired_models": {"gpt-4-0314"}}, "gpt-4-0314", topics(20), [],
         "HTTP 404 model_not_found: The model `gpt-4-0314` has been deprecated, learn more here: "
         "https://platform.openai.com/docs/deprecations. gpt-4-0314 is unavailable at {url} (OpenAI shut it down on "
         "2026-03-26): choose a model it serves, measure a replacement judge against GPT-4's stored verdicts with "
         "`python -m eval calibrate --model NEW`, and replay published numbers from stored judgments with "
         "`python -m eval aggregate`"),
        ({}, "m", [{"instruction": f"Task {i} [fault:quota*0]", "input": ""} for i in range(20)], [],
         "HTTP 429 insufficient_quota: You exceeded your current quota"),
    ],
    ids=["reasoning-model-max-tokens", "unsupported-value", "unknown-model", "shut-down-model", "no-quota"],
)
def test_an_error_every_request_would_repeat_stops_the_run_after_one_request(
    tmp_path, server_options, model, rows, flags, message
):
    output = tmp_path / "out.json"
    with FakeOpenAI(latency=0.05, **server_options) as server:
        result = data_gen("answer", "--input", write(tmp_path / "in.json", rows), "--output", output, "--model", model,
                          "--base-url", server.url, "--concurrency", 8, *flags, check=False)
    assert result.returncode == 1 and len(server.requests) == 1  # 20 rows, 8 in flight: the first went alone
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: {server.url}, model {model}: ") and message.format(url=server.url) in last
    assert not output.exists()


# ---------------------------------------------------------------- refusals, truncation, failures and exit status


def test_refusals_and_truncated_answers_are_named_in_the_failures_file_and_kept_out(tmp_path):
    rows = [
        {"instruction": "Fine one", "input": ""},
        {"instruction": "Refused for good [fault:refusal*0]", "input": ""},
        {"instruction": "Refused once [fault:refusal*1]", "input": ""},
        {"instruction": "Long-winded [fault:length*0]", "input": "", "id": "rec-7"},
        {"instruction": "Fine two", "input": ""},
    ]
    source, output = write(tmp_path / "in.json", rows), tmp_path / "out.json"
    with FakeOpenAI() as server:
        first = data_gen("answer", "--input", source, "--output", output, "--model", "m", "--base-url", server.url,
                         "--max-tokens", 16, check=False)
        sent = Counter(r["messages"][-1]["content"].split("\n")[3] for r in server.requests)
        failures = read_jsonl(f"{output}.failures.jsonl")
        # the same command with --keep-truncated: the truncated answer comes from the log; the refusal is asked again
        kept = data_gen("answer", "--input", source, "--output", output, "--model", "m", "--base-url", server.url,
                        "--max-tokens", 16, "--keep-truncated", check=False)
        sent_again = Counter(r["messages"][-1]["content"].split("\n")[3] for r in server.requests) - sent

    assert first.returncode == kept.returncode == 3
    assert sent["Refused for good [fault:refusal*0]"] == 2  # retried once, not six times
    assert sent["Long-winded [fault:length*0]"] == 1  # not asked again: the same limit cuts it again
    assert "1 failed with refusal" in first.stderr and "1 failed with truncated" in first.stderr
    assert failures[0] == {
        "row": 1, "instruction": "Refused for good [fault:refusal*0]", "kind": "refusal", "reason": REFUSAL,
    }
    assert failures[1]["row"] == 3 and failures[1]["id"] == "rec-7" and failures[1]["kind"] == "truncated"
    # cut at 16
    assert failures[1]["text"].startswith("Answer: Long-winded") and count_tokens(failures[1]["text"]) == 16
    assert "the answer was cut at the length limit" in failures[1]["reason"]

    assert dict(sent_again) == {"Refused for good [fault:refusal*0]": 2}
    dataset = json.loads(output.read_text())
    assert [(r["instruction"], r["truncated"]) for r in dataset] == [
        ("Fine one", False), ("Refused once [fault:refusal*1]", False), ("Long-winded [fault:length*0]", True),
        ("Fine two", False)
    ]
    assert [f["kind"] for f in read_jsonl(f"{output}.failures.jsonl")] == ["refusal"]
    assert "1 done but cut at the length limit (kept, flagged truncated)" in kept.stderr


def test_error_bodies_of_other_servers_are_read_too(tmp_path):
    rows = [{"instruction": "Behind a proxy [fault:html502*1]", "input": ""},
            {"instruction": "Too long [fault:vllm400*0]", "input": ""}]
    output = tmp_path / "out.json"
    with FakeOpenAI() as server:
        result = data_gen("answer", "--input", write(tmp_path / "in.json", rows), "--output", output, "--model", "m",
                          "--base-url", server.url, check=False)
    assert result.returncode == 3 and len(server.requests) == 3  # the 502 was retried; the 400 failed at once
    assert [r["instruction"] for r in json.loads(output.read_text())] == ["Behind a proxy [fault:html502*1]"]
    (failure,) = read_jsonl(f"{output}.failures.jsonl")
    assert (failure["kind"] == "HTTP 400"
            and failure["reason"] == "HTTP 400: This model's maximum context length is 2048 tokens.")


def test_a_run_whose_rows_all_succeed_exits_0_and_leaves_no_failures_file(tmp_path):
    output = tmp_path / "out.json"
    with FakeOpenAI() as server:
        write(tmp_path / "in.json", [{"instruction": "Flaky [fault:refusal*1]", "input": ""}])
        failing = data_gen("answer", "--input", tmp_path / "in.json", "--output", output, "--model", "m",
                           "--base-url", server.url, "--max-attempts", 1, check=False)
        assert failing.returncode == 3 and Path(f"{output}.failures.jsonl").exists()
        data_gen("answer", "--input", tmp_path / "in.json", "--output", output, "--model", "m",
                 "--base-url", server.url)
    assert not Path(f"{output}.failures.jsonl").exists()  # the rerun retried the row; nothing stale is left
    assert json.loads(output.read_text())[0]["output"] == "Answer: Flaky [fault:refusal*1]"


def test_an_ambiguous_rating_is_asked_again_never_stored_as_a_guess(tmp_path):
    prompts = [{"instruction": "Name a colour.", "input": ""}]
    answers = [{**prompts[0], "output": "Blue [fault:ambiguous*1]"}]
    with FakeOpenAI() as server:
        data_gen("rate", "--input", write(tmp_path / "p.json", prompts), "--output", tmp_path / "cmp.json",
                 "--model", "judge", "--responses", f"x={write(tmp_path / 'a.json', answers)}",
                 "--base-url", server.url)
    assert len(server.requests) == 2  # "8 or 9, hard to say", then "8"
    (record,) = json.loads((tmp_path / "cmp.json").read_text())
    assert record["responses_and_scores"][0]["score"] == 8.0


def test_the_dataset_card_counts_refusals_and_truncated_answers():
    from data_gen.runner import dataset_card
    from gpt4llm.teacher.options import TeacherConfig
    from gpt4llm.teacher.runlog import Summary

    summary = Summary(total=10, done=7, failed=3, skipped=0, reasons=Counter({"refusal": 2, "truncated": 1}),
                      truncated_kept=0)
    teacher, made = TeacherConfig("gpt-4o"), {"params": {"max_tokens": 512}, "input": "in.json", "limit": None}
    card = dataset_card("answer", "me/data", teacher, dataset=[{}] * 7, summaries=[("gpt-4o", summary)], **made)
    assert "# data\n" in card and "- teacher: `gpt-4o`\n" in card and "- records: 7\n" in card
    assert "- gpt-4o: 7/10 requests answered; 2 refused and 1 cut at the length limit, left out" in card
    kept = Summary(total=10, done=9, failed=1, skipped=0, reasons=Counter({"refusal": 1}), truncated_kept=2)
    card = dataset_card("answer", "me/data", teacher, dataset=[{}] * 9, summaries=[("gpt-4o", kept)], **made)
    assert (
        "1 refused and 0 cut at the length limit, left out; 2 cut at the length limit and kept, flagged `truncated`"
        in card
    )


# ---------------------------------------------------------------- commands


@pytest.mark.parametrize("command", ["data_gen", "eval"])
def test_help_is_answered_before_any_heavy_import(command):
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", command, "--help"], check=False, cwd=ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0 and "usage: python -m" in result.stdout
    imported = {line.split("|")[-1].strip().split(".")[0] for line in result.stderr.splitlines() if "|" in line}
    assert not imported & {"datasets", "torch", "openai", "transformers", "pandas", "matplotlib", "tqdm"}


def test_a_task_that_leaves_out_a_step_is_an_error_at_import():
    from data_gen.tasks import TASKS, Task, _registry

    class Forgetful(Task):
        name, help, params = "forgetful", "a task without records", {}

        async def jobs(self, rows, model, params, send):
            return []

    with pytest.raises(TypeError, match="Forgetful does not define records"):
        _registry(Forgetful)
    assert set(TASKS) == {"answer", "translate", "rate", "unnatural"}
