"""MT-bench, FastChat's llm_judge protocol: two-turn answers, single-answer grading (a 1-10 score per turn) and
pairwise judgments (both answer orders), reference-guided for math, reasoning and coding, and the totals of its
show_result.py, with bootstrap intervals over questions.

FastChat's files are read and written as they are (fastchat/llm_judge/common.py, gen_judgment.py at the commit
gpt4llm/sources.py pins):
- questions `{question_id, category, turns: [...], reference?: [...]}` and answers `{question_id, answer_id,
  model_id, choices: [{index, turns: [...]}], tstamp}`: gpt4llm.benchmarks (`mt_bench` shape, read_turn_answers);
- judge prompts `{name, type: single|pairwise, system_prompt, prompt_template, output_format, ...}`, told apart by
  what their templates take: `question_2` for the second turn, `ref_answer_1` for a reference answer;
- single judgments `{question_id, model, judge: [judge model, prompt name], user_prompt, judgment, score, turn,
  tstamp}`; pairwise `{question_id, model_1, model_2, g1_winner, g2_winner, judge, g1_user_prompt, g1_judgment,
  g2_user_prompt, g2_judgment, turn, tstamp}`, game 1 showing model_1 as Assistant A, game 2 model_2.

As FastChat: turn 1 is graded on every question and turn 2 on the two-turn ones, with the turn-2 prompt showing
the whole conversation; questions in NEED_REF_CATS are graded against a reference answer; judges run at
temperature 0 with 2,048 tokens; ratings are read from "[[8]]" (else "[8]"), verdicts from "[[A]]", "[[B]]",
"[[C]]" (a tie). A judgment without a rating is written with score null (FastChat writes -1; both are read as
unreadable, counted and left out of the means, as its show_result.py drops -1). Totals follow show_result.py:
single, the mean score per model over all its judgments, per turn, and (here) per category; pairwise, a game whose
two orders disagree is a tie, and games with an unreadable verdict are dropped (counted).
"""

import re
import string
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from gpt4llm.benchmarks import Benchmark, Item, model_id, read_turn_answers, record_id, select
from gpt4llm.data import DataError, Records, load_records, text_field
from gpt4llm.files import write_json_atomic
from gpt4llm.teacher.options import TeacherConfig
from gpt4llm.teacher.runlog import Job, Written, job_id

from .stats import bootstrap

# fastchat/llm_judge/common.py
NEED_REF_CATS = ("math", "reasoning", "coding", "arena-hard-200")
TEMPERATURES = {"writing": 0.7, "roleplay": 0.7, "extraction": 0.0, "math": 0.0, "coding": 0.0, "reasoning": 0.0,
                "stem": 0.1, "humanities": 0.1, "arena-hard-200": 0.0}
DEFAULT_TEMPERATURE = 0.7  # a category not in TEMPERATURES (gen_model_answer.py)
MAX_NEW_TOKENS = 1024  # gen_model_answer.py's and gen_api_answer.py's default answer length
JUDGE_PARAMS = {"temperature": 0.0, "max_tokens": 2048}  # run_judge_single / run_judge_pair, OpenAI judges
_RATING = re.compile(r"\[\[(\d+\.?\d*)\]\]")
_RATING_BACKUP = re.compile(r"\[(\d+\.?\d*)\]")
MODES = ("single", "pairwise-baseline", "pairwise-all")

# For small local judges: a llama.cpp grammar that makes a judgment start with its rating
RATING_FIRST_GRAMMAR = 'root ::= "Rating: [[" score "]]\\n" [^\\x00]*\nscore ::= [1-9] | "10"'


def answer_params(category: str, temperature: float | None, top_p: float, max_new_tokens: int | None) -> dict:
    """An MT-bench answer's sampling: FastChat's temperature for its category unless one is given."""
    if temperature is None:
        temperature = TEMPERATURES.get(category, DEFAULT_TEMPERATURE)
    return {"temperature": temperature, "top_p": top_p, "max_tokens": max_new_tokens or MAX_NEW_TOKENS}


# ---------------------------------------------------------------- judge prompts


@dataclass(frozen=True)
class JudgePrompt:
    name: str
    type: str  # single or pairwise
    system_prompt: str
    prompt_template: str
    second_turn: bool  # the template shows both turns and rates the second
    with_reference: bool


