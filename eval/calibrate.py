"""`python -m eval calibrate`: how far a candidate judge's verdicts are from stored ones, measured before money
is spent on it. The paper's judge (GPT-4) is shut down; what it judged is kept, so a new judge is asked the same
questions about the same answers and its verdicts are compared with the stored ones.

Stored verdicts, told apart by the questions' shape and the files' fields:
- Vicuna-80 reviews in FastChat's schema (the default: its 13 published GPT-4 review sets, 1,040 pairs): each pair
  re-reviewed with FastChat's reviewers in both orders (`eval.judge.review_job`), `repeats` times.
- MT-bench judgments in FastChat's llm_judge schema, single or pairwise (its published mt_bench_gpt4_single,
  mt_bench_gpt4_pair): each stored judge prompt (system prompt by its name, the user prompt as stored) asked again.
  A pairwise game is judged in its two stored orders.
- AlpacaEval annotations (`--questions alpaca_eval`; e.g. gpt-4-turbo's published ones): each pair asked again
  with AlpacaEval's weighted annotator in both orders (`eval.alpaca_eval`), its preference from the returned
  log-probabilities where there are some.
- MT-bench human judgments in the schema of lmsys/mt_bench_human_judgments (`{question_id, model_a, model_b,
  winner, judge, conversation_a, conversation_b, turn}`; the default for MT-bench: its expert votes and GPT-4's
  verdicts on the same pairs): each pair judged with FastChat's pairwise prompts in both orders, compared with
  GPT-4's verdict, and vote by vote with the experts', with ties and without (the MT-bench paper's two agreement
  figures), beside GPT-4's agreement and the experts' with one another.

A verdict is +1 (the first model of the stored pair wins), 0 (tie) or -1. The new judge's verdict on a pair is the
sign of its mean preference over both orders and every repeat (equal scores, or orders that disagree, a tie).
"""

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gpt4llm.benchmarks import load_benchmark
from gpt4llm.data import DataError, load_records, text_field
from gpt4llm.files import write_json_atomic, write_text_atomic
from gpt4llm.sources import FASTCHAT_VICUNA80_ANSWERS, FASTCHAT_VICUNA80_GPT4_REVIEWS, MT_BENCH_HUMAN_AGREEMENT
from gpt4llm.teacher.options import TeacherConfig
from gpt4llm.teacher.runlog import Job, Written, job_id

from . import alpaca_eval, mt_bench
from .judge import FASTCHAT_REVIEWERS, parse_review, read_reviews, review_job, review_score, reviewers_by_category
from .stats import bootstrap, cohen_kappa, kendall_tau, pairwise_intervals, spearman

STORED_JUDGE = "gpt-4"  # the judge of FastChat's published Vicuna-80 reviews and MT-bench judgments


@dataclass
class Case:
    """One stored verdict: a pair of answers (`first`, `second`: the models, in the stored order) and what the stored
    judge said about it."""

    group: str  # the comparison it belongs to: a review set, a model pair
    category: str
    first: str
    second: str
    stored: int  # +1 first wins, 0 tie, -1 second wins
    stored_scores: tuple[float, float] | None = None  # the stored scores, where verdicts come from scores
    turn: int | None = None  # MT-bench: the turn judged
    votes: list[int] = field(default_factory=list)  # MT-bench human judgments: the experts' verdicts on this pair
    author_votes: list[int] = field(default_factory=list)  # and the paper's authors' (counted apart, as FastChat does)


# ---------------------------------------------------------------- the stage


