"""eval.human: balanced display orders, storage and resume, results and Fleiss' kappa, export, the web app's
refusals, blindness and escaping, a real server killed with SIGKILL, and a real browser judging three items.

The study files are written here: answers of model A start with "A:" and of model B with "B:", so a test that
reads a page knows which displayed response is which model's.
"""

import csv
import json
import socket
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import Counter
from contextlib import contextmanager
from pathlib import Path

import pytest
from conftest import ROOT
from starlette.testclient import TestClient

from eval.human.__main__ import main as human_main
from eval.human.app import create_app
from eval.human.results import fleiss_kappa, human_table, judge_agreement, summarize
from eval.human.store import Conflict, Store, open_study
from eval.human.study import CRITERIA, derandomised, load_study_items, presentation_order, winner
from gpt4llm.data import DataError

SCRIPT = "<script>alert(1)</script>"
CHROMIUM, CHROMEDRIVER = Path("/usr/bin/chromium"), Path("/usr/bin/chromedriver")


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def study_files(tmp_path: Path, n: int = 4, schema: str = "fastchat") -> tuple[str, str, str]:
    """Questions (FastChat, or User-Oriented with an input) and both models' answers; B's answer to the first
    item carries a script tag."""
    if schema == "fastchat":
        ids = list(range(1, n + 1))
        questions = [
            {"question_id": i, "text": f"Question {i}: how do I keep a desk tidy?", "category": "generic"} for i in ids
        ]
    else:
        ids = [f"user_oriented_task_{i}" for i in range(n)]
        questions = [{"id": key, "motivation_app": "Notes", "instruction": f"Shorten this note ({key}).",
                      "instances": [{"input": f"Note {i}: buy milk, eggs and bread on the way home.", "output": "-"}]}
                     for i, key in enumerate(ids)]

    def answers(model: str, tag: str) -> list[dict]:
        rows = []
        for i, key in enumerate(ids):
            text = f"{tag}: answer {i + 1}.\nA second line, to check that line breaks are kept."
            rows.append(
                {"answer_id": f"{model}-{key}", "question_id": key, "model_id": model, "text": text, "metadata": {}}
            )
        return rows

    answers_b = answers("model-b", "B")
    answers_b[0]["text"] += f" {SCRIPT}"
    return (
        write_jsonl(tmp_path / "questions.jsonl", questions),
        write_jsonl(tmp_path / "a.jsonl", answers("model-a", "A")),
        write_jsonl(tmp_path / "b.jsonl", answers_b),
    )


# ---------------------------------------------------------------- display order


@pytest.mark.parametrize("n", [1, 2, 7, 252])
def test_display_order_is_balanced_per_annotator_and_deterministic(n):
    item_ids = [f"q{i}" for i in range(n)]
    orders = {name: presentation_order(1234, name, item_ids) for name in ("ann", "bob", "chen", "dora")}
    for order in orders.values():
        counts = Counter(order.values())
        assert abs(counts[True] - counts[False]) <= 1 and sum(counts.values()) == n
    assert presentation_order(1234, "ann", item_ids) == orders["ann"]  # the server recomputes it, never stores it
    if n == 252:
        assert orders["ann"] != orders["bob"]  # annotators see different orders...
        assert presentation_order(99, "ann", item_ids) != orders["ann"]  # ...and studies with other seeds too


def test_winner_undoes_the_display_order():
    assert [winner(choice, swapped=False) for choice in ("1", "2", "tie")] == ["A", "B", "tie"]
    assert [winner(choice, swapped=True) for choice in ("1", "2", "tie")] == ["B", "A", "tie"]


# ---------------------------------------------------------------- input files


def test_both_question_schemas_give_items(tmp_path):
    (tmp_path / "fc").mkdir(), (tmp_path / "uo").mkdir()
    items, model_a, model_b = load_study_items(*study_files(tmp_path / "fc", n=3))
    assert (model_a, model_b, [i.item_id for i in items]) == ("model-a", "model-b", ["1", "2", "3"])
    assert items[0].answer_a.startswith("A:") and items[0].answer_b.startswith("B:") and items[0].input == ""
    items, _, _ = load_study_items(*study_files(tmp_path / "uo", n=2, schema="user_oriented"))
    assert [i.item_id for i in items] == ["user_oriented_task_0", "user_oriented_task_1"]
    assert items[1].instruction == "Shorten this note (user_oriented_task_1)." and items[1].input.startswith("Note 1:")


