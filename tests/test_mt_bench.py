"""MT-bench, FastChat's llm_judge protocol: two-turn questions read, answered turn by turn (local model and endpoint)
with the first answer in the second turn's context, graded 1-10 per turn (reference-guided for math, reasoning and
coding) and pairwise in both orders by a fake judge, written in FastChat's judgment schema and read back (ours and
FastChat-written files alike) to show_result.py's totals; bad files are one-line errors.

Every file here is written by the test or is the project's own (eval/data/)."""

import json
from pathlib import Path

import pytest
from conftest import ROOT
from fake_openai import REFUSAL, FakeOpenAI

from eval.__main__ import main
from eval.generate import generate, turn_jobs
from eval.judge import aggregate, judge
from eval.report import report as eval_report
from eval.mt_bench import answer_params, judge_prompts_by_role, parse_rating, parse_verdict
from gpt4llm.benchmarks import Item, read_benchmark
from gpt4llm.data import DataError, load_records
from gpt4llm.teacher.options import TeacherConfig
from gpt4llm.teacher.runlog import job_id
from gpt4llm.templates import alpaca_conversation, alpaca_prompt

DATA = ROOT / "eval" / "data"
QUESTIONS = DATA / "demo_mt_bench.jsonl"  # the project's 8 two-turn questions, one per MT-bench category
PROMPTS = ("--judge-prompts", str(DATA / "mt_judge_prompts.jsonl"))  # the project's prompts, FastChat's schema
SINGLE_KEYS = {"question_id", "model", "judge", "user_prompt", "judgment", "score", "turn", "tstamp"}
PAIR_KEYS = {
    "question_id",
    "model_1",
    "model_2",
    "g1_winner",
    "g2_winner",
    "judge",
    "g1_user_prompt",
    "g1_judgment",
    "g2_user_prompt",
    "g2_judgment",
    "turn",
    "tstamp",
}


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return path


def read_jsonl(path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text().splitlines()]


def questions() -> list[dict]:
    return read_jsonl(QUESTIONS)


def answers_file(path, model, turns_of):
    """An llm_judge answer file of `model`: `turns_of(question)` gives its answers to the question's turns."""
    return write_jsonl(
        path,
        [
            {
                "question_id": q["question_id"],
                "answer_id": f"{model}-{q['question_id']}",
                "model_id": model,
                "choices": [{"index": 0, "turns": turns_of(q)}],
                "tstamp": 0.0,
            }
            for q in questions()
        ],
    )


def run(*args) -> int:
    return main([str(a) for a in args])


def grade(server, output, answers, **options):
    """MT-bench judging of the test questions with the project's judge prompts by `server`'s model "judge"."""
    return judge(str(QUESTIONS), [str(path) for path in answers], output, TeacherConfig("judge", base_url=server.url),
                 judge_prompts=PROMPTS[1], **options)


def error_of(*args) -> str:
    with pytest.raises(SystemExit) as error:
        run(*args)
    return str(error.value)


def test_mt_bench_questions_are_read_with_their_turns_and_references(tmp_path):
    bench = read_benchmark(load_records(str(QUESTIONS)))
    assert bench.shape == "mt_bench" and bench.keys() == list(range(1, 9))
    math = bench.items[3]
    assert math.category == "math" and math.instruction == math.turns[0] and len(math.turns) == 2
    assert len(math.turn_references) == 2 and bench.items[0].turn_references == ()
    one_turn = read_benchmark(
        load_records(str(write_jsonl(tmp_path / "q.jsonl", [{"question_id": "a", "turns": ["Hi?"]}])))
    )
    assert one_turn.items == [Item("a", "Hi?", turns=("Hi?",))]  # category general, as for FastChat's Vicuna questions