# what each role's template takes: (type, second turn) -> placeholders, without the reference answers
_PLACEHOLDERS = {
    ("single", False): {"question", "answer"},
    ("single", True): {"question_1", "question_2", "answer_1", "answer_2"},
    ("pairwise", False): {"question", "answer_a", "answer_b"},
    ("pairwise", True): {"question_1", "question_2", "answer_a_1", "answer_b_1", "answer_a_2", "answer_b_2"},
}
_OUTPUT_FORMATS = {"single": "[[rating]]", "pairwise": "[[A]]"}


def judge_prompts_by_role(records: Records) -> dict[tuple[str, bool, bool], JudgePrompt]:
    """(type, second turn, with reference) -> the prompt for that role, from a file in FastChat's judge_prompts.jsonl
    schema; a role filled twice, or a template whose placeholders fit no role, is a one-line error."""
    out = {}
    for row, where in zip(records.rows, records.locations):
        name, kind = text_field(row, "name", where), text_field(row, "type", where)
        if kind not in _OUTPUT_FORMATS:
            raise DataError(f"{where}: field 'type' must be 'single' or 'pairwise', got {kind!r}")
        if (output_format := text_field(row, "output_format", where)) != _OUTPUT_FORMATS[kind]:
            raise DataError(f"{where}: field 'output_format' of a {kind} prompt must be {_OUTPUT_FORMATS[kind]!r}, "
                            f"got {output_format!r}")
        template = text_field(row, "prompt_template", where)
        try:
            fields = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
        except ValueError as error:
            raise DataError(f"{where}: field 'prompt_template' of {name!r} is not a format string ({error})") from None
        second = "question_2" in fields
        reference = "ref_answer_1" in fields
        expected = _PLACEHOLDERS[kind, second] | ({"ref_answer_1"} if reference else set())
        expected |= {"ref_answer_2"} if reference and second else set()
        if fields != expected:
            role = f"a {kind} prompt for turn {2 if second else 1}{' with a reference' if reference else ''}"
            raise DataError(f"{where}: field 'prompt_template' of {name!r} takes {sorted(fields)}; {role} takes "
                            f"{sorted(expected)}")
        role = (kind, second, reference)
        if role in out:
            raise DataError(f"{where}: {name!r} is a second {_describe(role)} prompt (the first: {out[role].name!r})")
        out[role] = JudgePrompt(name, kind, text_field(row, "system_prompt", where), template, second, reference)
    return out


def _describe(role: tuple[str, bool, bool]) -> str:
    kind, second, reference = role
    return f"{'single-answer' if kind == 'single' else 'pairwise'} turn-{2 if second else 1}" + (
        " reference-guided" if reference else ""
    )


def _prompt(prompts: dict, role: tuple[str, bool, bool], source: str) -> JudgePrompt:
    if role not in prompts:
        raise DataError(f"{source}: no {_describe(role)} prompt")
    return prompts[role]


# ---------------------------------------------------------------- grading requests


def graded_turns(item: Item) -> tuple[int, ...]:
    """Turn 1 always, turn 2 on two-turn questions (FastChat's multi-turn judges see exactly two)."""
    return (1, 2) if len(item.turns) == 2 else (1,)


def references(items: list[Item], reference_answers: dict | None, source: str | None) -> dict:
    """question key -> the reference answer's turns, for the questions graded against one (NEED_REF_CATS): from a
    reference answer file (FastChat's reference_answer/gpt-4.jsonl) where it has one, else the question's own
    `reference`."""
    out = {}
    for item in items:
        if item.category not in NEED_REF_CATS:
            continue
        if reference_answers is not None and item.key in reference_answers:
            turns = reference_answers[item.key]["choices"][0]["turns"]
        else:
            turns = list(item.turn_references)
        if len(turns) < len(graded_turns(item)):
            where = f"none in {source}" if source else "the question has no 'reference' for every turn"
            raise DataError(f"{item.where}: question {item.key!r} ({item.category}) is graded against a reference "
                            f"answer for each turn: {where}; pass --reference-answers")
        out[item.key] = turns
    return out