def test_bad_answer_files_are_one_line_errors_naming_file_line_and_field(tmp_path):
    questions, answers_a, answers_b = study_files(tmp_path, n=3)
    rows = [json.loads(line) for line in Path(answers_b).read_text().splitlines()]
    write_jsonl(Path(answers_b), [rows[0], {k: v for k, v in rows[1].items() if k != "text"}, rows[2]])
    with pytest.raises(DataError, match=r"b\.jsonl: line 2: field 'text' is missing"):
        load_study_items(questions, answers_a, answers_b)
    with pytest.raises(DataError, match=r"a\.jsonl: field 'model_id' is 'model-a' in both answer files"):
        load_study_items(questions, answers_a, answers_a)
    rows_a = [json.loads(line) for line in Path(answers_a).read_text().splitlines()]
    write_jsonl(Path(answers_a), rows_a[:1]), write_jsonl(Path(answers_b), rows[2:])
    with pytest.raises(DataError, match=r"no question of .* is answered in both answer files"):
        load_study_items(questions, answers_a, answers_b)


def test_a_pilot_serves_the_questions_both_files_answer_and_says_so(tmp_path, caplog):
    questions, answers_a, answers_b = study_files(tmp_path, n=3)
    rows = [json.loads(line) for line in Path(answers_b).read_text().splitlines()]
    write_jsonl(Path(answers_b), [rows[0], rows[2]])  # as after `eval generate --limit`, or a failed request
    items, _, _ = load_study_items(questions, answers_a, answers_b)
    assert [i.item_id for i in items] == ["1", "3"]
    (record,) = caplog.records
    assert record.getMessage() == f"serving the 2 of 3 questions both answer files answer ({answers_a} answers 3, " \
                                  f"{answers_b} answers 2)"


# ---------------------------------------------------------------- storage


def choices(helpfulness="1", honesty="2", harmlessness="tie", **comments) -> dict:
    return {"helpfulness": helpfulness, "honesty": honesty, "harmlessness": harmlessness, **comments}


def test_store_keeps_one_judgment_per_annotator_and_item_and_resumes(tmp_path):
    files = study_files(tmp_path)
    store, meta, _ = open_study(tmp_path / "study", *files, seed=5)
    assert store.record("ann", "1", False, choices(helpfulness_comment="clearer")) is True
    assert store.record("ann", "1", False, choices(helpfulness_comment="clearer")) is False  # a retried request
    with pytest.raises(Conflict):
        store.record("ann", "1", False, choices(helpfulness="2"))  # the first judgment stands
    store.record("bob", "1", True, choices())  # another annotator, same item
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        with pytest.raises(sqlite3.IntegrityError):  # the database itself refuses a second row
            conn.execute("INSERT INTO judgments (annotator, item_id, swapped, helpfulness, honesty, harmlessness, "
                         "submitted_at) VALUES ('ann', '1', 0, '1', '1', '1', 'now')")

    store, reopened, _ = open_study(tmp_path / "study", *files)  # resume: same id and seed, judgments kept
    assert (reopened["study_id"], reopened["seed"]) == (meta["study_id"], "5")
    assert store.judged_items("ann") == {"1"} and len(store.judgments()) == 2
    assert store.judgments()[0]["helpfulness_comment"] == "clearer"

    with pytest.raises(DataError, match="this study was started with seed 5, not seed 6"):
        open_study(tmp_path / "study", *files, seed=6)
    answers_b = Path(files[2])
    answers_b.write_text(answers_b.read_text().replace("B: answer 2", "B: another answer 2"))
    with pytest.raises(DataError, match=r"study\.sqlite3: this study was started with answers_b .*b\.jsonl \(sha256"):
        open_study(tmp_path / "study", *files)


# ---------------------------------------------------------------- results


def judgment(annotator, item, helpfulness, honesty="tie", harmlessness="tie") -> dict:
    return {
        "annotator": annotator,
        "item_id": item,
        "helpfulness": helpfulness,
        "honesty": honesty,
        "harmlessness": harmlessness,
    }


