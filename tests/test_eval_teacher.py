"""`eval judge` and endpoint `eval generate` with the teacher options of data_gen: the failures file and exit status,
the Batch API, and the dry run."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from fake_openai import REFUSAL, FakeOpenAI

DATA = ROOT / "eval" / "data"
QUESTIONS = DATA / "demo_questions.jsonl"
REVIEWERS = ("--reviewers", DATA / "reviewers.jsonl", "--review-prompts", DATA / "review_prompts.jsonl")


def eval_cli(*args):
    return subprocess.run([sys.executable, "-m", "eval", *map(str, args)], check=False, cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env={**os.environ, "OPENAI_API_KEY": "sk-test"})


def answers_file(path, model, questions, text=lambda q: f"Answer {q}"):
    path.write_text("".join(
        json.dumps({"answer_id": f"{model}-{q}", "question_id": q, "model_id": model, "text": text(q),
                    "metadata": {}}) + "\n"
        for q in questions
    ))
    return path


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def judge_args(tmp_path, url, *extra):
    ids = [1, 2, 3]
    ours = answers_file(tmp_path / "ours.jsonl", "ours", ids,
                        lambda q: f"Answer {q}" + (" [fault:refusal*0]" if q == 2 else ""))
    ref = answers_file(tmp_path / "ref.jsonl", "ref", ids)
    return ("judge", "--questions", QUESTIONS, "--limit", 3, "--answers", ours, "--reference", ref, "--model", "judge",
            "--base-url", url, "--output", tmp_path / "reviews.jsonl", *REVIEWERS, *extra)


def test_judge_names_a_refused_review_in_the_failures_file_and_exits_3(tmp_path):
    with FakeOpenAI() as server:
        result = eval_cli(*judge_args(tmp_path, server.url))
    assert result.returncode == 3, result.stderr[-2000:]
    reviews = read_jsonl(tmp_path / "reviews.jsonl")
    assert sorted(r["question_id"] for r in reviews) == [1, 1, 3, 3]  # question 2's reviews were refused, both orders
    failures = read_jsonl(tmp_path / "reviews.jsonl.failures.jsonl")
    assert sorted((f["question_id"], f["answer1_id"], f["kind"], f["reason"]) for f in failures) == [
        (2, "ours-2", "refusal", REFUSAL), (2, "ref-2", "refusal", REFUSAL)
    ]  # both orders of question 2, named by their answers
    assert "reviews.jsonl.failures.jsonl lists them" in result.stderr


def test_judge_through_the_batch_api(tmp_path):
    with FakeOpenAI() as server:
        result = eval_cli(*judge_args(tmp_path, server.url, "--batch", "--batch-poll", 0.05))
    assert result.returncode == 3 and len(server.batches_created) == 1 and not server.requests
    assert (len(read_jsonl(tmp_path / "reviews.jsonl")) == 4
            and len(read_jsonl(tmp_path / "reviews.jsonl.failures.jsonl")) == 2)
    (summary,) = json.loads((tmp_path / "reviews.jsonl.summary.json").read_text())
    assert summary["questions"] == 2  # the reviews that came back are totalled as without --batch


def test_judge_dry_run_sends_nothing(tmp_path):
    with FakeOpenAI() as server:
        result = eval_cli(*judge_args(tmp_path, server.url, "--dry-run"))
    # 3 questions x 2 orders, but where both answers read the same (questions 1 and 3) the two orders are one request
    assert result.returncode == 0 and not server.requests and "=== 4 requests to judge" in result.stdout
    assert not (tmp_path / "reviews.jsonl").exists()


@pytest.mark.parametrize(
    "mode, refusals", [([], 2), (["--batch", "--batch-poll", "0.05"], 1)], ids=["requests", "batch"]
)
def test_endpoint_generate_writes_its_failures_and_the_rerun_retries_them(tmp_path, mode, refusals):
    # refused by the first run (which asks twice, or once in a batch), not by the second
    questions = tmp_path / "q.jsonl"
    questions.write_text("".join(json.dumps({"question_id": q, "text": t, "category": "generic"}) + "\n"
                                 for q, t in [(1, "Hello?"), (2, f"Refuse me [fault:refusal*{refusals}]"),
                                              (3, "Bye?")]))
    output = tmp_path / "answers.jsonl"
    with FakeOpenAI() as server:
        args = ("generate", "--model", "teacher", "--base-url", server.url, "--questions", questions,
                "--output", output, "--template", "chat", *mode)
        first = eval_cli(*args)
        failures = read_jsonl(f"{output}.failures.jsonl")
        again = eval_cli(*args)
    assert first.returncode == 3 and again.returncode == 0, again.stderr[-2000:]
    assert failures == [{"question_id": 2, "kind": "refusal", "reason": REFUSAL}]
    assert ([a["question_id"] for a in read_jsonl(output)] == [1, 2, 3]
            and not Path(f"{output}.failures.jsonl").exists())


def test_teacher_options_of_a_local_model_are_a_usage_error(tmp_path):
    result = eval_cli("generate", "--model", "some/local-model", "--questions", QUESTIONS,
                      "--output", tmp_path / "a.jsonl", "--batch")
    assert result.returncode == 2 and "need --base-url" in result.stderr


def test_the_judge_has_no_default_model(tmp_path):
    """The paper's judge (gpt-4) is shut down: a judge is named, never defaulted to one that no longer answers."""
    result = eval_cli("judge", "--questions", QUESTIONS, "--answers", tmp_path / "a.jsonl", "--reference",
                      tmp_path / "b.jsonl", "--output", tmp_path / "r.jsonl")
    assert result.returncode == 2 and "the following arguments are required: --model" in result.stderr