def _fields(item: Item, turn: int, answers: dict[str, list[str]], reference: list[str] | None) -> dict:
    """The template's fields: answers maps a placeholder suffix ("" single, "_a", "_b") to that answer's turns."""
    fields = {}
    if turn == 1:
        fields["question"] = item.turns[0]
        fields |= {f"answer{suffix}": turns[0] for suffix, turns in answers.items()}
    else:
        fields |= {"question_1": item.turns[0], "question_2": item.turns[1]}
        fields |= {f"answer{suffix}_{t}": turns[t - 1] for suffix, turns in answers.items() for t in (1, 2)}
    if reference is not None:
        fields["ref_answer_1"] = reference[0]
        if turn == 2:
            fields["ref_answer_2"] = reference[1]
    return fields


def _job(prompt: JudgePrompt, fields: dict, judge: str, params: dict, parse, meta: dict, source: dict) -> Job:
    user_prompt = prompt.prompt_template.format(**fields)
    messages = [{"role": "system", "content": prompt.system_prompt}, {"role": "user", "content": user_prompt}]
    meta = {**meta, "judge": [judge, prompt.name], "user_prompt": user_prompt}
    return Job(job_id("grade", judge, params, messages), messages, params, parse=parse, meta=meta, source=source)


def single_jobs(items: list[Item], answers: dict[str, dict], refs: dict, prompts: dict, judge: str, params: dict,
                source: str) -> list[Job]:
    """A request per question, model and graded turn; `answers`: model -> question key -> llm_judge answer."""
    jobs = []
    for item in items:
        reference = refs.get(item.key)
        for turn in graded_turns(item):
            prompt = _prompt(prompts, ("single", turn == 2, reference is not None), source)
            for model, by_key in answers.items():
                fields = _fields(item, turn, {"": by_key[item.key]["choices"][0]["turns"]}, reference)
                where = {"question_id": item.key, "model": model, "turn": turn}
                jobs.append(_job(prompt, fields, judge, params, parse_rating, where, where))
    return jobs


def pair_jobs(items: list[Item], pairs: list[tuple[str, str]], answers: dict[str, dict], refs: dict, prompts: dict,
              judge: str, params: dict, source: str) -> list[Job]:
    """Two requests per question, model pair and graded turn: game 1 shows model_1 as Assistant A, game 2 model_2."""
    jobs = []
    for item in items:
        reference = refs.get(item.key)
        for turn in graded_turns(item):
            prompt = _prompt(prompts, ("pairwise", turn == 2, reference is not None), source)
            for model_1, model_2 in pairs:
                for game, (a, b) in ((1, (model_1, model_2)), (2, (model_2, model_1))):
                    shown = {"_a": answers[a][item.key]["choices"][0]["turns"],
                             "_b": answers[b][item.key]["choices"][0]["turns"]}
                    fields = _fields(item, turn, shown, reference)
                    where = {"question_id": item.key, "model_1": model_1, "model_2": model_2, "turn": turn,
                             "game": game}
                    jobs.append(_job(prompt, fields, judge, params, parse_verdict, where, where))
    return jobs


def parse_rating(judgment: str) -> float | None:
    """FastChat's reading of a rating: the first "[[8]]", else the first "[8]"; None when there is neither."""
    match = _RATING.search(judgment) or _RATING_BACKUP.search(judgment)
    return float(match.group(1)) if match else None


def parse_verdict(judgment: str) -> str | None:
    """FastChat's reading of a pairwise verdict, in its order: "[[A]]", else "[[B]]", else "[[C]]" (a tie)."""
    for mark, verdict in (("[[A]]", "A"), ("[[B]]", "B"), ("[[C]]", "tie")):
        if mark in judgment:
            return verdict
    return None


# ---------------------------------------------------------------- judgment records


def single_records(jobs: list[Job], done: dict, tstamp: float) -> list[dict]:
    rows = []
    for job in jobs:
        if job.id in done:
            meta, text = job.meta, done[job.id]["text"]
            rows.append({"question_id": meta["question_id"], "model": meta["model"], "judge": meta["judge"],
                         "user_prompt": meta["user_prompt"], "judgment": text, "score": parse_rating(text),
                         "turn": meta["turn"], "tstamp": tstamp})
    return rows


