"""eval calibrate: a judge built to agree with stored verdicts on a known share of pairs, and to flip with the answer
order on another, is measured at exactly those shares; samples are stratified, repeats are requests of their own,
and MT-bench judgments (single, pairwise, human) are asked again from what they store."""

import json
import re
from pathlib import Path

import pytest
from conftest import ROOT
from fake_openai import FakeOpenAI

from eval.calibrate import calibrate, stratified_sample
from eval.report import report
from gpt4llm.data import DataError
from gpt4llm.teacher.options import TeacherConfig

DATA = ROOT / "eval" / "data"
CATEGORIES = ["general"] * 12 + ["coding"] * 6 + ["math"] * 6
MARK = re.compile(r"<<([\w:.-]+)\|(\d+)>>")


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def behaviour(question: int) -> str:
    """What the fake judge does on a question's pairs: 14 of 24 agree with the stored verdict, 5 reverse it and 5
    prefer whichever answer is shown first (a tie once both orders are averaged: the winner flips)."""
    return "agree" if question < 14 else "disagree" if question < 19 else "flip"


def stored_scores(question: int) -> tuple[int, int]:
    if behaviour(question) == "agree" and question % 3 == 0:
        return 7, 7
    return (8, 5) if question % 2 else (5, 8)


@pytest.fixture
def stored(tmp_path):
    """24 questions, a reference and two models' answers, and two stored review sets (the reference as Assistant 1,
    FastChat's order), all written here."""
    questions = write_jsonl(tmp_path / "questions.jsonl", [
        {"question_id": q, "text": f"Question {q}?", "category": c} for q, c in enumerate(CATEGORIES)
    ])
    answers = {}
    for model in ("ref:v1", "m1:v1", "m2:v1"):
        answers[model] = write_jsonl(tmp_path / f"{model.split(':')[0]}.jsonl", [
            {"answer_id": f"{model}-{q}", "question_id": q, "model_id": model, "text": f"Answer <<{model}|{q}>>",
             "metadata": {}} for q in range(len(CATEGORIES))
        ])
    reviews = []
    for model in ("m1:v1", "m2:v1"):
        rows = []
        for q in range(len(CATEGORIES)):
            s1, s2 = stored_scores(q)
            rows.append({"review_id": f"{model}-{q}", "question_id": q, "answer1_id": f"ref:v1-{q}",
                         "answer2_id": f"{model}-{q}", "reviewer_id": "gpt-4-0328-default", "text": f"{s1} {s2}\nok",
                         "score": [s1, s2], "metadata": {}})
        reviews.append(write_jsonl(tmp_path / f"review_ref_{model.split(':')[0]}.jsonl", rows))
    return {"questions": questions, "answers": list(answers.values()), "reviews": reviews}


def fake_judge(messages: list[dict]) -> str:
    """Scores the two answers the review shows by the stored scores of their models (or the other way round, or
    9 for whichever comes first) as `behaviour` says."""
    (first, q), (second, _) = MARK.findall(messages[-1]["content"])
    q = int(q)
    by_model = dict(zip(("ref:v1", "other"), stored_scores(q)))
    score = {m: by_model["ref:v1" if m == "ref:v1" else "other"] for m in (first, second)}
    kind = behaviour(q)
    if kind == "flip":
        return "9 3\nThe first one."
    if kind == "disagree":
        score = {first: score[second], second: score[first]}
    return f"{score[first]} {score[second]}\nScored."


def run_calibration(stored, output, **options):
    with FakeOpenAI(respond=fake_judge) as server:
        written = calibrate(output, TeacherConfig("candidate", server.url), questions=stored["questions"],
                            answers=stored["answers"], reviews=stored["reviews"],
                            reviewers=str(DATA / "reviewers.jsonl"), review_prompts=str(DATA / "review_prompts.jsonl"),
                            **options)
    return written, server


