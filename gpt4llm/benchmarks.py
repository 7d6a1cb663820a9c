"""Benchmarks, in every shape the paper's evaluation and data generation read, as one list of items keyed by record.

`read_benchmark(records)` tells the shape from the first record's fields and reads every record as that shape
(a record that lacks its fields is a one-line error naming the file, the row and the field). Shape: fields ->
item key; reference (prediction):
- `mt_bench` (FastChat's llm_judge questions: MT-bench, and any file in its schema): question_id, category,
  turns: [...], optional reference: [...] (one per turn) -> question_id; none (the turns' references, if any, in
  `turn_references`)
- `fastchat` (Vicuna-80, its translations): question_id, text, category -> question_id; none
- `user_oriented` (self-instruct's 252): id, instruction, instances: [{input, output}] -> id, or id-i for the
  i-th of several instances; the instance's output
- `unnatural_core`: instruction, instances: [{input, output}] -> row, or row-i; the instance's output
- `labelled` (the released GPT-4 Unnatural file): instruction, input, output, label -> row; label (output,
  GPT-4's answer)
- `alpaca_eval` (AlpacaEval's evaluation set, and any model's outputs in its schema): instruction, dataset, output,
  generator -> row; none (`dataset`, the subset, as the category; `output`, the generator's, as the prediction)
- `alpaca`: instruction, input, output, id (all but instruction optional) -> id, or row; output

`label` is the reference wherever it exists; the `output` beside a label is a model's prediction (GPT-4's, in the
release), which `eval generate --predictions` writes as that model's answers. Rows count from 0 in file order,
so two runs on the same file key the same item alike.

Every stage takes these items: `eval generate` and `best-of-n` pose them and write FastChat answers keyed by the
item key (`answer_record`, with the reference beside the answer where there is one), which `eval judge`,
`eval rouge` and `eval.human serve` read back by the same key (`read_answers`); data_gen's `unnatural` task reads
its rows here too. A new shape is one more `Shape` in SHAPES. Multi-turn items (`turns`: MT-bench) are answered
turn by turn and written in FastChat's llm_judge answer schema instead (`turn_answer_record`, read back by
`read_turn_answers`), which `eval grade` reads.
"""

import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from .data import DataError, Records, load_records, text_field


@dataclass(frozen=True)
class Item:
    key: int | str  # FastChat's question_id as it is (an int in its files); record ids and rows as text
    instruction: str
    input: str = ""
    category: str = "general"  # FastChat's categories route its reviewers (general, coding, math)
    reference: str | None = None  # the ground truth or reference answer, where the benchmark has one
    prediction: str | None = None  # a model's answer shipped with the benchmark (GPT-4's in the released file)
    predicted_by: str | None = None  # the model whose answer `prediction` is, where the file names it (AlpacaEval)
    turns: tuple[str, ...] = ()  # a multi-turn question's user turns, the first being `instruction` (MT-bench)
    turn_references: tuple[str, ...] = ()  # a multi-turn question's own reference answers, one per turn, if any
    where: str = field(default="", compare=False)  # e.g. "questions.jsonl: line 7", for errors

    @property
    def prompt(self) -> str:
        """Instruction and input as one message (reviewer prompts, chat templates)."""
        return f"{self.instruction}\n\n{self.input}" if self.input.strip() else self.instruction


@dataclass
class Benchmark:
    source: str  # the file read
    shape: str
    items: list[Item]
    name: str = ""  # what it was asked for by: a registered name (vicuna80, mt_bench), a Hub id or a path

    def keys(self) -> list:
        return [item.key for item in self.items]


@dataclass(frozen=True)
class Shape:
    name: str
    fields: tuple[str, ...]  # a first record with all of these is of this shape
    read: Callable[[dict, str, int], list[Item]]  # (record, where, row) -> its items


def _multi_turn(row: dict, where: str, index: int) -> list[Item]:
    key = record_id(row, "question_id", where)
    category = text_field(row, "category", where, required=False) or "general"
    turns = _text_list(row, "turns", where)
    if not turns:
        raise DataError(f"{where}: field 'turns' must be a non-empty list of strings")
    references = _text_list(row, "reference", where) if row.get("reference") is not None else []
    if len(references) > len(turns):
        raise DataError(f"{where}: field 'reference' has {len(references)} answers for {len(turns)} turns")
    return [Item(key, turns[0], category=category, turns=tuple(turns), turn_references=tuple(references), where=where)]


def _text_list(row: dict, name: str, where: str) -> list[str]:
    values = row.get(name)
    if not isinstance(values, list):
        raise DataError(f"{where}: field '{name}' must be a list of strings, got {type(values).__name__}")
    for i, value in enumerate(values):
        if not isinstance(value, str):
            raise DataError(f"{where}: field '{name}[{i}]' must be a string, got {type(value).__name__}")
    return values