def pair_records(jobs: list[Job], done: dict, tstamp: float) -> list[dict]:
    """A record per match whose two games are both done (a failed game is in the failures file)."""
    games: dict = defaultdict(dict)
    for job in jobs:
        meta = job.meta
        games[meta["question_id"], meta["model_1"], meta["model_2"], meta["turn"]][meta["game"]] = job
    rows = []
    for (qid, model_1, model_2, turn), both in games.items():
        if not all(both[g].id in done for g in (1, 2)):
            continue
        row = {"question_id": qid, "model_1": model_1, "model_2": model_2}
        for game, shown_first in ((1, "model_1"), (2, "model_2")):
            verdict = parse_verdict(done[both[game].id]["text"])
            other = "model_2" if shown_first == "model_1" else "model_1"
            row[f"g{game}_winner"] = {"A": shown_first, "B": other, "tie": "tie"}.get(verdict, "error")
        row["judge"] = both[1].meta["judge"]
        for game in (1, 2):
            row[f"g{game}_user_prompt"] = both[game].meta["user_prompt"]
            row[f"g{game}_judgment"] = done[both[game].id]["text"]
        rows.append(row | {"turn": turn, "tstamp": tstamp})
    return rows


# ---------------------------------------------------------------- totals (show_result.py)


def _judge(row: dict, where: str) -> list:
    judge = row.get("judge")
    if not (isinstance(judge, list) and len(judge) == 2 and all(isinstance(j, str) for j in judge)):
        raise DataError(f"{where}: field 'judge' must be [judge model, prompt name]")
    return judge


def _turn(row: dict, where: str, item: Item) -> int:
    turn = row.get("turn", 1)
    if turn not in (1, 2) or isinstance(turn, bool) or turn > len(item.turns):
        raise DataError(f"{where}: field 'turn' must be 1 or 2, a turn of question {item.key!r}, got {turn!r}")
    return turn


def _item(row: dict, where: str, items: dict) -> Item:
    key = record_id(row, "question_id", where)
    if key not in items:
        raise DataError(f"{where}: field 'question_id' {key!r} is not a question of the benchmark")
    return items[key]


def read_judgments(records: Records, items: dict) -> tuple[str, list[dict]]:
    """('single' | 'pairwise', the judgments), validated, from a judgment file (ours or FastChat's): every row is
    to a question of the benchmark (`items`: key -> Item) and of the first row's kind."""
    first = records.rows[0]
    kind = "pairwise" if isinstance(first, dict) and "model_1" in first else "single"
    rows = []
    for row, where in zip(records.rows, records.locations):
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
        item = _item(row, where, items)
        judge = _judge(row, where)
        turn = _turn(row, where, item)
        if kind == "single":
            score = row.get("score", "missing")
            if score is not None and (isinstance(score, bool) or not isinstance(score, (int, float))):
                raise DataError(f"{where}: field 'score' must be a number (-1 or null: unreadable), got {score!r}")
            readable = score is not None and score != -1
            rows.append({"key": item.key, "model": text_field(row, "model", where), "judge": judge[0],
                         "turn": turn, "score": float(score) if readable else None})
        else:
            winners = []
            for name in ("g1_winner", "g2_winner"):
                if row.get(name) not in ("model_1", "model_2", "tie", "error"):
                    raise DataError(f"{where}: field '{name}' must be model_1, model_2, tie or error, "
                                    f"got {row.get(name)!r}")
                winners.append(row[name])
            models = (text_field(row, "model_1", where), text_field(row, "model_2", where))
            if models[0] == models[1]:
                raise DataError(f"{where}: compares {models[0]} with itself")
            rows.append({"key": item.key, "models": models, "judge": judge[0], "turn": turn, "winners": winners})
    return kind, rows


# ---------------------------------------------------------------- votes (lmsys/mt_bench_human_judgments)


HUMAN_WINNERS = {"model_a": 1, "model_b": -1, "tie": 0, "tie (bothbad)": 0, "tie (inconsistent)": 0}
AGREEMENT_TURNS = {"turn 1": (1,), "turn 2": (2,), "both turns": (1, 2)}


@dataclass
class VotedPair:
    """A pair of MT-bench answers on one turn, with what was said about it: the models in sorted order, their
    answers, the experts' and the authors' votes, and stored judges' verdicts, each +1 (the first model), 0 (a tie)
    or -1."""

    item: Item
    turn: int
    models: tuple[str, str]
    answers: tuple[list[str], list[str]]
    experts: list[int] = field(default_factory=list)
    authors: list[int] = field(default_factory=list)
    stored: dict[str, int] = field(default_factory=dict)


def is_vote_file(records: Records) -> bool:
    """Whether a judgment file is in the schema of lmsys/mt_bench_human_judgments (`{question_id, model_a, model_b,
    winner, judge, conversation_a, conversation_b, turn}`, both its splits) rather than llm_judge's."""
    first = records.rows[0]
    return isinstance(first, dict) and "winner" in first and "conversation_a" in first