@pytest.mark.parametrize(
    "row, message",
    [
        (
            {"question_id": 1, "category": "math", "turns": "What is 2 + 2?"},
            r"field 'turns' must be a list of strings, got str",
        ),
        ({"question_id": 1, "turns": []}, r"field 'turns' must be a non-empty list of strings"),
        ({"question_id": 1, "turns": ["a", 2]}, r"field 'turns\[1\]' must be a string, got int"),
        ({"question_id": 1, "turns": ["a"], "reference": ["x", "y"]}, r"field 'reference' has 2 answers for 1 turns"),
    ],
    ids=["turns-text", "no-turns", "turn-not-text", "extra-reference"],
)
def test_bad_mt_bench_questions_are_one_line_errors(tmp_path, row, message):
    path = write_jsonl(tmp_path / "bad.jsonl", [{"question_id": 0, "turns": ["fine"]}, row])
    with pytest.raises(DataError, match=message) as error:
        read_benchmark(load_records(str(path)))
    assert str(error.value).startswith(f"{path}: line 2: ") and "\n" not in str(error.value)


def test_two_turn_answers_from_an_endpoint_carry_the_first_answer_into_the_second_turn(tmp_path):
    output = tmp_path / "teacher.jsonl"
    with FakeOpenAI() as server:
        assert run("generate", "--model", "teacher", "--base-url", server.url, "--template", "chat",
                   "--questions", QUESTIONS, "--output", output) == 0
        requests = server.requests
    answers = read_jsonl(output)
    assert [a["question_id"] for a in answers] == list(range(1, 9))
    assert all(set(a) == {"question_id", "answer_id", "model_id", "choices", "tstamp"} for a in answers)
    first = answers[0]
    assert (
        first["model_id"] == "teacher" and first["choices"][0]["index"] == 0 and len(first["choices"][0]["turns"]) == 2
    )
    q1, q2 = questions()[0]["turns"]
    a1, a2 = first["choices"][0]["turns"]
    assert a1 == f"Answer: {q1}" and a2 == f"Answer: {q2}"  # the fake answers each turn's last user message
    # 8 first turns, then 8 second turns; each second turn holds the question's first turn and the model's answer
    assert len(requests) == 16
    second = next(r for r in requests[8:] if r["messages"][-1]["content"] == q2)
    assert second["messages"] == [
        {"role": "user", "content": q1},
        {"role": "assistant", "content": a1},
        {"role": "user", "content": q2},
    ]
    # FastChat's sampling: its temperature per category (writing 0.7, math 0), 1024 tokens
    by_question = {r["messages"][0]["content"]: r for r in requests[:8]}
    temperatures = {q["category"]: by_question[q["turns"][0]]["temperature"] for q in questions()}
    assert temperatures == {
        "writing": 0.7,
        "roleplay": 0.7,
        "reasoning": 0.0,
        "math": 0.0,
        "coding": 0.0,
        "extraction": 0.0,
        "stem": 0.1,
        "humanities": 0.1,
    }
    assert {r["max_tokens"] for r in requests} == {1024}


def test_a_refused_first_turn_leaves_the_question_out_and_names_it(tmp_path):
    rows = [
        {"question_id": 1, "category": "writing", "turns": ["Hello?", "And again?"]},
        {"question_id": 2, "category": "writing", "turns": ["Refuse me [fault:refusal*0]", "Then this?"]},
    ]
    output = tmp_path / "answers.jsonl"
    with FakeOpenAI() as server:
        status = run("generate", "--model", "teacher", "--base-url", server.url, "--template", "chat",
                     "--questions", write_jsonl(tmp_path / "q.jsonl", rows), "--output", output)
        asked = [r["messages"][-1]["content"] for r in server.requests]
    assert status == 3 and [a["question_id"] for a in read_jsonl(output)] == [1]
    assert read_jsonl(f"{output}.failures.jsonl") == [
        {"question_id": 2, "turn": 1, "kind": "refusal", "reason": REFUSAL}
    ]
    assert "Then this?" not in asked  # no second turn without a first answer


