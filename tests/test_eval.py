"""eval: the review parser, aggregation, both-order judging, ROUGE-L buckets, reports and bad input."""

import json
import os
import subprocess
import sys

import pytest
from conftest import ROOT
from fake_openai import FakeOpenAI
from rouge_score import rouge_scorer

from eval.judge import aggregate, parse_review
from eval.rouge import MultilingualTokenizer, bucket, rouge_l

DATA = ROOT / "eval" / "data"


@pytest.mark.parametrize(
    "text, scores",
    [
        ("8 7\nAssistant 1 was more detailed.", [8, 7]),
        ("8, 7\nBoth were fine.", [8, 7]),
        ("9.5 6\n", [9.5, 6]),
        ("Score: 8/10 6/10\nreasons", [8, 6]),
        ("First, let me solve it: (3 + 4) x 2 = 14, and the point (2, 5)...\nBoth were right.\n(10, 9)", [10, 9]),
        ("Work: the segment from (2, -2) to (10, 4)...\nAssistant 1: 10\n\nAssistant 2: 4\n\nAssistant 2 erred.", [10, 4]),
        ("Assistant 1 receives a score of 7 and Assistant 2 receives a score of 5.", [7, 5]),
        ("Both answers are good.", None),
        ("", None),
        ("12 3\nout of range", None),
    ],
    ids=["space", "comma", "half", "slash10", "math-tuple", "math-named", "named", "junk", "empty", "out-of-range"],
)
def test_review_parser_reads_every_shape(text, scores):
    assert parse_review(text) == scores


def review(qid, first, second, score):
    return {"question_id": qid, "answer1_id": f"{first}-{qid}", "answer2_id": f"{second}-{qid}", "score": score}


def test_aggregation_averages_orders_and_counts_unparsed():
    model_of = {f"{m}-{q}": m for m in ("ours", "ref") for q in (1, 2, 3)}
    categories = {1: "math", 2: "writing", 3: "writing"}
    reviews = [
        review(1, "ours", "ref", [8, 6]), review(1, "ref", "ours", [7, 5]),  # ours 6.5, ref 6.5
        review(2, "ours", "ref", [9, 9]), review(2, "ref", "ours", [10, 6]),  # ours 7.5, ref 9.5
        review(3, "ours", "ref", None), review(3, "ref", "ours", [4, 2]),     # one order unread: that one counts
    ]  # fmt: skip
    result = aggregate(reviews, model_of, categories)
    assert result["models"] == ["ours", "ref"] and result["questions"] == 3 and result["unparsed"] == 1
    assert result["totals"] == {"ours": 6.5 + 7.5 + 2, "ref": 6.5 + 9.5 + 4}
    assert result["by_category"] == {"math": {"ours": 6.5, "ref": 6.5}, "writing": {"ours": 9.5, "ref": 13.5}}
    assert result["first_order_totals"] == {"ours": 17, "ref": 15}  # questions 1 and 2, ours shown first


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
                            timeout=600, env={**os.environ, "OPENAI_API_KEY": "sk-test"})  # fmt: skip
    if check:
        assert result.returncode == 0, result.stderr[-3000:]
    return result


def answers_file(path, model, questions, prefix="Answer"):
    path.write_text("".join(
        json.dumps({"answer_id": f"{model}-{q}", "question_id": q, "model_id": model, "text": f"{prefix} {q}", "metadata": {}}) + "\n"
        for q in questions
    ))  # fmt: skip
    return path


