"""Decontamination (`python -m data_gen decontaminate`, the SFT recipe's `decontaminate_against`): planted overlaps
with benchmark items are found whatever their case and punctuation, near misses (n-1 shared tokens) are not, the
filtered file keeps every clean record in the input's schema, counts are per benchmark, Chinese is checked
character by character, and bad input is a one-line error.

Every benchmark and training record here is written by the test."""

import json

import pytest
from conftest import run_recipe, write_alpaca

from data_gen.__main__ import main
from gpt4llm.data import DataError, Records, load_records
from gpt4llm.decontaminate import decontaminate_file, find, load_benchmarks, tokens

# 21 tokens, so 9 distinct 13-grams; the training records below copy parts of it
LONG = (
    "Describe how a lighthouse keeper on a remote island prepares the lamp, the fog horn and the logbook "
    "before a storm"
)
SHORT = "Why do cats purr when they are happy?"  # 9 tokens: shorter than 13, matched whole
TINY = "Write a haiku."  # 3 tokens: too short to check


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))
    return path


def benchmarks(tmp_path) -> dict:
    """Project-written benchmark files in three of the reader's shapes."""
    fastchat = write_jsonl(
        tmp_path / "questions.jsonl",
        [
            {"question_id": 1, "text": SHORT, "category": "generic"},
            {"question_id": 2, "text": TINY, "category": "writing"},
        ],
    )
    mt_bench = write_jsonl(
        tmp_path / "mt.jsonl",
        [
            {"question_id": 81, "category": "writing", "turns": ["Say hello.", LONG]},
        ],
    )
    user_oriented = write_jsonl(
        tmp_path / "uo.jsonl",
        [
            {
                "id": "t1",
                "motivation_app": "Mail",
                "instruction": "Reply to the email.",
                "instances": [
                    {
                        "input": "x",
                        "output": "Thank you very much for the kind invitation to the spring concert at the town hall",
                    }
                ],
            },
        ],
    )
    return {"fastchat": str(fastchat), "mt_bench": str(mt_bench), "user_oriented": str(user_oriented)}


def words(text: str, start: int, count: int) -> str:
    return " ".join(text.split()[start : start + count])


def training_records() -> list[dict]:
    """Clean records; planted copies of benchmark prompts in training prompts ('planted', found by default); copies
    in training outputs or of benchmark answers ('answer', found with --answers only); near misses ('near')."""
    return [
        {"instruction": "Name three colours.", "input": "", "output": "Red, green and blue."},
        # 13 tokens of the MT-bench turn inside an output, in another case and with other punctuation
        {"instruction": "Tell a story.", "input": "",
         "output": "Once... " + words(LONG, 3, 13).upper().replace(" ", ", ") + "!", "answer": 1},
        {"instruction": "Tell a story.", "input": "", "output": "Once " + words(LONG, 4, 12) + " and more", "near": 1},
        # the whole short question, as an instruction
        {"instruction": SHORT.lower().rstrip("?"), "input": "", "output": "Because they are content.", "planted": 1},
        # 8 of its 9 tokens
        {"instruction": SHORT.replace("happy", ""), "input": "", "output": "They just do.", "near": 1},
        # the short question inside a longer instruction: a phrase, not a copy of the benchmark's prompt
        {"instruction": "Answer briefly: " + SHORT + " Thanks.", "input": "", "output": "Contentment.", "near": 1},
        {"instruction": "Write a haiku.", "input": "", "output": "Autumn moonlight falls", "near": 1},  # too short
        # the User-Oriented item's reference answer, in an output
        {"instruction": "Reply.", "input": "",
         "output": "thank you very much for the kind invitation to the spring concert at the", "answer": 1},
        # the 13-gram split across two fields is no overlap: n-grams never cross fields
        {"instruction": words(LONG, 0, 7), "input": words(LONG, 7, 6), "output": "ok", "near": 1},
        {"instruction": "Summarise.", "input": "A long text about weather.", "output": "It rains."},
        # 14 tokens of the MT-bench turn in an input
        {"instruction": "Rewrite this.", "input": words(LONG, 5, 14), "output": "Done.", "planted": 1},
    ]


