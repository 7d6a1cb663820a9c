"""The four data_gen tasks, and the evaluation (Vicuna-style judging, MT-bench grading), against the real embedded
teacher: llama.cpp's server running SmolLM2 on loopback."""

import json

import pytest
from conftest import ROOT
from test_data_gen import data_gen, write

from data_gen.tasks import SCORE_FIRST_GRAMMAR
from data_gen.teacher_server import EmbeddedTeacher
from gpt4llm.templates import alpaca_user_input

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def teacher():
    with EmbeddedTeacher() as server:
        yield server


def run(teacher, task, *args):  # 48 tokens keep the tests fast; the answers cut there are kept, flagged
    return data_gen(task, *args, "--model", teacher.model, "--base-url", teacher.base_url, "--concurrency", "2",
                    "--max-tokens", "48", "--keep-truncated")


PROMPTS = [
    {"instruction": "Name three primary colours.", "input": ""},
    {"instruction": "Rewrite the sentence in the past tense.", "input": "I walk to school."},
    {"instruction": "What is the capital of Italy?", "input": ""},
]


def test_answer(teacher, tmp_path):
    run(teacher, "answer", "--input", write(tmp_path / "in.json", PROMPTS), "--output", tmp_path / "out.json")
    records = json.loads((tmp_path / "out.json").read_text())
    assert [(r["instruction"], r["input"]) for r in records] == [(p["instruction"], p["input"]) for p in PROMPTS]
    assert all(isinstance(r["output"], str) and r["output"].strip() for r in records)


def test_translate(teacher, tmp_path):
    run(teacher, "translate", "--input", write(tmp_path / "in.json", PROMPTS), "--output", tmp_path / "out.json")
    records = json.loads((tmp_path / "out.json").read_text())
    assert len(records) == 3 and all(r["id"] and r["instruction"].strip() for r in records)
    assert records[1]["input"].strip() and records[0]["input"] == ""


def test_rate(teacher, tmp_path):
    responses = [{**p, "output": o}
                 for p, o in zip(PROMPTS, ["Red, yellow and blue.", "I walked to school.", "Rome."])]
    run(teacher, "rate", "--input", write(tmp_path / "in.json", PROMPTS), "--output", tmp_path / "out.json",
        "--responses", f"reference={write(tmp_path / 'r.json', responses)}", "--responder", teacher.model,
        "--extra-body", json.dumps({"grammar": SCORE_FIRST_GRAMMAR}))
    records = json.loads((tmp_path / "out.json").read_text())
    assert [r["user_input"] for r in records] == [alpaca_user_input(p["instruction"], p["input"]) for p in PROMPTS]
    for record in records:
        assert [r["source"] for r in record["responses_and_scores"]] == ["reference", teacher.model]
        assert all(1 <= r["score"] <= 10 for r in record["responses_and_scores"])


def test_unnatural(teacher, tmp_path):
    core = tmp_path / "core.jsonl"
    core.write_text(
        json.dumps({"instruction": "Is the number even?", "instances": [{"input": "4", "output": "Yes"}]}) + "\n"
    )
    run(teacher, "unnatural", "--input", core, "--output", tmp_path / "out.json")
    (record,) = json.loads((tmp_path / "out.json").read_text())
    assert record["label"] == "Yes" and record["input"] == "4" and record["output"].strip()