def test_calibration_reports_the_agreement_and_flip_rate_the_judge_was_built_with(stored, tmp_path):
    output = tmp_path / "calibration.json"
    written, server = run_calibration(stored, output)
    result = json.loads(output.read_text())
    assert written.path == output and written.exit_status == 0
    assert len(server.requests) == 48 * 2 and result["pairs"] == 48 and result["unreadable"] == 0
    assert result["verdict_agreement"] == 28 / 48  # 14 agreeing questions in each of the two sets
    assert result["flip_rate"] == {"pairs": 48, "flip_rate": 10 / 48}
    low, high = result["intervals"]["verdict_agreement"]
    assert low < 28 / 48 < high
    assert result["by_category"] == {
        "coding": {"pairs": 12, "verdict_agreement": 4 / 12},  # questions 12-13 agree, 14-17 reverse
        "general": {"pairs": 24, "verdict_agreement": 1.0},
        "math": {"pairs": 12, "verdict_agreement": 0.0},  # 18 reverses, 19-23 flip
    }
    # stored verdicts: first wins on odd non-tie questions; the new judge keeps those it agrees on, reverses 5 and
    # ties the 5 that flip
    assert result["stored_verdicts"] == {"first": 2 * 10, "tie": 2 * 5, "second": 2 * 9}
    assert result["new_verdicts"]["tie"] == 2 * (5 + 5)
    stored_first = sum(stored_scores(q)[0] for q in range(24))
    stored_second = sum(stored_scores(q)[1] for q in range(24))
    comparisons = {c["comparison"]: c for c in result["comparisons"]}
    assert set(comparisons) == {"m1:v1 vs ref:v1", "m2:v1 vs ref:v1"} and result["stored_judge"] == "gpt-4"
    assert comparisons["m1:v1 vs ref:v1"]["stored"] == pytest.approx(stored_second / stored_first)
    assert comparisons["m1:v1 vs ref:v1"]["measure"] == "ratio"
    assert result["kendall_tau"] is None  # two comparisons with equal ratios: no ranking to compare
    assert Path(f"{output}.judgments.jsonl").is_file() and output.with_suffix(".png").stat().st_size > 10_000
    table = output.with_suffix(".md").read_text()
    assert "| verdict agreement (win / tie / loss) | 58.3% [" in table and "| flip rate" in table
    text = report(tmp_path / "report", calibration=[output]).read_text()
    assert "## Calibration: candidate against gpt-4's stored judgments" in text and table.splitlines()[2] in text
    assert (tmp_path / "report" / "calibration_0.png").stat().st_size > 10_000


def test_a_sample_is_stratified_and_repeats_are_requests_of_their_own(stored, tmp_path):
    output = tmp_path / "calibration.json"
    written, server = run_calibration(stored, output, sample=12, repeats=3, seed=1)
    result = json.loads(output.read_text())
    assert result["pairs"] == 12 and len(server.requests) == 12 * 2 * 3
    assert len({json.dumps(r["messages"]) for r in server.requests}) == 12 * 2  # the same prompts, asked 3 times
    # the fake judge answers alike every time: every repeat gives the same verdict
    assert result["repeat_spread"] == {"pairs": 12, "same_verdict_share": 1.0, "preference_std": 0.0}
    # a set and category holding a quarter of the pairs gets a quarter of the sample
    assert {c: row["pairs"] for c, row in result["by_category"].items()} == {"coding": 3, "general": 6, "math": 3}


def test_stratified_sample_gives_each_stratum_its_share_and_is_seeded():
    from eval.calibrate import Case

    cases = [Case(g, c, "a", "b", 1) for g in ("s1", "s2") for c in ["x"] * 30 + ["y"] * 10]
    chosen = stratified_sample(cases, 20, seed=3)
    assert len(chosen) == 20 and chosen == stratified_sample(cases, 20, seed=3) != stratified_sample(cases, 20, 4)
    counts = {(g, c): sum(cases[i].group == g and cases[i].category == c for i in chosen)
              for g in ("s1", "s2") for c in ("x", "y")}
    # quotas 7.5, 2.5, 7.5, 2.5: the two seats left over go to equal remainders in the strata's order
    assert counts == {("s1", "x"): 8, ("s1", "y"): 3, ("s2", "x"): 7, ("s2", "y"): 2}
    assert stratified_sample(cases, None, 0) == list(range(80))