def calibrate(output: Path, judge_model: TeacherConfig, *, questions: str = "vicuna80",
              answers: list[str] | None = None, reviews: list[str] | None = None,
              reviewers: str | None = None, review_prompts: str | None = None,
              judge_prompts: str | None = None, sample: int | None = None, repeats: int = 1, seed: int = 0,
              bootstrap_resamples: int = 1000, max_tokens: int | None = None, extra_body: dict | None = None,
              dry_run: bool = False) -> Written | None:
    """Ask `judge_model` again what the stored verdicts of `reviews` answered (by default FastChat's 13 Vicuna-80
    GPT-4 review sets over its answer files), `sample` pairs of them (stratified by set and category, seeded) or
    all, `repeats` times in both orders. Writes OUTPUT (JSON: agreement with intervals, Cohen's kappa, Spearman,
    flip rate, per category, per comparison stored and new ratios or win rates with Kendall's tau), OUTPUT.md, a
    figure OUTPUT.png, and the new judgments to OUTPUT.judgments.jsonl. None after a dry run."""
    if repeats < 1:
        raise DataError(f"--repeats must be at least 1, got {repeats}")
    bench = load_benchmark(questions)
    defaults = {"fastchat": FASTCHAT_VICUNA80_GPT4_REVIEWS, "mt_bench": MT_BENCH_HUMAN_AGREEMENT}
    reviews = list(reviews or defaults.get(bench.shape, ()))
    if not reviews:
        raise DataError(f"{bench.source}: name the stored judgments to calibrate against (--reviews)")
    if bench.shape == "mt_bench":
        if answers or reviewers or review_prompts:
            raise DataError(f"{bench.source}: MT-bench judgments carry their prompts; --answers, --reviewers and "
                            "--review-prompts do not apply")
        cases, jobs, stored_by = _mt_bench_cases(bench, reviews, judge_prompts or "mt_bench_judge_prompts",
                                                 judge_model.model, repeats, max_tokens, extra_body)
    elif bench.shape == "fastchat":
        if judge_prompts:
            raise DataError(f"{bench.source}: --judge-prompts applies to MT-bench judgments")
        cases, jobs, stored_by = _review_cases(
            bench, list(answers or FASTCHAT_VICUNA80_ANSWERS), reviews, reviewers or FASTCHAT_REVIEWERS[0],
            review_prompts or FASTCHAT_REVIEWERS[1], judge_model.model, repeats, max_tokens, extra_body,
        )
    elif bench.shape == "alpaca_eval":
        if answers or reviewers or review_prompts:
            raise DataError(f"{bench.source}: AlpacaEval annotations carry both outputs; --answers, --reviewers and "
                            "--review-prompts do not apply")
        cases, jobs, stored_by = _alpaca_eval_cases(bench, reviews, judge_prompts or alpaca_eval.PROMPT,
                                                    judge_model.model, repeats, max_tokens, extra_body)
    else:
        raise DataError(f"{bench.source}: calibration reads Vicuna-80-style reviews, MT-bench judgments or AlpacaEval "
                        f"annotations, not {bench.shape} questions")
    chosen = stratified_sample(cases, sample, seed)
    kept = set(chosen)
    jobs = [job for job in jobs if job.meta["case"] in kept]
    from gpt4llm.teacher.dispatch import send_to_file

    judgments = Path(f"{output}.judgments.jsonl")
    sent = send_to_file(jobs, judge_model, judgments, desc=f"calibration ({judge_model.model})",
                        to_records=lambda done: _records(jobs, done), dry_run=dry_run)
    if sent is None:
        return None
    records, written = sent
    new = defaultdict(list)
    for record in records:
        if record["preference"] is not None:
            new[record["case"]].append((record["repeat"], record["order"], record["preference"],
                                        record.get("scores")))
    result = {
        "judge": judge_model.model,
        "stored_judge": stored_by,
        "questions": bench.name,
        "stored": reviews,
        "sample": sample,
        "seed": seed,
        "repeats": repeats,
        "orders": 1 + max((job.meta["order"] for job in jobs), default=0),
        "judgments": len(records),
        "unreadable": sum(r["preference"] is None for r in records),
        **agreement({i: cases[i] for i in chosen}, new, resamples=bootstrap_resamples, seed=seed),
    }
    write_json_atomic(output, result)
    from .report import calibration_table, plot_calibration  # matplotlib: not for --help

    write_text_atomic(Path(output).with_suffix(".md"), "\n".join(calibration_table(result)) + "\n")
    plot_calibration(result, Path(output).with_suffix(".png"))
    print("\n".join(calibration_table(result)))
    return Written(Path(output), written.failures)


