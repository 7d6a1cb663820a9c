"""Benchmark contamination of training data: the records whose prompts share an n-gram with a benchmark's prompts.

What is compared: by default what is asked, on both sides, as open-instruct decontaminates (benchmark prompts
against training prompts): a benchmark item's instruction, input and every turn against a training record's
instruction and input (Alpaca), its user and system messages (chat), its prompt (prompt/completion, comparisons).
With `answers` the benchmark's reference answers and the training outputs, responses and assistant turns join
in: answers share stock phrases and boilerplate code, so a shared n-gram there says less, and an all-fields
default left out unrelated records of the released data for such.

Text is normalised the same way on both sides: Unicode NFKC, then lowercased; a token is a run of letters and
digits (Unicode word characters without the underscore), except that every CJK character (Han ideographs, kana,
Hangul syllables) is a token by itself, so Chinese data is checked character by character as it is written;
punctuation, symbols and whitespace only separate tokens ("Don't-panic!" is `don t panic`). N-grams never cross
fields: each field of a training record and each text of a benchmark item is tokenised on its own.

A benchmark text of at least `n` tokens (13 by default) contributes all its n-grams. A shorter one, of at least
MIN_TOKENS (8, the lower bound GPT-3's contamination study used), matches only a training field that is the same
text whole (after normalisation): many Vicuna-80 questions are 8 to 12 tokens long, and inside a longer field
such a span is a common phrase more often than a copy. Texts under MIN_TOKENS are too generic to call an overlap
("Write a haiku.") and are counted as unchecked.

Speed: tokens become integer ids (a token no benchmark has becomes 0, which matches nothing, as does the 0 between
two fields), every window of a length the benchmarks need is hashed at once with numpy (a 64-bit polynomial hash,
the length n windows built from the shorter ones), and each hit is then compared token by token, so a hash
collision never counts.
"""

import logging
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path

import numpy as np

from .benchmarks import Benchmark, Item, read_benchmark
from .data import DataError, Records, _chat_messages, detect_schema, load_records, text_field
from .files import write_json_atomic, write_rows

logger = logging.getLogger(__name__)

NGRAM = 13
MIN_TOKENS = 8
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uac00-\ud7af\U00020000-\U0002ebef"
_TOKEN = re.compile(f"[{_CJK}]|[^\\W_{_CJK}]+")
_ASCII_SPACES = bytes(c if c < 128 and chr(c).isalnum() else 32 for c in range(256)).lower()  # a-z, 0-9, else " "
_BASE = np.uint64(0x9E3779B97F4A7C15)  # an odd 64-bit multiplier; arithmetic wraps modulo 2**64
_CHUNK = 20_000  # training fields tokenised at a time: bounds the memory of their token lists


def tokens(text: str) -> list[str]:
    """The normalised tokens of a text (see the module's docstring)."""
    if text.isascii():  # the same tokens, 3-4x faster than the regular expression: ASCII has no CJK
        return text.encode("ascii").translate(_ASCII_SPACES).decode("ascii").split()
    return _TOKEN.findall(unicodedata.normalize("NFKC", text).lower())


# ---------------------------------------------------------------- what is checked


def record_fields(records: Records, *, answers: bool = False) -> tuple[str, list[list[tuple[str, str]]]]:
    """(schema, each record's (field, text) pairs to check: its prompts, and with `answers` its answers too) for any
    training data gpt4llm reads: Alpaca, chat messages, prompt/completion, comparison data (v2 with scored
    responses, v1, chosen/rejected pairs); a record that does not fit the first record's schema is a one-line error
    naming the row and the field."""
    first = records.rows[0]
    if not isinstance(first, dict):
        raise DataError(f"{records.locations[0]}: expected a JSON object, got {type(first).__name__}")
    schema = next((s for s, key in _COMPARISONS if key in first), None) or detect_schema(records)
    read = _FIELDS[schema]
    return schema, [[(name, text) for name, text, is_answer in read(row, where) if answers or not is_answer]
                    for row, where in zip(records.rows, records.locations)]