def test_the_dry_run_prices_every_request_and_sends_nothing(stored, tmp_path, capsys):
    output = tmp_path / "calibration.json"
    with FakeOpenAI() as server:
        assert calibrate(output, TeacherConfig("gpt-4o", server.url), questions=stored["questions"],
                         answers=stored["answers"], reviews=stored["reviews"],
                         reviewers=str(DATA / "reviewers.jsonl"), review_prompts=str(DATA / "review_prompts.jsonl"),
                         repeats=2, dry_run=True) is None
    assert not server.requests and not list(tmp_path.glob("calibration*"))
    assert "=== 192 requests to gpt-4o" in capsys.readouterr().out


def test_bad_options_are_one_line_errors(stored, tmp_path):
    config = TeacherConfig("m", "http://127.0.0.1:9/v1")
    with pytest.raises(DataError, match="--repeats must be at least 1"):
        calibrate(tmp_path / "c.json", config, questions=stored["questions"], reviews=stored["reviews"], repeats=0)
    with pytest.raises(DataError, match="--judge-prompts applies to MT-bench judgments"):
        calibrate(tmp_path / "c.json", config, questions=stored["questions"], reviews=stored["reviews"],
                  answers=stored["answers"], judge_prompts="x.jsonl")


MT_QUESTIONS = str(DATA / "demo_mt_bench.jsonl")  # the project's 8 two-turn questions
MT_PROMPTS = str(DATA / "mt_judge_prompts.jsonl")  # the project's judge prompts, in FastChat's schema


def pick(messages: list[dict]) -> str | None:
    """A judge that rates what the prompt's "[score:N]" marker says, picks what "[pick:X]" says, or prefers the
    answer marked GOOD."""
    prompt = messages[-1]["content"]
    if marker := re.search(r"\[score:(\d+)\]", prompt):
        return f"Rating: [[{marker.group(1)}]]"
    if marker := re.search(r"\[pick:([ABC])\]", prompt):
        return f"Judged.\n[[{marker.group(1)}]]"
    if marks := re.findall(r"<<(GOOD|BAD)>>", prompt):
        return "[[A]]" if marks[0] == "GOOD" else "[[B]]"
    return None


def test_mt_bench_single_judgments_are_asked_again_from_their_stored_prompts(tmp_path):
    """The stored prompt carries a "[score:N]" marker, which the fake judge rates N: equal to the stored score on 3
    of 4 judgments, 4 points off on the fourth."""
    rows = [{"question_id": q, "model": model, "judge": ["gpt-4", "gpt4llm-single"], "turn": 1, "tstamp": 0.0,
             "user_prompt": f"Question {q}, answer of {model} [score:{new}]", "judgment": f"[[{stored}]]",
             "score": stored}
            for q, model, stored, new in ((1, "a", 8, 8), (2, "a", 6, 6), (1, "b", 3, 3), (2, "b", 9, 5))]
    rows.append(dict(rows[0], question_id=3, score=-1))  # unreadable when stored: not a case
    judgments = write_jsonl(tmp_path / "gpt-4_single.jsonl", rows)
    output = tmp_path / "single.json"
    with FakeOpenAI(respond=pick) as server:
        calibrate(output, TeacherConfig("candidate", server.url), questions=MT_QUESTIONS, reviews=[judgments],
                  judge_prompts=MT_PROMPTS)
    result = json.loads(output.read_text())
    assert len(server.requests) == 4 and server.requests[0]["messages"][1]["content"] == rows[0]["user_prompt"]
    assert result["pairs"] == 4 and result["stored_judge"] == "gpt-4"
    assert result["exact_agreement"] == 0.75 and result["mean_absolute_difference"] == 1.0
    means = {c["first"]: (c["stored"], c["new"]) for c in result["comparisons"]}
    assert means == {"a": (7.0, 7.0), "b": (6.0, 4.0)}