def stratified_sample(cases: list[Case], size: int | None, seed: int) -> list[int]:
    """Indices of `size` cases drawn without replacement, seeded, from every (group, category) stratum in
    proportion to its size (largest remainders get the rounding); every case when `size` is None or not smaller."""
    if not size or size >= len(cases):
        return list(range(len(cases)))
    strata: dict = defaultdict(list)
    for index, case in enumerate(cases):
        strata[case.group, case.category].append(index)
    quotas = {key: size * len(members) / len(cases) for key, members in strata.items()}
    counts = {key: int(quota) for key, quota in quotas.items()}
    by_remainder = sorted(strata, key=lambda key: (-(quotas[key] - counts[key]), key))
    for key in by_remainder[: size - sum(counts.values())]:
        counts[key] += 1
    rng = random.Random(seed)
    return sorted(i for key, members in strata.items() for i in rng.sample(members, counts[key]))


def _records(jobs: list[Job], done: dict) -> list[dict]:
    """A record per finished judgment: the case, repeat and order it was for, the judge's text and its preference
    for the stored pair's first answer (+1, 0, -1, or the score difference; None when unreadable)."""
    records = []
    for job in jobs:
        if job.id in done:
            entry, meta = done[job.id], job.meta
            preference, scores = READERS[meta["read"]][1](entry, meta["order"])
            records.append({"judgment_id": job.id, **meta, "text": entry["text"], "preference": preference}
                           | ({"scores": scores} if scores else {}))
    return records


# ---------------------------------------------------------------- Vicuna-80 reviews


def _review_cases(bench, answers: list[str], reviews: list[str], reviewers: str, review_prompts: str, judge: str,
                  repeats: int, max_tokens, extra_body) -> tuple[list[Case], list[Job], str]:
    """A case per stored review with readable scores, and its requests: both orders, `repeats` times."""
    by_id, rows = read_reviews(bench, answers, reviews)
    items = {item.key: item for item in bench.items}
    routes = reviewers_by_category(load_records(reviewers), load_records(review_prompts))
    cases, jobs = [], []
    for path, row, where in rows:
        scores, _ = review_score(row)
        if scores is None:
            continue
        first, second = by_id[row["answer1_id"]], by_id[row["answer2_id"]]
        item = items[row["question_id"]]
        index = len(cases)
        cases.append(Case(f"{second['model_id']} vs {first['model_id']}", item.category, first["model_id"],
                          second["model_id"], int(np.sign(scores[0] - scores[1])), tuple(scores)))
        for repeat in range(repeats):
            for order, (a1, a2) in enumerate(((first, second), (second, first))):
                job = review_job(item, a1, a2, routes, judge, extra_body=extra_body, max_tokens=max_tokens,
                                 repeat=repeat)
                job.meta |= {"case": index, "repeat": repeat, "order": order, "read": "review"}
                jobs.append(job)
    return cases, jobs, stored_judge(rows)


def stored_judge(rows: list[tuple[str, dict, str]]) -> str:
    """Who wrote stored reviews: the judge our reviews name in their metadata; FastChat's published reviews name
    none, and are GPT-4's."""
    return ", ".join(sorted({(row.get("metadata") or {}).get("judge") or STORED_JUDGE for _, row, _ in rows}))


def _read_review(entry: dict, order: int) -> tuple[float | None, list[float] | None]:
    """(first answer's score - second's, [first, second]) in the stored order, from a review shown in `order`."""
    scores = parse_review(entry["text"])
    if scores is None:
        return None, None
    scores = scores if order == 0 else scores[::-1]
    return scores[0] - scores[1], scores


# ---------------------------------------------------------------- MT-bench judgments


