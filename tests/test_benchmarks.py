"""gpt4llm.benchmarks: every benchmark shape read into the same keyed items, the references and predictions they
carry, bad records as one-line errors, and the released GPT-4 Unnatural schema through generate and rouge.

Every file here is written by the test, in the released schemas."""

import json

import pytest

from data_gen.tasks import unnatural_rows
from gpt4llm.benchmarks import Item, answer_record, read_answers, read_benchmark, select
from gpt4llm.data import DataError, load_records


def write(path, rows):
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    else:
        path.write_text(json.dumps(rows, ensure_ascii=False))
    return path


def read(path, rows):
    return read_benchmark(load_records(str(write(path, rows))))


def test_every_shape_gives_keyed_items_with_their_references(tmp_path):
    fastchat = read(tmp_path / "q.jsonl", [{"question_id": 7, "text": "Why is the sky blue?", "category": "knowledge"},
                                           {"question_id": 9, "text": "Write a haiku."}])
    assert fastchat.shape == "fastchat" and fastchat.keys() == [7, 9]
    assert (
        fastchat.items[0] == Item(7, "Why is the sky blue?", category="knowledge")
        and fastchat.items[1].category == "general"
    )

    user_oriented = read(tmp_path / "uo.jsonl", [
        {"id": "task_1", "motivation_app": "Notes", "instruction": "Shorten the note.",
         "instances": [{"input": "buy milk today", "output": "milk"}]},
        {"id": "task_2", "motivation_app": "Mail", "instruction": "Reply politely.",
         "instances": [{"input": "a", "output": "A"}, {"input": "b", "output": "B"}]},
    ])
    assert user_oriented.shape == "user_oriented" and user_oriented.keys() == ["task_1", "task_2-0", "task_2-1"]
    assert user_oriented.items[2] == Item("task_2-1", "Reply politely.", "b", reference="B")

    core = read(tmp_path / "core.jsonl", [
        {"instruction": "Add one.", "instances": [{"input": "1", "output": "2"}]},
        {"instruction": "Double.", "instances": [{"input": "2", "output": "4"}, {"input": "3", "output": "6"}]},
    ])
    assert core.shape == "unnatural_core" and core.keys() == ["0", "1-0", "1-1"] and core.items[2].reference == "6"

    released = read(
        tmp_path / "gpt4.json", [{"instruction": "Add one.", "input": "1", "output": "The answer is 2.", "label": "2"}]
    )
    assert released.shape == "labelled"
    assert released.items[0] == Item(
        "0", "Add one.", "1", reference="2", prediction="The answer is 2."
    )  # label, not output

    alpaca = read(
        tmp_path / "alpaca.json",
        [{"instruction": "Name a colour.", "output": "Blue."}, {"id": "x9", "instruction": "Hi", "input": ""}],
    )
    assert alpaca.shape == "alpaca" and alpaca.keys() == ["0", "x9"]
    assert (
        alpaca.items[0].reference == "Blue."
        and alpaca.items[1].reference is None
        and alpaca.items[0].prompt == "Name a colour."
    )


@pytest.mark.parametrize(
    "rows, message",
    [
        (
            [{"question_id": 1, "text": "a"}, {"text": "b"}],
            r"line 2: field 'question_id' is missing \(the first record is fastchat-shaped\)",
        ),
        (
            [{"question_id": 1, "text": "a"}, {"question_id": 1, "text": "b"}],
            r"line 2: item key 1 appears twice \(first at .*line 1\)",
        ),
        ([{"question_id": 1, "text": "a"}, {"question_id": "1", "text": "b"}], r"keys collide once written as text"),
        ([{"question_id": True, "text": "a"}], r"line 1: field 'question_id' must be an integer or a string"),
        ([{"id": "t", "instruction": "i", "instances": []}], r"line 1: field 'instances' must be a non-empty list"),
        (
            [{"id": "t", "instruction": "i", "instances": [{"input": "x", "output": 3}]}],
            r"line 1: field 'instances\[0\]\.output' must be a string, got int",
        ),
        ([{"instruction": "i", "input": "x", "label": None}], r"line 1: field 'label' is missing"),
        ([{"prompt": "p", "completion": "c"}], r"line 1: not a benchmark record"),
    ],
    ids=["missing-field", "duplicate", "collide", "bool-id", "no-instances", "bad-output", "no-label", "unknown"],
)
def test_bad_benchmark_records_are_one_line_errors(tmp_path, rows, message):
    with pytest.raises(DataError, match=message) as error:
        read(tmp_path / "bad.jsonl", rows)
    assert "\n" not in str(error.value) and str(tmp_path / "bad.jsonl") in str(error.value)