def test_two_turn_answers_from_a_local_model_in_the_alpaca_template(tmp_path, tiny_model_dir):
    """A tiny random Llama, greedy: the logged second-turn request is the one whose prompt holds the first answer,
    and a second run resumes everything from the log."""
    rows = questions()[:3]
    path = write_jsonl(tmp_path / "q.jsonl", rows)
    output = tmp_path / "local.jsonl"
    options = {"model_id": "tiny", "temperature": 0.0, "max_new_tokens": 6}
    assert generate(str(path), output, tiny_model_dir, **options).failures is None
    answers = read_jsonl(output)
    assert [len(a["choices"][0]["turns"]) for a in answers] == [2, 2, 2] and answers[0]["model_id"] == "tiny"
    log = {e["id"]: e for e in read_jsonl(f"{output}.records.jsonl")}
    items = read_benchmark(load_records(str(path))).items
    params = lambda item: answer_params(item.category, 0.0, 1.0, 6)  # noqa: E731
    for item, answer in zip(items, answers):
        first, second = answer["choices"][0]["turns"]
        (job,) = turn_jobs([item], {item.key: [first]}, tiny_model_dir, "alpaca", params)
        assert job.messages == [{"role": "user", "content": alpaca_conversation(list(item.turns), [first])}]
        assert job.messages[0]["content"].startswith(alpaca_prompt(item.turns[0]) + first)
        assert log[job.id]["text"] == second
    assert (
        job_id(
            "generate",
            tiny_model_dir,
            "alpaca",
            params(items[0]),
            [{"role": "user", "content": alpaca_prompt(items[0].turns[0])}],
        )
        in log
    )
    before = output.read_text()
    again = generate(str(path), output, tiny_model_dir, **options)
    assert again.path == output and len(read_jsonl(f"{output}.records.jsonl")) == len(log)  # nothing generated again
    assert [a["choices"] for a in read_jsonl(output)] == [
        a["choices"] for a in json.loads(f"[{','.join(before.splitlines())}]")
    ]


def marked(q):
    """Answers whose fake grades are known: turn t of question q scores (q + t) % 10 + 1."""
    return [f"My answer {t}. [score:{(q['question_id'] + t) % 10 + 1}]" for t in (1, 2)]


def test_single_answer_grading_per_turn_reference_guided_and_read_back(tmp_path, capsys):
    ours = answers_file(tmp_path / "ours.jsonl", "ours", marked)
    flat = answers_file(tmp_path / "flat.jsonl", "flat", lambda q: ["no marker", "none either"])  # the fake's 5
    output = tmp_path / "gpt-4_single.jsonl"
    with FakeOpenAI() as server:
        assert grade(server, output, [ours, flat]).failures is None
        bodies = server.requests
    judgments = read_jsonl(output)
    assert len(judgments) == 2 * 8 * 2 and all(
        set(j) == SINGLE_KEYS for j in judgments
    )  # 2 models, 8 questions, 2 turns
    # routed as FastChat routes: reference-guided for math, reasoning and coding, the second turn with both turns shown
    categories = {q["question_id"]: q["category"] for q in questions()}
    for j in judgments:
        needs_reference = categories[j["question_id"]] in ("math", "reasoning", "coding")
        name = "gpt4llm-single" + ("-ref" if needs_reference else "") + ("-multi-turn" if j["turn"] == 2 else "")
        assert j["judge"] == ["judge", name]
    math = next(j for j in judgments if j["question_id"] == 4 and j["turn"] == 2 and j["model"] == "ours")
    reference = questions()[3]["reference"]
    assert (
        reference[0] in math["user_prompt"]
        and reference[1] in math["user_prompt"]
        and "My answer 1." in math["user_prompt"]
    )
    assert {(b["temperature"], b["max_tokens"], b["messages"][0]["role"]) for b in bodies} == {(0.0, 2048, "system")}
    assert {j["score"] for j in judgments if j["model"] == "flat"} == {5.0}
    expected = {t: [(q + t) % 10 + 1 for q in range(1, 9)] for t in (1, 2)}
    assert sorted(j["score"] for j in judgments if j["model"] == "ours" and j["turn"] == 1) == sorted(expected[1])

    (mine, other) = json.loads((tmp_path / "gpt-4_single.jsonl.summary.json").read_text())
    assert mine["model"] == "ours" and other["model"] == "flat"  # best first, as show_result sorts
    assert mine["turns"] == {"1": pytest.approx(sum(expected[1]) / 8), "2": pytest.approx(sum(expected[2]) / 8)}
    assert mine["score"] == pytest.approx((sum(expected[1]) + sum(expected[2])) / 16)
    assert mine["by_category"]["math"] == pytest.approx(((4 + 1) % 10 + 1 + (4 + 2) % 10 + 1) / 2)
    low, high = mine["intervals"]["score"]
    assert low < mine["score"] < high and other["intervals"]["turn_1"] == [5.0, 5.0]
    printed = capsys.readouterr().out
    assert f"| ours | judge | {mine['score']:.2f} [{low:.2f}, {high:.2f}] |" in printed

    # the written judgments read back to the same totals, as FastChat's own files are read (by the older verb too)
    run("grade-totals", "--questions", QUESTIONS, "--judgments", output, "--output", tmp_path / "again")
    assert json.loads((tmp_path / "again.summary.json").read_text()) == [mine, other]