def _mt_bench_cases(bench, judgments: list[str], judge_prompts: str, judge: str, repeats: int, max_tokens,
                    extra_body) -> tuple[list[Case], list[Job], str]:
    """Cases and requests from llm_judge judgment files (single or pairwise) or human judgments."""
    items = {item.key: item for item in bench.items}
    prompts = {p.name: p for p in mt_bench.judge_prompts_by_role(load_records(judge_prompts)).values()}
    params = {**mt_bench.JUDGE_PARAMS} | ({"max_tokens": max_tokens} if max_tokens else {})
    params |= {"extra_body": extra_body} if extra_body else {}
    cases, jobs, stored_judges = [], [], set()
    reads, pooled = [], []  # pooled: the rows of every file in the human judgments' schema, votes and verdicts
    for path in judgments:
        records = load_records(path)
        if mt_bench.is_vote_file(records):
            pooled += zip(records.rows, records.locations)
        else:
            reads.append(_stored_prompt_cases(records, items, prompts, path))
    if pooled:
        reads.append(_human_cases(pooled, items, prompts, ", ".join(judgments)))
    for read in reads:
        for case, requests in read:
            index = len(cases)
            cases.append(case)
            stored_judges.add(case.group.split(": ")[0])
            for repeat in range(repeats):
                for order, (prompt, user_prompt, reader) in enumerate(requests):
                    messages = [{"role": "system", "content": prompt.system_prompt},
                                {"role": "user", "content": user_prompt}]
                    key = ("grade", judge, params, messages) + ((repeat,) if repeat else ())
                    jobs.append(Job(job_id(*key), messages, params, parse=READERS[reader][0], meta={
                        "case": index, "repeat": repeat, "order": order, "prompt": prompt.name, "read": reader}))
    return cases, jobs, ", ".join(sorted(stored_judges))


def _stored_prompt_cases(records, items: dict, prompts: dict, path: str):
    """FastChat llm_judge judgments: each stored prompt asked again. Single: a case per judgment (the stored score
    as `stored_scores`, preference = the new score). Pairwise: a case per game pair (g1 and g2 as the two orders)."""
    kind, rows = mt_bench.read_judgments(records, items)
    for row, checked, where in zip(records.rows, rows, records.locations):
        name = row["judge"][1]
        if name not in prompts:
            raise DataError(f"{where}: judge prompt {name!r} is not in the judge prompts file")
        category = items[checked["key"]].category
        if kind == "single":
            if checked["score"] is None:
                continue
            case = Case(f"{checked['judge']}: {checked['model']}", category, checked["model"], "",
                        0, (checked["score"], 0.0))
            yield case, [(prompts[name], text_field(row, "user_prompt", where), "rating")]
        else:
            winners = checked["winners"]
            if "error" in winners:
                continue
            model_1, model_2 = checked["models"]
            stored = 0 if winners[0] != winners[1] else {"model_1": 1, "model_2": -1, "tie": 0}[winners[0]]
            case = Case(f"{checked['judge']}: {model_1} vs {model_2}", category, model_1, model_2, stored)
            yield case, [(prompts[name], text_field(row, "g1_user_prompt", where), "verdict"),
                         (prompts[name], text_field(row, "g2_user_prompt", where), "verdict")]


def _read_rating(entry: dict, order: int):
    return mt_bench.parse_rating(entry["text"]), None


def _read_verdict(entry: dict, order: int):
    """A pairwise verdict as a preference for the stored pair's first model: order 0 shows it as Assistant A (game
    1, and human pairs as stored), order 1 as B (game 2)."""
    verdict = mt_bench.parse_verdict(entry["text"])
    if verdict is None:
        return None, None
    preference = {"A": 1, "B": -1, "tie": 0}[verdict]
    return (preference if order == 0 else -preference), None


VOTERS_MAJORITY = "human"  # the stored judge of votes given alone: the voters' majority


def _human_cases(rows: list[tuple[dict, str]], items: dict, prompts: dict, source: str):
    """Votes and stored verdicts in the schema of lmsys/mt_bench_human_judgments, pooled as FastChat pools them
    (`mt_bench.pool_votes`). With a stored judge's verdicts (e.g. its gpt4_pair split), a case per pair it judged;
    with votes alone, a case per pair voted on, its stored verdict the voters' majority. Each is judged by the new
    judge with FastChat's pairwise prompts (no reference: what the voters saw) in both orders."""
    pairs = mt_bench.pool_votes(rows, items)
    stored_judges = {name for pair in pairs for name in pair.stored}
    if len(stored_judges) > 1:
        raise DataError(f"{source}: verdicts of several stored judges ({', '.join(sorted(stored_judges))}); "
                        "calibrate against one at a time")
    roles = {(p.type, p.second_turn, p.with_reference): p for p in prompts.values()}
    for pair in pairs:
        if stored_judges and not pair.stored:
            continue
        prompt = mt_bench._prompt(roles, ("pairwise", pair.turn == 2, False), source)
        requests = []
        for shown in (pair.answers, pair.answers[::-1]):
            fields = mt_bench._fields(pair.item, pair.turn, {"_a": shown[0], "_b": shown[1]}, None)
            requests.append((prompt, prompt.prompt_template.format(**fields), "verdict"))
        if stored_judges:
            (name, stored), = pair.stored.items()
        else:
            name, stored = VOTERS_MAJORITY, int(np.sign(sum(pair.experts + pair.authors)))
        yield Case(f"{name}: {pair.models[0]} vs {pair.models[1]}", pair.item.category, *pair.models, stored,
                   turn=pair.turn, votes=pair.experts, author_votes=pair.authors), requests