def test_mt_bench_pairwise_games_are_judged_in_their_two_stored_orders(tmp_path):
    def game(q, g1, g2, prompts):
        return {"question_id": q, "model_1": "a", "model_2": "b", "g1_winner": g1, "g2_winner": g2,
                "judge": ["gpt-4", "gpt4llm-pair"], "g1_user_prompt": f"Q{q} game 1 {prompts[0]}",
                "g1_judgment": "", "g2_user_prompt": f"Q{q} game 2 {prompts[1]}", "g2_judgment": "", "turn": 1,
                "tstamp": 0.0}

    rows = [
        game(1, "model_1", "model_1", ("[pick:A]", "[pick:B]")),  # agrees: a wins both ways
        game(2, "model_2", "model_2", ("[pick:B]", "[pick:A]")),  # agrees: b wins both ways
        game(3, "model_1", "model_1", ("[pick:A]", "[pick:A]")),  # the new judge prefers A: a tie that flips
        game(5, "model_1", "model_2", ("[pick:B]", "[pick:A]")),  # stored orders disagree (a tie); new: b wins
    ]
    output = tmp_path / "pair.json"
    with FakeOpenAI(respond=pick) as server:
        calibrate(output, TeacherConfig("candidate", server.url), questions=MT_QUESTIONS,
                  reviews=[str(write_jsonl(tmp_path / "gpt-4_pair.jsonl", rows))], judge_prompts=MT_PROMPTS)
    result = json.loads(output.read_text())
    assert len(server.requests) == 8 and result["pairs"] == 4
    assert result["verdict_agreement"] == 0.5 and result["flip_rate"] == {"pairs": 4, "flip_rate": 0.25}
    assert result["stored_verdicts"] == {"first": 2, "tie": 1, "second": 1}
    (comparison,) = result["comparisons"]
    assert comparison["measure"] == "win_rate_adjusted" and comparison["comparison"] == "gpt-4: a vs b"
    assert comparison["stored"] == pytest.approx((0 + 1 + 0 + 0.5) / 4)  # b's side: loss, win, loss, tie
    assert comparison["new"] == pytest.approx((0 + 1 + 0.5 + 1) / 4)


def write_parquet(path: Path, rows: list[dict]) -> str:
    import pyarrow
    import pyarrow.parquet

    pyarrow.parquet.write_table(pyarrow.Table.from_pylist(rows), path)
    return str(path)


def conversation(question: int, answers: tuple[str, str]) -> list[dict]:
    return [{"role": "user", "content": f"Question {question}"}, {"role": "assistant", "content": answers[0]},
            {"role": "user", "content": "next"}, {"role": "assistant", "content": answers[1]}]


# Each model's two answers per question; the judge (`pick`) prefers the answer marked GOOD among those it is shown
ANSWERS = {
    (1, "alpha"): ("<<GOOD>>", "plain"), (1, "beta"): ("<<BAD>>", "plain"),   # judged on turn 1: alpha wins
    (2, "alpha"): ("plain", "<<BAD>>"), (2, "beta"): ("plain", "<<GOOD>>"),   # judged on turn 2: beta wins
    (3, "beta"): ("<<BAD>>", "plain"), (3, "gamma"): ("<<GOOD>>", "plain"),   # turn 1: gamma wins
    (4, "alpha"): ("<<GOOD>>", "plain"), (4, "gamma"): ("<<BAD>>", "plain"),
}


def judgment(question: int, turn: int, model_a: str, model_b: str, winner: str, judge: str) -> dict:
    return {"question_id": question, "model_a": model_a, "model_b": model_b, "winner": winner, "judge": judge,
            "conversation_a": conversation(question, ANSWERS[question, model_a]),
            "conversation_b": conversation(question, ANSWERS[question, model_b]), "turn": turn}