def test_reference_answers_from_a_file_replace_the_questions_own(tmp_path):
    ours = answers_file(tmp_path / "ours.jsonl", "ours", marked)
    reference = answers_file(
        tmp_path / "gpt-4.jsonl", "gpt-4", lambda q: [f"REF-{q['question_id']}-1", f"REF-{q['question_id']}-2"]
    )
    with FakeOpenAI() as server:
        assert grade(server, tmp_path / "j.jsonl", [ours], reference_answers=str(reference), limit=4).failures is None
    prompts = {(j["question_id"], j["turn"]): j["user_prompt"] for j in read_jsonl(tmp_path / "j.jsonl")}
    assert (
        len(prompts) == 8 and "REF-4-1" in prompts[4, 1] and "REF-4-2" in prompts[4, 2] and "REF-3-1" in prompts[3, 1]
    )
    assert not any("REF-" in prompts[q, t] for q in (1, 2) for t in (1, 2))  # writing and roleplay need none


def test_pairwise_grading_judges_both_orders_and_counts_a_changed_verdict_as_a_tie(tmp_path, capsys):
    """The fake judge always says [[A]]: game 1 (ours as A) says ours, game 2 (baseline as A) says the baseline, so
    every game is inconsistent, a tie under show_result.py's rule."""
    ours = answers_file(tmp_path / "ours.jsonl", "ours", lambda q: ["OURS-1", "OURS-2"])
    base = answers_file(tmp_path / "base.jsonl", "base", lambda q: ["BASE-1", "BASE-2"])
    output = tmp_path / "gpt-4_pair.jsonl"
    with FakeOpenAI() as server:
        assert grade(server, output, [ours], mode="pairwise-baseline", reference=str(base)).failures is None
        assert len(server.requests) == 8 * 2 * 2  # questions x turns x orders
    judgments = read_jsonl(output)
    assert len(judgments) == 16 and all(set(j) == PAIR_KEYS for j in judgments)
    for j in judgments:
        assert (j["model_1"], j["model_2"], j["g1_winner"], j["g2_winner"]) == ("ours", "base", "model_1", "model_2")
        a, b = ("OURS", "BASE") if j["turn"] == 1 else ("OURS-2", "BASE-2")
        assert j["g1_user_prompt"].index(a) < j["g1_user_prompt"].index(b)  # game 1 shows model_1 as Assistant A
        assert j["g2_user_prompt"].index(b) < j["g2_user_prompt"].index(a)
    (result,) = json.loads((tmp_path / "gpt-4_pair.jsonl.summary.json").read_text())
    assert result["models"] == ["ours", "base"] and (result["win"], result["tie"], result["loss"]) == (0, 16, 0)
    assert result["inconsistent"] == 16 and result["win_rate_adjusted"] == 0.5 and result["by_turn"]["2"] == {"tie": 8}
    assert "the verdict changes with the order in 16 of 16 games (100.0%)" in capsys.readouterr().out

    third = answers_file(tmp_path / "third.jsonl", "third", lambda q: ["x", "y"])
    with FakeOpenAI() as server:
        grade(server, tmp_path / "all.jsonl", [ours, base, third], limit=1, mode="pairwise-all")
    pairs = {(j["model_1"], j["model_2"]) for j in read_jsonl(tmp_path / "all.jsonl")}
    assert pairs == {("ours", "base"), ("ours", "third"), ("base", "third")}
    # show_result.py's pairwise-all table: each model's games against both others (2 opponents x 2 turns, all ties)
    summary = json.loads((tmp_path / "all.jsonl.summary.json").read_text())
    totals = {t["model"]: t for t in summary if t["kind"] == "pairwise-model"}
    assert set(totals) == {"ours", "base", "third"}
    assert all((t["games"], t["tie"], t["win_rate_adjusted"]) == (4, 4, 0.5) for t in totals.values())
    assert "| ours | judge | 0 | 4 | 0 | 4 | 0.0% | 0.0% | 50.0% |" in capsys.readouterr().out


