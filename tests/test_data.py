"""Dataset sources, schemas, the paper's templates, and which tokens SFT trains on."""

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, write_alpaca

from gpt4llm.data import DataError, alpaca_to_prompt_completion, load_records, to_sft_dataset
from gpt4llm.sources import SOURCES, git_blob_sha1
from gpt4llm.templates import alpaca_prompt

PAPER_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. Write a "
    "response that appropriately completes the request.\n\n### Instruction:\nI\n\n### Input:\nX\n\n### Response:"
)
PAPER_NO_INPUT = (
    "Below is an instruction that describes a task. Write a response that appropriately completes the request."
    "\n\n### Instruction:\nI\n\n### Response:"
)


def test_templates_are_the_papers_strings():
    assert alpaca_prompt("I", "X") == PAPER_WITH_INPUT
    assert alpaca_prompt("I") == PAPER_NO_INPUT
    assert alpaca_prompt("I", "  \n") == PAPER_NO_INPUT


# ---------------------------------------------------------------- which tokens are trained


def prepared(tokenizer, model_dir, dataset, **config):
    """The dataset exactly as SFTTrainer trains on it."""
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(output_dir="/tmp/unused", use_cpu=True, bf16=False, report_to="none", max_length=512, **config)
    trainer = SFTTrainer(model=model_dir, args=args, train_dataset=dataset, processing_class=tokenizer)
    return trainer.train_dataset


@pytest.mark.parametrize("input_text", ["", "a small red fox"], ids=["no-input", "with-input"])
def test_alpaca_loss_is_on_output_and_eos_only(tmp_path, tokenizer, tiny_model_dir, input_text):
    records = [{"instruction": "Describe the animal.", "input": input_text, "output": "It is quick and clever."}]
    (tmp_path / "d.json").write_text(json.dumps(records))
    dataset = to_sft_dataset(load_records(str(tmp_path / "d.json")), tokenizer)
    example = prepared(tokenizer, tiny_model_dir, dataset)[0]
    ids, labels = example["input_ids"], example["labels"]
    trained = [i for i, label in enumerate(labels) if label != -100]
    # every prompt token ignored, every response token and the EOS trained, labels equal to the inputs
    assert trained == list(range(trained[0], len(ids)))
    assert tokenizer.decode(ids[: trained[0]]) == alpaca_prompt("Describe the animal.", input_text)
    assert tokenizer.decode(ids[trained[0] :]) == "It is quick and clever." + tokenizer.eos_token
    assert [labels[i] for i in trained] == [ids[i] for i in trained]
    assert ids[-1] == tokenizer.eos_token_id and labels[-1] == tokenizer.eos_token_id


# LLaMA's real SentencePiece vocabulary, from llama.cpp's source package (make install-test unpacks it)
LLAMA_VOCAB = Path(sys.prefix) / "test-vocab" / "ggml-vocab-llama-spm.gguf"
RELEASED_SAMPLE = ROOT.parent / "shared" / "data" / "alpaca_gpt4" / "alpaca_gpt4_en_sample.json"


@pytest.fixture(scope="module")
def llama_tokenizer():
    from transformers import AutoTokenizer

    assert LLAMA_VOCAB.is_file(), f"{LLAMA_VOCAB}: missing; make install-test unpacks it from llama.cpp's sources"
    tokenizer = AutoTokenizer.from_pretrained(str(LLAMA_VOCAB.parent), gguf_file=LLAMA_VOCAB.name)
    assert tokenizer("Hi")["input_ids"][0] == tokenizer.bos_token_id == 1 and tokenizer.pad_token is None
    return tokenizer


def split_at_labels(example: dict) -> tuple[list[int], list[int]]:
    first = next(i for i, label in enumerate(example["labels"]) if label != -100)
    assert example["labels"][first:] == example["input_ids"][first:]
    return example["input_ids"][:first], example["input_ids"][first:]