def test_both_orders_cancel_a_judge_that_always_prefers_the_first_answer(tmp_path):
    questions = DATA / "demo_questions.jsonl"
    ids = [json.loads(line)["question_id"] for line in questions.read_text().splitlines()]
    ours, ref = answers_file(tmp_path / "ours.jsonl", "ours", ids), answers_file(tmp_path / "ref.jsonl", "ref", ids)
    common = ("--questions", questions, "--answers", ours, "--reference", ref, "--model", "judge",
              "--reviewers", DATA / "reviewers.jsonl", "--review-prompts", DATA / "review_prompts.jsonl")  # fmt: skip
    with FakeOpenAI() as server:
        both = eval_cli("judge", *common, "--base-url", server.url, "--output", tmp_path / "both.jsonl")
        single = eval_cli("judge", *common, "--base-url", server.url, "--output", tmp_path / "single.jsonl", "--single-order")
    (result,) = json.loads((tmp_path / "both.jsonl.summary.json").read_text())
    assert result["totals"] == {"ours": 60.0, "ref": 60.0}  # (9 + 3) / 2 on each of 10 questions: a tie
    assert result["first_order_totals"] == {"ours": 90.0, "ref": 30.0}  # what FastChat's protocol would report
    assert "| total, all judged orders averaged | 60.0 | 60.0 | 100.0% |" in both.stdout
    (single_result,) = json.loads((tmp_path / "single.jsonl.summary.json").read_text())
    assert single_result["totals"] == {"ours": 90.0, "ref": 30.0} and "300.0%" in single.stdout
    reviews = [json.loads(line) for line in (tmp_path / "both.jsonl").read_text().splitlines()]
    assert len(reviews) == 20 and {r["reviewer_id"] for r in reviews} == {"gpt4llm-general", "gpt4llm-coding", "gpt4llm-math"}
    assert set(reviews[0]) == {"review_id", "question_id", "answer1_id", "answer2_id", "reviewer_id", "text", "score", "metadata"}

    # aggregate reads the same files back, as it reads FastChat's own reviews
    again = eval_cli("aggregate", "--questions", questions, "--answers", ours, ref, "--reviews", tmp_path / "both.jsonl")
    assert "| total, all judged orders averaged | 60.0 | 60.0 | 100.0% |" in again.stdout

    report = eval_cli("report", "--judge", tmp_path / "both.jsonl.summary.json", "--output-dir", tmp_path / "report")
    assert "judge_totals.png" in (tmp_path / "report" / "report.md").read_text()
    assert (tmp_path / "report" / "judge_totals.png").stat().st_size > 1000 and report.returncode == 0


def test_rouge_command_and_report(tmp_path):
    predictions = tmp_path / "model.json"
    predictions.write_text(json.dumps([{"instruction": "i", "input": "", "output": "the cat", "label": "the cat sat"}]))
    result = eval_cli("rouge", "--input", predictions, "--output", tmp_path / "rouge.json")
    assert "| model | 0.800 (1) | - (0) | 0.800 (1) | - (0) | - (0) |" in result.stdout
    datasets = tmp_path / "data.json"
    datasets.write_text(json.dumps([{"instruction": "Write a poem.", "input": "", "output": "Roses are red."}] * 3))
    eval_cli("report", "--rouge", tmp_path / "rouge.json", "--datasets", datasets, "--output-dir", tmp_path / "r")
    text = (tmp_path / "r" / "report.md").read_text()
    assert "ROUGE-L by reference length" in text and (tmp_path / "r" / "output_lengths.png").is_file()


def test_verb_noun_pairs_from_hand_built_parses():
    from eval.report import verb_noun_pairs

    def parse(*tokens):
        return [{"lemma": lemma, "pos": pos, "dep": dep, "head": head} for lemma, pos, dep, head in tokens]

    write_poem = parse(("write", "VERB", "ROOT", 0), ("a", "DET", "det", 2), ("poem", "NOUN", "dobj", 0))
    give_tips = parse(("give", "VERB", "ROOT", 0), ("three", "NUM", "nummod", 2), ("tip", "NOUN", "dobj", 0))
    no_object = parse(("explain", "VERB", "ROOT", 0), ("why", "ADV", "advmod", 0))
    not_verb = parse(("poem", "NOUN", "ROOT", 0), ("story", "NOUN", "dobj", 0))
    assert verb_noun_pairs([write_poem, give_tips, write_poem, no_object, not_verb]) == {("write", "poem"): 2, ("give", "tip"): 1}


@pytest.mark.parametrize("case", ["unknown-question", "missing-answer", "empty-file", "duplicate"])
def test_bad_answer_files_are_clear_errors(tmp_path, case):
    questions = tmp_path / "q.jsonl"
    questions.write_text("".join(json.dumps({"question_id": q, "text": f"Q{q}", "category": "generic"}) + "\n" for q in (1, 2)))
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
    result = eval_cli("judge", "--questions", questions, "--answers", ours, "--reference", ref, "--model", "judge",
                      "--base-url", "http://127.0.0.1:9/v1", "--output", tmp_path / "r.jsonl",
                      "--reviewers", DATA / "reviewers.jsonl", "--review-prompts", DATA / "review_prompts.jsonl", check=False)  # fmt: skip
    assert result.returncode != 0 and result.stderr.strip().splitlines()[-1] == f"error: {expected}"


def test_judging_the_first_questions_only_needs_their_answers(tmp_path):
    from eval.judge import answers
    from gpt4llm.data import DataError, load_records

    every_question = {1: {}, 2: {}, 3: {}}
    full = load_records(str(answers_file(tmp_path / "full.jsonl", "m", [3, 1, 2])))
    assert list(answers(full, every_question, required=[1, 2])) == [1, 2]  # in the questions' order, 3 left out
    partial = load_records(str(answers_file(tmp_path / "partial.jsonl", "m", [1])))
    with pytest.raises(DataError, match=r"partial\.jsonl: no answer to question_id \[2\]"):
        answers(partial, every_question, required=[1, 2])