# ---------------------------------------------------------------- AlpacaEval annotations


def _alpaca_eval_cases(bench, annotations: list[str], prompt: str, judge: str, repeats: int, max_tokens,
                       extra_body) -> tuple[list[Case], list[Job], str]:
    """A case per stored annotation with a preference (first: the baseline, output_1), asked again with AlpacaEval's
    weighted annotator with the baseline shown first (order 0) and second (order 1)."""
    template = alpaca_eval.annotator_template(prompt)
    params = dict(alpaca_eval.ANNOTATOR_PARAMS) | ({"max_tokens": max_tokens} if max_tokens else {})
    params |= {"extra_body": extra_body} if extra_body else {}
    cases, jobs, stored_judges = [], [], set()
    for path in annotations:
        for row in alpaca_eval.read_annotations(load_records(path), bench):
            if np.isnan(row["preference"]) or row["output_1"] == row["output_2"]:
                continue
            index = len(cases)
            stored_judges.add(row["annotator"])
            first, second = row["generator_1"], row["generator_2"]
            cases.append(Case(f"{second} vs {first}", row["dataset"], first, second,
                              int(np.sign(1.5 - row["preference"])),
                              (2 - row["preference"], row["preference"] - 1)))
            for repeat in range(repeats):
                pair = (row["output_1"], row["output_2"])
                for order, shown in enumerate((pair, pair[::-1])):
                    messages = alpaca_eval.annotator_messages(template, {"instruction": row["instruction"],
                                                                         "output_1": shown[0], "output_2": shown[1]})
                    key = ("alpaca_eval", judge, params, messages) + ((repeat,) if repeat else ())
                    jobs.append(Job(job_id(*key), messages, params, parse=alpaca_eval.keep_answer, meta={
                        "case": index, "repeat": repeat, "order": order, "read": "alpaca_eval"}))
    return cases, jobs, ", ".join(sorted(stored_judges))


def _read_alpaca_eval(entry: dict, order: int):
    """An AlpacaEval preference (1: the output shown first, 2: second) as a preference for the stored pair's first
    output, from -0.5 to 0.5."""
    preference, _ = alpaca_eval.read_preference(entry)
    if np.isnan(preference):
        return None, None
    return (1.5 - preference if order == 0 else preference - 1.5), None


# ---------------------------------------------------------------- agreement


def agreement(cases: dict[int, Case], new: dict[int, list], *, resamples: int = 1000, seed: int = 0) -> dict:
    """How the new judgments agree with the stored verdicts. `new`: case -> [(repeat, order, preference, scores)];
    a case without a readable judgment is left out (counted in `unjudged`)."""
    judged = [i for i in cases if new.get(i)]
    singles = [i for i in judged if cases[i].second == ""]
    result = {"pairs": len(judged), "unjudged": len(cases) - len(judged)}
    if singles:
        return result | _score_agreement([cases[i] for i in singles], [new[i] for i in singles], resamples, seed)
    stored = [cases[i].stored for i in judged]
    preference = [float(np.mean([p for _, _, p, _ in new[i]])) for i in judged]
    verdicts = [int(np.sign(p)) for p in preference]
    agree = [float(s == v) for s, v in zip(stored, verdicts)]
    result |= {
        "verdict_agreement": _mean(agree),
        "intervals": bootstrap({"agree": agree}, {"verdict_agreement": lambda s: s["agree"].mean(axis=1)},
                               resamples=resamples, seed=seed),
        "cohen_kappa": cohen_kappa(stored, verdicts) if judged else None,
        "stored_verdicts": _counts(stored),
        "new_verdicts": _counts(verdicts),
        "flip_rate": _flip_rate({i: new[i] for i in judged}),
        "by_category": {
            category: {"pairs": len(chosen), "verdict_agreement": _mean([agree[k] for k in chosen])}
            for category in sorted({cases[i].category for i in judged})
            for chosen in [[k for k, i in enumerate(judged) if cases[i].category == category]]
        },
    }
    if any(cases[i].stored_scores for i in judged):
        stored_differences = [cases[i].stored_scores[0] - cases[i].stored_scores[1] for i in judged]
        result["score_difference_spearman"] = spearman(stored_differences, preference)
    if any(cases[i].votes for i in judged):
        result["human"] = _human_agreement([cases[i] for i in judged], verdicts)
    result["repeat_spread"] = _repeat_spread({i: new[i] for i in judged})
    result["comparisons"] = _comparisons(cases, new, judged, resamples, seed)
    ranked = [c for c in result["comparisons"] if c["stored"] is not None and c["new"] is not None]
    result["kendall_tau"] = kendall_tau([c["stored"] for c in ranked], [c["new"] for c in ranked])
    return result


