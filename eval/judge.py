"""Teacher-as-judge, FastChat's protocol made sound: pairwise reviews routed by category, both answer orders, a
parser that reads every review shape, and totals with bootstrap intervals and the judge's position and length
biases.

FastChat's files are read and written as they are: reviewers `{reviewer_id, prompt_id, metadata, category}`,
prompts `{prompt_id, system_prompt, prompt_template, defaults}`, reviews `{review_id, question_id, answer1_id,
answer2_id, reviewer_id, text, score: [s1, s2], metadata}` (score null when unparsed, never -1); questions and
answers are read by gpt4llm.benchmarks. FastChat's single order puts the reference as Assistant 1 and the
evaluated model as Assistant 2 (every one of its published Vicuna reviews does); both orders are the default here.
"""

import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gpt4llm.benchmarks import Benchmark, Item, load_benchmark, model_id, read_answers, record_id, select
from gpt4llm.data import DataError, Records, load_records, text_field
from gpt4llm.files import write_json_atomic
from gpt4llm.teacher.options import TeacherConfig
from gpt4llm.teacher.runlog import Job, Written, job_id

from . import mt_bench
from .stats import pairwise_intervals
from .words import length_in_tokens

FASTCHAT_REVIEWERS = ("fastchat_reviewers", "fastchat_review_prompts")  # registry names in gpt4llm/sources.py

# ---------------------------------------------------------------- FastChat reviewers


@dataclass
class Reviewer:
    reviewer_id: str
    system_prompt: str
    prompt_template: str
    defaults: dict
    temperature: float
    max_tokens: int


def reviewers_by_category(reviewer_records: Records, prompt_records: Records) -> dict[str, Reviewer]:
    """category -> Reviewer (FastChat's general, coding and math reviewers and their prompts)."""
    prompts = {}
    for row, where in zip(prompt_records.rows, prompt_records.locations):
        prompts[record_id(row, "prompt_id", where)] = (
            text_field(row, "system_prompt", where), text_field(row, "prompt_template", where),
            row.get("defaults") or {}
        )
    out = {}
    for row, where in zip(reviewer_records.rows, reviewer_records.locations):
        prompt_id = record_id(row, "prompt_id", where)
        if prompt_id not in prompts:
            raise DataError(f"{where}: field 'prompt_id' {prompt_id!r} is not in {prompt_records.source}")
        system, template, defaults = prompts[prompt_id]
        meta = row.get("metadata") or {}
        out[text_field(row, "category", where)] = Reviewer(
            text_field(row, "reviewer_id", where), system, template, defaults,
            float(meta.get("temperature", 0.2)), int(meta.get("max_tokens", 1024)),
        )
    if "general" not in out:
        raise DataError(f"{reviewer_records.source}: no reviewer for category 'general'")
    return out


# ---------------------------------------------------------------- reviews


# For small local judges: a llama.cpp grammar that makes a review start with the two scores
PAIR_FIRST_GRAMMAR = 'root ::= score " " score "\\n" [^\\x00]*\nscore ::= [1-9] | "10"'


def review_jobs(
    items: list[Item], answers: dict, reference: dict, revs: dict[str, Reviewer], judge: str, both_orders: bool,
    extra_body=None, max_tokens: int | None = None,
) -> list[Job]:
    """One request per item and answer order: the reference as Assistant 1 and the model's answer as Assistant 2
    (FastChat's order), then the other way round when both_orders."""
    jobs = []
    for item in items:
        orders = [(reference[item.key], answers[item.key])] + (
            [(answers[item.key], reference[item.key])] if both_orders else []
        )
        jobs += [review_job(item, first, second, revs, judge, extra_body=extra_body, max_tokens=max_tokens)
                 for first, second in orders]
    return jobs