@pytest.mark.parametrize("which", ["smollm2", "llama"])
def test_training_context_is_the_prompt_as_generation_tokenizes_it(tmp_path, tokenizer, llama_tokenizer, which,
                                                                    tiny_model_dir, caplog):
    """An answer starting with '"', '(' or '**' merges with the prompt's final ':' when tokenized together; the
    model must still train on the prompt's own tokens, as generation feeds them, then the answer, then EOS."""
    tok = {"smollm2": tokenizer, "llama": llama_tokenizer}[which]
    records = [{"instruction": "Quote a proverb.", "input": "", "output": '"Haste makes waste."'},
               {"instruction": "Give a phone number.", "input": "", "output": "(555) 123-4567"},
               {"instruction": "Name a sale.", "input": "", "output": "**Sale:** 20% off"},
               {"instruction": "Say hello.", "input": "", "output": "Hello there."}]
    (tmp_path / "d.json").write_text(json.dumps(records))
    dataset = to_sft_dataset(load_records(str(tmp_path / "d.json")), tok)
    for record, example in zip(records, dataset):
        prompt = alpaca_prompt(record["instruction"])
        prompt_ids, answer_ids = split_at_labels(example)
        assert prompt_ids == tok(prompt)["input_ids"]  # what eval generate feeds
        assert answer_ids[-1] == tok.eos_token_id
        assert tok.decode(answer_ids[:-1]) == record["output"]  # no leading space, nothing lost
    joint = tok(alpaca_prompt("Quote a proverb.") + records[0]["output"])["input_ids"]
    assert joint[: len(split_at_labels(dataset[0])[0])] != split_at_labels(dataset[0])[0]  # it did merge
    plain = tok(alpaca_prompt("Say hello.") + "Hello there.")["input_ids"] + [tok.eos_token_id]
    assert dataset[3]["input_ids"] == plain  # no merge: tokenized exactly as before

    if which == "smollm2":  # SFTTrainer trains on these tokens as they are, with no boundary warning
        with caplog.at_level(logging.WARNING):
            trained = prepared(tok, tiny_model_dir, dataset)
        assert trained["input_ids"] == dataset["input_ids"] and trained["labels"] == dataset["labels"]
        assert "not a prefix" not in caplog.text


@pytest.mark.skipif(not RELEASED_SAMPLE.is_file(), reason="the released Alpaca-GPT4 sample is not beside the project")
def test_released_records_train_on_the_inference_context(tokenizer, llama_tokenizer):
    """All 999 released records, with LLaMA's and SmolLM2's vocabularies: the prompt part is the prompt tokenized
    alone, the rest decodes to the record's output and EOS, and records whose boundary does not merge keep the
    tokens of prompt + output tokenized together."""
    records = load_records(str(RELEASED_SAMPLE))
    pairs = alpaca_to_prompt_completion(records)
    for tok in (tokenizer, llama_tokenizer):
        dataset = to_sft_dataset(records, tok)
        prompt_ids = tok(pairs["prompt"])["input_ids"]
        joint = tok([p + c for p, c in zip(pairs["prompt"], pairs["completion"])])["input_ids"]
        merged = 0
        for example, prompt, completion, alone, together in zip(dataset, pairs["prompt"], pairs["completion"],
                                                                 prompt_ids, joint):
            head, answer = split_at_labels(example)
            assert head == alone
            assert tok.decode(answer) == completion + tok.eos_token
            if together[: len(alone)] == alone:
                assert example["input_ids"] == together + [tok.eos_token_id]
            else:
                merged += 1
        assert 0.03 < merged / len(dataset) < 0.1, merged  # 66 of 999 with SmolLM2, 57 with LLaMA


def test_eos_is_trained_even_though_pad_is_eos(tokenizer, tiny_model_dir, tmp_path):
    """SmolLM2 pads with its EOS; padding must not mask the real EOS of shorter examples in a batch."""
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    assert tokenizer.pad_token_id == tokenizer.eos_token_id
    dataset = to_sft_dataset(load_records(str(write_alpaca(tmp_path / "d.json", n=4))), tokenizer)
    examples = list(prepared(tokenizer, tiny_model_dir, dataset))
    batch = DataCollatorForLanguageModeling(pad_token_id=tokenizer.pad_token_id)(examples)
    for row, example in enumerate(examples):
        last = len(example["input_ids"]) - 1
        assert batch["labels"][row, last] == tokenizer.eos_token_id
        assert (batch["labels"][row, last + 1 :] == -100).all()


