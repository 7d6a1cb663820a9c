"""The paper's four datasets as requests to a teacher: what each task asks, and how answers become records.

Each task turns its input records into `Job`s (one request each, with a stable id) and, once they are done,
turns the logged answers back into records in the released schema. Records whose requests failed for good are
left out of the dataset and counted in the run's summary.
"""

import re

from gpt4llm.benchmarks import read_benchmark
from gpt4llm.data import DataError, Records, alpaca_rows, text_field
from gpt4llm.jobs import Job, job_id
from gpt4llm.templates import (
    ANSWER_IN_CHINESE,
    RATING_PROMPT,
    TRANSLATE_PROMPT,
    alpaca_prompt,
    alpaca_user_input,
)


def answer_jobs(rows: list[dict], model: str, params: dict, lang: str) -> list[Job]:
    """One request per Alpaca record: the paper's template as the user message."""
    system = [{"role": "system", "content": ANSWER_IN_CHINESE}] if lang == "zh" else []
    return [
        Job(
            job_id("answer", model, params, lang, row["instruction"], row["input"]),
            system + [{"role": "user", "content": alpaca_prompt(row["instruction"], row["input"])}],
            params,
        )
        for row in rows
    ]


def answer_records(rows: list[dict], jobs: list[Job], done: dict) -> list[dict]:
    records = []
    for row, job in zip(rows, jobs):
        if job.id in done:
            records.append(_with_id(row, {"instruction": row["instruction"], "input": row["input"], "output": done[job.id]["text"]}))
    return records


def translate_jobs(rows: list[dict], model: str, params: dict) -> list[Job]:
    """One request per non-empty field (instruction, input) of each record."""
    return [
        Job(job_id("translate", model, params, row[field]), [{"role": "user", "content": TRANSLATE_PROMPT.format(text=row[field])}], params)
        for row in rows
        for field in ("instruction", "input")
        if row[field].strip()
    ]


def translate_records(rows: list[dict], model: str, params: dict, done: dict) -> list[dict]:
    """Translated records keep the id of their English source, so answers can be matched back."""
    records = []
    for row in rows:
        fields = {}
        for field in ("instruction", "input"):
            if not row[field].strip():
                fields[field] = ""
                continue
            entry = done.get(job_id("translate", model, params, row[field]))
            if entry is None:
                break
            fields[field] = entry["text"]
        else:
            records.append({"id": row.get("id") or source_id(row), **fields})
    return records


def question_rows(records: Records) -> list[dict]:
    """FastChat questions ({question_id, text, category}) as rows whose instruction is the question."""
    rows = []
    for row, where in zip(records.rows, records.locations):
        qid = row.get("question_id") if isinstance(row, dict) else None
        if isinstance(qid, bool) or not isinstance(qid, (int, str)):
            raise DataError(f"{where}: field 'question_id' must be an integer or a string")
        rows.append({"instruction": text_field(row, "text", where), "input": "", "question_id": qid,
                     "category": text_field(row, "category", where, required=False)})  # fmt: skip
    return rows


def translated_questions(rows: list[dict], model: str, params: dict, done: dict) -> list[dict]:
    """The questions in Chinese, with their ids and categories: the paper's Chinese evaluation set."""
    out = []
    for row in rows:
        entry = done.get(job_id("translate", model, params, row["instruction"]))
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

SCORE = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)(?:\s*(?:/|out of)\s*10)?")


def parse_score(text: str) -> float:
    """The 0-10 score on the first line of a rating: "8", "8/10", "Score: 8.5", "8.5 out of 10"."""
    first = text.strip().splitlines()[0] if text.strip() else ""
    match = SCORE.search(first)
    if not match or not 0 <= float(match.group(1)) <= 10:
        raise ValueError(f"no score from 0 to 10 on the first line: {first[:80]!r}")
    return float(match.group(1))


def rating_jobs(groups: list[dict], model: str, params: dict) -> list[Job]:
    """One request per (prompt, response); `groups` are {instruction, input, responses: [{response, source}]}."""
    return [
        Job(
            rating_id(group, response["response"], model, params),
            [{"role": "user", "content": RATING_PROMPT.format(instruction=_task_text(group), response=response["response"])}],
            params,
            parse=parse_score,
        )
        for group in groups
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
            records.append({"user_input": alpaca_user_input(group["instruction"], group["input"]), "responses_and_scores": scored})
    return records


def response_groups(rows: list[dict], sources: dict[str, Records]) -> list[dict]:
    """Attach to each prompt the response each source gave it, matched by (instruction, input)."""
    by_source = {}
    for name, records in sources.items():
        by_source[name] = {(r["instruction"], r["input"]): r["output"] for r in alpaca_rows(records)}
    groups = []
    for row in rows:
        key = (row["instruction"], row["input"])
        responses = [{"response": answers[key], "source": name} for name, answers in by_source.items() if key in answers]
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


def unnatural_records(rows: list[dict], jobs: list[Job], done: dict) -> list[dict]:
    return [
        {"instruction": row["instruction"], "input": row["input"], "output": done[job.id]["text"], "label": row["label"]}
        for row, job in zip(rows, jobs)
        if job.id in done
    ]