def _fastchat(row: dict, where: str, index: int) -> list[Item]:
    key = record_id(row, "question_id", where)
    category = text_field(row, "category", where, required=False) or "general"
    return [Item(key, text_field(row, "text", where), category=category, where=where)]


def _with_instances(row: dict, where: str, index: int) -> list[Item]:
    """User-Oriented records (their `id`) and Unnatural core records (their row): an item per instance."""
    base = str(record_id(row, "id", where)) if "id" in row else str(index)
    instruction = text_field(row, "instruction", where)
    instances = row.get("instances")
    if not isinstance(instances, list) or not instances or not all(isinstance(i, dict) for i in instances):
        raise DataError(f"{where}: field 'instances' must be a non-empty list of {{input, output}} objects")
    items = []
    for i, instance in enumerate(instances):
        text = _optional_text(instance, "input", where, f"instances[{i}].input") or ""
        reference = _optional_text(instance, "output", where, f"instances[{i}].output")
        key = base if len(instances) == 1 else f"{base}-{i}"
        items.append(Item(key, instruction, text, reference=reference, where=where))
    return items


def _labelled(row: dict, where: str, index: int) -> list[Item]:
    instruction, text = text_field(row, "instruction", where), text_field(row, "input", where, required=False)
    label, output = text_field(row, "label", where), _optional_text(row, "output", where)
    return [Item(str(index), instruction, text, reference=label, prediction=output, where=where)]


def _alpaca_eval(row: dict, where: str, index: int) -> list[Item]:
    return [Item(str(index), text_field(row, "instruction", where), category=text_field(row, "dataset", where),
                 prediction=_optional_text(row, "output", where), predicted_by=_optional_text(row, "generator", where),
                 where=where)]


def _alpaca(row: dict, where: str, index: int) -> list[Item]:
    key = str(record_id(row, "id", where)) if row.get("id") is not None else str(index)
    return [Item(key, text_field(row, "instruction", where), text_field(row, "input", where, required=False),
                 reference=_optional_text(row, "output", where), where=where)]


SHAPES = [
    Shape("mt_bench", ("question_id", "turns"), _multi_turn),  # before fastchat: both have question_id
    Shape("fastchat", ("question_id",), _fastchat),
    Shape("user_oriented", ("id", "instances"), _with_instances),
    Shape("unnatural_core", ("instances",), _with_instances),
    Shape("labelled", ("label",), _labelled),
    Shape("alpaca_eval", ("instruction", "dataset"), _alpaca_eval),  # before alpaca: both have instruction
    Shape("alpaca", ("instruction",), _alpaca),
]


def read_benchmark(records: Records) -> Benchmark:
    """Every item of a benchmark file, in file order; keys are unique."""
    first = records.rows[0]
    if not isinstance(first, dict):
        raise DataError(f"{records.locations[0]}: expected a JSON object, got {type(first).__name__}")
    shape = next((s for s in SHAPES if all(f in first for f in s.fields)), None)
    if shape is None:
        raise DataError(
            f"{records.locations[0]}: not a benchmark record (fields {sorted(first)[:6]}); "
            "expected FastChat questions (question_id, text), MT-bench questions (question_id, turns), "
            "User-Oriented or Unnatural records (instruction, instances), "
            "or Alpaca records (instruction, input, output[, label])"
        )
    items, seen = [], {}
    for index, (row, where) in enumerate(zip(records.rows, records.locations)):
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
        missing = [f for f in shape.fields if f not in row]
        if missing:
            raise DataError(f"{where}: field '{missing[0]}' is missing (the first record is {shape.name}-shaped)")
        for item in shape.read(row, where, index):
            if item.key in seen:
                raise DataError(f"{where}: item key {item.key!r} appears twice (first at {seen[item.key]})")
            seen[item.key] = where
            items.append(item)
    if len({str(k) for k in seen}) < len(seen):
        raise DataError(f"{records.source}: item keys collide once written as text (e.g. 1 and '1')")
    return Benchmark(records.source, shape.name, items)


def load_benchmark(questions: str) -> Benchmark:
    """The benchmark a name (registered, release:NAME or a Hub id) or a local file holds."""
    bench = read_benchmark(load_records(str(questions)))
    bench.name = str(questions)
    return bench


def select(items: list[Item], *, limit: int | None = None, sample: int | None = None, seed: int = 0,
           subsets: Iterable[str] | None = None) -> list[Item]:
    """The items of the `subsets` (categories: AlpacaEval's datasets, Vicuna-80's categories; every item if None),
    then the first `limit` of them, or a random `sample` (in file order, reproducible for a seed): the paper scores a
    random 9K of Unnatural's instances."""
    if subsets:
        subsets = set(subsets)
        unknown = subsets - {item.category for item in items}
        if unknown:
            known = sorted({item.category for item in items})
            raise DataError(f"no item of subset {sorted(unknown)}; the benchmark's subsets: {known}")
        items = [item for item in items if item.category in subsets]
    items = items[:limit] if limit else items
    if sample and sample < len(items):
        chosen = set(random.Random(seed).sample(range(len(items)), sample))
        items = [item for i, item in enumerate(items) if i in chosen]
    return items


