"""eval alpaca-eval: a judge returning known log-probabilities gives the preferences AlpacaEval's weighted annotator
gives (its own parser and order switch, run here); the metrics, LC win rate included, equal AlpacaEval's own code on
the same annotations and gamed table; published annotations replay without a judge; the report places the models
among the leaderboard's; calibration takes AlpacaEval annotations as the stored verdicts. Every file here is a
stand-in written by the test: the evaluation set, the annotator prompt, the gamed table and the leaderboard."""

import csv
import importlib.util
import json
import math
import random
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
from fake_openai import FakeOpenAI

from eval import alpaca_eval as ae
from eval.__main__ import main
from eval.calibrate import calibrate
from eval.report import report
from gpt4llm.benchmarks import load_benchmark, select
from gpt4llm.data import DataError
from gpt4llm.teacher.options import TeacherConfig

SUBSETS = ["selfinstruct"] * 5 + ["vicuna"] * 3 + ["oasst"] * 4
PROMPT = """<|im_start|>system
You compare two answers to one instruction and name the better one.
<|im_end|>
<|im_start|>user
Instruction: {instruction}

Answer m:
{output_1}

Answer M:
{output_2}

Reply with m or M only.
<|im_end|>"""


def alpaca_eval_code():
    """AlpacaEval's own modules. AlpacaEval 0.6.6 imports pkg_resources, which setuptools no longer ships; none of
    the code used here calls it."""
    if "pkg_resources" not in sys.modules and importlib.util.find_spec("pkg_resources") is None:
        sys.modules.setdefault("pkg_resources", types.ModuleType("pkg_resources"))
    from alpaca_eval import completion_parsers, processors
    from alpaca_eval import utils as ae_utils
    from alpaca_eval.metrics import get_winrate, glm_winrate

    return types.SimpleNamespace(parsers=completion_parsers, processors=processors, utils=ae_utils,
                                 get_winrate=get_winrate, glm=glm_winrate)


def model_answer(i: int) -> str:
    return f"Model answer <<model|{i}>> " + "more words " * (i % 4)


@pytest.fixture
def bench(tmp_path):
    """12 instructions in three subsets with the baseline's outputs; answers of one model (the 4th equal to the
    baseline's); the annotator prompt, a gamed table and a leaderboard."""
    rows = [{"dataset": d, "instruction": f"Instruction {i}: tell me about topic {i}.",
             "output": f"Baseline answer <<baseline|{i}>> " + "detail " * (3 + i % 5), "generator": ae.BASELINE}
            for i, d in enumerate(SUBSETS)]
    (tmp_path / "set.json").write_text(json.dumps(rows))
    answers = [{"answer_id": f"tiny-{i}", "question_id": str(i), "model_id": "tiny",
                "text": rows[i]["output"] if i == 3 else model_answer(i), "metadata": {}} for i in range(len(rows))]
    (tmp_path / "tiny.jsonl").write_text("".join(json.dumps(a) + "\n" for a in answers))
    (tmp_path / "prompt.txt").write_text(PROMPT)
    write_gamed(tmp_path / "gamed.csv", len(rows))
    with open(tmp_path / "leaderboard.csv", "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["", "win_rate", "standard_error", "n_wins", "n_wins_base", "n_draws", "n_total",
                         "discrete_win_rate", "mode", "avg_length", "length_controlled_winrate", "lc_standard_error"])
        writer.writerow(["big-model", 40.0, 1.5, 300, 500, 5, 805, 39.0, "verified", 1800, 45.0, 0.5])
        writer.writerow(["small-model", 5.0, 0.7, 40, 760, 5, 805, 4.5, "verified", 900, 8.0, 0.3])
    return {name: str(tmp_path / file) for name, file in (
        ("questions", "set.json"), ("answers", "tiny.jsonl"), ("prompt", "prompt.txt"), ("gamed", "gamed.csv"),
        ("leaderboard", "leaderboard.csv"))} | {"dir": tmp_path}


