"""What a human study compares: the items (an instruction, its input, model A's and model B's answers), the
order each annotator sees the two answers in, and how a displayed choice maps back to a model.

Questions are FastChat questions `{question_id, text, category}` or User-Oriented records `{id, instruction,
instances: [{input, output}]}` (an item per instance: id `ID`, or `ID-i` for the i-th of several). Answers are
FastChat answer files `{answer_id, question_id, model_id, text, metadata}`, one answer per item.
"""

import hashlib
import random
from dataclasses import dataclass
from pathlib import Path

from gpt4llm.data import DataError, Records, fetch_source, load_records, text_field

from .. import judge as judging

CRITERIA = ("helpfulness", "honesty", "harmlessness")  # the paper's HHH criteria (Askell et al.)
WINNERS = ("A", "B", "tie")  # what a choice on the page ('1', '2' or 'tie') means once the display order is undone


@dataclass(frozen=True)
class Item:
    item_id: str
    instruction: str
    input: str
    answer_a: str
    answer_b: str


def resolve(name_or_path: str) -> Path:
    """A registered benchmark (e.g. user_oriented252, downloaded once and verified) or a local file."""
    from gpt4llm.sources import SOURCES

    return fetch_source(name_or_path) if name_or_path in SOURCES else Path(name_or_path)


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_items(questions: Records, answers_a: Records, answers_b: Records) -> tuple[list[Item], str, str]:
    """The items in question-file order, and the model ids of the two answer files."""
    prompts = _prompts(questions)
    first, second = judging.answers(answers_a, prompts), judging.answers(answers_b, prompts)
    model_a, model_b = _model_id(answers_a), _model_id(answers_b)
    if model_a == model_b:
        raise DataError(
            f"{answers_b.source}: field 'model_id' is {model_b!r} in both answer files; results name models by it"
        )
    items = [
        Item(str(key), instruction, input_, first[key]["text"], second[key]["text"])
        for key, (instruction, input_) in prompts.items()
    ]
    if len({item.item_id for item in items}) < len(items):
        raise DataError(f"{questions.source}: question ids collide once written as text (e.g. 1 and '1')")
    return items, model_a, model_b


def _prompts(records: Records) -> dict:
    """question id (as in the answer files) -> (instruction, input)."""
    if isinstance(records.rows[0], dict) and "question_id" in records.rows[0]:
        return {key: (q["text"], "") for key, q in judging.questions(records).items()}
    prompts = {}
    for row, where in zip(records.rows, records.locations):
        record_id, instruction = text_field(row, "id", where), text_field(row, "instruction", where)
        instances = row.get("instances") or [{}]
        if not isinstance(instances, list) or not all(isinstance(i, dict) for i in instances):
            raise DataError(f"{where}: field 'instances' must be a list of {{input, output}} objects")
        for i, instance in enumerate(instances):
            key = record_id if len(instances) == 1 else f"{record_id}-{i}"
            if key in prompts:
                raise DataError(f"{where}: field 'id' {key!r} appears twice")
            prompts[key] = (instruction, text_field(instance, "input", f"{where}: instances[{i}]", required=False))
    return prompts


def _model_id(records: Records) -> str:
    ids = {text_field(row, "model_id", where) for row, where in zip(records.rows, records.locations)}
    if len(ids) != 1:
        raise DataError(f"{records.source}: field 'model_id' must name one model, found {sorted(ids)[:3]}")
    return ids.pop()


def load_study_items(questions: str, answers_a: str, answers_b: str) -> tuple[list[Item], str, str]:
    return load_items(load_records(str(resolve(questions))), load_records(answers_a), load_records(answers_b))


def presentation_order(seed: int, annotator: str, item_ids: list[str]) -> dict[str, bool]:
    """item id -> swapped (True: Response 1 is model B's answer) for one annotator.

    Half of the items each way (one more unswapped when the count is odd), shuffled by a generator seeded from
    the study's seed and the annotator's name: every annotator sees a balanced, different, reproducible order,
    and the server can recompute it at any time instead of trusting the page."""
    digest = hashlib.sha256(f"{seed}\0{annotator}".encode()).digest()
    flags = [i % 2 == 1 for i in range(len(item_ids))]
    random.Random(int.from_bytes(digest[:8], "big")).shuffle(flags)
    return dict(zip(item_ids, flags))


def winner(choice: str, swapped: bool) -> str:
    """'A', 'B' or 'tie' for a displayed choice '1', '2' or 'tie'."""
    if choice == "tie":
        return "tie"
    shown = ("B", "A") if swapped else ("A", "B")
    return shown[int(choice) - 1]


def derandomised(judgments: list[dict]) -> list[dict]:
    """Stored judgments with each criterion as 'A', 'B' or 'tie' (what `results.summarize` reads)."""
    return [
        {
            "annotator": j["annotator"],
            "item_id": j["item_id"],
            **{c: winner(j[c], bool(j["swapped"])) for c in CRITERIA},
        }
        for j in judgments
    ]