def pool_votes(rows: list[tuple[dict, str]], items: dict) -> list[VotedPair]:
    """Votes (judge `expert_N` or `author_N`, the `human` split) and stored judges' verdicts (any other judge, e.g.
    the `gpt4_pair` split: both orders combined, a disagreement 'tie (inconsistent)') pooled as FastChat's
    compute_agreement pools them: per question, turn and model pair in sorted order, a vote on the other order
    reversed. A second verdict of one stored judge on a pair is an error (FastChat asserts one)."""
    pairs: dict = {}
    for row, where in rows:
        item = _item(row, where, items)
        turn = _turn(row, where, item)
        models = (text_field(row, "model_a", where), text_field(row, "model_b", where))
        winner = row.get("winner")
        if winner not in HUMAN_WINNERS:
            raise DataError(f"{where}: field 'winner' must be one of {sorted(HUMAN_WINNERS)}, got {winner!r}")
        verdict = HUMAN_WINNERS[winner]
        answers = (_assistant_turns(row, "conversation_a", where, item),
                   _assistant_turns(row, "conversation_b", where, item))
        if models[1] < models[0]:
            models, answers, verdict = models[::-1], answers[::-1], -verdict
        pair = pairs.setdefault((item.key, turn, models), VotedPair(item, turn, models, answers))
        judge = row.get("judge")
        voter = judge.split("_")[0] if isinstance(judge, str) else None
        if voter in ("expert", "author"):
            (pair.experts if voter == "expert" else pair.authors).append(verdict)
            continue
        name = "/".join(judge) if isinstance(judge, list) else str(judge)
        if name in pair.stored:
            raise DataError(f"{where}: a second verdict of {name} on question {item.key}, turn {turn}, "
                            f"{models[0]} vs {models[1]}")
        pair.stored[name] = verdict
    return list(pairs.values())


def _assistant_turns(row: dict, name: str, where: str, item: Item) -> list[str]:
    conversation = row.get(name)
    if not isinstance(conversation, list) or not all(isinstance(m, dict) for m in conversation):
        raise DataError(f"{where}: field '{name}' must be a list of {{role, content}} messages")
    answers = [m.get("content") for m in conversation if m.get("role") == "assistant"]
    if len(answers) < len(item.turns) or not all(isinstance(a, str) for a in answers):
        raise DataError(f"{where}: field '{name}' has {len(answers)} assistant answers for {len(item.turns)} turns")
    return answers[: len(item.turns)]


def agreement_with_experts(judged: list[tuple[int, int, list[int]]]) -> dict:
    """The MT-bench paper's agreement of a judge with the experts (FastChat's compute_agreement), from (turn, the
    judge's verdict on a pair, the experts' votes on it): per turn and over both, over every vote the share the
    verdict matches, with ties (any two ties match) and without (votes where neither the judge nor the expert says
    tie). A turn without votes is left out."""
    return {name: _vote_agreement([(verdict, votes) for turn, verdict, votes in judged if turn in turns])
            for name, turns in AGREEMENT_TURNS.items() if any(votes for turn, _, votes in judged if turn in turns)}


def agreement_between_experts(voted: list[tuple[int, list[int]]]) -> dict:
    """The experts' agreement with one another, as `agreement_with_experts` counts it, over every two votes on the
    same pair: the level a judge can be asked to reach."""
    return agreement_with_experts([(turn, vote, votes[k + 1:]) for turn, votes in voted
                                   for k, vote in enumerate(votes)])


def _vote_agreement(judged: list[tuple[int, list[int]]]) -> dict:
    with_ties = [float(verdict == vote) for verdict, votes in judged for vote in votes]
    without = [float(verdict == vote) for verdict, votes in judged for vote in votes if verdict and vote]
    return {"votes": len(with_ties), "agreement_with_ties": _mean(with_ties),
            "votes_without_ties": len(without), "agreement_without_ties": _mean(without)}