# The two splits of lmsys/mt_bench_human_judgments, in small: expert and author votes, and GPT-4's verdicts
VOTES = [
    judgment(1, 1, "alpha", "beta", "model_a", "expert_0"),          # alpha
    judgment(1, 1, "beta", "alpha", "model_a", "expert_1"),          # beta (the other order)
    judgment(1, 1, "alpha", "beta", "tie", "expert_2"),
    judgment(1, 1, "beta", "alpha", "model_b", "author_0"),          # alpha
    judgment(2, 2, "alpha", "beta", "model_b", "expert_0"),          # beta
    judgment(2, 2, "beta", "alpha", "model_a", "expert_3"),          # beta
    judgment(4, 1, "alpha", "gamma", "model_a", "expert_0"),         # no stored verdict: left out
]
VERDICTS = [
    judgment(1, 1, "beta", "alpha", "model_b", "gpt4_pair"),         # alpha
    judgment(2, 2, "alpha", "beta", "tie (inconsistent)", "gpt4_pair"),
    judgment(3, 1, "beta", "gamma", "model_b", "gpt4_pair"),         # gamma; nobody voted
]


def test_human_judgments_are_pooled_as_fastchat_pools_them_and_agree_beside_the_stored_judge(tmp_path, monkeypatch):
    """The two splits of lmsys/mt_bench_human_judgments, as Parquet files like the release and in the registered
    sources' place (MT-bench's default): expert and author votes, and a stored judge's verdicts (both orders
    combined). Pairs are pooled in sorted model order (a vote on the other order reversed), as FastChat's
    compute_agreement pools them; agreement with the experts is per turn, with ties and without, for the new judge,
    the stored judge and the experts with one another; authors are counted apart."""
    import hashlib

    from gpt4llm.sources import MT_BENCH_HUMAN_AGREEMENT, SOURCES, Source

    monkeypatch.setenv("GPT4LLM_CACHE", str(tmp_path / "cache"))
    for name, rows in zip(MT_BENCH_HUMAN_AGREEMENT, (VOTES, VERDICTS)):
        path = Path(write_parquet(tmp_path / f"{name}.parquet", rows))
        monkeypatch.setitem(SOURCES, name, Source(path.as_uri(), name,
                                                  sha256=hashlib.sha256(path.read_bytes()).hexdigest()))
    output = tmp_path / "human.json"
    with FakeOpenAI(respond=pick) as server:
        calibrate(output, TeacherConfig("candidate", server.url), questions=MT_QUESTIONS, judge_prompts=MT_PROMPTS)
    result = json.loads(output.read_text())
    assert result["stored"] == list(MT_BENCH_HUMAN_AGREEMENT)
    assert len(server.requests) == 6 and result["pairs"] == 3 and result["stored_judge"] == "gpt4_pair"
    # new verdicts alpha, beta, gamma; stored alpha, tie, gamma
    assert result["verdict_agreement"] == pytest.approx(2 / 3) and result["flip_rate"]["flip_rate"] == 0.0
    human = result["human"]

    def agreement(votes, with_ties, votes_without, without):
        return {"votes": votes, "agreement_with_ties": with_ties, "votes_without_ties": votes_without,
                "agreement_without_ties": without}

    # turn 1: votes alpha, beta, tie on a pair both judges give alpha
    assert human["turn 1"] == {"new": agreement(3, 1 / 3, 2, 1 / 2), "stored": agreement(3, 1 / 3, 2, 1 / 2),
                               "between_experts": agreement(3, 0.0, 1, 0.0)}
    # turn 2: votes beta, beta; the new judge says beta, the stored one tie (left out without ties)
    assert human["turn 2"] == {"new": agreement(2, 1.0, 2, 1.0), "stored": agreement(2, 0.0, 0, None),
                               "between_experts": agreement(1, 1.0, 1, 1.0)}
    assert human["both turns"]["new"] == agreement(5, 3 / 5, 4, 3 / 4)
    assert human["both turns"]["stored"] == agreement(5, 1 / 5, 2, 1 / 2)
    assert human["both turns"]["between_experts"] == agreement(4, 1 / 4, 2, 1 / 2)
    assert human["author_votes"] == 1
    table = output.with_suffix(".md").read_text()
    assert "| turn 1 | 33.3% of 3 | 50.0% of 2 | 33.3% of 3 | 50.0% of 2 | 0.0% of 3 | 0.0% of 1 |" in table