def test_chat_loss_is_on_assistant_turns_only(tokenizer, tiny_model_dir, tmp_path):
    conversation = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Name a colour."},
        {"role": "assistant", "content": "Blue."},
        {"role": "user", "content": "Another one."},
        {"role": "assistant", "content": "Green."},
    ]
    (tmp_path / "chat.jsonl").write_text(json.dumps({"messages": conversation}) + "\n")
    dataset = to_sft_dataset(load_records(str(tmp_path / "chat.jsonl")), tokenizer)
    example = prepared(tokenizer, tiny_model_dir, dataset)[0]
    ids, labels = example["input_ids"], example["labels"]
    assert tokenizer.decode(ids) == tokenizer.apply_chat_template(conversation, tokenize=False)
    spans, current = [], []
    for token, label in zip(ids, labels):
        if label != -100:
            current.append(token)
        elif current:
            spans.append(tokenizer.decode(current))
            current = []
    spans.append(tokenizer.decode(current)) if current else None
    assert spans == ["Blue.<|im_end|>\n", "Green.<|im_end|>\n"]


# ---------------------------------------------------------------- sources and bad input


def test_local_sources_json_jsonl_and_directory(tmp_path):
    write_alpaca(tmp_path / "a.json", n=3)
    (tmp_path / "b.jsonl").write_text('{"instruction": "x", "output": "y"}\n\n{"instruction": "z", "output": "w"}\n')
    assert len(load_records(str(tmp_path / "a.json"))) == 3
    records = load_records(str(tmp_path / "b.jsonl"))
    assert records.locations == [f"{tmp_path / 'b.jsonl'}: line 1", f"{tmp_path / 'b.jsonl'}: line 3"]
    assert len(load_records(str(tmp_path))) == 5


def test_parquet_files_read_like_the_hub_stores_them(tmp_path):
    import pyarrow
    import pyarrow.parquet

    rows = [{"instruction": "Name a colour.", "instances": [{"input": "", "output": "Blue"}]},
            {"instruction": "Add.", "instances": []}]
    pyarrow.parquet.write_table(pyarrow.Table.from_pylist(rows), tmp_path / "core.parquet")
    records = load_records(str(tmp_path / "core.parquet"))
    assert records.rows == rows and records.locations[1] == f"{tmp_path / 'core.parquet'}: row 1"
    (tmp_path / "broken.parquet").write_bytes(b"PAR1 not really")
    with pytest.raises(DataError, match=r"broken\.parquet: not a readable Parquet file"):
        load_records(str(tmp_path / "broken.parquet"))


def bad(tmp_path, content: str, name: str = "bad.json") -> str:
    (tmp_path / name).write_text(content)
    with pytest.raises(DataError) as error:
        to_sft_dataset(load_records(str(tmp_path / name)), tokenizer=None)
    message = str(error.value)
    assert "\n" not in message
    return message


def test_bad_input_errors_name_file_row_and_field(tmp_path):
    path = tmp_path / "bad.json"
    ok = {"instruction": "a", "input": "", "output": "b"}
    with pytest.raises(DataError, match=r"missing\.json: no such file"):
        load_records(str(tmp_path / "missing.json"))
    assert bad(tmp_path, "[]") == f"{path}: no records"
    assert bad(tmp_path, "").startswith(f"{path}: not JSON")
    assert bad(tmp_path, "\n", name="bad.jsonl") == f"{tmp_path / 'bad.jsonl'}: no records"
    assert (
        bad(tmp_path, json.dumps([ok, {"input": "", "output": "b"}]))
        == f"{path}: row 1: field 'instruction' is missing"
    )
    assert bad(tmp_path, json.dumps([ok, ok, {"instruction": "a"}])) == f"{path}: row 2: field 'output' is missing"
    assert (
        bad(tmp_path, json.dumps([ok, {"instruction": "a", "output": 7}]))
        == f"{path}: row 1: field 'output' must be a string, got int"
    )
    assert bad(tmp_path, json.dumps([{"question": "a", "answer": "b"}])).startswith(
        f"{path}: row 0: unknown schema with fields ['answer', 'question']"
    )
    assert bad(tmp_path, json.dumps({"instruction": "a"})) == f"{path}: expected a JSON list of records, got dict"
    jsonl = tmp_path / "bad.jsonl"
    assert bad(tmp_path, json.dumps(ok) + "\n{oops\n", name="bad.jsonl").startswith(f"{jsonl}: line 2: not JSON")
    messages = json.dumps({"messages": [{"role": "user", "content": "hi"}]})
    assert (
        bad(tmp_path, messages + "\n", name="bad.jsonl")
        == f"{jsonl}: line 1: field 'messages' has no assistant turn to train on"
    )