def agreement_totals(pairs: list[VotedPair]) -> list[dict]:
    """The replay of the MT-bench paper's agreement study from stored files: per stored judge, its agreement with the
    experts on the pairs it judged, beside the experts' with one another on every pair they voted on."""
    between = agreement_between_experts([(pair.turn, pair.experts) for pair in pairs])
    results = []
    for judge in sorted({name for pair in pairs for name in pair.stored}):
        judged = [pair for pair in pairs if judge in pair.stored]
        results.append({
            "kind": "agreement", "judge": judge, "pairs": len(judged),
            "voted_pairs": sum(bool(pair.experts) for pair in judged),
            "agreement": agreement_with_experts([(p.turn, p.stored[judge], p.experts) for p in judged]),
            "between_experts": between, "author_votes": sum(len(pair.authors) for pair in pairs),
        })
    return results


def single_totals(rows: list[dict], items: dict, *, resamples: int = 1000, seed: int = 0) -> list[dict]:
    """Per judge and model: the mean score over its readable judgments, per turn and per category, with 95%
    bootstrap intervals over questions. A second judgment of the same question, turn, model and judge replaces the
    first (as FastChat's loaders keep the last), and is counted."""
    latest: dict = {}
    duplicates: Counter = Counter()
    for row in rows:
        key = (row["judge"], row["model"], row["key"], row["turn"])
        duplicates[row["judge"], row["model"]] += key in latest
        latest[key] = row
    by_model: dict = defaultdict(list)
    for row in latest.values():
        by_model[row["judge"], row["model"]].append(row)
    results = []
    for (judge, model), group in by_model.items():
        scores: dict = defaultdict(dict)  # question -> turn -> score
        unreadable = 0
        for row in group:
            if row["score"] is None:
                unreadable += 1
            else:
                scores[row["key"]][row["turn"]] = row["score"]
        keys = [key for key in items if key in scores]  # benchmark order
        turn_scores = {t: [scores[k][t] for k in keys if t in scores[k]] for t in (1, 2)}
        every = [s for k in keys for s in scores[k].values()]
        by_category: dict = defaultdict(list)
        for key in keys:
            by_category[items[key].category] += list(scores[key].values())
        columns = {f"{part}{t}": [float(t in scores[k]) if part == "n" else scores[k].get(t, 0.0) for k in keys]
                   for t in (1, 2) for part in ("s", "n")}

        def mean_of(*turns):
            return lambda s: sum(s[f"s{t}"].sum(axis=1) for t in turns) / sum(s[f"n{t}"].sum(axis=1) for t in turns)

        results.append({
            "kind": "single", "model": model, "judge": judge, "questions": len(keys), "judgments": len(group),
            "unreadable": unreadable, "duplicates": duplicates[judge, model],
            "score": _mean(every), "turns": {str(t): _mean(turn_scores[t]) for t in (1, 2)},
            "counts": {str(t): len(turn_scores[t]) for t in (1, 2)},
            "by_category": {c: _mean(v) for c, v in sorted(by_category.items())},
            "intervals": bootstrap(columns, {"score": mean_of(1, 2), "turn_1": mean_of(1), "turn_2": mean_of(2)},
                                   resamples=resamples, seed=seed),
            "bootstrap": {"resamples": resamples, "seed": seed, "level": 0.95},
            "per_question": [{"question_id": k, "category": items[k].category, "turn_1": scores[k].get(1),
                              "turn_2": scores[k].get(2)} for k in keys],
        })
    return sorted(results, key=lambda r: (r["judge"], -(r["score"] or 0), r["model"]))