def write_gamed(path: Path, n: int, seed: int = 0) -> None:
    """df_gamed.csv's schema: a verbose and a concise variant of the baseline, every instruction each (the
    first n rows are instructions 0..n-1, as AlpacaEval's table lists them), with a difficulty per instruction."""
    rng = random.Random(seed)
    difficulty = [rng.gauss(0, 1) for _ in range(n)]
    with open(path, "w", newline="") as file:
        writer = csv.writer(file)
        writer.writerow(["index", "preference", "std_delta_len", "instruction_difficulty", "not_gamed_baseline",
                         "model"])
        for model, sign in (("baseline_verbose", -1), ("baseline_concise", 1)):
            for i in range(n):
                writer.writerow([i, rng.uniform(0.05, 0.95), sign * abs(rng.gauss(0, 1)), difficulty[i], False, model])


# the fake judge: the chance it gives that the model's answer is better, per instruction
CHANCE = {i: 0.1 + 0.07 * i for i in range(12)}
NEITHER, ONLY_SECOND = 7, 8  # instructions where m and M are not both among the top tokens


def judge_logprobs(messages: list[dict]) -> list[tuple[str, float]]:
    user = messages[-1]["content"]
    i = int(user.split("Instruction ")[1].split(":")[0])
    if i == NEITHER:
        return [("The", -0.1), ("Both", -2.5), ("A", -4.0), ("Answer", -5.0), ("It", -6.0), ("m", -30.0)]
    model_first = user.index("<<model|") < user.index("<<baseline|")
    q = CHANCE[i]
    first, second = (q, 1 - q) if model_first else (1 - q, q)
    if i == ONLY_SECOND:
        return [("M" if not model_first else "m", -0.01), ("The", -5.0), ("A", -6.0), ("B", -7.0), ("C", -8.0),
                ("m" if not model_first else "M", -40.0)]
    return [("m", math.log(first)), ("M", math.log(second)), ("The", -9.0), ("A", -10.0), ("Both", -11.0),
            ("Sure", -12.0)]


def test_a_judge_with_known_logprobs_gives_alpaca_evals_preferences(bench):
    code = alpaca_eval_code()
    output = bench["dir"] / "results.json"
    with FakeOpenAI(top_logprobs=judge_logprobs) as server:
        written = ae.alpaca_eval([bench["answers"]], output, TeacherConfig("judge-x", base_url=server.url),
                                 questions=bench["questions"], prompt=bench["prompt"], gamed=bench["gamed"],
                                 leaderboard=bench["leaderboard"])
        requests = list(server.requests)
    assert written.exit_status == 0
    # one request per pair but the identical one, with AlpacaEval's parameters and its prompt, order and messages
    assert len(requests) == 11
    sent_params = {(r["temperature"], r["max_tokens"], r["logprobs"], r["top_logprobs"]) for r in requests}
    assert sent_params == {(1, 1, True, 5)}
    rows = json.loads((bench["dir"] / "results.json.annotations" / "tiny.json").read_text())
    assert len(rows) == 12
    frame = __import__("pandas").DataFrame(
        [{"instruction": r["instruction"], "output_1": r["output_1"], "output_2": r["output_2"]} for r in rows])
    switcher = code.processors.RandomSwitchTwoColumnsProcessor(
        two_columns_to_switch=["output_1", "output_2"], random_seed_columns=["instruction"],
        _switch_column="is_switched_outputs", seed=0)
    switched = list(switcher.preprocess(frame)["is_switched_outputs"])
    assert 0 < sum(switched) < 12  # both orders occur
    prompts, _ = code.utils.make_prompts(switcher.preprocess(frame), PROMPT)
    sent = {json.dumps(r["messages"], sort_keys=True) for r in requests}
    for i, row in enumerate(rows):
        if i == 3:
            assert row["preference"] == 1.5 and row["preference_from"] == "identical outputs"
            continue
        assert row["raw_completion"]["is_switched_outputs"] == switched[i]
        assert json.dumps(code.utils.prompt_to_chatml(prompts[i]), sort_keys=True) in sent
        theirs = code.parsers.logprob_parser(row["raw_completion"], numerator_token="m", denominator_tokens=["m", "M"],
                                             is_binarize=False)[0]
        theirs = 3 - theirs if switched[i] else theirs
        if i == NEITHER:
            assert math.isnan(theirs) and row["preference"] is None and row["preference_from"] == "logprobs"
        else:
            assert row["preference"] == pytest.approx(theirs, abs=1e-12)
            expected = 2.0 if i == ONLY_SECOND else 1 + CHANCE[i]
            assert row["preference"] == pytest.approx(expected, abs=1e-9)
    # the results are AlpacaEval's get_winrate of the annotations, read back as AlpacaEval reads them
    result = json.loads(output.read_text())
    model = result["models"][0]
    theirs = code.get_winrate(__import__("pandas").read_json(bench["dir"] / "results.json.annotations" / "tiny.json"))
    for name in ("win_rate", "standard_error", "n_wins", "n_wins_base", "n_draws", "n_total", "discrete_win_rate"):
        assert model[name] == pytest.approx(float(theirs[name]), abs=1e-9), name
    assert model["n_total"] == 11 and model["n_draws"] == 1  # the unreadable one left out, the identical one a draw
    assert model["n_without_preference"] == 1
    assert "tiny 1." in output.with_suffix(".md").read_text()  # and the table says so
    assert result["models"][0]["subsets"]["vicuna"]["paper_benchmark"] == "Vicuna-80"
    assert [p["generator"] for p in result["published"]] == ["big-model", "small-model"]
    assert output.with_suffix(".md").read_text().count("| tiny |") == 2


