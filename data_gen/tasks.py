"""The paper's four datasets as requests to a teacher: what each task asks, and how answers become records.

`TASKS` is the registry `python -m data_gen` dispatches on: a `Task` (a dataclass whose fields are the task's own
options) turns its input rows into `Job`s (one request each, with a stable id and the row it serves) and, once
they are done, the logged answers back into records in the released schema; data_gen/runner.py runs it. A task
class that leaves out a step is an error when this module is imported. Records whose requests failed for good
are left out of the dataset, counted in the run's summary and listed in the failures file.
"""

import re
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import ClassVar

from gpt4llm.benchmarks import read_benchmark
from gpt4llm.data import DataError, Records, alpaca_rows, load_records
from gpt4llm.teacher.runlog import Job, job_id
from gpt4llm.templates import (
    ANSWER_IN_CHINESE,
    RATING_PROMPT,
    TRANSLATE_PROMPT,
    alpaca_prompt,
    alpaca_user_input,
)

# the paper's answering parameters; steadier ones for translating and rating
ANSWER_PARAMS = {"temperature": 1.0, "top_p": 1.0, "max_tokens": 512}

Send = Callable[[list[Job], str], Awaitable[dict]]  # (jobs, model) -> the log's finished entries


def row_source(i: int, row: dict) -> dict:
    """How the failures file names an input row: its position, and its id or else its instruction."""
    return {"row": i, "id": row["id"]} if row.get("id") else {"row": i, "instruction": row["instruction"][:200]}


def answer_jobs(rows: list[dict], model: str, params: dict, lang: str) -> list[Job]:
    """One request per Alpaca record: the paper's template as the user message."""
    system = [{"role": "system", "content": ANSWER_IN_CHINESE}] if lang == "zh" else []
    return [
        Job(
            job_id("answer", model, params, lang, row["instruction"], row["input"]),
            system + [{"role": "user", "content": alpaca_prompt(row["instruction"], row["input"])}],
            params,
            source=row_source(i, row),
        )
        for i, row in enumerate(rows)
    ]


def answer_records(rows: list[dict], jobs: list[Job], done: dict, keep_truncated: bool = False) -> list[dict]:
    records = []
    for row, job in zip(rows, jobs):
        if job.id in done:
            record = {"instruction": row["instruction"], "input": row["input"], "output": done[job.id]["text"]}
            records.append(_with_id(row, _flagged(record, [done[job.id]], keep_truncated)))
    return records


def _flagged(record: dict, entries: list[dict], keep_truncated: bool) -> dict:
    """With --keep-truncated every record says whether its answer was cut at the length limit."""
    return record | {"truncated": any(e.get("truncated") for e in entries)} if keep_truncated else record


def translate_id(model: str, params: dict, text: str) -> str:
    return job_id("translate", model, params, text)


def translate_jobs(rows: list[dict], model: str, params: dict) -> list[Job]:
    """One request per non-empty field (instruction, input) of each record."""
    return [
        Job(
            translate_id(model, params, row[field]),
            [{"role": "user", "content": TRANSLATE_PROMPT.format(text=row[field])}],
            params,
            source={**row_source(i, row), "field": field},
        )
        for i, row in enumerate(rows)
        for field in ("instruction", "input")
        if row[field].strip()
    ]


def translate_records(
    rows: list[dict], model: str, params: dict, done: dict, keep_truncated: bool = False
) -> list[dict]:
    """Translated records keep the id of their English source, so answers can be matched back."""
    records = []
    for row in rows:
        fields, entries = {}, []
        for name in ("instruction", "input"):
            if not row[name].strip():
                fields[name] = ""
                continue
            entry = done.get(translate_id(model, params, row[name]))
            if entry is None:
                break
            fields[name] = entry["text"]
            entries.append(entry)
        else:
            records.append(_flagged({"id": row.get("id") or source_id(row), **fields}, entries, keep_truncated))
    return records