# A training record's fields: (name, text, is_answer)
ANSWER_FIELDS = {"output", "completion", "completion_a", "completion_b", "chosen", "rejected"}


def _texts(row: dict, where: str, *names: str, optional: tuple[str, ...] = ()) -> list[tuple[str, str, bool]]:
    pairs = [(name, text_field(row, name, where)) for name in names]
    pairs += [(name, text_field(row, name, where, required=False)) for name in optional]
    return [(name, text, name in ANSWER_FIELDS) for name, text in pairs]


def _scored(row: dict, where: str) -> list[tuple[str, str, bool]]:
    scored = row.get("responses_and_scores")
    if not isinstance(scored, list):
        raise DataError(f"{where}: field 'responses_and_scores' must be a list")
    fields = _texts(row, where, "user_input")
    for i, item in enumerate(scored):
        if not isinstance(item, dict) or not isinstance(item.get("response"), str):
            raise DataError(f"{where}: field 'responses_and_scores[{i}].response' must be a string")
        fields.append((f"responses_and_scores[{i}].response", item["response"], True))
    return fields


def _chat(row: dict, where: str) -> list[tuple[str, str, bool]]:
    return [(f"messages[{i}]", m["content"], m["role"] == "assistant")
            for i, m in enumerate(_chat_messages(row, where))]


_COMPARISONS = (("comparison_v2", "responses_and_scores"), ("comparison_v1", "completion_a"), ("pairs", "chosen"))
_FIELDS = {
    "alpaca": lambda row, where: _texts(row, where, "instruction", optional=("input", "output")),
    "chat": _chat,
    "prompt_completion": lambda row, where: _texts(row, where, "prompt", "completion"),
    "comparison_v2": _scored,
    "comparison_v1": lambda row, where: _texts(row, where, "user_input", "completion_a", "completion_b"),
    "pairs": lambda row, where: _texts(row, where, "chosen", "rejected", optional=("prompt",)),
}


def item_texts(item: Item, *, answers: bool = False) -> list[tuple[str, str]]:
    """(part, text) of a benchmark item: what is asked (instruction, input, every turn) and, with `answers`, its
    references."""
    parts = [("instruction", item.instruction), ("input", item.input)]
    parts += [(f"turns[{i}]", turn) for i, turn in enumerate(item.turns) if i > 0]
    if answers:
        parts += [("reference", item.reference)] if item.reference else []
        parts += [(f"reference[{i}]", text) for i, text in enumerate(item.turn_references)]
    return [(part, text) for part, text in parts if text and text.strip()]


def load_benchmarks(names: list[str]) -> dict[str, Benchmark]:
    """Registered benchmarks by name (downloaded once, verified) or benchmark files, in any shape the reader knows."""
    return {name: read_benchmark(load_records(name)) for name in dict.fromkeys(names)}


# ---------------------------------------------------------------- matching


@dataclass(frozen=True)
class Match:
    record: int  # row of the training data
    field: str
    benchmark: str
    item: int | str  # the item's key
    part: str  # which text of the item
    text: str  # the shared tokens, space-separated