def test_metrics_equal_alpaca_evals_own_code(bench):
    """Win rates, counts and the LC win rate with its standard error, on annotations with draws, ties, unreadable
    rows and every length difference, against AlpacaEval's get_winrate and get_length_controlled_winrate."""
    import pandas as pd

    code = alpaca_eval_code()
    rng = np.random.default_rng(3)
    n = 40
    write_gamed(bench["dir"] / "gamed40.csv", n, seed=1)
    preferences = rng.uniform(1, 2, n)
    preferences[[2, 9]] = 1.5
    preferences[5] = 0.0  # AlpacaEval's old draw
    preferences[[11, 30]] = np.nan
    preferences[[12, 13]] = [1.0, 2.0]
    rows = [{"instruction": f"Instruction {i}", "output_1": "b" * int(rng.integers(50, 900)),
             "generator_1": ae.BASELINE, "dataset": "selfinstruct" if i % 2 else "vicuna",
             "output_2": "m" * int(rng.integers(20, 1500)), "generator_2": "model-x", "annotator": "judge",
             "preference": None if np.isnan(p) else float(p)} for i, p in enumerate(preferences)]
    questions = bench["dir"] / "set40.json"
    questions.write_text(json.dumps([{"dataset": r["dataset"], "instruction": r["instruction"],
                                      "output": r["output_1"], "generator": ae.BASELINE} for r in rows]))
    annotations = bench["dir"] / "annotations40.json"
    annotations.write_text(json.dumps(rows))
    ours = ae.replay([str(annotations)], questions=str(questions), gamed=str(bench["dir"] / "gamed40.csv"),
                     leaderboard=None)["models"][0]
    code.glm.hf_hub_download = lambda repo_id, filename, **kwargs: str(bench["dir"] / "gamed40.csv")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = code.glm.get_length_controlled_winrate(pd.read_json(annotations), save_weights_dir=None)
    for name in ("win_rate", "standard_error", "n_wins", "n_wins_base", "n_draws", "n_total", "discrete_win_rate",
                 "length_controlled_winrate", "lc_standard_error"):
        assert ours[name] == pytest.approx(float(theirs[name]), rel=1e-9, abs=1e-12), name
    assert ours["n_draws"] == 3 and ours["n_total"] == 38
    assert ours["length_controlled_winrate"] != pytest.approx(ours["win_rate"], abs=0.5)  # the GLM did move it
    # per subset: the same counts over the subset's rows
    vicuna = [p for i, p in enumerate(preferences) if i % 2 == 0]
    assert ours["subsets"]["vicuna"]["win_rate"] == pytest.approx(ae.head_to_head(vicuna)["win_rate"])
    assert ours["subsets"]["vicuna"]["n_total"] == 19


