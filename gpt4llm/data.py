"""Instruction datasets: where they come from, which schemas they may have, and what SFT trains on.

A source is a local `.json` (a list of records), `.jsonl` or `.parquet` file, a directory of such files, a
registered public file (the paper's releases as `release:NAME`, benchmarks such as `vicuna80`; see
`gpt4llm.sources`) or a Hub dataset id. Local files are parsed here rather than by `datasets`, so that a bad
record is reported by file, row and field instead of as an Arrow type error.

Schemas:
- Alpaca: `instruction`, optional `input`, `output` (the released Alpaca-GPT4 en/zh data);
- chat: `messages`, a list of `{role, content}`;
- prompt/completion: `prompt`, `completion`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .templates import alpaca_prompt

if TYPE_CHECKING:  # datasets costs a second to import: data_gen and eval read local files without it
    from datasets import Dataset

logger = logging.getLogger(__name__)

IGNORE_INDEX = -100
CHAT_ROLES = ("system", "user", "assistant")


class DataError(ValueError):
    """Bad input data. The message is one line naming the source, the row and the field."""


@dataclass
class Records:
    """Raw records of one source with, for each, where it came from (e.g. `data.jsonl: line 7`)."""

    source: str
    rows: list[dict]
    locations: list[str]

    def __len__(self) -> int:
        return len(self.rows)


READABLE_SUFFIXES = (".json", ".jsonl", ".parquet")


def load_records(source: str, *, split: str = "train", config: str | None = None) -> Records:
    """Read every record of a source; raise `DataError` if it is missing, unreadable or empty."""
    source = str(local_source(source))
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix in READABLE_SUFFIXES)
        if not files:
            raise DataError(f"{source}: directory has no .json, .jsonl or .parquet files")
        records = Records(source, [], [])
        for file in files:
            part = _read_file(file)
            records.rows += part.rows
            records.locations += part.locations
    elif path.suffix in READABLE_SUFFIXES or path.exists():
        records = _read_file(path)
    else:
        records = _read_hub(source, split=split, config=config)
    if not records:
        raise DataError(f"{source}: no records")
    return records


def local_source(source: str) -> str | Path:
    """A registered public file (e.g. vicuna80, or release:NAME) as its verified local copy, downloaded on first
    use; any other source (a path, a Hub id) as it is."""
    from .sources import SOURCES

    if source.startswith("release:") or source in SOURCES:
        return fetch_source(source.removeprefix("release:"))
    return source


def fetch_source(name: str) -> Path:
    """A registered public file (gpt4llm.sources), with download and checksum failures as DataError."""
    from .sources import fetch

    try:
        return fetch(name)
    except (OSError, ValueError) as error:  # no network, HTTP errors, a checksum that does not match
        raise DataError(f"{name}: cannot fetch this registered source: {' '.join(str(error).split())}") from None


def _read_file(path: Path) -> Records:
    if not path.is_file():
        raise DataError(f"{path}: no such file")
    if path.suffix == ".parquet":  # how the Hub stores datasets, e.g. the registered Unnatural Instructions core
        import pyarrow
        import pyarrow.parquet

        try:
            rows = pyarrow.parquet.read_table(path).to_pylist()
        except (pyarrow.ArrowException, OSError) as e:
            raise DataError(
                f"{path}: not a readable Parquet file ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
            ) from None
        return Records(str(path), rows, [f"{path}: row {i}" for i in range(len(rows))])
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise DataError(f"{path}: not UTF-8 text ({e.reason} at byte {e.start})") from None
    if path.suffix == ".jsonl":
        rows, locations = [], []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                raise DataError(f"{path}: line {number}: not JSON ({e.msg}, column {e.colno})") from None
            locations.append(f"{path}: line {number}")
        return Records(str(path), rows, locations)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{path}: not JSON ({e.msg} at line {e.lineno}, column {e.colno})") from None
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of records, got {type(data).__name__}")
    return Records(str(path), data, [f"{path}: row {i}" for i in range(len(data))])


def _read_hub(dataset_id: str, *, split: str, config: str | None) -> Records:
    from datasets import load_dataset

    try:
        dataset = load_dataset(dataset_id, name=config, split=split)
    except Exception as e:  # the Hub raises many types (offline, not found, gated, bad split): report them all alike
        reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise DataError(f"{dataset_id}: cannot load this Hub dataset (split {split!r}): {reason}") from None
    return Records(dataset_id, dataset.to_list(), [f"{dataset_id}[{split}]: row {i}" for i in range(len(dataset))])


def detect_schema(records: Records) -> str:
    """'alpaca', 'chat' or 'prompt_completion', from the first record's fields."""
    first = records.rows[0]
    if not isinstance(first, dict):
        raise DataError(f"{records.locations[0]}: expected a JSON object, got {type(first).__name__}")
    if "messages" in first:
        return "chat"
    if "instruction" in first or "output" in first:
        return "alpaca"
    if "prompt" in first and "completion" in first:
        return "prompt_completion"
    raise DataError(
        f"{records.locations[0]}: unknown schema with fields {sorted(first)}; expected Alpaca "
        "(instruction, input, output), chat (messages) or prompt/completion (prompt, completion)"
    )