@dataclass
class Contamination:
    """What `find` found: the records sharing an n-gram with each benchmark."""

    ngram: int
    schema: str
    records: int
    benchmarks: list[dict]  # {name, source, shape, items, texts, unchecked}
    answers: bool  # answers compared too, not only prompts
    matches: dict[int, list[Match]] = field(default_factory=dict)  # record -> its matches, one per benchmark item

    @property
    def removed(self) -> list[int]:
        return sorted(self.matches)

    def per_benchmark(self) -> dict[str, dict]:
        """{benchmark: {records, items}}: the records sharing an n-gram with it, and its items they share."""
        records, items = defaultdict(set), defaultdict(set)
        for record, found in self.matches.items():
            for match in found:
                records[match.benchmark].add(record)
                items[match.benchmark].add(match.item)
        names = [b["name"] for b in self.benchmarks]
        return {name: {"records": len(records[name]), "items": len(items[name])} for name in names}

    def kept(self, records: Records) -> Records:
        """The records that share nothing with any benchmark, in their order and schema."""
        keep = [i for i in range(len(records)) if i not in self.matches]
        return Records(records.source, [records.rows[i] for i in keep], [records.locations[i] for i in keep])

    def lines(self) -> list[str]:
        """The counts as a Markdown table, for logs and the terminal."""
        counts = self.per_benchmark()
        lines = ["| benchmark | items | texts checked | too short to check | records sharing | items shared |",
                 "|---|---|---|---|---|---|"]
        for b in self.benchmarks:
            c = counts[b["name"]]
            lines.append(f"| {b['name']} | {b['items']} | {b['texts'] - b['unchecked']} | {b['unchecked']} | "
                         f"{c['records']} | {c['items']} |")
        kept = self.records - len(self.matches)
        lines.append(f"{len(self.matches)} of {self.records} records share a {self.ngram}-gram with a benchmark item, "
                     f"or are one of its texts of {MIN_TOKENS}-{self.ngram - 1} tokens whole ({self.compared}); "
                     f"{kept} kept.")
        return lines

    @property
    def compared(self) -> str:
        return "prompts and answers" if self.answers else "prompts against prompts"

    def report(self, records: Records, *, examples: int = 5) -> dict:
        """The JSON report: settings, counts per benchmark with examples, and every removed record's matches."""
        by_benchmark: dict = defaultdict(list)
        for record in self.removed:
            for match in self.matches[record]:
                by_benchmark[match.benchmark].append(match)
        counts = self.per_benchmark()
        return {
            "input": records.source,
            "schema": self.schema,
            "ngram": self.ngram,
            "min_tokens": MIN_TOKENS,
            "compared": self.compared,
            "normalisation": "NFKC, lowercase; tokens: runs of letters and digits, each CJK character alone; "
            "punctuation and whitespace separate tokens; fields tokenised apart",
            "records": self.records,
            "removed": len(self.matches),
            "kept": self.records - len(self.matches),
            "benchmarks": [
                {**b, **counts[name], "examples": [_example(m, records) for m in by_benchmark[name][:examples]]}
                for b, name in ((b, b["name"]) for b in self.benchmarks)
            ],
            "summary": self.summary(),
            "removed_records": [
                {"row": r, "where": records.locations[r], "matches": [_public(m) for m in self.matches[r]]}
                for r in self.removed
            ],
        }

    def summary(self) -> str:
        counts = ", ".join(f"{name} {c['records']}" for name, c in self.per_benchmark().items())
        return (f"Decontaminated ({self.compared}): {len(self.matches)} of {self.records} training records shared a "
                f"{self.ngram}-gram with a benchmark item and were left out (records per benchmark: {counts}).")


def _public(match: Match) -> dict:
    return {"benchmark": match.benchmark, "item": match.item, "part": match.part, "field": match.field,
            "text": match.text}


def _example(match: Match, records: Records) -> dict:
    return {"where": records.locations[match.record], **_public(match)}


