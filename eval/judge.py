"""Teacher-as-judge on Vicuna-80, FastChat's protocol made sound: pairwise reviews routed by category, both
answer orders, a parser that reads every review shape, and totals that count what could not be read.

FastChat's files are read and written as they are: questions `{question_id, text, category}`, answers
`{answer_id, question_id, model_id, text, metadata}`, reviewers `{reviewer_id, prompt_id, metadata, category}`,
prompts `{prompt_id, system_prompt, prompt_template, defaults}`, reviews `{review_id, question_id, answer1_id,
answer2_id, reviewer_id, text, score: [s1, s2], metadata}` (score null when unparsed, never -1).
"""

import re
from collections import defaultdict
from dataclasses import dataclass

from gpt4llm.data import DataError, Records, text_field
from gpt4llm.jobs import Job, job_id

# ---------------------------------------------------------------- FastChat files


def questions(records: Records) -> dict:
    """question_id -> {text, category}."""
    out = {}
    for row, where in zip(records.rows, records.locations):
        qid = _id(row, "question_id", where)
        out[qid] = {"text": text_field(row, "text", where), "category": text_field(row, "category", where, required=False) or "general"}
    return out


def answers(records: Records, question_ids, *, required=None) -> dict:
    """question_id -> answer record, for one model's answer file: each answer is to a question of the benchmark,
    and every `required` question (default: all) is answered once. Only the required answers are returned."""
    out = {}
    for row, where in zip(records.rows, records.locations):
        qid = _id(row, "question_id", where)
        text_field(row, "text", where)
        if qid not in question_ids:
            raise DataError(f"{where}: field 'question_id' {qid!r} is not a question of the benchmark")
        if qid in out:
            raise DataError(f"{where}: field 'question_id' {qid!r} is answered twice in this file")
        out[qid] = row
    required = list(question_ids if required is None else required)
    missing = sorted(set(required) - set(out), key=str)
    if missing:
        raise DataError(f"{records.source}: no answer to question_id {missing[:5]}{' ...' if len(missing) > 5 else ''}")
    return {qid: out[qid] for qid in required}


def _id(row, field: str, where: str):
    value = row.get(field) if isinstance(row, dict) else None
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise DataError(f"{where}: field '{field}' must be an integer or a string")
    return value


@dataclass
class Reviewer:
    reviewer_id: str
    system_prompt: str
    prompt_template: str
    defaults: dict
    temperature: float
    max_tokens: int


def reviewers(reviewer_records: Records, prompt_records: Records) -> dict[str, Reviewer]:
    """category -> Reviewer (FastChat's general, coding and math reviewers and their prompts)."""
    prompts = {}
    for row, where in zip(prompt_records.rows, prompt_records.locations):
        prompts[_id(row, "prompt_id", where)] = (
            text_field(row, "system_prompt", where), text_field(row, "prompt_template", where), row.get("defaults") or {}
        )  # fmt: skip
    out = {}
    for row, where in zip(reviewer_records.rows, reviewer_records.locations):
        prompt_id = _id(row, "prompt_id", where)
        if prompt_id not in prompts:
            raise DataError(f"{where}: field 'prompt_id' {prompt_id!r} is not in {prompt_records.source}")
        system, template, defaults = prompts[prompt_id]
        meta = row.get("metadata") or {}
        out[text_field(row, "category", where)] = Reviewer(
            text_field(row, "reviewer_id", where), system, template, defaults,
            float(meta.get("temperature", 0.2)), int(meta.get("max_tokens", 1024)),
        )  # fmt: skip
    if "general" not in out:
        raise DataError(f"{reviewer_records.source}: no reviewer for category 'general'")
    return out


# ---------------------------------------------------------------- reviews


# For small local judges: a llama.cpp grammar that makes a review start with the two scores
PAIR_FIRST_GRAMMAR = 'root ::= score " " score "\\n" [^\\x00]*\nscore ::= [1-9] | "10"'