def test_labels_are_read_when_the_endpoint_returns_no_logprobs(bench, capsys):
    """An endpoint without log-probabilities: the answer's label decides (1 or 2), switched back; the dry run prices
    the requests without sending them; --subset judges only those."""
    output = bench["dir"] / "labels.json"
    with FakeOpenAI(respond=lambda messages: "M") as server:
        config = TeacherConfig("judge-y", base_url=server.url)
        assert ae.alpaca_eval([bench["answers"]], output, config, questions=bench["questions"], prompt=bench["prompt"],
                              subsets=["vicuna", "selfinstruct"], gamed=None, leaderboard=None, max_tokens=4,
                              dry_run=True) is None
        assert server.requests == [] and "judge-y" in capsys.readouterr().out
        ae.alpaca_eval([bench["answers"]], output, config, questions=bench["questions"], prompt=bench["prompt"],
                       subsets=["vicuna", "selfinstruct"], gamed=None, leaderboard=None, max_tokens=4)
        assert {r["max_tokens"] for r in server.requests} == {4}
    rows = json.loads((bench["dir"] / "labels.json.annotations" / "tiny.json").read_text())
    assert {r["dataset"] for r in rows} == {"vicuna", "selfinstruct"} and len(rows) == 8
    for row in rows:
        if row["preference_from"] == "label":
            assert row["preference"] == (1.0 if row["raw_completion"]["is_switched_outputs"] else 2.0)
    result = json.loads(output.read_text())
    assert result["length_controlled"] is None and result["models"][0]["length_controlled_winrate"] is None


def test_replay_command_and_report(bench):
    """Published-style annotations replay through the command line, and the report places the model among the
    leaderboard's models, in a table and a figure."""
    rows = [{"instruction": f"Instruction {i}: tell me about topic {i}.", "output_1": "x" * (30 + i),
             "generator_1": ae.BASELINE, "dataset": d, "output_2": "y" * (10 + 9 * i), "generator_2": "published-7b",
             "annotator": ae.PUBLISHED_ANNOTATOR, "preference": 1 + i / 12, "raw_completion": None}
            for i, d in enumerate(SUBSETS)]
    annotations = bench["dir"] / "published.json"
    annotations.write_text(json.dumps(rows))
    output = bench["dir"] / "replay.json"
    assert main(["alpaca-eval", "--annotations", str(annotations), "--questions", bench["questions"], "--gamed",
                 bench["gamed"], "--leaderboard", bench["leaderboard"], "--output", str(output)]) == 0
    result = json.loads(output.read_text())
    model = result["models"][0]
    assert result["judge"] == ae.PUBLISHED_ANNOTATOR and model["generator"] == "published-7b"
    assert set(ae.LEADERBOARD_COLUMNS) <= set(model)
    assert model["n_total"] == 12 and model["avg_length"] == int(np.mean([10 + 9 * i for i in range(12)]))
    assert model["subsets"]["selfinstruct"]["paper_benchmark"] == "User-Oriented-252"
    assert model["length_controlled_winrate"] is not None
    path = report(bench["dir"] / "report", alpaca_eval=[str(output)])
    text = path.read_text()
    assert "| 2 | **published-7b** (weighted_alpaca_eval_gpt4_turbo) |" in text or "**published-7b**" in text
    assert "big-model" in text and (bench["dir"] / "report" / "alpaca_eval_0.png").stat().st_size > 10_000


def test_bad_annotations_are_one_line_errors(bench):
    rows = [{"instruction": "Not in the set", "output_1": "a", "output_2": "b", "generator_1": "x",
             "generator_2": "y", "preference": 1.2}]
    path = bench["dir"] / "bad.json"
    path.write_text(json.dumps(rows))
    with pytest.raises(DataError, match=r"bad.json: row 0: field 'instruction' is not an instruction of"):
        ae.replay([str(path)], questions=bench["questions"], gamed=None, leaderboard=None)
    rows[0] |= {"instruction": "Instruction 0: tell me about topic 0.", "preference": "m"}
    path.write_text(json.dumps(rows))
    with pytest.raises(DataError, match=r"row 0: field 'preference' must be a number"):
        ae.replay([str(path)], questions=bench["questions"], gamed=None, leaderboard=None)
    with pytest.raises(DataError, match=r"no item of subset \['koala'\]"):
        select(load_benchmark(bench["questions"]).items, subsets=["koala"])