def test_fleiss_kappa_of_the_wikipedia_example():
    # 10 items, 14 raters, 5 categories (Wikipedia, "Fleiss' kappa", worked example). By hand:
    # p_j = (20, 28, 39, 21, 32) / 140 = 0.143, 0.200, 0.279, 0.150, 0.229, so P_e = sum p_j^2 = 0.2128;
    # P_i = (sum_j n_ij^2 - 14) / (14 * 13): 1.000, 0.253, 0.308, 0.440, 0.330, 0.462, 0.242, 0.176, 0.286,
    # 0.286, mean P = 0.3780; kappa = (0.3780 - 0.2128) / (1 - 0.2128) = 0.2099.
    table = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
             [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    assert fleiss_kappa(table) == pytest.approx(0.2099, abs=1e-4)
    assert fleiss_kappa([[3, 0, 0], [2, 0, 0]]) is None  # one category only: chance agreement is 1
    assert fleiss_kappa([]) is None
    with pytest.raises(ValueError):
        fleiss_kappa([[1, 0, 0]])


def test_results_of_a_worked_example():
    # Helpfulness. Items 1-4 were judged by three annotators each (A/B/tie counts): 1 = (3, 0, 0), 2 = (2, 1, 0),
    # 3 = (0, 2, 1), 4 = (0, 0, 3); items 5-12 by one annotator: A A A A A B tie tie.
    # Percentages over all 20 judgments: A 5 + 5 = 10 (50%), B 3 + 1 = 4 (20%), tie 4 + 2 = 6 (30%).
    # Kappa over items 1-4 only, by hand: P_i = (sum n^2 - 3) / 6 = 1, 1/3, 1/3, 1 -> mean 2/3;
    # p = (5, 3, 4) / 12 -> P_e = (25 + 9 + 16) / 144 = 25/72; kappa = (2/3 - 25/72) / (1 - 25/72) = 23/47 = 0.4894.
    letters = {"A": "A", "B": "B", "T": "tie"}
    votes = {"1": "AAA", "2": "AAB", "3": "BBT", "4": "TTT"}
    judgments = [
        judgment(who, item, letters[v]) for item, vs in votes.items() for who, v in zip(("ann", "bob", "chen"), vs)
    ]
    judgments += [judgment("ann", str(item), letters[v]) for item, v in zip(range(5, 13), "AAAAABTT")]
    result = summarize(judgments, "llama-gpt4", "alpaca")
    help_ = result["criteria"]["helpfulness"]
    assert help_["counts"] == {"win": 10, "tie": 6, "loss": 4} and help_["judgments"] == 20
    assert help_["percent"] == pytest.approx({"win": 50.0, "tie": 30.0, "loss": 20.0})
    assert help_["kappa"] == pytest.approx(23 / 47) and help_["kappa_items"] == 4
    assert result["criteria"]["honesty"]["kappa"] is None  # all ties
    assert (result["annotators"], result["items"]) == (3, 12)
    table = human_table(result)
    assert table[0] == "| criterion | llama-gpt4 wins | tie | alpaca wins | judgments | Fleiss' kappa (items) |"
    assert table[2] == "| helpfulness | 50.0% (10) | 30.0% (6) | 20.0% (4) | 20 | 0.489 (4) |"


def test_export_and_results_undo_the_display_order(tmp_path):
    store, meta, _ = open_study(tmp_path / "study", *study_files(tmp_path), seed=1)
    store.record("ann", "1", False, choices("1", "2", "tie", honesty_comment="B, o'course"))  # A showed first
    store.record("ann", "2", True, choices("1", "2", "tie"))  # B showed first: the same clicks mean the opposite
    expected = [("model-a", "model-b", "tie", "model-a"), ("model-b", "model-a", "tie", "model-b")]
    for suffix in ("jsonl", "csv"):
        output = tmp_path / f"judgments.{suffix}"
        human_main(["export", "--study", str(tmp_path / "study"), "--output", str(output)])
        rows = (
            [json.loads(line) for line in output.read_text().splitlines()]
            if suffix == "jsonl"
            else list(csv.DictReader(output.open()))
        )
        assert [(r["helpfulness"], r["honesty"], r["harmlessness"], r["response_1"]) for r in rows] == expected
        assert rows[0]["honesty_comment"] == "B, o'course" and rows[0]["study_id"] == meta["study_id"]
    human_main(["results", "--study", str(tmp_path / "study"), "--output-dir", str(tmp_path / "out")])
    result = json.loads((tmp_path / "out" / "human_eval.json").read_text())
    assert result["criteria"]["helpfulness"]["counts"] == {"win": 1, "tie": 0, "loss": 1}
    assert (tmp_path / "out" / "human_eval.png").read_bytes()[:4] == b"\x89PNG"


# ---------------------------------------------------------------- the web app


def make_client(tmp_path, token=None) -> tuple[TestClient, dict, Store]:
    store, meta, items = open_study(tmp_path / "study", *study_files(tmp_path), seed=3)
    return TestClient(create_app(store, meta, items, token), follow_redirects=False), meta, store


def test_annotating_walks_through_the_items_blind(tmp_path):
    client, meta, store = make_client(tmp_path)
    start = client.get("/")
    assert start.status_code == 303 and start.headers["location"] == f"/study/{meta['study_id']}"
    assert "script-src 'self'" in client.get(start.headers["location"]).headers["content-security-policy"]
    page = client.post(f"/study/{meta['study_id']}/start", data={"name": "  Ann  Lee "})
    assert page.headers["location"] == f"/study/{meta['study_id']}/annotator/Ann%20Lee"
    html = client.get(page.headers["location"]).text
    assert "Item 1 of 4" in html and "Response 1" in html and "Response 2" in html
    for secret in ("model-a", "model-b", "swapped", "answer_id"):  # nothing on the page tells which is which
        assert secret not in html
    swapped = presentation_order(3, "Ann Lee", ["1", "2", "3", "4"])["1"]
    response_1 = html[html.index('id="response-1"') : html.index('id="response-2"')]
    assert ("B: answer 1" if swapped else "A: answer 1") in response_1
    done = client.post(f"/study/{meta['study_id']}/annotator/Ann%20Lee/items/1", data=choices())
    assert done.status_code == 303 and "Item 2 of 4" in client.get(done.headers["location"]).text
    assert store.judgments()[0]["swapped"] == swapped


def test_model_output_is_escaped(tmp_path):
    client, meta, _ = make_client(tmp_path)
    html = client.get(f"/study/{meta['study_id']}/annotator/ann").text  # item 1: B's answer has the script tag
    assert SCRIPT not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_requests_outside_the_study_are_refused(tmp_path):
    client, meta, store = make_client(tmp_path)
    base = f"/study/{meta['study_id']}/annotator/ann"
    assert client.get("/study/someone-elses").status_code == 404
    assert client.get("/study/someone-elses/annotator/ann").status_code == 404
    assert client.post("/study/someone-elses/annotator/ann/items/1", data=choices()).status_code == 404
    assert client.post(f"{base}/items/99", data=choices()).status_code == 404  # no such item
    assert client.post(f"{base}/items/1", data=choices(helpfulness="3")).status_code == 422  # not 1, 2 or tie
    assert client.post(f"{base}/items/1", data={"helpfulness": "1", "honesty": "1"}).status_code == 422  # one missing
    # a field the form does not have (the page must not be able to tell the server the display order)
    assert client.post(f"{base}/items/1", data=choices(swapped="1")).status_code == 422
    assert client.post(f"{base}/items/1", data=choices(helpfulness_comment="x" * 2001)).status_code == 422
    assert client.get(f"/study/{meta['study_id']}/annotator/%3Cb%3E").status_code == 422  # not a name
    assert client.post(f"/study/{meta['study_id']}/start", data={"name": "<b>x</b>"}).status_code == 422
    assert store.judgments() == []
    assert client.post(f"{base}/items/1", data=choices()).status_code == 303
    assert client.post(f"{base}/items/1", data=choices()).status_code == 303  # the same again: a harmless retry
    assert client.post(f"{base}/items/1", data=choices(helpfulness="2")).status_code == 409  # a change: refused


def test_a_token_is_needed_on_every_request(tmp_path):
    client, meta, _ = make_client(tmp_path, token="s3cret")
    for path in ("/", f"/study/{meta['study_id']}", "/static/judge.js", f"/study/{meta['study_id']}/annotator/ann"):
        assert client.get(path).status_code == 401
        assert client.get(path, params={"token": "wrong"}).status_code == 401
    assert client.post(f"/study/{meta['study_id']}/annotator/ann/items/1", data=choices()).status_code == 401
    assert client.get("/", params={"token": "s3cret"}).status_code == 303  # once in the URL, then a cookie
    assert client.get(f"/study/{meta['study_id']}/annotator/ann").status_code == 200
    assert client.get("/static/style.css").status_code == 200


def test_serving_beyond_loopback_needs_a_token(tmp_path):
    questions, answers_a, answers_b = study_files(tmp_path)
    files = ["--questions", questions, "--answers-a", answers_a, "--answers-b", answers_b]
    args = ["serve", *files, "--study", str(tmp_path / "study")]
    with pytest.raises(SystemExit, match="--host 0.0.0.0 is reachable from other machines"):
        human_main([*args, "--host", "0.0.0.0"])


# ---------------------------------------------------------------- a real server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def server(files, study: Path, *extra: str):
    """`python -m eval.human serve` on a free loopback port, until the block ends (or the test kills it)."""
    port = free_port()
    questions, answers_a, answers_b = files
    log = study.parent / f"server-{port}.log"
    command = [sys.executable, "-m", "eval.human", "serve", "--questions", questions, "--answers-a", answers_a,
               "--answers-b", answers_b, "--study", str(study), "--port", str(port), *extra]
    with log.open("w") as out:
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/static/style.css", timeout=2)
                break
            except urllib.error.HTTPError:
                break  # it answers (a token is needed): it is up
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"the server did not start:\n{log.read_text()}")
                time.sleep(0.2)
        yield process, f"http://127.0.0.1:{port}"
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()


