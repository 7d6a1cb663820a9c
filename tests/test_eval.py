"""eval: the review parser, aggregation, both-order judging, ROUGE-L buckets, reports and bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from fake_openai import FakeOpenAI
from rouge_score import rouge_scorer

from eval.judge import aggregate, judge, parse_review, review_score, review_totals
from eval.report import report
from eval.rouge import bucket, rouge, rouge_l
from eval.words import MultilingualTokenizer
from gpt4llm.data import DataError
from gpt4llm.teacher.options import TeacherConfig

DATA = ROOT / "eval" / "data"


@pytest.mark.parametrize(
    "text, scores",
    [
        ("8 7\nAssistant 1 was more detailed.", [8, 7]),
        ("8, 7\nBoth were fine.", [8, 7]),
        ("9.5 6\n", [9.5, 6]),
        ("Score: 8/10 6/10\nreasons", [8, 6]),
        ("First, let me solve it: (3 + 4) x 2 = 14, and the point (2, 5)...\nBoth were right.\n(10, 9)", [10, 9]),
        ("Work: the segment from (2, -2) to (10, 4)...\nAssistant 1: 10\n\nAssistant 2: 4\n\nAssistant 2 erred.",
         [10, 4]),
        ("Assistant 1 receives a score of 7 and Assistant 2 receives a score of 5.", [7, 5]),
        ("Both answers are good.", None),
        ("", None),
        ("12 3\nout of range", None),
    ],
    ids=["space", "comma", "half", "slash10", "math-tuple", "math-named", "named", "junk", "empty", "out-of-range"],
)
def test_review_parser_reads_every_shape(text, scores):
    assert parse_review(text) == scores


def review(qid, first, second, score, text=None):
    return {"question_id": qid, "answer1_id": f"{first}-{qid}", "answer2_id": f"{second}-{qid}", "score": score} | (
        {"text": text} if text is not None else {}
    )


def answers_by_id(lengths: dict) -> dict:
    """answer_id -> answer for models 'ours' and 'ref' on questions 1-3; `lengths[model]` words per answer."""
    return {f"{m}-{q}": {"answer_id": f"{m}-{q}", "question_id": q, "model_id": m, "text": "word " * lengths[m]}
            for m in ("ours", "ref") for q in (1, 2, 3)}


def test_aggregation_averages_orders_and_counts_unparsed():
    categories = {1: "math", 2: "writing", 3: "writing"}
    reviews = [
        review(1, "ref", "ours", [8, 6]), review(1, "ours", "ref", [7, 5]),  # ours 6.5, ref 6.5; each order's 1st wins
        review(2, "ref", "ours", [9, 9]), review(2, "ours", "ref", [6, 10]),  # ours 7.5, ref 9.5; a tie, then ref
        review(3, "ref", "ours", None), review(3, "ours", "ref", [2, 4]),     # one order unread: that one counts
    ]
    result = review_totals(reviews, answers_by_id({"ours": 30, "ref": 20}), categories, "ref")
    assert result["models"] == ["ours", "ref"] and result["questions"] == 3 and result["unparsed"] == 1
    assert (result["totals"] == {"ours": 6.5 + 7.5 + 2, "ref": 6.5 + 9.5 + 4}
            and result["ratio"] == pytest.approx(16 / 20))
    assert result["by_category"] == {"math": {"ours": 6.5, "ref": 6.5}, "writing": {"ours": 9.5, "ref": 13.5}}
    assert result["single_order_totals"] == {"ours": 15, "ref": 17}  # questions 1 and 2, the reference as Assistant 1
    assert result["outcomes"] == {"win": 0, "tie": 1, "loss": 2} and result["loss_rate"] == pytest.approx(2 / 3)
    # both orders on questions 1 and 2: q1 flips (ref, then ours), q2 goes from a tie to ref;
    # 2 of 5 reviews: first higher
    assert result["position"] == {"questions": 2, "flip_rate": 1.0, "first_position_win_rate": pytest.approx(2 / 5)}
    assert result["length"] == {"questions": 2, "longer_answer_win_rate": 0.0}  # ours is longer and lost both
    assert [q["model_length"] for q in result["per_question"]] == [30, 30, 30]


def test_stored_scores_are_used_where_valid_and_disagreements_counted():
    reviews = [
        review(1, "ref", "ours", [8, 4], "4 8\nThe second is better."),  # corrected by hand: the stored score stands
        review(2, "ref", "ours", [-1, -1], "7 9\nReasons."),  # FastChat's mark of a failed parse: the text is read
        review(3, "ref", "ours", [5, 5], "5 5\nEqual."),
    ]
    result = review_totals(reviews, answers_by_id({"ours": 1, "ref": 1}), {}, "ref")
    assert result["totals"] == {"ours": 4 + 9 + 5, "ref": 8 + 7 + 5} and result["score_text_disagreements"] == 1
    assert review_score(review(1, "ref", "ours", [True, 3], "6 3")) == ([6.0, 3.0], False)  # not a pair of numbers


def test_bootstrap_intervals_are_seeded_and_cover_the_true_mean_at_the_nominal_rate():
    import numpy as np

    from eval.stats import bootstrap, pairwise_intervals

    model, reference = [8, 7, 9, 5, 6, 8, 7, 3], [7, 7, 8, 6, 6, 9, 8, 5]
    first = pairwise_intervals(model, reference, seed=1)
    assert first == pairwise_intervals(model, reference, seed=1) != pairwise_intervals(model, reference, seed=2)
    assert first["model_total"][0] <= sum(model) <= first["model_total"][1]
    assert first["ratio"][0] <= sum(model) / sum(reference) <= first["ratio"][1] and 0 <= first["win_rate"][0] <= 3 / 8

    # 400 synthetic benchmarks of 80 questions, scores 1-10 with known probabilities: how often does the 95%
    # interval of the total contain the true expected total?
    values, weights = np.arange(1, 11), np.array([1, 1, 2, 3, 4, 6, 8, 8, 5, 2], dtype=float)
    weights /= weights.sum()
    true_total = 80 * float(values @ weights)
    rng = np.random.default_rng(0)
    covered = 0
    for trial in range(400):
        scores = rng.choice(values, size=80, p=weights)
        (low, high) = bootstrap({"s": scores}, {"total": lambda s: s["s"].sum(axis=1)}, seed=trial)["total"]
        covered += low <= true_total <= high
    assert 0.92 <= covered / 400 <= 0.98, covered / 400  # binomial sd at 95% over 400 trials: 1.1 points


def test_tokenizer_matches_rouge_score_on_english_and_keeps_chinese():
    default = rouge_scorer.RougeScorer(["rougeL"])._tokenizer
    text = "The Cat's 3 hats -- e-mail, naïve café; DONE!"
    assert MultilingualTokenizer().tokenize(text) == default.tokenize(text)
    assert MultilingualTokenizer().tokenize("我爱 Python 3") == ["我", "爱", "python", "3"]
    assert default.tokenize("我爱你") == []  # why rouge-score's own tokenizer cannot score Chinese


def test_rouge_l_by_bucket_on_hand_worked_pairs():
    records = [
        {"label": "Paris", "output": "Paris"},  # 0-2 words: F = 1
        {"label": "the cat sat", "output": "the cat"},  # 3-5: LCS 2, P 1, R 2/3 -> F 0.8
        {"label": "one two three four five six", "output": "six five four three two one"},  # 6-10: LCS 1, F 1/6
        {"label": "a b c d e f g h i j k l", "output": "a b c d e f"},  # >10: LCS 6, P 1, R 1/2 -> F 2/3
        {"label": "我爱你", "output": "我爱"},  # 3-5 (three characters): LCS 2 -> F 0.8
    ]
    result = rouge_l(records)
    buckets = result["buckets"]
    assert buckets["0-2"] == {"rouge_l": 1.0, "count": 1}
    assert buckets["3-5"]["count"] == 2 and buckets["3-5"]["rouge_l"] == pytest.approx(0.8)
    assert buckets["6-10"]["rouge_l"] == pytest.approx(1 / 6)
    assert buckets[">10"]["rouge_l"] == pytest.approx(2 / 3)
    assert result["overall"] == pytest.approx((1 + 0.8 + 1 / 6 + 2 / 3 + 0.8) / 5)
    assert [bucket(x) for x in ("", "a b", "a b c", "a b c d e f", "a " * 11)] == ["0-2", "0-2", "3-5", "6-10", ">10"]


def eval_cli(*args, check=True):
    result = subprocess.run([sys.executable, "-m", "eval", *map(str, args)], cwd=ROOT, capture_output=True, text=True,
                            timeout=600, env={**os.environ, "OPENAI_API_KEY": "sk-test"})
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def answers_file(path, model, questions, prefix="Answer"):
    path.write_text("".join(
        json.dumps({"answer_id": f"{model}-{q}", "question_id": q, "model_id": model, "text": f"{prefix} {q}",
                    "metadata": {}}) + "\n"
        for q in questions
    ))
    return path


def test_fastchat_order_favours_a_first_position_judge_and_both_orders_cancel_it(tmp_path, capsys):
    """The fake judge always scores Assistant 1 9 and Assistant 2 3. FastChat's single order shows the reference
    first, so the reference wins; both orders give an exact tie, and the winner flips on every question."""
    questions = str(DATA / "demo_questions.jsonl")
    ids = [json.loads(line)["question_id"] for line in Path(questions).read_text().splitlines()]
    ours, ref = answers_file(tmp_path / "ours.jsonl", "ours", ids), answers_file(tmp_path / "ref.jsonl", "ref", ids)
    reviewers = {"reviewers": str(DATA / "reviewers.jsonl"), "review_prompts": str(DATA / "review_prompts.jsonl")}
    with FakeOpenAI() as server:
        endpoint = TeacherConfig("judge", base_url=server.url)
        both = judge(questions, [str(ours)], tmp_path / "both.jsonl", endpoint, reference=str(ref), **reviewers)
        both_out = capsys.readouterr().out
        single = judge(questions, [str(ours)], tmp_path / "single.jsonl", endpoint, reference=str(ref),
                       single_order=True, **reviewers)
        single_out = capsys.readouterr().out
    assert both.summary == tmp_path / "both.jsonl.summary.json" and both.failures is None
    (single_result,) = json.loads(single.summary.read_text())
    assert single_result["models"] == ["ours", "ref"] and single_result["totals"] == {"ours": 30.0, "ref": 90.0}
    assert single_result["outcomes"] == {"win": 0, "tie": 0, "loss": 10} and single_result["position"] is None
    assert "| total, ref as Assistant 1 | 30.0 [30.0, 30.0] | 90.0 [90.0, 90.0] | 33.3% [33.3%, 33.3%] |" in single_out
    single_reviews = [json.loads(line) for line in single.path.read_text().splitlines()]
    assert all(r["answer1_id"].startswith("ref-") and r["answer2_id"].startswith("ours-") for r in single_reviews)

    (result,) = json.loads(both.summary.read_text())
    assert result["totals"] == {"ours": 60.0, "ref": 60.0} and result["ratio"] == 1.0  # (9 + 3) / 2 on each of 10
    assert result["outcomes"] == {"win": 0, "tie": 10, "loss": 0}
    assert result["position"] == {"questions": 10, "flip_rate": 1.0, "first_position_win_rate": 1.0}
    assert result["single_order_totals"] == {"ours": 30.0, "ref": 90.0}  # what FastChat's protocol would report
    averaged = "| total, both orders averaged | 60.0 [60.0, 60.0] | 60.0 [60.0, 60.0] | 100.0% [100.0%, 100.0%] |"
    assert averaged in both_out
    assert "the winner changes with the answer order on 100.0% of the 10 questions" in both_out
    reviews = [json.loads(line) for line in both.path.read_text().splitlines()]
    assert (len(reviews) == 20
            and {r["reviewer_id"] for r in reviews} == {"gpt4llm-general", "gpt4llm-coding", "gpt4llm-math"})
    assert set(reviews[0]) == {
        "review_id", "question_id", "answer1_id", "answer2_id", "reviewer_id", "text", "score", "metadata",
    }

    # aggregate reads the same files back, as it reads FastChat's own reviews
    assert aggregate(questions, [str(both.path)], answers=[str(ours), str(ref)]) == [result]
    assert averaged in capsys.readouterr().out

    written = report(tmp_path / "report", judge=[both.summary, single.summary])
    assert written == tmp_path / "report" / "report.md" and "judge_totals.png" in written.read_text()
    for figure in ("judge_totals.png", "length_bias.png"):
        assert (tmp_path / "report" / figure).read_bytes()[:4] == b"\x89PNG"


def test_the_judge_command_writes_reviews_and_exits_three_when_requests_failed(tmp_path):
    """End to end through the command line: a judge that refuses one question's reviews for good."""
    qs = write_jsonl(tmp_path / "q.jsonl", [{"question_id": q, "text": f"Question {q}?" + (" [fault:400*0]" if q == 2
                                             else ""), "category": "generic"} for q in (1, 2, 3)])
    ours, ref = answers_file(tmp_path / "ours.jsonl", "ours", (1, 2, 3)), answers_file(tmp_path / "ref.jsonl", "ref",
                                                                                        (1, 2, 3))
    with FakeOpenAI() as server:
        result = eval_cli("judge", "--questions", qs, "--answers", ours, "--reference", ref, "--model", "judge",
                          "--base-url", server.url, "--output", tmp_path / "r.jsonl", "--reviewers",
                          DATA / "reviewers.jsonl", "--review-prompts", DATA / "review_prompts.jsonl", check=False)
    assert result.returncode == 3, result.stderr[-2000:]
    assert len((tmp_path / "r.jsonl").read_text().splitlines()) == 4  # two orders of questions 1 and 3
    failed = [json.loads(line) for line in (tmp_path / "r.jsonl.failures.jsonl").read_text().splitlines()]
    assert {row["question_id"] for row in failed} == {2} and len(failed) == 2


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def review_files(tmp_path, questions=(1, 2, 3)):
    """Questions 1-3, answers of 'ours' and 'ref', and reviews in FastChat's order (reference first) whose stored
    scores were set by hand: on question 2 the stored pair disagrees with the review's first line."""
    qs = write_jsonl(tmp_path / "q.jsonl",
                     [{"question_id": q, "text": f"Question {q}?", "category": "generic"} for q in (1, 2, 3)])
    ours, ref = (answers_file(tmp_path / "ours.jsonl", "ours", (1, 2, 3)),
                 answers_file(tmp_path / "ref.jsonl", "ref", (1, 2, 3)))
    stored = {
        1: ([8, 6], "8 6\nThe first is better."), 2: ([7, 9], "9 7\nAnswer 1 is better."), 3: ([5, 5], "5 5\nEqual."),
    }
    reviews = write_jsonl(tmp_path / "reviews.jsonl", [
        {"review_id": f"r{q}", "question_id": q, "answer1_id": f"ref-{q}", "answer2_id": f"ours-{q}", "reviewer_id": 1,
         "text": stored[q][1], "score": stored[q][0], "metadata": {}} for q in questions
    ])
    return qs, ours, ref, reviews