def test_planted_overlaps_are_found_near_misses_are_not_and_clean_records_are_kept(tmp_path, capsys):
    files = benchmarks(tmp_path)
    rows = training_records()
    train = tmp_path / "train.json"
    train.write_text(json.dumps(rows))
    output = tmp_path / "clean.json"
    assert main(["decontaminate", "--input", str(train), "--against", *files.values(), "--output", str(output)]) == 0
    kept = json.loads(output.read_text())
    assert kept == [row for row in rows if "planted" not in row]  # every other record, as it was, in order
    report = json.loads((tmp_path / "clean.json.decontamination.json").read_text())
    assert (report["records"], report["removed"], report["kept"], report["ngram"]) == (11, 2, 9, 13)
    assert report["compared"] == "prompts against prompts"
    counts = {b["name"]: (b["records"], b["items"], b["texts"], b["unchecked"]) for b in report["benchmarks"]}
    assert counts == {  # the User-Oriented item's reference answer is not a text to check by default
        files["fastchat"]: (1, 1, 2, 1),
        files["mt_bench"]: (1, 1, 2, 1),
        files["user_oriented"]: (0, 0, 2, 2),
    }
    removed = {r["row"]: r["matches"] for r in report["removed_records"]}
    assert sorted(removed) == [3, 10]
    assert removed[3] == [{"benchmark": files["fastchat"], "item": 1, "part": "instruction", "field": "instruction",
                           "text": " ".join(tokens(SHORT))}]
    (mt,) = removed[10]
    assert (mt["item"], mt["part"], mt["field"]) == (81, "turns[1]", "input")
    assert mt["text"] == " ".join(tokens(words(LONG, 5, 13)))
    (example,) = next(b for b in report["benchmarks"] if b["name"] == files["mt_bench"])["examples"]
    assert example["where"] == f"{train}: row 10"
    assert f"| {files['mt_bench']} | 1 | 1 | 1 | 1 | 1 |" in capsys.readouterr().out

    # --answers: the benchmarks' reference answers and the training outputs are compared too
    decontaminate_file(str(train), tmp_path / "all.json", list(files.values()), answers=True)
    report = json.loads((tmp_path / "all.json.decontamination.json").read_text())
    found = [i for i, row in enumerate(rows) if {"planted", "answer"} & set(row)]
    assert [r["row"] for r in report["removed_records"]] == found
    assert report["compared"] == "prompts and answers"
    removed = {r["row"]: r["matches"] for r in report["removed_records"]}
    assert (removed[1][0]["part"], removed[1][0]["field"]) == ("turns[1]", "output")
    assert (removed[7][0]["part"], removed[7][0]["item"]) == ("reference", "t1")

    # --ngram 12 with answers: the 12-token near miss in an output is now an overlap
    decontaminate_file(str(train), tmp_path / "c12.jsonl", [files["mt_bench"]], n=12, answers=True)
    report = json.loads((tmp_path / "c12.jsonl.decontamination.json").read_text())
    assert [r["row"] for r in report["removed_records"]] == [1, 2, 10]


def test_normalisation_lowercases_drops_punctuation_and_splits_cjk_characters():
    assert tokens("Don't-PANIC, it's fine!") == ["don", "t", "panic", "it", "s", "fine"]
    assert tokens("ＧＰＴ４ 写一首诗。") == [
        "gpt4",
        "写",
        "一",
        "首",
        "诗",
    ]  # full-width letters by NFKC, one token a character
    assert tokens("snake_case x2") == ["snake", "case", "x2"]


def test_chinese_training_data_is_checked_character_by_character(tmp_path):
    question = "请用三句话描述一下秋天的公园里有什么景色"  # 20 characters, 20 tokens
    bench = write_jsonl(tmp_path / "zh.jsonl", [{"question_id": 1, "text": question, "category": "generic"}])
    rows = [
        {"instruction": "秋天到了，" + question[2:15] + "。", "input": "", "output": "写一首诗。"},  # 13 characters
        {"instruction": "秋天到了，" + question[2:14] + "。", "input": "", "output": "写一首诗。"},  # 12: a near miss
    ]
    found = find(Records("zh", rows, ["zh: row 0", "zh: row 1"]), load_benchmarks([str(bench)]))
    assert list(found.matches) == [0] and found.matches[0][0].text == " ".join(question[2:15])