def text_field(row: dict, field: str, where: str, *, required: bool = True) -> str:
    """The string in `row[field]`; a DataError naming `where` and the field if it is missing or not a string."""
    if not isinstance(row, dict):
        raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
    value = row.get(field)
    if value is None:
        if required:
            raise DataError(f"{where}: field '{field}' is missing")
        return ""
    if not isinstance(value, str):
        raise DataError(f"{where}: field '{field}' must be a string, got {type(value).__name__}")
    return value


def alpaca_rows(records: Records, *, require_output: bool = True) -> list[dict]:
    """Validated Alpaca records as `{instruction, input, output}` (input '' when absent), keeping an `id` if any."""
    rows = []
    for row, where in zip(records.rows, records.locations):
        checked = {
            "instruction": text_field(row, "instruction", where),
            "input": text_field(row, "input", where, required=False),
            "output": text_field(row, "output", where, required=require_output),
        }
        if row.get("id") is not None:
            checked["id"] = text_field(row, "id", where)
        rows.append(checked)
    return rows


def alpaca_to_prompt_completion(records: Records) -> dict[str, list[str]]:
    """Alpaca records as prompt/completion pairs (the paper's template, then the output) and where each came from.

    Records whose instruction or output is blank carry nothing to learn and are dropped, with a count.
    """
    rows = alpaca_rows(records)
    kept = [(r, w) for r, w in zip(rows, records.locations) if r["instruction"].strip() and r["output"].strip()]
    if len(kept) < len(rows):
        logger.warning("dropped %d of %d records with a blank instruction or output", len(rows) - len(kept), len(rows))
    if not kept:
        raise DataError(f"{records.source}: every record has a blank instruction or output")
    return {
        "prompt": [alpaca_prompt(r["instruction"], r["input"]) for r, _ in kept],
        "completion": [r["output"] for r, _ in kept],
        "where": [w for _, w in kept],
    }


def _chat_messages(row: dict, where: str) -> list[dict]:
    messages = row.get("messages") if isinstance(row, dict) else None
    if not isinstance(messages, list) or not messages:
        raise DataError(f"{where}: field 'messages' must be a non-empty list of {{role, content}}")
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise DataError(f"{where}: field 'messages[{i}]' must be an object, got {type(message).__name__}")
        role, content = message.get("role"), message.get("content")
        if role not in CHAT_ROLES:
            raise DataError(f"{where}: field 'messages[{i}].role' must be one of {CHAT_ROLES}, got {role!r}")
        if not isinstance(content, str):
            raise DataError(f"{where}: field 'messages[{i}].content' must be a string, got {type(content).__name__}")
    if not any(m["role"] == "assistant" for m in messages):
        raise DataError(f"{where}: field 'messages' has no assistant turn to train on")
    return [{"role": m["role"], "content": m["content"]} for m in messages]