class _Grams:
    """The benchmarks' texts as one array of token ids (0 after each text) and, for each gram length, the hashes
    of their grams sorted, with where each gram starts."""

    def __init__(self, benchmarks: dict[str, Benchmark], n: int, answers: bool):
        texts, self.owners, self.summary = [], [], []
        for name, bench in benchmarks.items():
            first = len(texts)
            for item in bench.items:
                for part, text in item_texts(item, answers=answers):
                    texts.append(text)
                    self.owners.append((name, item.key, part))
            self.summary.append({"name": name, "source": bench.source, "shape": bench.shape, "items": len(bench.items),
                                 "texts": len(texts) - first, "span": (first, len(texts))})
        flat, lengths = _token_lists(texts)
        self.vocab = {token: i for i, token in enumerate(dict.fromkeys(flat), start=1)}
        self.vocab.pop(_SEP, None)
        self.ids = _ids(flat, self.vocab)
        lengths = np.array(lengths, dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]]).astype(np.int64)
        checked = lengths >= min(n, MIN_TOKENS)  # shorter texts are too generic to call an overlap
        for summary in self.summary:
            first, last = summary.pop("span")
            summary["unchecked"] = int((~checked[first:last]).sum())
        # n-grams of the texts of n tokens or more; the shorter ones whole, each at its own length
        self.lengths = {n} | set(lengths[checked & (lengths < n)].tolist()) if checked.any() else set()
        self.sorted: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        zeros = _zero_counts(self.ids)
        for k, hashes in _rolling(self.ids, self.lengths):
            if k == n:  # every window of n tokens without a 0, i.e. inside one text
                positions = np.nonzero(zeros[k:] - zeros[: len(hashes)] == 0)[0]
            else:
                positions = self.starts[checked & (lengths == k)]
            order = np.argsort(hashes[positions], kind="stable")
            self.sorted[k] = (hashes[positions][order], positions[order])
        # per length, a flag per value of a hash's low bits that some gram has, about 32 flags a gram (at most
        # 2**26): one lookup rules out most windows, and a small table stays in the cache
        self.filters = {}
        for k, (keys, _) in self.sorted.items():
            size = 2 ** min(26, max(12, (32 * len(keys)).bit_length()))
            flags = np.zeros(size, dtype=bool)
            flags[keys & np.uint64(size - 1)] = True
            self.filters[k] = (flags, np.uint64(size - 1))

    def owner(self, position: int) -> tuple:
        return self.owners[int(np.searchsorted(self.starts, position, side="right")) - 1]


_SEP = "\x00"  # ends each text in a flat token list; never a token (the tokenizer drops it)


def _token_lists(texts) -> tuple[list[str], list[int]]:
    """Every text's tokens in one list, _SEP after each, and each text's number of tokens."""
    flat, lengths = [], []
    for text in texts:
        found = tokens(text)
        flat += found
        flat.append(_SEP)
        lengths.append(len(found))
    return flat, lengths


def _ids(flat: list[str], vocab: dict[str, int]) -> np.ndarray:
    """The token ids of a flat token list: 0 for _SEP and for any token `vocab` lacks (a dict lookup in C a
    token, where a Python-level default would cost a call each)."""
    lookup = dict.fromkeys(flat, 0)
    lookup.update((token, vocab[token]) for token in lookup.keys() & vocab.keys())
    return np.fromiter(map(lookup.__getitem__, flat), dtype=np.uint64, count=len(flat))


def _zero_counts(array: np.ndarray) -> np.ndarray:
    """zeros[j] = how many 0s array[:j] holds: a window [i, i + k) has none when zeros[i + k] == zeros[i]."""
    return np.concatenate([[0], np.cumsum(array == 0, dtype=np.int32)])