def test_generate_judge_report_end_to_end(teacher, tmp_path):
    """A model's answers (local, batched) and the teacher's (endpoint), judged in both orders by the real embedded
    judge with FastChat's protocol, aggregated and reported."""
    from test_generate import eval_cli

    from eval.judge import PAIR_FIRST_GRAMMAR
    from gpt4llm.models import DEFAULT_MODEL, resolve_model

    questions = ROOT / "eval" / "data" / "demo_questions.jsonl"
    common = ("--questions", questions, "--limit", "3", "--max-new-tokens", "24")
    eval_cli("generate", "--model", resolve_model(DEFAULT_MODEL), "--model-id", "smollm2",
             "--output", tmp_path / "ours.jsonl", *common)
    # the teacher's answers are cut at 24 tokens as the local answers
    eval_cli("generate", "--model", teacher.model, "--base-url", teacher.base_url, "--template", "chat",
             "--model-id", "teacher", "--output", tmp_path / "teacher.jsonl", "--keep-truncated", *common)
    eval_cli("judge", "--questions", questions, "--limit", "3", "--answers", tmp_path / "ours.jsonl",
             "--reference", tmp_path / "teacher.jsonl",
             "--model", teacher.model, "--base-url", teacher.base_url, "--concurrency", "2", "--max-tokens", "48",
             "--extra-body", json.dumps({"grammar": PAIR_FIRST_GRAMMAR}),
             "--reviewers", ROOT / "eval/data/reviewers.jsonl",
             "--review-prompts", ROOT / "eval/data/review_prompts.jsonl",
             "--output", tmp_path / "reviews.jsonl")

    reviews = [json.loads(line) for line in (tmp_path / "reviews.jsonl").read_text().splitlines()]
    assert len(reviews) == 6  # 3 questions x both answer orders
    assert {(r["question_id"], r["answer1_id"]) for r in reviews} == {
        (q, f"{m}-{q}") for q in (1, 2, 3) for m in ("smollm2", "teacher")
    }
    for review in reviews:
        assert set(review) >= {
            "review_id", "question_id", "answer1_id", "answer2_id", "reviewer_id", "text", "score", "metadata",
        }
        # the grammar makes every review readable
        assert len(review["score"]) == 2 and all(1 <= s <= 10 for s in review["score"])
    (summary,) = json.loads((tmp_path / "reviews.jsonl.summary.json").read_text())  # one model pair
    assert summary["unparsed"] == 0 and summary["questions"] == 3
    ours = sum(r["score"][0] if r["answer1_id"].startswith("smollm2") else r["score"][1] for r in reviews) / 2
    assert summary["totals"]["smollm2"] == pytest.approx(ours)  # the totals average both orders

    eval_cli("report", "--judge", tmp_path / "reviews.jsonl.summary.json", "--output-dir", tmp_path / "report")
    report = (tmp_path / "report" / "report.md").read_text()
    assert ("smollm2" in report and "teacher" in report
            and (tmp_path / "report" / "judge_totals.png").stat().st_size > 1000)


def test_mt_bench_demo_step_two_turns_graded_by_the_embedded_judge(teacher, tmp_path):
    """make demo's MT-bench step at test size: two-turn answers of the local SmolLM2 and of the teacher endpoint,
    each turn graded 1-10 by the real embedded judge (the grammar makes it write its rating first), reported."""
    from test_generate import eval_cli

    from eval.mt_bench import RATING_FIRST_GRAMMAR
    from gpt4llm.models import DEFAULT_MODEL, resolve_model

    questions = ROOT / "eval" / "data" / "demo_mt_bench.jsonl"
    common = ("--questions", questions, "--limit", "3")  # writing, roleplay, reasoning (graded against a reference)
    tokens = ("--max-new-tokens", "24")
    eval_cli("generate", "--model", resolve_model(DEFAULT_MODEL), "--model-id", "smollm2",
             "--output", tmp_path / "ours.jsonl", *common, *tokens)
    eval_cli("generate", "--model", teacher.model, "--base-url", teacher.base_url, "--template", "chat",
             "--model-id", "teacher", "--output", tmp_path / "teacher.jsonl", "--keep-truncated", *common,
             *tokens)
    for name in ("ours", "teacher"):
        answers = [json.loads(line) for line in (tmp_path / f"{name}.jsonl").read_text().splitlines()]
        assert [len(a["choices"][0]["turns"]) for a in answers] == [2, 2, 2]
    eval_cli("judge", *common, "--answers", tmp_path / "ours.jsonl", tmp_path / "teacher.jsonl",
             "--model", teacher.model, "--base-url", teacher.base_url, "--concurrency", "2", "--max-tokens", "48",
             "--extra-body", json.dumps({"grammar": RATING_FIRST_GRAMMAR}),
             "--judge-prompts", ROOT / "eval/data/mt_judge_prompts.jsonl",
             "--output", tmp_path / "grades.jsonl")

    grades = [json.loads(line) for line in (tmp_path / "grades.jsonl").read_text().splitlines()]
    assert len(grades) == 2 * 3 * 2  # models x questions x turns
    assert all(1 <= g["score"] <= 10 for g in grades)  # every judgment readable
    referenced = {g["judge"][1] for g in grades if g["question_id"] == 3}
    assert referenced == {"gpt4llm-single-ref", "gpt4llm-single-ref-multi-turn"}
    summary = json.loads((tmp_path / "grades.jsonl.summary.json").read_text())
    assert {r["model"] for r in summary} == {"smollm2", "teacher"} and all(r["unreadable"] == 0 for r in summary)
    eval_cli("report", "--mt-bench", tmp_path / "grades.jsonl.summary.json", "--output-dir", tmp_path / "report")
    assert (tmp_path / "report" / "mt_bench.png").stat().st_size > 1000