def question_rows(records: Records) -> list[dict]:
    """FastChat questions ({question_id, text, category}), read by the benchmark reader, as rows whose instruction
    is the question."""
    bench = read_benchmark(records)
    if bench.shape != "fastchat":
        raise DataError(f"{bench.source}: translate reads FastChat questions {{question_id, text, category}} or "
                        f"Alpaca records, not {bench.shape} records")
    return [{"instruction": item.instruction, "input": "", "question_id": item.key, "category": item.category}
            for item in bench.items]


def translated_questions(rows: list[dict], model: str, params: dict, done: dict) -> list[dict]:
    """The questions in Chinese, with their ids and categories: the paper's Chinese evaluation set."""
    out = []
    for row in rows:
        entry = done.get(translate_id(model, params, row["instruction"]))
        if entry is not None:
            out.append({"question_id": row["question_id"], "text": entry["text"], "category": row["category"]})
    return out


def source_id(row: dict) -> str:
    return job_id("record", row["instruction"], row["input"])


def _with_id(row: dict, record: dict) -> dict:
    return {"id": row["id"], **record} if row.get("id") else record


# ---------------------------------------------------------------- ratings


# For small local judges: a llama.cpp grammar (GBNF) that makes the answer start with a score line
SCORE_FIRST_GRAMMAR = 'root ::= score "\\n" [^\\x00]*\nscore ::= [1-9] | "10"'

_NUMBER = r"(?<![\w.])(?<![A-Za-z]-)(\d+(?:\.\d+)?)(?!\w)"  # not the 4 of "GPT-4"
_OUT_OF_TEN = re.compile(
    _NUMBER + r"\s*(?:/\s*10(?:\.0)?|\(?\s*out\s+of\s+(?:a\s+possible\s+)?10\)?)(?!\.?\d)", re.IGNORECASE
)
# "(1-10)", "1 to 10": the scale, not a score
_SCALE = re.compile(r"\(?\b(?:0|1)\s*(?:-|–|—|to)\s*10\b\)?", re.IGNORECASE)
_ENUMERATION = re.compile(r"^\s*(?:\d+[.)]|[-*•])\s+")  # "1. Helpfulness: 9": a list item's number
_ANY_NUMBER = re.compile(_NUMBER)


def parse_score(text: str) -> float:
    """The 0-10 score on the first line of a rating, as a person reads it: "9", "9/10", "Score: 8.5",
    "Rating (1-10): 9", "I would rate it 7 out of 10", "On a scale of 1 to 10, I give 7", "1. Helpfulness: 9". A
    line with competing candidates ("8 or 9", "Helpfulness: 9, Accuracy: 7") raises ValueError, so the rating is
    asked for again rather than stored as a guess."""
    first = next((line for line in text.strip().splitlines() if line.strip()), "")
    unnumbered = _ENUMERATION.sub("", first)
    line = unnumbered if _ANY_NUMBER.search(unnumbered) else first  # "8. Accurate" is a score, not a list item
    out_of_ten = {float(m.group(1)) for m in _OUT_OF_TEN.finditer(line)}
    candidates = out_of_ten or {float(m.group(1)) for m in _ANY_NUMBER.finditer(_SCALE.sub(" ", line))}
    if not candidates:
        raise ValueError(f"no score on the first line: {first[:80]!r}")
    if len(candidates) > 1:
        raise ValueError(f"competing scores {sorted(candidates)} on the first line: {first[:80]!r}")
    (score,) = candidates
    if not 0 <= score <= 10:
        raise ValueError(f"score {score:g} is not from 0 to 10: {first[:80]!r}")
    return score


def rating_jobs(groups: list[dict], model: str, params: dict) -> list[Job]:
    """One request per (prompt, response); `groups` are {instruction, input, responses: [{response, source}]}."""
    return [
        Job(
            rating_id(group, response["response"], model, params),
            [{"role": "user",
              "content": RATING_PROMPT.format(instruction=_task_text(group), response=response["response"])}],
            params,
            parse=parse_score,
            source={**row_source(i, group), "response_source": response["source"]},
        )
        for i, group in enumerate(groups)
        for response in group["responses"]
        if response["response"].strip()
    ]


def rating_id(group: dict, response: str, model: str, params: dict) -> str:
    return job_id("rate", model, params, group["instruction"], group["input"], response)