def test_fastchat_written_judgments_give_show_results_totals(tmp_path):
    """Judgment files as FastChat's gen_judgment.py writes them: a failed rating stored as -1 (dropped, as
    show_result.py drops it), a rerun's repeated judgment (the later one kept, as its loaders keep it); pairwise
    games with an error dropped, disagreeing orders a tie, and a pair named the other way round counted alike."""

    def single(q, model, turn, score):
        return {
            "question_id": q,
            "model": model,
            "judge": ["gpt-4", "single-v1" + ("-multi-turn" if turn == 2 else "")],
            "user_prompt": "...",
            "judgment": f"Rating: [[{score}]]",
            "score": score,
            "turn": turn,
            "tstamp": 1.0,
        }

    rows = [
        single(1, "vicuna", 1, 8),
        single(1, "vicuna", 2, 6),
        single(4, "vicuna", 1, -1),
        single(4, "vicuna", 2, 3),
        single(7, "vicuna", 1, 2),
        single(7, "vicuna", 1, 9),
        single(1, "llama", 1, 4),
    ]
    path = write_jsonl(tmp_path / "gpt-4_single.jsonl", rows)
    aggregate(str(QUESTIONS), [str(path)], tmp_path / "single")
    vicuna, llama = json.loads((tmp_path / "single.summary.json").read_text())
    # turn 1: 8 and 9 (question 7's later judgment; -1 dropped); turn 2: 6 and 3; all four: 26 / 4
    assert vicuna["turns"] == {"1": 8.5, "2": 4.5} and vicuna["score"] == 6.5 and vicuna["counts"] == {"1": 2, "2": 2}
    assert (
        vicuna["unreadable"] == 1
        and vicuna["duplicates"] == 1
        and vicuna["by_category"] == {"writing": 7.0, "math": 3.0, "stem": 9.0}
    )
    assert llama["turns"] == {"1": 4.0, "2": None} and llama["score"] == 4.0

    def pair(q, turn, g1, g2, models=("vicuna", "llama")):
        return {
            "question_id": q,
            "model_1": models[0],
            "model_2": models[1],
            "g1_winner": g1,
            "g2_winner": g2,
            "judge": ["gpt-4", "pair-v2"],
            "g1_user_prompt": "",
            "g1_judgment": "",
            "g2_user_prompt": "",
            "g2_judgment": "",
            "turn": turn,
            "tstamp": 1.0,
        }

    rows = [
        pair(1, 1, "model_1", "model_1"),
        pair(1, 2, "model_1", "model_2"),
        pair(2, 1, "tie", "tie"),
        pair(3, 1, "model_2", "model_2"),
        pair(5, 1, "error", "model_1"),
        pair(6, 1, "model_1", "model_1", models=("llama", "vicuna")),
    ]  # llama, named first, won: a vicuna loss
    path = write_jsonl(tmp_path / "gpt-4_pair.jsonl", rows)
    aggregate(str(QUESTIONS), [str(path)], tmp_path / "pair")
    (result,) = json.loads((tmp_path / "pair.summary.json").read_text())
    assert result["models"] == ["vicuna", "llama"] and (result["win"], result["tie"], result["loss"]) == (1, 2, 2)
    assert result["games"] == 5 and result["errors"] == 1 and result["inconsistent"] == 1
    assert (
        result["win_rate"] == 0.2 and result["loss_rate"] == 0.4 and result["win_rate_adjusted"] == pytest.approx(0.4)
    )