def test_answers_are_keyed_like_the_items_and_a_sample_is_reproducible(tmp_path):
    bench = read(tmp_path / "uo.jsonl", [{"id": f"t{i}", "instruction": f"Task {i}.",
                                          "instances": [{"input": "", "output": f"ref {i}"}]}
                                         for i in range(20)])
    rows = [answer_record(item, "m", f"answer {item.key}", {}) for item in bench.items]
    assert rows[3] == {
        "answer_id": "m-t3",
        "question_id": "t3",
        "model_id": "m",
        "text": "answer t3",
        "metadata": {},
        "reference": "ref 3",
    }
    answers = load_records(str(write(tmp_path / "a.jsonl", rows[:5])))
    assert list(read_answers(answers, bench.keys(), required=["t4", "t0"])) == ["t4", "t0"]
    with pytest.raises(DataError, match=r"a\.jsonl: no answer to question_id \['t5'\]"):
        read_answers(answers, bench.keys(), required=bench.keys()[:6])
    picked = select(bench.items, sample=5, seed=3)
    assert picked == select(bench.items, sample=5, seed=3) != select(bench.items, sample=5, seed=4)
    assert [bench.items.index(i) for i in picked] == sorted(bench.items.index(i) for i in picked)  # file order


def test_data_gen_unnatural_takes_the_label_of_the_released_schema_as_ground_truth(tmp_path):
    released = load_records(
        str(
            write(
                tmp_path / "gpt4.json", [{"instruction": "Add one.", "input": "1", "output": "It is 2.", "label": "2"}]
            )
        )
    )
    assert unnatural_rows(released) == [{"instruction": "Add one.", "input": "1", "label": "2"}]
    questions = load_records(str(write(tmp_path / "q.jsonl", [{"question_id": 1, "text": "Why?"}])))
    with pytest.raises(DataError, match=r"q\.jsonl: line 1: no ground truth"):
        unnatural_rows(questions)


def test_released_gpt4_unnatural_schema_scores_models_against_the_label_and_gpt4_as_a_model(tmp_path, capsys):
    """{instruction, input, output, label}: `label` is the ground truth; `output` is GPT-4's answer, which scores as
    one more model (the paper's "GPT-4" row of Figure 6)."""
    from fake_openai import FakeOpenAI

    from eval.__main__ import main
    from eval.generate import generate, write_predictions
    from eval.rouge import rouge
    from gpt4llm.teacher.options import TeacherConfig

    released = write(tmp_path / "released.json", [
        {"instruction": "Give the opposite of the word.", "input": "hot", "output": "The opposite of hot is cold.",
         "label": "cold"},
        {"instruction": "Give the opposite of the word.", "input": "up", "output": "down", "label": "down"},
    ])
    student, gpt4 = tmp_path / "student.jsonl", tmp_path / "gpt4.jsonl"
    with FakeOpenAI() as server:
        generate(str(released), student, TeacherConfig("student", base_url=server.url))
    write_predictions(str(released), gpt4, "gpt-4")
    student_answers, gpt4_answers = ([json.loads(line) for line in p.read_text().splitlines()]
                                     for p in (student, gpt4))
    assert [a["reference"] for a in student_answers] == [a["reference"] for a in gpt4_answers] == ["cold", "down"]
    assert [a["text"] for a in gpt4_answers] == ["The opposite of hot is cold.", "down"]
    assert gpt4_answers[0]["model_id"] == "gpt-4"

    capsys.readouterr()
    scores = rouge([str(student), str(gpt4)], tmp_path / "rouge.json")
    assert json.loads((tmp_path / "rouge.json").read_text()) == scores
    # "cold" against "The opposite of hot is cold.": LCS 1 of 6 predicted words, P = 1/6, R = 1, F = 2/7; "down": F = 1
    assert (scores["gpt-4"]["overall"] == pytest.approx((2 / 7 + 1) / 2)
            and scores["gpt-4"]["buckets"]["0-2"]["count"] == 2)
    assert scores["student"]["overall"] == 0.0  # "Answer: Give the opposite of the word." shares no word with them
    assert "| gpt-4 | 0.643 (2) | 0.643 (2) |" in capsys.readouterr().out
    rouge([str(released)])  # the release scores directly too, its outputs against its labels
    assert "| released | 0.643 (2) | 0.643 (2) |" in capsys.readouterr().out

    with pytest.raises(SystemExit, match="^error: --predictions needs --model-id"):
        main(["generate", "--predictions", "--questions", str(released), "--output", str(tmp_path / "x.jsonl")])