def _task_text(group: dict) -> str:
    return f"{group['instruction']}\n\n{group['input']}" if group["input"].strip() else group["instruction"]


def comparison_records(groups: list[dict], model: str, params: dict, done: dict) -> list[dict]:
    """The released comparison_data_v2 schema. Empty responses keep score 0, as in the release; a prompt whose
    ratings did not all succeed is left out rather than written with a made-up score."""
    records = []
    for group in groups:
        scored = []
        for response in group["responses"]:
            if not response["response"].strip():
                scored.append({"response": response["response"], "score": 0.0, "source": response["source"]})
                continue
            entry = done.get(rating_id(group, response["response"], model, params))
            if entry is None:
                break
            scored.append({"response": response["response"], "score": entry["value"], "source": response["source"]})
        else:
            records.append({"user_input": alpaca_user_input(group["instruction"], group["input"]),
                            "responses_and_scores": scored})
    return records


def response_groups(rows: list[dict], sources: dict[str, Records]) -> list[dict]:
    """Attach to each prompt the response each source gave it, matched by (instruction, input)."""
    by_source = {}
    for name, records in sources.items():
        by_source[name] = {(r["instruction"], r["input"]): r["output"] for r in alpaca_rows(records)}
    groups = []
    for row in rows:
        key = (row["instruction"], row["input"])
        responses = [{"response": answers[key], "source": name}
                     for name, answers in by_source.items() if key in answers]
        groups.append({"instruction": row["instruction"], "input": row["input"], "responses": responses})
    return groups


# ---------------------------------------------------------------- Unnatural Instructions


def unnatural_rows(records: Records) -> list[dict]:
    """Unnatural Instructions records as one row per instance with the ground truth as `label`, read by the
    benchmark reader: the core set ({instruction, instances: [{input, output}]}), the released GPT-4 file
    ({instruction, input, output, label}: its label, not GPT-4's output) or flat Alpaca records."""
    rows = []
    for item in read_benchmark(records).items:
        if item.reference is None:
            raise DataError(f"{item.where}: no ground truth: field 'output' (or 'label') is missing")
        rows.append({"instruction": item.instruction, "input": item.input, "label": item.reference})
    return rows


def unnatural_records(rows: list[dict], jobs: list[Job], done: dict, keep_truncated: bool = False) -> list[dict]:
    records = []
    for row, job in zip(rows, jobs):
        if job.id in done:
            record = {"instruction": row["instruction"], "input": row["input"], "output": done[job.id]["text"],
                      "label": row["label"]}
            records.append(_flagged(record, [done[job.id]], keep_truncated))
    return records


# ---------------------------------------------------------------- the registry


@dataclass
class Task(ABC):
    """One data_gen command; its fields are the task's own options. `rows` reads the input, `jobs` makes the
    requests (a task with a first stage, such as rate's responders, sends it through `send`), `records` turns the
    finished answers into the dataset. Each step is a function of what it is given: nothing is carried between
    them on the task."""

    name: ClassVar[str]
    help: ClassVar[str]
    params: ClassVar[dict]  # the request parameters (--temperature, --top-p, --max-tokens override them)

    @classmethod
    def add_arguments(cls, parser) -> None:
        """The task's own options (its fields), beside the common ones."""

    def rows(self, records: Records) -> list[dict]:
        return alpaca_rows(records, require_output=False)

    @abstractmethod
    async def jobs(self, rows: list[dict], model: str, params: dict, send: Send) -> list[Job]: ...

    @abstractmethod
    def records(self, rows: list[dict], jobs: list[Job], done: dict, model: str, params: dict,
                keep_truncated: bool) -> list[dict]: ...


@dataclass
class AnswerTask(Task):
    name = "answer"
    help = "answers to Alpaca-schema instructions"
    params = ANSWER_PARAMS
    lang: str = "en"

    @classmethod
    def add_arguments(cls, parser) -> None:
        parser.add_argument("--lang", choices=["en", "zh"], default="en", help="zh asks for answers in Chinese")

    async def jobs(self, rows, model, params, send):
        return answer_jobs(rows, model, params, self.lang)

    def records(self, rows, jobs, done, model, params, keep_truncated):
        return answer_records(rows, jobs, done, keep_truncated)