def _rolling(array: np.ndarray, lengths: set[int]):
    """(k, the hash of every window of k ids) for each k in `lengths`, shortest first: the length-k hashes are made
    from the length k-1 ones, h_k[i] = h_{k-1}[i] * B + array[i + k - 1] (mod 2**64)."""
    hashes = np.zeros(len(array), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(1, max(lengths, default=0) + 1):
            windows = len(array) - k + 1
            if windows <= 0:
                return
            hashes = hashes[:windows] * _BASE + array[k - 1 :]
            if k in lengths:
                yield k, hashes


def find(records: Records, benchmarks: dict[str, Benchmark], *, n: int = NGRAM,
         answers: bool = False) -> Contamination:
    """Every training record that shares an n-gram with a benchmark item, or is one of its short texts whole (see
    the docstring); prompts against prompts, and with `answers` answers too."""
    if n < 1:
        raise DataError(f"--ngram {n}: an n-gram has at least one token")
    schema, fields = record_fields(records, answers=answers)
    grams = _Grams(benchmarks, n, answers)
    found = Contamination(n, schema, len(records), grams.summary, answers)
    if not grams.sorted:
        return found
    owners = [(record, name) for record, pairs in enumerate(fields) for name, _ in pairs]
    texts = (text for pairs in fields for _, text in pairs)
    parts, lengths = [], []
    while chunk := list(islice(texts, _CHUNK)):  # every field's token ids in one array, a 0 after each field
        flat, chunk_lengths = _token_lists(chunk)
        parts.append(_ids(flat, grams.vocab))
        lengths += chunk_lengths
    array = np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)
    lengths = np.array(lengths, dtype=np.int64)
    starts = np.concatenate([[0], np.cumsum(lengths + 1)[:-1]]).astype(np.int64)
    zeros = _zero_counts(array)
    words = None
    for k, hashes in _rolling(array, grams.lengths):
        keys, positions = grams.sorted[k]
        if not len(keys):
            continue
        flags, mask = grams.filters[k]
        if k == n:  # n-grams anywhere in a field
            maybe = np.nonzero(flags[hashes & mask])[0]
        else:  # a short benchmark text: only a field that is that text whole
            maybe = starts[lengths == k]
            maybe = maybe[flags[hashes[maybe] & mask]]
        maybe = maybe[zeros[maybe + k] == zeros[maybe]]  # windows with no 0 inside: one field, known tokens
        at = np.minimum(np.searchsorted(keys, hashes[maybe]), len(keys) - 1)
        hits = maybe[keys[at] == hashes[maybe]]
        for position in hits.tolist():
            record, name = owners[int(np.searchsorted(starts, position, side="right")) - 1]
            window = array[position : position + k]
            low, high = (np.searchsorted(keys, hashes[position], side=side) for side in ("left", "right"))
            for start in positions[low:high].tolist():
                if not np.array_equal(grams.ids[start : start + k], window):
                    continue  # a hash collision
                bench, key, part = grams.owner(start)
                if any(m.benchmark == bench and m.item == key for m in found.matches.get(record, ())):
                    continue
                if words is None:
                    words = {i: t for t, i in grams.vocab.items()}
                text = " ".join(words[i] for i in window.tolist())
                found.matches.setdefault(record, []).append(Match(record, name, bench, key, part, text))
    return found


def decontaminate(records: Records, against: list[str], *, n: int = NGRAM, answers: bool = False,
                  examples: int = 5) -> tuple[Records, dict]:
    """The records that share nothing with the benchmarks `against` (names or files), and the report, whose
    `summary` is one line for a model card; the counts go to the log."""
    found = find(records, load_benchmarks(against), n=n, answers=answers)
    logger.info("decontamination against %s:\n%s", ", ".join(against), "\n".join(found.lines()))
    return found.kept(records), found.report(records, examples=examples)


# ---------------------------------------------------------------- files


OUTPUT_SUFFIXES = (".json", ".jsonl", ".parquet")


def check_output(path) -> Path:
    path = Path(path)
    if path.suffix not in OUTPUT_SUFFIXES:
        raise DataError(f"{path}: the filtered dataset must be a .json, .jsonl or .parquet file")
    return path


def report_path(output) -> Path:
    return Path(f"{output}.decontamination.json")


def decontaminate_file(input: str, output: Path, against: list[str], *, n: int = NGRAM, answers: bool = False,
                       examples: int = 5) -> Path:
    """`python -m data_gen decontaminate`: write the records of `input` that share no n-gram with a benchmark to
    `output` (.json, .jsonl or .parquet, the input's schema) and the report to OUTPUT.decontamination.json; the
    counts are printed. Returns the output."""
    output = check_output(output)
    records = load_records(input)
    found = find(records, load_benchmarks(against), n=n, answers=answers)
    kept = found.kept(records)
    write_rows(output, kept.rows)
    write_json_atomic(report_path(output), found.report(records, examples=examples))
    print("\n".join(found.lines()))
    logger.info("wrote %d records to %s, the report to %s", len(kept), output, report_path(output))
    return output