def test_aggregate_follows_stored_scores_and_reports_disagreements(tmp_path, capsys):
    qs, ours, ref, reviews = review_files(tmp_path)
    aggregate(str(qs), [str(reviews)], tmp_path / "agg", answers=[str(ours), str(ref)])
    out = capsys.readouterr().out
    (result,) = json.loads((tmp_path / "agg.summary.json").read_text())
    assert result["models"] == ["ours", "ref"]  # the reference is Assistant 1, as in FastChat's files
    assert result["totals"] == {"ours": 6 + 9 + 5, "ref": 8 + 7 + 5} and result["score_text_disagreements"] == 1
    assert "1 stored scores disagree with their review's text (the stored ones are used)" in out

    aggregate(str(qs), [str(reviews)], tmp_path / "flipped", answers=[str(ours), str(ref)], references=["ours"])
    (flipped,) = json.loads((tmp_path / "flipped.summary.json").read_text())
    assert flipped["models"] == ["ref", "ours"] and flipped["ratio"] == pytest.approx(20 / 20)
    with pytest.raises(DataError, match=r"^reviews of ours vs ref: --reference must name exactly one of the two"):
        aggregate(str(qs), [str(reviews)], answers=[str(ours), str(ref)], references=["gpt-4"])


def test_aggregate_totals_the_questions_the_reviews_cover(tmp_path, capsys):
    """A judge --limit 2 run: reviews of two of the three questions, and answer files that answer only those."""
    qs, _, _, reviews = review_files(tmp_path, questions=(1, 2))
    ours, ref = (answers_file(tmp_path / "ours2.jsonl", "ours", (1, 2)),
                 answers_file(tmp_path / "ref2.jsonl", "ref", (1, 2)))
    aggregate(str(qs), [str(reviews)], tmp_path / "agg", answers=[str(ours), str(ref)])
    (result,) = json.loads((tmp_path / "agg.summary.json").read_text())
    assert result["questions"] == 2 and result["totals"] == {"ours": 15, "ref": 15}
    assert "2 questions, 2 reviews" in capsys.readouterr().out