def review_job(item: Item, answer_1: dict, answer_2: dict, revs: dict[str, Reviewer], judge: str, *,
               extra_body=None, max_tokens: int | None = None, repeat: int = 0) -> Job:
    """The request for one review of two answers to an item by the item's category's reviewer; `repeat` > 0 asks
    the same again as a request of its own (a judge's run-to-run spread)."""
    reviewer = revs.get(item.category, revs["general"])
    prompt = reviewer.prompt_template.format(
        question=item.prompt, answer_1=answer_1["text"], answer_2=answer_2["text"], **reviewer.defaults
    )
    params = {"temperature": reviewer.temperature, "max_tokens": max_tokens or reviewer.max_tokens}
    if extra_body:
        params["extra_body"] = extra_body
    messages = [{"role": "system", "content": reviewer.system_prompt}, {"role": "user", "content": prompt}]
    meta = {"question_id": item.key, "answer1_id": answer_1["answer_id"], "answer2_id": answer_2["answer_id"],
            "reviewer_id": reviewer.reviewer_id}
    key = ("review", judge, params, messages) + ((repeat,) if repeat else ())
    # parse: a review cut at the length limit after its scores is kept (runlog.answer_entry)
    return Job(job_id(*key), messages, params, parse=parse_review, meta=meta)


def review_records(jobs: list[Job], done: dict, judge: str) -> list[dict]:
    return [
        {"review_id": job.id, **job.meta, "text": done[job.id]["text"], "score": parse_review(done[job.id]["text"]),
         "metadata": {"judge": judge}}
        for job in jobs
        if job.id in done
    ]


_NUMBER = r"(\d+(?:\.\d+)?)"
_PAIR = re.compile(rf"^\s*{_NUMBER}\s*(?:/\s*10)?\s*[,;\s]\s*{_NUMBER}\s*(?:/\s*10)?\s*$")
_TUPLE = re.compile(rf"\(\s*{_NUMBER}\s*,\s*{_NUMBER}\s*\)")
_NAMED = re.compile(rf"Assistant\s*([12])\D{{0,40}}?(?:score(?:s|d)?\s*(?:of|:|is)?\s*|:\s*){_NUMBER}", re.IGNORECASE)


def parse_review(text: str) -> list[float] | None:
    """[s1, s2] from a review, or None: the first line "8 7" / "8, 7" (general and coding reviews), else the last
    "(8, 7)" tuple in the last three lines (math reviews end with one), else "Assistant 1 ... score of 8" for both
    assistants."""
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


def review_score(review: dict) -> tuple[list[float] | None, bool]:
    """The two scores a review gives and whether its stored score disagrees with its text. The stored `score` is
    used when it is a valid pair (FastChat corrected some by hand, and its failed reviews store [-1, -1]), the
    text's scores otherwise."""
    stored, text = review.get("score"), review.get("text")
    parsed = parse_review(text) if isinstance(text, str) else None
    if isinstance(stored, (list, tuple)) and len(stored) == 2 and all(_is_score(s) for s in stored):
        stored = [float(s) for s in stored]
        return stored, parsed is not None and parsed != stored
    return parsed, False