def test_grading_failures_dry_run_and_batch_use_the_shared_teacher_options(tmp_path):
    ours = answers_file(
        tmp_path / "ours.jsonl",
        "ours",
        lambda q: ["fine", "refuse [fault:refusal*0]" if q["question_id"] == 2 else "fine"],
    )
    common = ("grade", "--questions", QUESTIONS, "--answers", ours, "--model", "judge", *PROMPTS)
    with FakeOpenAI() as server:
        assert run(*common, "--base-url", server.url, "--dry-run", "--output", tmp_path / "dry.jsonl") == 0
        assert not server.requests and not (tmp_path / "dry.jsonl").exists()
        assert run(*common, "--base-url", server.url, "--output", tmp_path / "j.jsonl") == 3
        assert (
            run(*common, "--base-url", server.url, "--batch", "--batch-poll", 0.05, "--output", tmp_path / "b.jsonl")
            == 3
        )
        assert len(server.batches_created) == 1
    for name in ("j.jsonl", "b.jsonl"):
        assert len(read_jsonl(tmp_path / name)) == 15  # question 2's second turn was refused
        failures = read_jsonl(tmp_path / f"{name}.failures.jsonl")
        assert [(f["question_id"], f["model"], f["turn"], f["kind"]) for f in failures] == [(2, "ours", 2, "refusal")]


def test_unreadable_judgments_are_stored_as_null_and_counted(tmp_path):
    """FastChat's readings: "[[r]]", else "[r]"; verdicts in the order A, B, C. A judgment without a rating is
    written (not asked again: the judge runs at temperature 0) with score null, and left out of the means."""
    assert (
        parse_rating("Good.\nRating: [[7.5]]") == 7.5
        and parse_rating("[8] overall") == 8.0
        and parse_rating("fine") is None
    )
    assert parse_verdict("[[B]]") == "B" and parse_verdict("[[C]]") == "tie" and parse_verdict("[[A]] or [[B]]") == "A"
    assert parse_verdict("A is better") is None

    def turns(q):
        return ["[score:9]", "[fault:noscore*0]" if q["question_id"] == 1 else "[score:7]"]

    ours = answers_file(tmp_path / "ours.jsonl", "ours", turns)
    with FakeOpenAI() as server:
        assert grade(server, tmp_path / "j.jsonl", [ours]).failures is None
    judgments = {(j["question_id"], j["turn"]): j for j in read_jsonl(tmp_path / "j.jsonl")}
    assert len(judgments) == 16 and judgments[1, 2]["score"] is None and judgments[1, 2]["judgment"] == "no idea"
    (result,) = json.loads((tmp_path / "j.jsonl.summary.json").read_text())
    assert result["unreadable"] == 1 and result["turns"] == {"1": 9.0, "2": 7.0}
    assert result["counts"] == {"1": 8, "2": 7}