def record_id(row: dict, field_name: str, where: str) -> int | str:
    value = row.get(field_name) if isinstance(row, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise DataError(f"{where}: field '{field_name}' must be an integer or a string")
    return value


def _optional_text(row: dict, name: str, where: str, label: str | None = None) -> str | None:
    value = row.get(name)
    if value is not None and not isinstance(value, str):
        raise DataError(f"{where}: field '{label or name}' must be a string, got {type(value).__name__}")
    return value


# ---------------------------------------------------------------- answers (FastChat's schema)


def answer_record(item: Item, model_id: str, text: str, metadata: dict) -> dict:
    """A FastChat answer `{answer_id, question_id, model_id, text, metadata}` to an item, with the item's
    `reference` beside it where it has one (what `eval rouge` scores against)."""
    row = {
        "answer_id": f"{model_id}-{item.key}",
        "question_id": item.key,
        "model_id": model_id,
        "text": text,
        "metadata": metadata,
    }
    return row | ({"reference": item.reference} if item.reference is not None else {})


def read_answers(records: Records, keys: Iterable, *, required: Iterable | None = None) -> dict:
    """item key -> answer record, for one model's FastChat answer file: each answer is to an item of the benchmark
    (`keys`), once. With `required`, every one of those items must be answered, and only their answers are
    returned, in that order; without, every answer in the file."""
    out = {}
    for key, row, where in answer_rows(records, set(keys)):
        text_field(row, "text", where)
        out[key] = row
    return answers_required(out, required, records.source)


def answer_rows(records: Records, keys) -> Iterator[tuple]:
    """(key, row, where) for each row of an answer file, which must answer an item of the benchmark, once."""
    seen = set()
    for row, where in zip(records.rows, records.locations):
        key = record_id(row, "question_id", where)
        if key not in keys:
            raise DataError(f"{where}: field 'question_id' {key!r} is not a question of the benchmark")
        if key in seen:
            raise DataError(f"{where}: field 'question_id' {key!r} is answered twice in this file")
        seen.add(key)
        yield key, row, where


def answers_required(answers: dict, required: Iterable | None, source: str) -> dict:
    """Every answer (`required` None), or only and every one of the `required` items', in their order."""
    if required is None:
        return answers
    required = list(required)
    missing = [key for key in required if key not in answers]
    if missing:
        raise DataError(f"{source}: no answer to question_id {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    return {key: answers[key] for key in required}


def model_id(answers: dict, source: str) -> str:
    """The one model whose answers an answer file holds (results name models by it)."""
    ids = {text_field(row, "model_id", source) for row in answers.values()}
    if len(ids) != 1:
        raise DataError(f"{source}: field 'model_id' must name one model, found {sorted(ids)[:3]}")
    return ids.pop()


# ---------------------------------------------------------------- multi-turn answers (FastChat's llm_judge schema)


def turn_answer_record(item: Item, model_id: str, turns: list[str], tstamp: float) -> dict:
    """A FastChat llm_judge answer `{question_id, answer_id, model_id, choices: [{index, turns}], tstamp}`: one
    choice, an answer per turn of the question."""
    return {
        "question_id": item.key,
        "answer_id": f"{model_id}-{item.key}",
        "model_id": model_id,
        "choices": [{"index": 0, "turns": list(turns)}],
        "tstamp": tstamp,
    }


def read_turn_answers(records: Records, items: dict, *, required: Iterable | None = None) -> dict:
    """item key -> answer record, for one model's llm_judge answer file (`items`: key -> Item of the benchmark):
    each answer is to a question of the benchmark, once, and its first choice (the one FastChat's judges read)
    has an answer for every turn of the question. With `required`, only (and every one of) those questions'."""
    out = {}
    for key, row, where in answer_rows(records, items):
        text_field(row, "model_id", where)
        choices = row.get("choices")
        if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
            raise DataError(f"{where}: field 'choices' must be a non-empty list of {{index, turns}} objects")
        turns, expected = choices[0].get("turns"), len(items[key].turns)
        if not isinstance(turns, list) or len(turns) != expected or not all(isinstance(t, str) for t in turns):
            got = f"a list of {len(turns)}" if isinstance(turns, list) else type(turns).__name__
            raise DataError(f"{where}: field 'choices[0].turns' must be a list of {expected} strings (one per turn "
                            f"of question {key!r}), got {got}")
        out[key] = row
    return answers_required(out, required, records.source)