def test_aggregate_without_an_answer_file_is_a_one_line_error(tmp_path):
    qs, ours, _, reviews = review_files(tmp_path)
    expected = f"error: {reviews}: line 1: field 'answer1_id' 'ref-1' is in none of the answer files ['{ours}']"
    result = eval_cli("aggregate", "--questions", qs, "--answers", ours, "--reviews", reviews, check=False)
    assert result.returncode == 1 and result.stderr.strip().splitlines()[-1] == expected


def test_rouge_and_report(tmp_path, capsys):
    predictions = tmp_path / "model.json"
    predictions.write_text(
        json.dumps([{"instruction": "i", "input": "", "output": "the cat", "label": "the cat sat"}])
    )
    results = rouge([str(predictions)], tmp_path / "rouge.json")
    assert results["model"]["overall"] == pytest.approx(0.8)
    assert "| model | 0.800 (1) | - (0) | 0.800 (1) | - (0) | - (0) |" in capsys.readouterr().out
    datasets = tmp_path / "data.json"
    datasets.write_text(json.dumps([{"instruction": "Write a poem.", "input": "", "output": "Roses are red."}] * 3))
    report(tmp_path / "r", rouge=[tmp_path / "rouge.json"], datasets=[datasets])
    text = (tmp_path / "r" / "report.md").read_text()
    assert "ROUGE-L by reference length" in text and (tmp_path / "r" / "output_lengths.png").is_file()