@pytest.mark.parametrize(
    "case",
    [
        "missing-turn",
        "missing-answer",
        "no-reference",
        "vicuna-shaped",
        "judge-mt",
        "bad-judgment",
        "prompt-fields",
        "no-prompt",
        "baseline-missing",
        "best-of-n",
    ],
)
def test_bad_inputs_are_one_line_errors(tmp_path, case):
    ours = answers_file(tmp_path / "ours.jsonl", "ours", lambda q: ["a", "b"])
    common = ["--model", "judge", "--base-url", "http://127.0.0.1:9/v1", "--output", tmp_path / "j.jsonl"]
    grade = ["grade", "--questions", QUESTIONS, "--answers", ours, *PROMPTS, *common]
    if case == "missing-turn":
        short = answers_file(tmp_path / "short.jsonl", "short", lambda q: ["only one"])
        message = error_of("grade", "--questions", QUESTIONS, "--answers", short, *PROMPTS, *common)
        expected = (
            f"{short}: line 1: field 'choices[0].turns' must be a list of 2 strings (one per turn of question 1), "
            "got a list of 1"
        )
    elif case == "missing-answer":
        partial = write_jsonl(tmp_path / "partial.jsonl", read_jsonl(ours)[:7])
        message = error_of("grade", "--questions", QUESTIONS, "--answers", partial, *PROMPTS, *common)
        expected = f"{partial}: no answer to question_id [8]"
    elif case == "no-reference":
        rows = [{k: v for k, v in q.items() if k != "reference"} for q in questions()]
        path = write_jsonl(tmp_path / "q.jsonl", rows)
        message = error_of("grade", "--questions", path, "--answers", ours, *PROMPTS, *common)
        expected = (
            f"{path}: line 3: question 3 (reasoning) is graded against a reference answer for each turn: the "
            "question has no 'reference' for every turn; pass --reference-answers"
        )
    elif case == "vicuna-shaped":
        message = error_of("judge", "--questions", DATA / "demo_questions.jsonl", "--answers", ours, *PROMPTS, *common)
        expected = f"{DATA / 'demo_questions.jsonl'}: --judge-prompts does not apply to single-turn questions"
    elif case == "judge-mt":
        message = error_of("judge", "--questions", QUESTIONS, "--answers", ours, "--single-order", *common)
        expected = f"{QUESTIONS}: --single-order does not apply to multi-turn questions (MT-bench)"
    elif case == "bad-judgment":
        path = write_jsonl(
            tmp_path / "j.jsonl",
            [{"question_id": 1, "model": "m", "judge": ["gpt-4", "single-v1"], "score": 5, "turn": 3}],
        )
        message = error_of("grade-totals", "--questions", QUESTIONS, "--judgments", path)
        expected = f"{path}: line 1: field 'turn' must be 1 or 2, a turn of question 1, got 3"
    elif case == "prompt-fields":
        rows = read_jsonl(DATA / "mt_judge_prompts.jsonl")
        rows[0]["prompt_template"] = rows[0]["prompt_template"].replace("{answer}", "{response}")
        path = write_jsonl(tmp_path / "prompts.jsonl", rows)
        message = error_of(*grade, "--judge-prompts", path)
        expected = (
            f"{path}: line 1: field 'prompt_template' of 'gpt4llm-single' takes ['question', 'response']; a single "
            "prompt for turn 1 takes ['answer', 'question']"
        )
    elif case == "no-prompt":
        path = write_jsonl(tmp_path / "prompts.jsonl", read_jsonl(DATA / "mt_judge_prompts.jsonl")[1:])
        message = error_of(*grade, "--judge-prompts", path)
        expected = f"{path}: no single-answer turn-1 prompt"
    elif case == "best-of-n":
        bon = ("best-of-n", "--policy", "p", "--reward", "r", "--output-dir", tmp_path / "bon")
        message = error_of(*bon, "--questions", QUESTIONS)
        expected = f"{QUESTIONS}: best-of-n reranks single-turn answers; MT-bench's are two-turn"
    else:
        message = error_of(*grade, "--mode", "pairwise-baseline")
        expected = "--mode pairwise-baseline needs --baseline"
    assert message.startswith(f"error: {expected}") and "\n" not in message


def test_report_shows_the_mt_bench_table_and_figure(tmp_path):
    ours = answers_file(tmp_path / "ours.jsonl", "ours", marked)
    with FakeOpenAI() as server:
        single = grade(server, tmp_path / "single.jsonl", [ours])
        base = answers_file(tmp_path / "b.jsonl", "b", lambda q: ["x", "y"])
        pair = grade(server, tmp_path / "pair.jsonl", [ours], mode="pairwise-baseline", reference=str(base))
    report = eval_report(tmp_path / "report", mt_bench=[single.summary, pair.summary]).read_text()
    assert "## MT-bench: single-answer grading (1-10)" in report and "![](mt_bench.png)" in report
    assert "## MT-bench: ours vs b (pairwise)" in report and "| turn 2 | 0 | 8 | 0 | 8 |" in report
    assert (tmp_path / "report" / "mt_bench.png").read_bytes()[:4] == b"\x89PNG"


def test_the_projects_judge_prompts_fill_every_role_as_fastchats_do():
    roles = judge_prompts_by_role(load_records(str(DATA / "mt_judge_prompts.jsonl")))
    assert set(roles) == {
        (kind, second, ref) for kind in ("single", "pairwise") for second in (False, True) for ref in (False, True)
    }