def _flip_rate(new: dict[int, list]) -> dict:
    """The share of pairs judged in both orders whose winner changes with the order (each order's preferences
    averaged over its repeats)."""
    flips = both = 0
    for judgments in new.values():
        by_order = defaultdict(list)
        for _, order, preference, _ in judgments:
            by_order[order].append(preference)
        if len(by_order) == 2:
            both += 1
            flips += np.sign(np.mean(by_order[0])) != np.sign(np.mean(by_order[1]))
    return {"pairs": both, "flip_rate": flips / both if both else None}


def _repeat_spread(new: dict[int, list]) -> dict | None:
    """With several repeats: the share of pairs whose verdict (both orders averaged) is the same in every repeat,
    and the mean standard deviation of a pair's preference across repeats."""
    same = spread = pairs = 0
    for judgments in new.values():
        by_repeat = defaultdict(list)
        for repeat, _, preference, _ in judgments:
            by_repeat[repeat].append(preference)
        if len(by_repeat) < 2:
            continue
        means = [np.mean(v) for v in by_repeat.values()]
        pairs += 1
        same += len({int(np.sign(m)) for m in means}) == 1
        spread += float(np.std(means))
    return {"pairs": pairs, "same_verdict_share": same / pairs, "preference_std": spread / pairs} if pairs else None


def _comparisons(cases: dict, new: dict, judged: list[int], resamples: int, seed: int) -> list[dict]:
    """Per comparison (review set or model pair): with scores, the stored ratio of the second model's total to the
    first's (FastChat's order: the reference first) and the new judge's, with intervals; with verdicts, the second
    model's adjusted win rate (ties half) under each."""
    groups = defaultdict(list)
    for i in judged:
        groups[cases[i].group].append(i)
    out = []
    for group, members in groups.items():
        first, second = cases[members[0]].first, cases[members[0]].second
        row = {"comparison": group, "first": first, "second": second, "pairs": len(members)}
        scored = [i for i in members if all(s for _, _, _, s in new[i]) and cases[i].stored_scores]
        if len(scored) == len(members):
            stored = np.array([cases[i].stored_scores for i in members])
            fresh = np.array([np.mean([s for _, _, _, s in new[i]], axis=0) for i in members])
            stored_iv = pairwise_intervals(list(stored[:, 1]), list(stored[:, 0]), resamples=resamples, seed=seed)
            new_iv = pairwise_intervals(list(fresh[:, 1]), list(fresh[:, 0]), resamples=resamples, seed=seed)
            row |= {"measure": "ratio", "stored": _ratio(stored), "new": _ratio(fresh),
                    "stored_interval": stored_iv["ratio"], "new_interval": new_iv["ratio"]}
        else:
            stored = [-cases[i].stored for i in members]  # from the second model's side
            fresh = [-int(np.sign(np.mean([p for _, _, p, _ in new[i]]))) for i in members]
            row |= {"measure": "win_rate_adjusted", "stored": _win_rate(stored), "new": _win_rate(fresh),
                    **_win_rate_intervals(stored, fresh, resamples, seed)}
        out.append(row)
    return out