def test_the_papers_agreement_study_is_replayed_from_the_stored_files(tmp_path, capsys):
    """`eval aggregate` on the votes and GPT-4's verdicts: the stored judge's agreement with the experts on the
    pairs it judged, per turn, beside the experts' with one another on every pair they voted on; no judge asked."""
    from eval.judge import aggregate

    files = [write_parquet(tmp_path / "human.parquet", VOTES), write_parquet(tmp_path / "gpt4_pair.parquet", VERDICTS)]
    (result,) = aggregate(MT_QUESTIONS, files, tmp_path / "agreement")
    assert result["judge"] == "gpt4_pair" and result["pairs"] == 3 and result["voted_pairs"] == 2
    assert result["agreement"]["turn 1"] == {"votes": 3, "agreement_with_ties": 1 / 3, "votes_without_ties": 2,
                                             "agreement_without_ties": 1 / 2}
    assert result["agreement"]["turn 2"]["votes_without_ties"] == 0  # GPT-4 said tie: left out without ties
    assert result["between_experts"]["both turns"] == {"votes": 4, "agreement_with_ties": 1 / 4,
                                                       "votes_without_ties": 2, "agreement_without_ties": 1 / 2}
    assert result["author_votes"] == 1
    assert json.loads((tmp_path / "agreement.summary.json").read_text()) == [result]
    row = "| turn 1 | 33.3% of 3 | 50.0% of 2 | 0.0% of 3 | 0.0% of 1 |"
    assert row in capsys.readouterr().out
    assert row in report(tmp_path / "report", mt_bench=[str(tmp_path / "agreement.summary.json")]).read_text()
    with pytest.raises(DataError, match=r"human.parquet: votes without a stored judge's verdicts; give its file too"):
        aggregate(MT_QUESTIONS, files[:1])


def test_human_votes_alone_are_compared_with_their_majority(tmp_path):
    rows = [judgment(1, 1, "alpha", "beta", "model_a", "expert_0"), judgment(1, 1, "alpha", "beta", "tie", "expert_1"),
            judgment(1, 1, "beta", "alpha", "model_b", "expert_2"),
            judgment(4, 1, "alpha", "gamma", "model_b", "expert_0"),
            judgment(4, 1, "alpha", "gamma", "tie (bothbad)", "author_1")]
    output = tmp_path / "human.json"
    with FakeOpenAI(respond=pick) as server:
        calibrate(output, TeacherConfig("candidate", server.url), questions=MT_QUESTIONS, judge_prompts=MT_PROMPTS,
                  reviews=[str(write_jsonl(tmp_path / "human.jsonl", rows))])
    result = json.loads(output.read_text())
    assert len(server.requests) == 4 and result["pairs"] == 2 and result["stored_judge"] == "human"
    # question 1: majority alpha, the judge alpha; question 4: majority gamma, the judge alpha
    assert result["verdict_agreement"] == 0.5 and "stored" not in result["human"]["turn 1"]
    assert result["human"]["turn 1"]["new"] == {"votes": 4, "agreement_with_ties": 2 / 4, "votes_without_ties": 3,
                                                "agreement_without_ties": 2 / 3}
    assert result["human"]["author_votes"] == 1


def test_two_verdicts_of_a_stored_judge_on_one_pair_or_two_stored_judges_are_refused(tmp_path):
    twice = [judgment(1, 1, "alpha", "beta", "model_a", "gpt4_pair"), judgment(1, 1, "beta", "alpha", "tie",
                                                                               "gpt4_pair")]
    with pytest.raises(DataError, match=r"twice.jsonl: line 2: a second verdict of gpt4_pair on question 1, turn 1, "
                                        "alpha vs beta"):
        calibrate(tmp_path / "x.json", TeacherConfig("candidate", "http://127.0.0.1:9"), questions=MT_QUESTIONS,
                  judge_prompts=MT_PROMPTS, reviews=[write_jsonl(tmp_path / "twice.jsonl", twice)])
    two = [twice[0], judgment(2, 1, "alpha", "beta", "model_a", "claude_pair")]
    with pytest.raises(DataError, match=r"several stored judges \(claude_pair, gpt4_pair\)"):
        calibrate(tmp_path / "x.json", TeacherConfig("candidate", "http://127.0.0.1:9"), questions=MT_QUESTIONS,
                  judge_prompts=MT_PROMPTS, reviews=[write_jsonl(tmp_path / "two.jsonl", two)])