def test_calibration_against_alpaca_eval_annotations(bench):
    """A judge that agrees with 7 of 12 stored preferences, reverses 2 and prefers whatever is shown first on 3 is
    measured at exactly those shares."""
    rows = [{"instruction": f"Instruction {i}: tell me about topic {i}.", "output_1": f"Baseline <<baseline|{i}>>",
             "generator_1": ae.BASELINE, "dataset": d, "output_2": f"Model <<model|{i}>>", "generator_2": "m-7b",
             "annotator": ae.PUBLISHED_ANNOTATOR, "preference": 1.8 if i % 2 else 1.2}
            for i, d in enumerate(SUBSETS)]
    stored = bench["dir"] / "stored.json"
    stored.write_text(json.dumps(rows))

    def calibrated_judge(messages):
        user = messages[-1]["content"]
        i = int(user.split("Instruction ")[1].split(":")[0])
        model_first = user.index("<<model|") < user.index("<<baseline|")
        model_better = rows[i]["preference"] > 1.5
        if i >= 9:  # the first shown wins
            return [("m", math.log(0.9)), ("M", math.log(0.1))]
        model_better = model_better if i < 7 else not model_better
        wins_first = model_better == model_first
        return [("m", math.log(0.8 if wins_first else 0.2)), ("M", math.log(0.2 if wins_first else 0.8))]

    output = bench["dir"] / "calibration.json"
    with FakeOpenAI(top_logprobs=calibrated_judge) as server:
        calibrate(output, TeacherConfig("judge-z", base_url=server.url), questions=bench["questions"],
                  reviews=[str(stored)], judge_prompts=bench["prompt"], bootstrap_resamples=50)
    result = json.loads(output.read_text())
    assert result["pairs"] == 12 and result["stored_judge"] == ae.PUBLISHED_ANNOTATOR
    assert result["verdict_agreement"] == pytest.approx(7 / 12)
    assert result["flip_rate"]["flip_rate"] == pytest.approx(3 / 12)
    assert result["comparisons"][0]["comparison"] == f"m-7b vs {ae.BASELINE}"


def test_any_benchmark_against_a_baseline_of_your_own(bench, caplog):
    """--baseline: Vicuna-80-shaped questions judged against another model's answers (the demo's path); no LC win
    rate with AlpacaEval's gamed table, which is of its own baseline."""
    directory = bench["dir"]
    (directory / "q.jsonl").write_text("".join(json.dumps({"question_id": q, "text": f"Question {q}?",
                                                           "category": "generic"}) + "\n" for q in range(4)))
    for name, text in (("ref", "Reference answer {q} <<baseline|{q}>>"), ("mine", "My answer {q} <<model|{q}>>")):
        (directory / f"{name}.jsonl").write_text("".join(json.dumps({
            "answer_id": f"{name}-{q}", "question_id": q, "model_id": name, "text": text.format(q=q), "metadata": {}
        }) + "\n" for q in range(4)))
    output = directory / "own.json"
    with FakeOpenAI(top_logprobs=lambda messages: [("m", math.log(0.3)), ("M", math.log(0.7))]) as server:
        ae.alpaca_eval([str(directory / "mine.jsonl")], output, TeacherConfig("judge", base_url=server.url),
                       questions=str(directory / "q.jsonl"), baseline=str(directory / "ref.jsonl"),
                       prompt=bench["prompt"], leaderboard=None)
    rows = json.loads((directory / "own.json.annotations" / "mine.json").read_text())
    assert {r["generator_1"] for r in rows} == {"ref"} and [r["instruction"] for r in rows][0] == "Question 0?"
    for row in rows:  # M (the second shown) at 0.7: the model when shown second, the reference when switched
        assert row["preference"] == pytest.approx(1.3 if row["raw_completion"]["is_switched_outputs"] else 1.7)
    result = json.loads(output.read_text())
    assert result["models"][0]["baseline"] == "ref" and result["length_controlled"] is None
    assert "gamed table is of its own baseline" in caplog.text