@dataclass
class TranslateTask(Task):
    name = "translate"
    help = "instructions and inputs (or FastChat questions) translated into Chinese"
    params: ClassVar[dict] = {"temperature": 0.0, "top_p": 1.0, "max_tokens": 1024}

    def rows(self, records):
        first = records.rows[0]
        # FastChat questions (vicuna80): the Chinese evaluation's
        if isinstance(first, dict) and "question_id" in first:
            return question_rows(records)
        return alpaca_rows(records, require_output=False)

    async def jobs(self, rows, model, params, send):
        return translate_jobs(rows, model, params)

    def records(self, rows, jobs, done, model, params, keep_truncated):
        if rows and "question_id" in rows[0]:
            return translated_questions(rows, model, params, done)
        return translate_records(rows, model, params, done, keep_truncated)


@dataclass
class RateTask(Task):
    """`responses`: source name -> an Alpaca-schema file of that source's responses; `responders`: models that
    answer the prompts first. A row is a prompt with the responses of the files (the responders' are added from the
    run log: the same answers whenever they are asked for)."""

    name = "rate"
    help = "1-10 ratings of K responses per prompt"
    params: ClassVar[dict] = {"temperature": 0.0, "top_p": 1.0, "max_tokens": 512}
    responses: dict[str, str] = field(default_factory=dict)
    responders: list[str] = field(default_factory=list)

    @classmethod
    def add_arguments(cls, parser) -> None:
        parser.add_argument("--responses", action="append", default=[], metavar="SOURCE=PATH",
                            help="responses of one source (Alpaca schema)")
        parser.add_argument("--responder", dest="responders", action="append", default=[], metavar="MODEL",
                            help="a model that answers the prompts first")

    def rows(self, records):
        sources = {name: load_records(path) for name, path in self.responses.items()}
        return response_groups(alpaca_rows(records, require_output=False), sources)

    async def jobs(self, rows, model, params, send):
        done = {}
        for responder in self.responders:
            done |= await send(answer_jobs(rows, responder, ANSWER_PARAMS, "en"), responder)
        return rating_jobs(self._with_responders(rows, done), model, params)

    def records(self, rows, jobs, done, model, params, keep_truncated):
        return comparison_records(self._with_responders(rows, done), model, params, done)

    def _with_responders(self, groups: list[dict], done: dict) -> list[dict]:
        """The groups with each responder's logged answer added to their responses."""
        groups = [{**group, "responses": list(group["responses"])} for group in groups]
        for responder in self.responders:
            for group, job in zip(groups, answer_jobs(groups, responder, ANSWER_PARAMS, "en")):
                if job.id in done:
                    group["responses"].append({"response": done[job.id]["text"], "source": responder})
        return groups


@dataclass
class UnnaturalTask(Task):
    name = "unnatural"
    help = "answers to Unnatural Instructions, with the ground truth"
    params = ANSWER_PARAMS

    def rows(self, records):
        return unnatural_rows(records)

    async def jobs(self, rows, model, params, send):
        return answer_jobs(rows, model, params, "en")

    def records(self, rows, jobs, done, model, params, keep_truncated):
        return unnatural_records(rows, jobs, done, keep_truncated)


def response_sources(specs: list[str]) -> dict[str, str]:
    """SOURCE=PATH specs (--responses) as {source: path}."""
    sources = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep or not name or not path:
            raise DataError(f"--responses {spec!r}: expected SOURCE=PATH")
        sources[name] = path
    return sources


def _registry(*tasks: type[Task]) -> dict[str, type[Task]]:
    """The tasks by name; a task that leaves out a step or an attribute is an error here, at import."""
    for task in tasks:
        missing = sorted(task.__abstractmethods__) + [a for a in ("name", "help", "params") if not hasattr(task, a)]
        if missing:
            raise TypeError(f"data_gen task {task.__name__} does not define {', '.join(missing)}")
    return {task.name: task for task in tasks}


TASKS = _registry(AnswerTask, TranslateTask, RateTask, UnnaturalTask)