def pair_totals(rows: list[dict], items: dict, *, resamples: int = 1000, seed: int = 0) -> list[dict]:
    """Per judge and model pair (oriented as its first judgment names them): show_result.py's counts for model_1,
    a game (question and turn) whose two orders disagree being a tie and a game with an unreadable verdict dropped
    (counted), per turn and category; the share of games whose verdict changes with the order; and 95% bootstrap
    intervals over questions for the win, loss and adjusted win rates (ties half)."""
    latest: dict = {}
    orientation: dict = {}
    for row in rows:
        pair = frozenset(row["models"])
        first = orientation.setdefault((row["judge"], pair), row["models"])
        winners = row["winners"]
        if row["models"] != first:  # the same pair named the other way round: swap the roles
            winners = [{"model_1": "model_2", "model_2": "model_1"}.get(w, w) for w in winners][::-1]
        latest[row["judge"], pair, row["key"], row["turn"]] = winners
    groups: dict = defaultdict(list)
    for (judge, pair, key, turn), winners in latest.items():
        groups[judge, pair].append((key, turn, winners))
    results = []
    for (judge, pair), games in groups.items():
        model_1, model_2 = orientation[judge, pair]
        outcomes = Counter()
        by_turn: dict = defaultdict(Counter)
        by_category: dict = defaultdict(Counter)
        per_question: dict = defaultdict(Counter)
        errors = inconsistent = 0
        for key, turn, (g1, g2) in games:
            if "error" in (g1, g2):
                errors += 1
                continue
            inconsistent += g1 != g2
            outcome = "tie" if g1 == "tie" or g1 != g2 else "win" if g1 == "model_1" else "loss"
            for counter in (outcomes, by_turn[str(turn)], by_category[items[key].category], per_question[key]):
                counter[outcome] += 1
        n = sum(outcomes.values())
        keys = [k for k in items if k in per_question]
        columns = {o: [float(per_question[k][o]) for k in keys] for o in ("win", "tie", "loss")}

        def share(*parts, tie_weight=0.0):
            return lambda s: (sum(s[p].sum(axis=1) for p in parts) + tie_weight * s["tie"].sum(axis=1)) / (
                s["win"] + s["tie"] + s["loss"]).sum(axis=1)

        results.append({
            "kind": "pairwise", "models": [model_1, model_2], "judge": judge, "questions": len(keys), "games": n,
            "errors": errors, "inconsistent": inconsistent, **{o: outcomes[o] for o in ("win", "tie", "loss")},
            "win_rate": outcomes["win"] / n if n else None, "loss_rate": outcomes["loss"] / n if n else None,
            "win_rate_adjusted": (outcomes["win"] + 0.5 * outcomes["tie"]) / n if n else None,
            "by_turn": {t: dict(c) for t, c in sorted(by_turn.items())},
            "by_category": {c: dict(v) for c, v in sorted(by_category.items())},
            "intervals": bootstrap(columns, {"win_rate": share("win"), "loss_rate": share("loss"),
                                             "win_rate_adjusted": share("win", tie_weight=0.5)},
                                   resamples=resamples, seed=seed),
            "bootstrap": {"resamples": resamples, "seed": seed, "level": 0.95},
        })
    return results


def model_totals(pair_results: list[dict]) -> list[dict]:
    """Per judge and model, its games against every opponent it met (FastChat show_result.py's pairwise-all table):
    wins, ties and losses from its side, and its win, loss and adjusted win rates (ties half), best first."""
    counts: dict = defaultdict(Counter)
    for result in pair_results:
        model_1, model_2 = result["models"]
        counts[result["judge"], model_1].update({o: result[o] for o in ("win", "tie", "loss")})
        counts[result["judge"], model_2].update({"win": result["loss"], "tie": result["tie"], "loss": result["win"]})
    totals = []
    for (judge, model), c in counts.items():
        n = c["win"] + c["tie"] + c["loss"]
        totals.append({
            "kind": "pairwise-model", "model": model, "judge": judge, "games": n,
            **{o: c[o] for o in ("win", "tie", "loss")}, "win_rate": c["win"] / n if n else None,
            "loss_rate": c["loss"] / n if n else None,
            "win_rate_adjusted": (c["win"] + 0.5 * c["tie"]) / n if n else None,
        })
    return sorted(totals, key=lambda t: (t["judge"], -(t["win_rate_adjusted"] or 0), t["model"]))


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


# ---------------------------------------------------------------- the stages