@pytest.mark.parametrize("case", ["unknown-question", "missing-answer", "empty-file", "duplicate"])
def test_bad_answer_files_are_clear_errors(tmp_path, case):
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        "".join(json.dumps({"question_id": q, "text": f"Q{q}", "category": "generic"}) + "\n" for q in (1, 2))
    )
    ref = answers_file(tmp_path / "ref.jsonl", "ref", [1, 2])
    ours = tmp_path / "ours.jsonl"
    if case == "unknown-question":
        answers_file(ours, "ours", [1, 2, 3])
        expected = f"{ours}: line 3: field 'question_id' 3 is not a question of the benchmark"
    elif case == "missing-answer":
        answers_file(ours, "ours", [1])
        expected = f"{ours}: no answer to question_id [2]"
    elif case == "duplicate":
        answers_file(ours, "ours", [1, 2, 2])
        expected = f"{ours}: line 3: field 'question_id' 2 is answered twice in this file"
    else:
        ours.write_text("")
        expected = f"{ours}: no records"
    with pytest.raises(DataError) as error:
        nowhere = TeacherConfig("judge", base_url="http://127.0.0.1:9/v1")
        judge(str(questions), [str(ours)], tmp_path / "r.jsonl", nowhere, reference=str(ref),
              reviewers=str(DATA / "reviewers.jsonl"), review_prompts=str(DATA / "review_prompts.jsonl"))
    assert str(error.value) == expected


def test_judging_the_first_questions_only_needs_their_answers(tmp_path):
    from gpt4llm.benchmarks import read_answers as answers
    from gpt4llm.data import load_records

    every_question = {1: {}, 2: {}, 3: {}}
    full = load_records(str(answers_file(tmp_path / "full.jsonl", "m", [3, 1, 2])))
    assert list(answers(full, every_question, required=[1, 2])) == [1, 2]  # in the questions' order, 3 left out
    partial = load_records(str(answers_file(tmp_path / "partial.jsonl", "m", [1])))
    with pytest.raises(DataError, match=r"partial\.jsonl: no answer to question_id \[2\]"):
        answers(partial, every_question, required=[1, 2])