def review_jobs(
    qs: dict, first: dict, second: dict, revs: dict[str, Reviewer], judge: str, both_orders: bool, extra_body=None,
    max_tokens: int | None = None,
) -> list[Job]:
    """One request per question and answer order: (first, second), and (second, first) when both_orders."""
    jobs = []
    for qid, question in qs.items():
        reviewer = revs.get(question["category"], revs["general"])
        orders = [(first[qid], second[qid])] + ([(second[qid], first[qid])] if both_orders else [])
        for answer_1, answer_2 in orders:
            prompt = reviewer.prompt_template.format(
                question=question["text"], answer_1=answer_1["text"], answer_2=answer_2["text"], **reviewer.defaults
            )
            params = {"temperature": reviewer.temperature, "max_tokens": max_tokens or reviewer.max_tokens}
            if extra_body:
                params["extra_body"] = extra_body
            messages = [{"role": "system", "content": reviewer.system_prompt}, {"role": "user", "content": prompt}]
            meta = {"question_id": qid, "answer1_id": answer_1["answer_id"], "answer2_id": answer_2["answer_id"],
                    "reviewer_id": reviewer.reviewer_id}  # fmt: skip
            jobs.append(Job(job_id("review", judge, params, messages), messages, params, meta=meta))
    return jobs


def review_records(jobs: list[Job], done: dict, judge: str) -> list[dict]:
    return [
        {"review_id": job.id, **job.meta, "text": done[job.id]["text"], "score": parse_review(done[job.id]["text"]),
         "metadata": {"judge": judge}}  # fmt: skip
        for job in jobs
        if job.id in done
    ]


_NUMBER = r"(\d+(?:\.\d+)?)"
_PAIR = re.compile(rf"^\s*{_NUMBER}\s*(?:/\s*10)?\s*[,;\s]\s*{_NUMBER}\s*(?:/\s*10)?\s*$")
_TUPLE = re.compile(rf"\(\s*{_NUMBER}\s*,\s*{_NUMBER}\s*\)")
_NAMED = re.compile(rf"Assistant\s*([12])\D{{0,40}}?(?:score(?:s|d)?\s*(?:of|:|is)?\s*|:\s*){_NUMBER}", re.IGNORECASE)


def parse_review(text: str) -> list[float] | None:
    """[s1, s2] from a review, or None: the first line "8 7" / "8, 7" (general and coding reviews), else the last
    "(8, 7)" tuple in the last three lines (math reviews end with one), else "Assistant 1 ... score of 8" for both assistants."""
    lines = text.strip().splitlines()
    if lines and (match := _PAIR.match(lines[0].replace("Score", "").replace(":", " "))):
        scores = [float(match.group(1)), float(match.group(2))]
    elif tuples := _TUPLE.findall("\n".join(lines[-3:])):  # only near the end: math reviews quote coordinates
        scores = [float(x) for x in tuples[-1]]
    else:
        named = {int(who): float(score) for who, score in _NAMED.findall(text)}
        if set(named) != {1, 2}:
            return None
        scores = [named[1], named[2]]
    return scores if all(0 <= s <= 10 for s in scores) else None


def aggregate(reviews: list[dict], model_of: dict, categories: dict) -> dict:
    """Totals per model over the questions both orders agree were reviewed.

    `model_of` maps answer_id -> model_id and `categories` question_id -> category. For each question and model,
    the score is the mean over the reviews that parsed (both orders when judged both ways). Returns {models,
    totals, by_category, questions, unparsed, first_order_totals} where first_order_totals uses only the reviews
    whose first answer belongs to the first model (FastChat's single-order protocol)."""
    per_question = defaultdict(lambda: defaultdict(list))
    first_order = defaultdict(lambda: defaultdict(list))
    unparsed = 0
    models: list[str] = []
    for review in reviews:
        pair = (model_of[review["answer1_id"]], model_of[review["answer2_id"]])
        if not models:
            models = list(pair)
        if review["score"] is None:
            unparsed += 1
            continue
        for model, score in zip(pair, review["score"]):
            per_question[review["question_id"]][model].append(score)
            if pair[0] == models[0]:
                first_order[review["question_id"]][model].append(score)

    def totals(scores: dict, keep=lambda qid: True) -> dict:
        return {m: sum(sum(s[m]) / len(s[m]) for q, s in scores.items() if keep(q) and s[m]) for m in models}

    complete = {q: s for q, s in per_question.items() if all(s[m] for m in models)}
    by_category = {c: totals(complete, lambda q, c=c: categories.get(q) == c) for c in sorted(set(categories.values()))}
    return {
        "models": models,
        "questions": len(complete),
        "unparsed": unparsed,
        "totals": totals(complete),
        "by_category": {c: t for c, t in by_category.items() if any(t.values())},
        "first_order_totals": totals({q: s for q, s in first_order.items() if all(s[m] for m in models)}),
    }