def grade(bench: Benchmark, answers: list[str], output: Path, judge_model: TeacherConfig, *, mode: str = "single",
          baseline: str | None = None, judge_prompts: str = "mt_bench_judge_prompts",
          reference_answers: str | None = None, limit: int | None = None, max_tokens: int | None = None,
          extra_body: dict | None = None, bootstrap: int = 1000, seed: int = 0,
          dry_run: bool = False) -> Written | None:
    """MT-bench: single-answer grading (`mode` single) or pairwise judgments (pairwise-baseline: each answer file
    against `baseline`; pairwise-all: every pair) of llm_judge answer files, FastChat's protocol; the judgments to
    `output` in its schema, their totals printed and written to OUTPUT.summary.json. None after a dry run."""
    if mode not in MODES:
        raise DataError(f"--mode {mode!r}: one of {', '.join(MODES)}")
    items = select(bench.items, limit=limit)
    by_key = {item.key: item for item in bench.items}
    keys = [item.key for item in items]
    answer_sets = {}
    for path in [*answers, *([baseline] if baseline else [])]:
        rows = read_turn_answers(load_records(path), by_key, required=keys)
        name = model_id(rows, path)
        if name in answer_sets:
            raise DataError(f"{path}: model {name!r} is in two answer files; give each its own --model-id")
        answer_sets[name] = rows
    models = list(answer_sets)
    if mode == "single":
        if baseline:
            raise DataError("--baseline goes with --mode pairwise-baseline")
        pairs = []
    elif mode == "pairwise-baseline":
        if not baseline:
            raise DataError("--mode pairwise-baseline needs --baseline, the baseline model's answers")
        pairs = [(model, models[-1]) for model in models[:-1]]
    else:
        if baseline or len(models) < 2:
            raise DataError("--mode pairwise-all judges every pair of two or more --answers files (and no --baseline)")
        pairs = [(a, b) for i, a in enumerate(models) for b in models[i + 1 :]]
    reference_name = reference_answers or ("mt_bench_reference_gpt4" if bench.name == "mt_bench" else None)
    stored_references = read_turn_answers(load_records(reference_name), by_key) if reference_name else None
    refs = references(items, stored_references, reference_name)
    prompts_file = load_records(judge_prompts)
    prompts = judge_prompts_by_role(prompts_file)
    params = {**JUDGE_PARAMS, **({"max_tokens": max_tokens} if max_tokens else {})}
    params |= {"extra_body": extra_body} if extra_body else {}
    if mode == "single":
        jobs = single_jobs(items, answer_sets, refs, prompts, judge_model.model, params, prompts_file.source)
    else:
        jobs = pair_jobs(items, pairs, answer_sets, refs, prompts, judge_model.model, params, prompts_file.source)
    to_records = single_records if mode == "single" else pair_records
    from gpt4llm.teacher.dispatch import send_to_file

    sent = send_to_file(jobs, judge_model, output, desc=f"{mode} judgments ({judge_model.model})",
                        to_records=lambda done: to_records(jobs, done, time.time()), dry_run=dry_run)
    if sent is None:
        return None
    records, written = sent
    if not records:
        return written
    grade_totals(bench, [str(output)], output, bootstrap=bootstrap, seed=seed)
    return Written(written.path, written.failures, summary_path(output))


def grade_totals(bench: Benchmark, judgments: list[str], output: Path | None = None, *, bootstrap: int = 1000,
                 seed: int = 0) -> list[dict]:
    """MT-bench totals of judgment files (single and pairwise alike; ours or FastChat's), printed and, with
    `output`, written to OUTPUT.summary.json."""
    from .report import mt_agreement_table, mt_bench_table, mt_model_table, mt_pair_table  # matplotlib: not for --help

    items = {item.key: item for item in bench.items}
    rows = {"single": [], "pairwise": []}
    votes = []  # the rows of every file of votes and stored verdicts, pooled
    for path in judgments:
        records = load_records(path)
        if is_vote_file(records):
            votes += zip(records.rows, records.locations)
            continue
        kind, found = read_judgments(records, items)
        rows[kind] += found
    results = (single_totals(rows["single"], items, resamples=bootstrap, seed=seed)
               + pair_totals(rows["pairwise"], items, resamples=bootstrap, seed=seed))
    if votes:
        agreements = agreement_totals(pool_votes(votes, items))
        if not agreements:
            raise DataError(f"{', '.join(judgments)}: votes without a stored judge's verdicts; give its file too "
                            "(e.g. mt_bench_human_judgments_gpt4), or calibrate a judge against the votes")
        for result in agreements:
            print("\n".join(mt_agreement_table(result)) + "\n")
        results += agreements
    singles = [r for r in results if r["kind"] == "single"]
    if singles:
        print("\n".join(mt_bench_table(singles)) + "\n")
    pairs = [r for r in results if r["kind"] == "pairwise"]
    for result in pairs:
        print("\n".join(mt_pair_table(result)) + "\n")
    if len({frozenset(r["models"]) for r in pairs}) > 1:  # pairwise-all: each model against all it met
        results += model_totals(pairs)
        print("\n".join(mt_model_table([r for r in results if r["kind"] == "pairwise-model"])) + "\n")
    if output:
        write_json_atomic(summary_path(output), results)
    return results


def summary_path(output) -> Path:
    return Path(f"{output}.summary.json")