def test_blank_outputs_are_dropped_and_counted(tmp_path, caplog):
    records = [{"instruction": "a", "output": "b"}, {"instruction": "c", "output": "  "}]
    (tmp_path / "d.json").write_text(json.dumps(records))
    assert alpaca_to_prompt_completion(load_records(str(tmp_path / "d.json")))["completion"] == ["b"]
    assert "dropped 1 of 2 records" in caplog.text


def test_sha256_pins_are_checked(tmp_path, monkeypatch):
    from gpt4llm.sources import Source, fetch

    payload = tmp_path / "questions.jsonl"
    payload.write_text('{"question_id": 1, "text": "Why?", "category": "generic"}\n')
    monkeypatch.setenv("GPT4LLM_CACHE", str(tmp_path / "cache"))
    digest = __import__("hashlib").sha256(payload.read_bytes()).hexdigest()
    monkeypatch.setitem(SOURCES, "tiny", Source(payload.as_uri(), "test", sha256=digest))
    assert fetch("tiny").read_bytes() == payload.read_bytes()
    monkeypatch.setitem(SOURCES, "tampered", Source(payload.as_uri(), "test", sha256="0" * 64))
    with pytest.raises(ValueError, match="changed since it was pinned: sha256 "):
        fetch("tampered")


def test_every_registered_source_is_pinned_by_a_checksum_or_a_hub_commit(tmp_path, monkeypatch):
    """A source without a checksum must be a file at a Hub commit (whose record is then its pin); a file at a branch
    without one is refused before anything is downloaded."""
    import re

    from gpt4llm.sources import HUB_FILE, Source, fetch

    for name, source in SOURCES.items():
        if not (source.sha256 or source.git_blob_sha1):
            assert re.fullmatch(r"[0-9a-f]{40}", HUB_FILE.fullmatch(source.url)["revision"]), name
    monkeypatch.setenv("GPT4LLM_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(SOURCES, "moving", Source("https://huggingface.co/datasets/o/d/resolve/main/f.json", "test"))
    monkeypatch.setattr("gpt4llm.sources.download", lambda url: pytest.fail("downloaded an unpinned file"))
    with pytest.raises(ValueError, match="no checksum and not a file at a Hub commit; pin one or the other"):
        fetch("moving")


def test_unreachable_hub_dataset_is_a_clear_error():
    with pytest.raises(DataError, match=r"^no-such-org/no-such-dataset: cannot load this Hub dataset"):
        load_records("no-such-org/no-such-dataset")


def test_release_files_are_verified_by_git_blob(tmp_path, monkeypatch):
    payload = tmp_path / "alpaca_gpt4_data.json"
    write_alpaca(payload, n=2)
    git = subprocess.run(["git", "hash-object", str(payload)], capture_output=True, text=True, check=True)
    assert git_blob_sha1(payload.read_bytes()) == git.stdout.strip()

    monkeypatch.setenv("GPT4LLM_CACHE", str(tmp_path / "cache"))
    source = SOURCES["alpaca_gpt4_en"]
    monkeypatch.setitem(SOURCES, "alpaca_gpt4_en",
                        type(source)(payload.as_uri(), source.description, git_blob_sha1="0" * 40))
    with pytest.raises(DataError, match="alpaca_gpt4_en: cannot fetch .* changed since it was pinned"):
        load_records("release:alpaca_gpt4_en")
    assert not list((tmp_path / "cache" / "sources").iterdir())
    pinned = type(source)(payload.as_uri(), source.description, git_blob_sha1=git.stdout.strip())
    monkeypatch.setitem(SOURCES, "alpaca_gpt4_en", pinned)
    assert len(load_records("release:alpaca_gpt4_en")) == 2