def post_judgment(base: str, study_id: str, annotator: str, item_id: str) -> int:
    url = f"{base}/study/{study_id}/annotator/{annotator}/items/{item_id}"
    with urllib.request.urlopen(url, data=urllib.parse.urlencode(choices()).encode(), timeout=10) as response:
        return response.status  # 200: the redirect to the next item was followed


@pytest.mark.slow
def test_a_killed_server_loses_no_acknowledged_judgment(tmp_path):
    files, study = study_files(tmp_path), tmp_path / "study"
    with server(files, study) as (process, base):
        study_id = Store(study).meta()["study_id"]
        assert post_judgment(base, study_id, "ann", "1") == 200
        process.kill()  # SIGKILL: no shutdown handler runs
        process.wait()
    with server(files, study) as (process, base):
        assert post_judgment(base, study_id, "ann", "2") == 200
    with sqlite3.connect(study / "study.sqlite3") as conn:
        assert conn.execute("SELECT annotator, item_id FROM judgments ORDER BY id").fetchall() == [
            ("ann", "1"),
            ("ann", "2"),
        ]


@pytest.mark.slow
def test_generated_user_oriented_answers_feed_a_study(tmp_path):
    """`eval generate` on a User-Oriented file (written here in self-instruct's schema, one record with two
    instances), for two models, then `eval.human serve` on its output: the page shows those answers."""
    from fake_openai import FakeOpenAI

    from eval.__main__ import main as eval_main

    questions = write_jsonl(tmp_path / "user_oriented.jsonl", [
        {"id": "user_oriented_task_0", "motivation_app": "Notes", "instruction": "Turn the note into a to-do list.",
         "instances": [{"input": "milk, eggs", "output": "- milk\n- eggs"}]},
        {"id": "user_oriented_task_1", "motivation_app": "Mail", "instruction": "Write a one-line reply.",
         "instances": [{"input": "Lunch on Friday?", "output": "Yes, see you then."},
                       {"input": "Call me.", "output": "Will do."}]},
    ])
    with FakeOpenAI() as teacher:
        for model in ("model-a", "model-b"):
            eval_main(["generate", "--model", model, "--base-url", teacher.url, "--template", "chat",
                       "--model-id", model, "--questions", questions,
                       "--output", str(tmp_path / f"{model}.jsonl")])
    answers_a = [json.loads(line) for line in (tmp_path / "model-a.jsonl").read_text().splitlines()]
    assert [a["question_id"] for a in answers_a] == [
        "user_oriented_task_0", "user_oriented_task_1-0", "user_oriented_task_1-1"
    ]
    assert answers_a[1]["reference"] == "Yes, see you then."

    files = (questions, str(tmp_path / "model-a.jsonl"), str(tmp_path / "model-b.jsonl"))
    with server(files, tmp_path / "study") as (_, base):
        study_id = Store(tmp_path / "study").meta()["study_id"]
        with urllib.request.urlopen(f"{base}/study/{study_id}/annotator/ann", timeout=10) as response:
            page = response.read().decode()
    assert "Item 1 of 3" in page and "Turn the note into a to-do list." in page and "milk, eggs" in page
    assert page.count(answers_a[0]["text"]) == 2  # both models' answers (the fake teacher gives them the same text)