@pytest.mark.parametrize(
    "schema, row, field",
    [
        (
            "chat",
            {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "{}"}]},
            "messages[1]",
        ),
        ("prompt_completion", {"prompt": "Q", "completion": "{}"}, "completion"),
        (
            "comparison_v2",
            {
                "user_input": "Q",
                "responses_and_scores": [
                    {"response": "fine", "score": 3, "source": "a"},
                    {"response": "{}", "score": 8, "source": "b"},
                ],
            },
            "responses_and_scores[1].response",
        ),
        ("comparison_v1", {"user_input": "{}", "completion_a": "a", "completion_b": "b"}, "user_input"),
        ("pairs", {"prompt": "Q", "chosen": "c", "rejected": "{}"}, "rejected"),
    ],
    ids=lambda v: v if isinstance(v, str) and "{" not in v else None,
)
def test_every_training_schema_is_checked_and_written_back_as_it_was(tmp_path, schema, row, field):
    bench = write_jsonl(tmp_path / "mt.jsonl", [{"question_id": 1, "category": "writing", "turns": [LONG]}])
    clean = json.loads(json.dumps(row).replace("{}", "a clean text"))
    planted = json.loads(json.dumps(row).replace("{}", LONG))
    train = write_jsonl(tmp_path / "train.jsonl", [clean, planted, clean])
    for suffix in (".jsonl", ".parquet"):
        output = tmp_path / f"clean{suffix}"
        assert decontaminate_file(str(train), output, [str(bench)], answers=True) == output
        report = json.loads((tmp_path / f"clean{suffix}.decontamination.json").read_text())
        assert report["schema"] == schema and [r["row"] for r in report["removed_records"]] == [1]
        assert report["removed_records"][0]["matches"][0]["field"] == field
        assert load_records(str(output)).rows == [clean, clean]


@pytest.mark.parametrize("case", ["bad-field", "unknown-schema", "bad-benchmark", "ngram", "suffix"])
def test_bad_input_is_a_one_line_error(tmp_path, case):
    bench = str(write_jsonl(tmp_path / "q.jsonl", [{"question_id": 1, "text": SHORT}]))
    train = tmp_path / "train.json"
    train.write_text(json.dumps([{"instruction": "a", "output": "b"}, {"instruction": "c", "output": 3}]))
    output, extra = tmp_path / "clean.json", []
    if case == "bad-field":
        expected = f"{train}: row 1: field 'output' must be a string, got int"
    elif case == "unknown-schema":
        train.write_text(json.dumps([{"text": "a"}]))
        expected = f"{train}: row 0: unknown schema with fields ['text']"
    elif case == "bad-benchmark":
        bench = str(write_jsonl(tmp_path / "bad.jsonl", [{"question_id": 1, "turns": "not a list"}]))
        expected = f"{bench}: line 1: field 'turns' must be a list of strings, got str"
    elif case == "ngram":
        extra = ["--ngram", "0"]
        expected = "--ngram 0: an n-gram has at least one token"
    else:
        train.write_text(json.dumps([{"instruction": "a", "output": "b"}]))
        output = tmp_path / "clean.txt"
        expected = f"{output}: the filtered dataset must be a .json, .jsonl or .parquet file"
    with pytest.raises(SystemExit) as error:
        main(["decontaminate", "--input", str(train), "--against", bench, "--output", str(output), *extra])
    assert str(error.value).startswith(f"error: {expected}") and "\n" not in str(error.value)
    if case != "suffix":
        with pytest.raises(DataError):  # and the same from the library
            find(load_records(str(train)), load_benchmarks([bench]), n=int(extra[1]) if extra else 13)
    assert not output.exists()


@pytest.mark.slow
def test_sft_recipe_decontaminates_before_training_and_says_so(tmp_path, tiny_model_dir):
    data = write_alpaca(tmp_path / "train.json", n=12)
    records = json.loads(data.read_text())
    records[3]["output"] = LONG  # a benchmark prompt as an answer: left in by default
    records[7]["instruction"] = LONG.lower()  # and as a prompt: left out
    data.write_text(json.dumps(records))
    bench = write_jsonl(tmp_path / "mt.jsonl", [{"question_id": 1, "category": "writing", "turns": [LONG]}])
    out = tmp_path / "out"
    result = run_recipe(
        "recipes/sft.py",
        "--config",
        "recipes/configs/sft/smollm2-135m_lora_cpu.yaml",
        "--model_name_or_path",
        tiny_model_dir,
        "--dataset_name",
        str(data),
        "--output_dir",
        str(out),
        "--use_peft",
        "false",
        "--merge_adapters",
        "false",
        "--max_steps",
        "1",
        "--cpu_precision",
        "fp32",
        "--decontaminate_against",
        str(bench),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "training on 11 examples" in result.stderr and "1 of 12 records share a 13-gram" in result.stderr
    report = json.loads((out / "decontamination.json").read_text())
    assert [r["row"] for r in report["removed_records"]] == [7]
    assert (
        "Decontaminated (prompts against prompts): 1 of 12 training records shared a 13-gram with a benchmark item"
        in (out / "README.md").read_text()
    )