def _is_score(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 10


def review_totals(
    reviews: list[dict], answers: dict, categories: dict, reference: str, *, resamples: int = 1000, seed: int = 0
) -> dict:
    """Totals of a model against a reference over the questions the reviews cover, with bootstrap intervals.

    `reviews` are one model pair's, `answers` maps answer_id -> answer record (model_id, text) and `categories`
    question_id -> category. A question's score for each model is the mean over its readable reviews (both
    orders, when judged both ways); unreadable reviews are counted, never scored. Returns {models: [model,
    reference], reference, questions, reviews, unparsed, score_text_disagreements, totals, ratio, by_category,
    single_order_totals (reviews with the reference as Assistant 1, FastChat's protocol), outcomes, win_rate,
    loss_rate, intervals, position (both orders judged: flip rate, first-position win rate), length (the longer
    answer's win rate), per_question}."""
    pair = {answers[reviews[0]["answer1_id"]]["model_id"], answers[reviews[0]["answer2_id"]]["model_id"]}
    model = next(m for m in pair if m != reference)
    scores: dict = defaultdict(lambda: {"reference_first": [], "model_first": []})  # question -> order -> [(m, r)]
    lengths: dict = {}
    unparsed = disagreements = first_wins = readable = 0
    for review in reviews:
        first, second = answers[review["answer1_id"]], answers[review["answer2_id"]]
        score, disagrees = review_score(review)
        disagreements += disagrees
        if score is None:
            unparsed += 1
            continue
        readable += 1
        first_wins += score[0] > score[1]
        by_model = {first["model_id"]: (score[0], first), second["model_id"]: (score[1], second)}
        order = "reference_first" if first["model_id"] == reference else "model_first"
        scores[review["question_id"]][order].append((by_model[model][0], by_model[reference][0]))
        lengths[review["question_id"]] = (
            length_in_tokens(by_model[model][1]["text"]), length_in_tokens(by_model[reference][1]["text"])
        )

    def mean(pairs) -> tuple[float, float]:
        return sum(p[0] for p in pairs) / len(pairs), sum(p[1] for p in pairs) / len(pairs)

    per_question = []
    for qid, orders in scores.items():
        m, r = mean(orders["reference_first"] + orders["model_first"])
        per_question.append({"question_id": qid, "category": categories.get(qid, "general"), "model_score": m,
                             "reference_score": r, "model_length": lengths[qid][0],
                             "reference_length": lengths[qid][1]})
    m_scores = [q["model_score"] for q in per_question]
    r_scores = [q["reference_score"] for q in per_question]
    totals = {model: sum(m_scores), reference: sum(r_scores)}
    by_category = {}
    for category in sorted({q["category"] for q in per_question}):
        chosen = [q for q in per_question if q["category"] == category]
        by_category[category] = {
            model: sum(q["model_score"] for q in chosen), reference: sum(q["reference_score"] for q in chosen)
        }
    single = [mean(o["reference_first"]) for o in scores.values() if o["reference_first"]]
    outcomes = Counter("win" if m > r else "loss" if m < r else "tie" for m, r in zip(m_scores, r_scores))
    n = len(per_question)
    return {
        "models": [model, reference],
        "reference": reference,
        "questions": n,
        "reviews": len(reviews),
        "unparsed": unparsed,
        "score_text_disagreements": disagreements,
        "totals": totals,
        "ratio": totals[model] / totals[reference] if totals[reference] else None,
        "by_category": by_category,
        "single_order_totals": {model: sum(s[0] for s in single), reference: sum(s[1] for s in single)},
        "single_order_questions": len(single),
        "outcomes": {k: outcomes[k] for k in ("win", "tie", "loss")},
        "win_rate": outcomes["win"] / n if n else None,
        "loss_rate": outcomes["loss"] / n if n else None,
        "intervals": pairwise_intervals(m_scores, r_scores, resamples=resamples, seed=seed),
        "bootstrap": {"resamples": resamples, "seed": seed, "level": 0.95},
        "position": _position_bias(scores, first_wins, readable),
        "length": _length_bias(per_question),
        "per_question": per_question,
    }


def _position_bias(scores: dict, first_wins: int, readable: int) -> dict | None:
    """With both orders judged: the share of questions whose winner changes with the order, and of reviews whose
    Assistant 1 scores higher (0.5 for a judge without position bias that never ties)."""
    both = [o for o in scores.values() if o["reference_first"] and o["model_first"]]
    if not both:
        return None
    flips = sum(_verdict(o["reference_first"]) != _verdict(o["model_first"]) for o in both)
    return {"questions": len(both), "flip_rate": flips / len(both), "first_position_win_rate": first_wins / readable}


def _verdict(pairs: list[tuple[float, float]]) -> int:
    """1 if the model wins on these (model, reference) scores, -1 if the reference does, 0 for a tie."""
    return int(np.sign(sum(m - r for m, r in pairs)))


def _length_bias(per_question: list[dict]) -> dict:
    """How often the longer answer wins, over the questions with a winner and answers of different lengths."""
    decided = [q for q in per_question
               if q["model_score"] != q["reference_score"] and q["model_length"] != q["reference_length"]]
    longer_wins = sum((q["model_score"] > q["reference_score"]) == (q["model_length"] > q["reference_length"])
                      for q in decided)
    return {"questions": len(decided), "longer_answer_win_rate": longer_wins / len(decided) if decided else None}


# ---------------------------------------------------------------- the stages


def judge(questions: str, answers: list[str], output: Path, judge_model: TeacherConfig, *,
          reference: str | None = None, limit: int | None = None, max_tokens: int | None = None,
          extra_body: dict | None = None, bootstrap: int = 1000, seed: int = 0, dry_run: bool = False,
          reviewers: str | None = None, review_prompts: str | None = None, single_order: bool = False,
          mode: str | None = None, judge_prompts: str | None = None,
          reference_answers: str | None = None) -> Written | None:
    """`python -m eval judge`: a judge model's verdicts on answer files, by the questions' shape. Single-turn
    questions (Vicuna-80): one answer file reviewed against `reference`'s answers, FastChat's reviewers (`review`;
    `reviewers`, `review_prompts`, `single_order` are theirs). Multi-turn questions (MT-bench): FastChat's
    llm_judge grading (`mt_bench.grade`; `mode`, `judge_prompts`, `reference_answers` are its, and `reference`
    is the baseline of mode pairwise-baseline). Returns what was written; None after a dry run."""
    bench = load_benchmark(questions)
    common = {"limit": limit, "max_tokens": max_tokens, "extra_body": extra_body, "bootstrap": bootstrap,
              "seed": seed, "dry_run": dry_run}
    if bench.shape == "mt_bench":
        _refuse(bench, "multi-turn questions (MT-bench)", reviewers=reviewers, review_prompts=review_prompts,
                single_order=single_order)
        return mt_bench.grade(bench, answers, output, judge_model, mode=mode or "single", baseline=reference,
                              judge_prompts=judge_prompts or "mt_bench_judge_prompts",
                              reference_answers=reference_answers, **common)
    _refuse(bench, "single-turn questions", mode=mode, judge_prompts=judge_prompts,
            reference_answers=reference_answers)
    if len(answers) != 1 or not reference:
        raise DataError(f"{bench.source}: single-turn questions are reviewed one answer file (--answers) against "
                        "a reference model's (--reference)")
    return review(bench, answers[0], reference, output, judge_model, reviewers=reviewers or FASTCHAT_REVIEWERS[0],
                  review_prompts=review_prompts or FASTCHAT_REVIEWERS[1], single_order=single_order, **common)


def aggregate(questions: str, reviews: list[str], output: Path | None = None, *, answers: list[str] = (),
              references: list[str] | None = None, bootstrap: int = 1000, seed: int = 0) -> list[dict]:
    """`python -m eval aggregate`: the totals of judgment files, by the questions' shape: reviews of single-turn
    answers (ours or FastChat's; they refer to `answers`) per model pair, or MT-bench judgments (single or
    pairwise). Printed and, with `output`, written to OUTPUT.summary.json."""
    bench = load_benchmark(questions)
    if bench.shape == "mt_bench":
        _refuse(bench, "MT-bench judgments", references=references)
        return mt_bench.grade_totals(bench, reviews, output, bootstrap=bootstrap, seed=seed)
    if not answers:
        raise DataError(f"{bench.source}: the totals of single-turn reviews need the answer files they refer to "
                        "(--answers)")
    return aggregate_reviews(bench, answers, reviews, output, references=references, bootstrap=bootstrap,
                             seed=seed)


def _refuse(bench: Benchmark, what: str, **options) -> None:
    """A one-line error for an option the questions' shape has no use for."""
    for name, value in options.items():
        if value:
            raise DataError(f"{bench.source}: --{name.replace('_', '-')} does not apply to {what}")


def review(bench: Benchmark, answers: str, reference: str, output: Path, judge_model: TeacherConfig, *,
           reviewers: str = FASTCHAT_REVIEWERS[0], review_prompts: str = FASTCHAT_REVIEWERS[1],
           limit: int | None = None, single_order: bool = False, max_tokens: int | None = None,
           extra_body: dict | None = None, bootstrap: int = 1000, seed: int = 0,
           dry_run: bool = False) -> Written | None:
    """Pairwise reviews of single-turn answers (Vicuna-80) against a reference model's, FastChat's reviewers
    routed by category, both orders unless `single_order`: the reviews to `output` in FastChat's schema, their
    totals printed and written to OUTPUT.summary.json. None after a dry run."""
    jobs, ours, theirs = review_plan(bench, answers, reference, judge_model.model, reviewers=reviewers,
                                     review_prompts=review_prompts, limit=limit, single_order=single_order,
                                     max_tokens=max_tokens, extra_body=extra_body)
    from gpt4llm.teacher.dispatch import send_to_file

    sent = send_to_file(jobs, judge_model, output, desc=f"reviews ({judge_model.model})",
                        to_records=lambda done: review_records(jobs, done, judge_model.model), dry_run=dry_run)
    if sent is None:
        return None
    reviews, written = sent
    by_id = {a["answer_id"]: a for a in (*ours.values(), *theirs.values())}
    summary = write_review_totals(reviews, by_id, bench, [model_id(theirs, reference)], output,
                                  resamples=bootstrap, seed=seed)
    return Written(written.path, written.failures, summary)


def review_plan(bench: Benchmark, answers: str, reference: str, judge: str, *, reviewers: str, review_prompts: str,
                limit: int | None = None, single_order: bool = False, max_tokens: int | None = None,
                extra_body: dict | None = None) -> tuple[list[Job], dict, dict]:
    """The review requests of one answer file against a reference's, and the two files' answers by item key."""
    items = select(bench.items, limit=limit)
    ours, theirs = (read_answers(load_records(path), bench.keys(), required=[i.key for i in items])
                    for path in (answers, reference))
    routes = reviewers_by_category(load_records(reviewers), load_records(review_prompts))
    jobs = review_jobs(items, ours, theirs, routes, judge, both_orders=not single_order, extra_body=extra_body,
                       max_tokens=max_tokens)
    return jobs, ours, theirs


def aggregate_reviews(bench: Benchmark, answers: list[str], reviews: list[str], output: Path | None = None, *,
                      references: list[str] | None = None, bootstrap: int = 1000, seed: int = 0) -> list[dict]:
    """Totals of existing review files (ours or FastChat's) over the answer files they refer to, per model pair,
    printed and, with `output`, written to OUTPUT.summary.json."""
    by_id, read = read_reviews(bench, answers, reviews)
    rows = [row for _, row, _ in read]
    results = review_totals_by_pair(rows, by_id, bench, references, resamples=bootstrap, seed=seed)
    if output:
        write_json_atomic(summary_path(output), results)
    return results


def read_reviews(bench: Benchmark, answers: list[str], reviews: list[str]) -> tuple[dict, list[tuple[str, dict, str]]]:
    """The answers of `answers` by answer_id, and every review of `reviews` as (file, row, where): each review's
    answers are in the answer files and answer the question it names."""
    by_id = {}
    for path in answers:
        for answer in read_answers(load_records(path), bench.keys()).values():
            by_id[answer["answer_id"]] = answer
    rows = []
    for path in reviews:
        records = load_records(path)
        for row, where in zip(records.rows, records.locations):
            text_field(row, "text", where)
            for name in ("answer1_id", "answer2_id"):
                answer = by_id.get(record_id(row, name, where))
                if answer is None:
                    raise DataError(f"{where}: field '{name}' {row[name]!r} is in none of the answer files {answers}")
                if answer["question_id"] != record_id(row, "question_id", where):
                    raise DataError(f"{where}: field '{name}' {row[name]!r} answers question "
                                    f"{answer['question_id']!r}, not {row['question_id']!r}")
            rows.append((path, row, where))
    return by_id, rows


def summary_path(output) -> Path:
    return Path(f"{output}.summary.json")


def write_review_totals(reviews, answers, bench, references, output, **bootstrap) -> Path:
    write_json_atomic(summary_path(output), review_totals_by_pair(reviews, answers, bench, references, **bootstrap))
    return summary_path(output)


def review_totals_by_pair(reviews: list[dict], answers: dict, bench: Benchmark, references: list[str] | None,
                          **bootstrap) -> list[dict]:
    """Totals per model pair, printed; each pair's reference is the one of its models in `references`, or else
    the model of its first review's Assistant 1 (FastChat's order)."""
    from .report import judge_table  # matplotlib: not for --help

    by_pair: dict[frozenset, list] = {}
    for row in reviews:
        pair = (answers[row["answer1_id"]]["model_id"], answers[row["answer2_id"]]["model_id"])
        if pair[0] == pair[1]:
            raise DataError(f"review {row.get('review_id')}: compares {pair[0]} with itself; "
                            "give each answer file its own model_id")
        by_pair.setdefault(frozenset(pair), []).append(row)
    categories = {item.key: item.category for item in bench.items}
    results = []
    for pair, group in by_pair.items():
        named = sorted(pair & set(references or ()))
        if references and len(named) != 1:
            raise DataError(f"reviews of {' vs '.join(sorted(pair))}: --reference must name exactly one of the two, "
                            f"got {named or references}")
        reference = named[0] if named else answers[group[0]["answer1_id"]]["model_id"]
        # ours name their judge; FastChat's stored reviews only the number of a reviewer (a GPT-4 prompt)
        judges = sorted({(row.get("metadata") or {}).get("judge") or f"reviewer {row.get('reviewer_id', '?')}"
                         for row in group})
        results.append({"benchmark": bench.name, "judge": ", ".join(judges),
                        **review_totals(group, answers, categories, reference, **bootstrap)})
    for result in results:
        print("\n".join(judge_table(result)) + "\n")
    return results