def test_judge_human_agreement_with_and_without_ties(tmp_path):
    # The judge (model-a vs model-b as "model" vs "reference"): item 1 A wins, item 2 B wins, item 3 a tie.
    judge = {"models": ["model-a", "model-b"], "per_question": [
        {"question_id": 1, "model_score": 8, "reference_score": 6},
        {"question_id": 2, "model_score": 5, "reference_score": 9},
        {"question_id": 3, "model_score": 7, "reference_score": 7},
    ]}
    # Humans (helpfulness): item 1 A, A, B; item 2 B, tie; item 3 tie; item 4 has no judge verdict.
    votes = [("ann", "1", "A"), ("bob", "1", "A"), ("chen", "1", "B"), ("ann", "2", "B"), ("bob", "2", "tie"),
             ("ann", "3", "tie"), ("ann", "4", "A")]
    judgments = [judgment(who, item, vote) for who, item, vote in votes]
    result = judge_agreement(judgments, judge, "model-a", "model-b")
    # with ties: 6 pairs (item 4 left out); agree: A=A twice, B=B once, tie=tie once -> 4 of 6
    # without ties: pairs where neither says tie: (A, A), (A, A), (A, B), (B, B) -> 3 of 4
    assert result["with_ties"] == {"agree": 4, "total": 6, "rate": pytest.approx(4 / 6)}
    assert result["without_ties"] == {"agree": 3, "total": 4, "rate": 0.75} and result["items"] == 3
    swapped = {**judge, "models": ["model-b", "model-a"]}  # the same verdicts seen from the other model
    assert judge_agreement(judgments, swapped, "model-b", "model-a") == result
    with pytest.raises(DataError, match="the judge's summary compares model-a with model-b, the study x with y"):
        judge_agreement(judgments, judge, "x", "y")

    store, _, _ = open_study(tmp_path / "study", *study_files(tmp_path, n=3), seed=1)
    store.record("ann", "1", False, choices("1", "1", "1"))  # model-a shown first and chosen: agrees with the judge
    store.record("ann", "2", True, choices("1", "1", "1"))  # model-b shown first and chosen: agrees too
    (tmp_path / "reviews.summary.json").write_text(json.dumps([judge]))
    human_main(["results", "--study", str(tmp_path / "study"), "--judge", str(tmp_path / "reviews.summary.json")])
    saved = json.loads((tmp_path / "study" / "human_eval.json").read_text())["judge_agreement"]
    assert saved["with_ties"] == {"agree": 2, "total": 2, "rate": 1.0} and saved["criterion"] == "helpfulness"
    assert "Judge-human agreement on helpfulness over 2 items (MT-bench's): 100.0% (2 of 2) with ties" in "\n".join(
        human_table(json.loads((tmp_path / "study" / "human_eval.json").read_text()))
    )