def tokenize_chat(messages: list[dict], tokenizer, where: str = "messages") -> dict:
    """Token ids of a conversation with labels on the assistant turns only (user and system turns ignored).

    Works with any chat template that renders a conversation's prefix as a prefix of the whole: each assistant
    turn is the span between the conversation rendered up to its generation prompt and rendered through it,
    which includes the template's end-of-turn token, so the model learns to stop.
    """
    input_ids: list[int] = []
    labels: list[int] = []
    for end, message in enumerate(messages, start=1):
        if message["role"] != "assistant":
            continue
        before = tokenizer.apply_chat_template(messages[: end - 1], add_generation_prompt=True, tokenize=True)
        through = tokenizer.apply_chat_template(messages[:end], tokenize=True)
        before, through = _ids(before), _ids(through)
        if through[: len(before)] != before or before[: len(input_ids)] != input_ids:
            raise DataError(f"{where}: the chat template does not render this conversation's prefixes as prefixes")
        labels += [IGNORE_INDEX] * (len(before) - len(input_ids)) + through[len(before) :]
        input_ids = through
    return {"input_ids": input_ids, "labels": labels}


def _ids(rendered) -> list[int]:
    # apply_chat_template returns a BatchEncoding in transformers 5, a plain list in older versions
    return list(rendered["input_ids"] if hasattr(rendered, "keys") else rendered)


# What a completion is tokenized after when it merges with the prompt's last token: a newline, which no token of
# either tokenizer family joins to a following letter or punctuation, and which keeps SentencePiece from adding a
# leading space (checked on the released Alpaca-GPT4 sample with LLaMA's and SmolLM2's vocabularies)
ANCHOR = "\n"


def tokenize_prompt_completion(prompts: list[str], completions: list[str], tokenizer, where: list[str]) -> dict:
    """Token ids with the loss on the completion and EOS only, the prompt tokenized alone, exactly as generation
    feeds it (with the BOS the tokenizer adds), then the completion's tokens, then EOS.

    Mostly the prompt's tokens are a prefix of the tokenized prompt + completion, and the completion's tokens are
    the rest of it. Where the prompt's final `:` merges with how the completion begins (`:"`, `:(`, `:**`: about 6%
    of Alpaca-GPT4's answers), training on the joint tokens would teach a context inference never feeds (TRL's
    warning that the prompt is not a prefix); the completion is then tokenized on its own after ANCHOR, which
    leaves it no leading space, and decodes back to the same text.
    """
    prompt_ids = tokenizer(prompts)["input_ids"]
    joint_ids = tokenizer([p + c for p, c in zip(prompts, completions)])["input_ids"]
    anchor_ids = tokenizer(ANCHOR, add_special_tokens=False)["input_ids"]
    input_ids, labels = [], []
    for prompt, joint, completion, location in zip(prompt_ids, joint_ids, completions, where):
        if joint[: len(prompt)] == prompt:
            answer = joint[len(prompt) :]
        else:
            anchored = tokenizer(ANCHOR + completion, add_special_tokens=False)["input_ids"]
            if anchored[: len(anchor_ids)] != anchor_ids:
                raise DataError(f"{location}: the completion's first tokens merge with both the prompt's end and a "
                                "newline; cannot tokenize it as generation would continue the prompt")
            answer = anchored[len(anchor_ids) :]
        if answer[-1:] != [tokenizer.eos_token_id]:
            answer = answer + [tokenizer.eos_token_id]
        input_ids.append(prompt + answer)
        labels.append([IGNORE_INDEX] * len(prompt) + answer)
    return {"input_ids": input_ids, "labels": labels}


def to_sft_dataset(records: Records, tokenizer) -> Dataset:
    """What SFTTrainer trains on: token ids with the loss on the response and EOS only, the prompt tokenized as
    generation feeds it (Alpaca and prompt/completion data, `tokenize_prompt_completion`), or on the assistant
    turns (chat data)."""
    from datasets import Dataset

    schema = detect_schema(records)
    if schema in ("alpaca", "prompt_completion"):
        pairs = alpaca_to_prompt_completion(records) if schema == "alpaca" else prompt_completion_pairs(records)
        tokenized = tokenize_prompt_completion(pairs["prompt"], pairs["completion"], tokenizer, pairs["where"])
    else:
        chats = [tokenize_chat(_chat_messages(r, w), tokenizer, w) for r, w in zip(records.rows, records.locations)]
        tokenized = {key: [chat[key] for chat in chats] for key in ("input_ids", "labels")}
    return Dataset.from_dict(tokenized)


def prompt_completion_pairs(records: Records) -> dict[str, list[str]]:
    return {
        "prompt": [text_field(r, "prompt", w) for r, w in zip(records.rows, records.locations)],
        "completion": [text_field(r, "completion", w) for r, w in zip(records.rows, records.locations)],
        "where": records.locations,
    }
