"""What a human study compares: the items (an instruction, its input, model A's and model B's answers), the
order each annotator sees the two answers in, and how a displayed choice maps back to a model.

Questions are any benchmark gpt4llm.benchmarks reads, keyed as it keys them: FastChat questions `{question_id,
text, category}`, User-Oriented records `{id, instruction, instances: [{input, output}]}` (an item per instance:
id `ID`, or `ID-i` for the i-th of several), ... Answers are FastChat answer files `{answer_id, question_id,
model_id, text, metadata}`, one answer per item: what `eval generate` writes for that benchmark.
"""

import hashlib
import logging
import random
from dataclasses import dataclass
from pathlib import Path

from gpt4llm.benchmarks import model_id, read_answers, read_benchmark
from gpt4llm.data import DataError, Records, load_records

logger = logging.getLogger(__name__)
CRITERIA = ("helpfulness", "honesty", "harmlessness")  # the paper's HHH criteria (Askell et al.)
WINNERS = ("A", "B", "tie")  # what a choice on the page ('1', '2' or 'tie') means once the display order is undone


@dataclass(frozen=True)
class StudyItem:
    item_id: str
    instruction: str
    input: str
    answer_a: str
    answer_b: str


def file_sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_items(questions: Records, answers_a: Records, answers_b: Records) -> tuple[list[StudyItem], str, str]:
    """The items both answer files answer, in question-file order (a pilot after `generate --limit 8` serves its 8,
    saying so in one line), and the model ids of the two answer files."""
    bench = read_benchmark(questions)
    keys = bench.keys()
    first, second = read_answers(answers_a, keys), read_answers(answers_b, keys)
    both = [item for item in bench.items if item.key in first and item.key in second]
    if not both:
        raise DataError(f"{answers_a.source}, {answers_b.source}: no question of {questions.source} is answered in "
                        "both answer files")
    if len(both) < len(bench.items):
        logger.warning("serving the %d of %d questions both answer files answer (%s answers %d, %s answers %d)",
                       len(both), len(bench.items), answers_a.source, len(first), answers_b.source, len(second))
    model_a, model_b = model_id(first, answers_a.source), model_id(second, answers_b.source)
    if model_a == model_b:
        raise DataError(
            f"{answers_b.source}: field 'model_id' is {model_a!r} in both answer files; results name models by it"
        )
    items = [StudyItem(str(i.key), i.instruction, i.input, first[i.key]["text"], second[i.key]["text"])
             for i in both]
    return items, model_a, model_b


def load_study_items(questions: str, answers_a: str, answers_b: str) -> tuple[list[StudyItem], str, str]:
    return load_items(load_records(questions), load_records(answers_a), load_records(answers_b))


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