def test_figure4_judges_every_model_against_every_reference_beside_the_published_ratios(tmp_path, capsys):
    """Your model and two stand-in baselines, all reviewed against a stand-in ChatGPT by one judge; a stand-in
    notebook in the paper's schema gives the published ratio of the baseline the paper judged."""
    from eval.figure4 import figure4, published_totals

    questions = write_jsonl(tmp_path / "q.jsonl", [{"question_id": q, "text": f"Q{q}?", "category": "general"}
                                                   for q in range(1, 9)])

    def answers(name, model, quality):
        return write_jsonl(tmp_path / f"{name}.jsonl", [
            {"answer_id": f"{model}-{q}", "question_id": q, "model_id": model, "text": f"A <<q:{quality}>>",
             "metadata": {}} for q in range(1, 9)])

    ours, llama, chatgpt = answers("ours", "ours", 8), answers("llama", "llama-13b:v1", 4), answers(
        "gpt35", "gpt-3.5-turbo:20230327", 6)
    notebook = tmp_path / "plots.ipynb"
    notebook.write_text(json.dumps({"cells": [{"cell_type": "code", "source": [
        "review_llama_gpt35 = [400.0, 800.0]\n", "review_llama_gpt4_gpt35_r1 = [500.0, 600.0]\n"]}]}))
    assert published_totals(str(notebook)) == {("LLaMA (13B)", "ChatGPT"): (400.0, 800.0),
                                               ("LLaMA-GPT4 (7B, R1)", "ChatGPT"): (500.0, 600.0)}

    def judge(messages):
        first, second = re.findall(r"<<q:(\d+)>>", messages[-1]["content"])
        return f"{first} {second}\nok"

    with FakeOpenAI(respond=judge) as server:
        written = figure4([ours], tmp_path / "fig", TeacherConfig("candidate", server.url), questions=questions,
                          references={"ChatGPT": chatgpt}, baselines={llama: "LLaMA (13B)", chatgpt: "ChatGPT"},
                          published=str(notebook), reviewers=str(DATA / "reviewers.jsonl"),
                          review_prompts=str(DATA / "review_prompts.jsonl"))
    summary = json.loads((tmp_path / "fig" / "figure4.json").read_text())
    assert written.exit_status == 0 and len(server.requests) == 2 * 8 * 2  # ChatGPT is not judged against itself
    rows = {row["model"]: row for row in summary["rows"]}
    assert set(rows) == {"ours", "LLaMA (13B)"} and rows["ours"]["ratio"] == pytest.approx(8 / 6)
    assert rows["LLaMA (13B)"]["totals"] == [32.0, 48.0] and rows["LLaMA (13B)"]["published"]["ratio"] == 0.5
    assert rows["ours"]["published"] is None and rows["ours"]["judge"] == "candidate"
    table = (tmp_path / "fig" / "figure4.md").read_text()
    assert "| model | vs ChatGPT: candidate | vs ChatGPT: gpt-4 (the paper) |" in table
    assert "| LLaMA (13B) | 66.7% [66.7, 66.7] (32 : 48) | 50.0% (400 : 800) |" in table
    assert (tmp_path / "fig" / "figure4.png").stat().st_size > 10_000
    text = report(tmp_path / "report", figure4=[tmp_path / "fig" / "figure4.json"]).read_text()
    assert "## Figure 4 judged by candidate, beside the paper's GPT-4-judged ratios" in text
    assert "| LLaMA (13B) | 66.7% [66.7, 66.7] (32 : 48) | 50.0% (400 : 800) |" in text
    assert (tmp_path / "report" / "figure4_0.png").stat().st_size > 10_000