def _ratio(scores: np.ndarray) -> float | None:
    return float(scores[:, 1].sum() / scores[:, 0].sum()) if scores[:, 0].sum() else None


def _win_rate(verdicts: list[int]) -> float:
    return float(np.mean([(v + 1) / 2 for v in verdicts]))


def _win_rate_intervals(stored: list[int], fresh: list[int], resamples: int, seed: int) -> dict:
    intervals = _mean_intervals({"stored": [(v + 1) / 2 for v in stored], "new": [(v + 1) / 2 for v in fresh]},
                                resamples, seed)
    return {"stored_interval": intervals["stored"], "new_interval": intervals["new"]}


def _mean_intervals(columns: dict[str, list[float]], resamples: int, seed: int) -> dict:
    """95% bootstrap intervals of each column's mean, over the same resampled pairs."""
    return bootstrap(columns, {name: (lambda s, name=name: s[name].mean(axis=1)) for name in columns},
                     resamples=resamples, seed=seed)


def _score_agreement(cases: list[Case], new: list[list], resamples: int, seed: int) -> dict:
    """Single-answer grades: the new mean score against the stored score, per judgment and per model."""
    stored = [c.stored_scores[0] for c in cases]
    fresh = [float(np.mean([p for _, _, p, _ in judgments])) for judgments in new]
    exact = [float(round(f) == s) for s, f in zip(stored, fresh)]
    by_model = defaultdict(list)
    for case, s, f in zip(cases, stored, fresh):
        by_model[case.first].append((s, f))
    comparisons = []
    for model, pairs in by_model.items():
        columns = {"stored": [p[0] for p in pairs], "new": [p[1] for p in pairs]}
        intervals = _mean_intervals(columns, resamples, seed)
        comparisons.append({"comparison": cases[0].group.split(": ")[0] + f": {model}", "first": model, "second": "",
                            "pairs": len(pairs), "measure": "mean_score", "stored": _mean(columns["stored"]),
                            "new": _mean(columns["new"]), "stored_interval": intervals["stored"],
                            "new_interval": intervals["new"]})
    return {
        "score_spearman": spearman(stored, fresh),
        "mean_absolute_difference": _mean([abs(s - f) for s, f in zip(stored, fresh)]),
        "exact_agreement": _mean(exact),
        "repeat_spread": _repeat_spread(dict(enumerate(new))),
        "comparisons": comparisons,
        "kendall_tau": kendall_tau([c["stored"] for c in comparisons], [c["new"] for c in comparisons]),
    }


# how each kind of judgment is read: (the request's parse, logged answer and order -> (preference, scores))
READERS = {
    "review": (parse_review, _read_review),
    "rating": (mt_bench.parse_rating, _read_rating),
    "verdict": (mt_bench.parse_verdict, _read_verdict),
    "alpaca_eval": (alpaca_eval.keep_answer, _read_alpaca_eval),
}


def _human_agreement(cases: list[Case], verdicts: list[int]) -> dict:
    """Per turn, the agreement with the experts' votes (the MT-bench paper's, `mt_bench.agreement_with_experts`) of
    the new judge, of the stored judge where the stored verdicts are a judge's, and of the experts with one another;
    the authors' votes are counted, not compared, as FastChat counts them."""
    columns = {"new": mt_bench.agreement_with_experts([(c.turn, v, c.votes) for c, v in zip(cases, verdicts)])}
    if cases[0].group.split(": ")[0] != VOTERS_MAJORITY:
        columns["stored"] = mt_bench.agreement_with_experts([(c.turn, c.stored, c.votes) for c in cases])
    columns["between_experts"] = mt_bench.agreement_between_experts([(c.turn, c.votes) for c in cases])
    return {turn: {name: column[turn] for name, column in columns.items() if turn in column}
            for turn in columns["new"]} | {"author_votes": sum(len(c.author_votes) for c in cases)}


def _counts(verdicts: list[int]) -> dict:
    counts = Counter(verdicts)
    return {"first": counts[1], "tie": counts[0], "second": counts[-1]}


def _mean(values: list[float]) -> float | None:
    return float(np.mean(values)) if values else None