# ---------------------------------------------------------------- a real browser


@pytest.mark.slow
@pytest.mark.skipif(
    not (CHROMIUM.exists() and CHROMEDRIVER.exists()),
    reason="needs Debian's Chromium and its driver: apt-get install -y chromium chromium-driver",
)
def test_a_browser_judges_items_by_clicking_and_by_keyboard(tmp_path, monkeypatch):
    from selenium import webdriver
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    monkeypatch.setenv("SE_OFFLINE", "true")  # Selenium Manager must not look for a browser to download
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=1280,1000"):
        options.add_argument(flag)
    files, study = study_files(tmp_path, n=4, schema="user_oriented"), tmp_path / "study"
    with server(files, study, "--token", "t0ken") as (_, base):
        driver = webdriver.Chrome(options=options, service=Service(str(CHROMEDRIVER)))
        try:
            # the old page's elements go stale while the next page loads: keep polling through that
            wait = WebDriverWait(
                driver, 30, ignored_exceptions=(NoSuchElementException, StaleElementReferenceException)
            )

            def submitted(position: int) -> None:
                """Wait for the next item's page, and for its script (which highlights a criterion) to have run:
                keys typed before that would reach no handler."""
                wait.until(lambda d: d.find_element(By.ID, "progress").text == f"Item {position + 1} of 4")
                wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "fieldset.criterion.active"))

            def shown() -> dict:
                """model ('A' or 'B', or 'tie') -> the key that picks it on this page ('1', '2' or 't')"""
                first = driver.find_element(By.ID, "response-1").text
                assert first[:2] in ("A:", "B:") and driver.find_element(By.ID, "response-2").text[:2] != first[:2]
                return {first[0]: "1", ("B" if first[0] == "A" else "A"): "2", "tie": "t"}

            driver.get(f"{base}/?token=t0ken")
            driver.find_element(By.ID, "name").send_keys("Ann Lee", Keys.ENTER)
            submitted(0)

            # item 1, all by mouse: A, tie, B, and a comment
            key = shown()
            assert (
                "Item 1 of 4" in driver.page_source and "Note 0: buy milk" in driver.find_element(By.ID, "input").text
            )
            for criterion, model in zip(CRITERIA, ("A", "tie", "B")):
                value = {"1": "1", "2": "2", "t": "tie"}[key[model]]
                radio = driver.find_element(By.CSS_SELECTOR, f"#{criterion} input[value='{value}']")
                radio.find_element(By.XPATH, "..").click()  # its label, as a person clicks it
            driver.find_element(By.CSS_SELECTOR, "#helpfulness .comment").click()
            driver.switch_to.active_element.send_keys("more complete")
            driver.find_element(By.ID, "submit").click()
            submitted(1)

            # item 2, all by keyboard: B (moves on), A (moves on), Shift+Tab back to honesty's comment, type,
            # Tab to harmlessness, tie, Enter
            key = shown()
            keys = ActionChains(driver).send_keys(key["B"], key["A"])
            keys.key_down(Keys.SHIFT).send_keys(Keys.TAB).key_up(Keys.SHIFT).send_keys(
                "both honest", Keys.TAB, "t", Keys.ENTER
            )
            keys.perform()
            submitted(2)

            # item 3, by keyboard with the arrows: down to honesty, B, A, up twice to helpfulness, tie, a comment
            # on honesty ("c" where the tie moved on to), Enter from the comment field
            key = shown()
            ActionChains(driver).send_keys(
                Keys.ARROW_DOWN, key["B"], key["A"], Keys.ARROW_UP, Keys.ARROW_UP, "t", "c", "B is more accurate"
            ).perform()
            screenshot = tmp_path / "human_eval_item.png"
            driver.save_screenshot(str(screenshot))
            print(f"\nscreenshot of item 3 before submitting: {screenshot}")
            ActionChains(driver).send_keys(Keys.ENTER).perform()
            submitted(3)
        finally:
            driver.quit()

    rows = Store(study).judgments()
    assert [(r["annotator"], r["item_id"]) for r in rows] == [("Ann Lee", f"user_oriented_task_{i}") for i in range(3)]
    winners = [tuple(r[c] for c in CRITERIA) for r in derandomised(rows)]
    assert winners == [("A", "tie", "B"), ("B", "A", "tie"), ("tie", "B", "A")]
    comments = [(r["helpfulness_comment"], r["honesty_comment"], r["harmlessness_comment"]) for r in rows]
    assert comments == [("more complete", "", ""), ("", "both honest", ""), ("", "B is more accurate", "")]
