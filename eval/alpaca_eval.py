"""`python -m eval alpaca-eval`: AlpacaEval 2, the benchmark today's instruction-tuning papers report, judged with
its weighted annotator or replayed from published annotations, with its metrics computed as AlpacaEval computes
them. Its 805 instructions carry their subset (`dataset`): `selfinstruct` is the paper's User-Oriented-252 and
`vicuna` its Vicuna-80, so one run also scores the paper's two benchmarks under one judge.

Judging (`--answers`, answer files of `eval generate --questions alpaca_eval`): every answer against the baseline's
output the evaluation set carries (gpt4_1106_preview's), with weighted_alpaca_eval_gpt4_turbo's protocol: its
published prompt (fetched and pinned), the baseline as output_1 and the model as output_2, the two switched for the
instructions AlpacaEval switches (a coin seeded by the instruction, as its RandomSwitchTwoColumnsProcessor throws
it), one token asked for with its 5 most likely tokens. The preference is 2 - P(m) / (P(m) + P(M)) from the
returned log-probabilities (its logprob_parser), else 1 or 2 from the answer's label when the endpoint returns
none, and switched back; identical outputs are 1.5 without a request. Annotations are written in AlpacaEval's
schema (`preference_from` says which way each was read), so its own tools read them.

Metrics (alpaca_eval.metrics): win_rate and standard_error over the weighted preferences, discrete_win_rate,
n_wins, n_wins_base, n_draws, n_total, avg_length, and length_controlled_winrate: AlpacaEval's GLM
length_controlled_v1 (preference ~ tanh(standardised length difference) + instruction difficulty + not-gamed
baseline, no intercept), fitted with the annotations of the baseline's length-gamed variants weighted 0.2 / 2
(AlpacaEval's df_gamed.csv, which also holds each instruction's difficulty), L1 logistic regression
cross-validated over 5 group folds, then predicted at no length difference. Per subset: the same counts over the
subset's rows, and the mean of the whole fit's predictions over them.

Replay (`--annotations`, e.g. published files such as alpaca_eval_annotations_alpaca-7b): the same metrics without
a judge, per generator, in the leaderboard's column names.
"""

import logging
import math
import random
import re
from collections import Counter
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np

from gpt4llm.benchmarks import Benchmark, Item, load_benchmark, model_id, read_answers, select
from gpt4llm.data import DataError, Records, load_records, local_source, text_field
from gpt4llm.files import write_json_atomic, write_text_atomic
from gpt4llm.teacher.options import TeacherConfig
from gpt4llm.teacher.runlog import Job, Written, job_id

logger = logging.getLogger(__name__)

BENCHMARK = "alpaca_eval"  # registered sources (gpt4llm/sources.py)
PROMPT = "alpaca_eval_annotator_prompt"
GAMED = "alpaca_eval_gamed"
LEADERBOARD = "alpaca_eval_leaderboard"
BASELINE = "gpt4_1106_preview"
PUBLISHED_ANNOTATOR = "weighted_alpaca_eval_gpt4_turbo"  # the protocol followed; the annotator of published files
# weighted_alpaca_eval_gpt4_turbo/configs.yaml (temperature 1 only labels the sampling: the log-probabilities decide)
ANNOTATOR_PARAMS = {"temperature": 1, "max_tokens": 1, "logprobs": True, "top_logprobs": 5}
FIRST, SECOND = "m", "M"  # the labels of the prompt's output_1 and output_2
SWITCH_COLUMN, SWITCH_SEED = "is_switched_outputs", 0  # the processor's column, seeded with the annotator's seed (0)
GLM = "length_controlled_v1"
GAMED_WEIGHT = 0.2 / 2  # regularize_to_baseline_lambda, shared by the two gamed variants of the baseline
GLM_FOLDS, GLM_RANDOM_STATE = 5, 123
PAPER_SUBSETS = {"selfinstruct": "User-Oriented-252", "vicuna": "Vicuna-80"}
LEADERBOARD_COLUMNS = ("win_rate", "standard_error", "n_wins", "n_wins_base", "n_draws", "n_total",
                       "discrete_win_rate", "avg_length", "length_controlled_winrate")
_PLACEHOLDER = re.compile(r"{([^ \s]+?)}")


# ---------------------------------------------------------------- the stages


def alpaca_eval(answers: list[str], output: Path, judge_model: TeacherConfig, *, questions: str = BENCHMARK,
                baseline: str | None = None, subsets: list[str] | None = None, limit: int | None = None,
                prompt: str = PROMPT,
                gamed: str | None = GAMED, leaderboard: str | None = LEADERBOARD, max_tokens: int | None = None,
                extra_body: dict | None = None, dry_run: bool = False) -> Written | None:
    """Judge each answer file against the baseline's outputs with AlpacaEval's weighted annotator (`judge_model`
    any endpoint), on the items of `subsets` (all if None), the first `limit` of them. The baseline is the one the
    evaluation set carries, or `baseline`'s answers (an answer file; then `questions` may be any benchmark, and the
    LC win rate needs a gamed table of that baseline). Writes OUTPUT (JSON: every
    model's metrics and per subset), OUTPUT's .md, and each model's annotations to
    OUTPUT.annotations/<model>.json (AlpacaEval's schema; its requests logged beside it, resumable). `gamed` is the
    GLM's table (None: no LC win rate), `leaderboard` the published one kept beside the results. None after a dry
    run."""
    bench = load_benchmark(questions)
    items = select(bench.items, limit=limit, subsets=subsets)
    if baseline:
        items = _with_baseline(bench, items, baseline)
        if gamed == GAMED:
            logger.warning("no LC win rate: AlpacaEval's gamed table is of its own baseline (%s), not of %s; give "
                           "one of yours with --gamed", BASELINE, items[0].predicted_by if items else baseline)
            gamed = None
    template = annotator_template(prompt)
    params = dict(ANNOTATOR_PARAMS) | ({"max_tokens": max_tokens} if max_tokens else {})
    params |= {"extra_body": extra_body} if extra_body else {}
    plans = [_plan(bench, items, path, template, judge_model.model, params) for path in answers]
    if dry_run:
        from gpt4llm.teacher.dispatch import print_dry_run

        print_dry_run([job for _, jobs, _ in plans for job in jobs], judge_model)
        return None
    from gpt4llm.teacher.dispatch import send_to_file

    annotator = f"weighted_alpaca_eval:{judge_model.model}"
    failures, files = [], []
    for generator, jobs, fixed in plans:
        path = Path(f"{output}.annotations") / f"{_slug(generator)}.json"
        to_records = partial(annotation_records, items, jobs, fixed, generator=generator, annotator=annotator)
        rows, written = send_to_file(jobs, judge_model, path, desc=f"AlpacaEval ({generator})", to_records=to_records)
        failures += [written.failures] if written.failures else []
        files.append(str(path))
        logger.info("%s: %d annotations in %s; preferences from %s", generator, len(rows), path,
                    ", ".join(f"{k}: {v}" for k, v in Counter(row["preference_from"] for row in rows).items()))
    replay(files, output, questions=questions, gamed=gamed, leaderboard=leaderboard, judge=judge_model.model)
    return Written(Path(output), failures[0] if failures else None)


def replay(annotations: list[str], output: Path | None = None, *, questions: str = BENCHMARK,
           gamed: str | None = GAMED, leaderboard: str | None = LEADERBOARD, judge: str | None = None) -> dict:
    """AlpacaEval's metrics of annotation files (published ones, or ours), per generator and per subset, without a
    judge, with the published `leaderboard`'s rows beside them (where it can be read); printed, and written to
    OUTPUT (JSON) and OUTPUT's .md when given."""
    bench = load_benchmark(questions)
    rows_by_generator: dict[str, list[dict]] = {}
    annotators = set()
    for path in annotations:
        for row in read_annotations(load_records(path), bench):
            rows_by_generator.setdefault(row["generator_2"], []).append(row)
            annotators.add(row["annotator"])
    table = _gamed_table(gamed) if gamed else None
    models = [leaderboard_row(generator, rows, table) for generator, rows in rows_by_generator.items()]
    result = {
        "benchmark": bench.name,
        "judge": judge or ", ".join(sorted(annotators)),
        "annotations": list(annotations),
        "length_controlled": GLM if table is not None else None,
        "gamed_table": gamed,
        "models": models,
        "published": _published(leaderboard) if leaderboard else [],
    }
    from .report import alpaca_eval_table  # matplotlib: not for --help

    lines = alpaca_eval_table(result)
    print("\n".join(lines))
    if output:
        write_json_atomic(output, result)
        write_text_atomic(Path(output).with_suffix(".md"), "\n".join(lines) + "\n")
    return result


def published_leaderboard(source: str = LEADERBOARD) -> list[dict]:
    """AlpacaEval's leaderboard CSV (its first column the generator) as rows in our column names."""
    import csv

    path = local_source(source)
    try:
        with open(path, newline="", encoding="utf-8") as file:
            table = list(csv.reader(file))
    except OSError as error:
        raise DataError(f"{source}: cannot read the leaderboard: {error}") from None
    header = table[0] if table else []
    missing = [name for name in ("win_rate", "avg_length") if name not in header]
    if missing:
        raise DataError(f"{source}: field '{missing[0]}' is missing (not an AlpacaEval leaderboard)")
    rows, seen = [], set()
    for cells in table[1:]:
        row = dict(zip(header, cells))
        if not cells or cells[0] in seen:  # the leaderboard lists a few models twice
            continue
        seen.add(cells[0])
        rows.append({"generator": cells[0], **{name: _cell(row.get(name), name) for name in LEADERBOARD_COLUMNS},
                     "lc_standard_error": _cell(row.get("lc_standard_error"), "lc_standard_error"),
                     "mode": row.get("mode")})
    return rows


def _cell(text: str | None, name: str):
    if text in (None, ""):
        return None
    value = float(text)
    return int(value) if name.startswith("n_") or name == "avg_length" else value


def _published(source: str) -> list[dict]:
    try:
        return published_leaderboard(source)
    except DataError as error:
        logger.warning("the published leaderboard is left out: %s", error)
        return []


# ---------------------------------------------------------------- the annotator


def annotator_messages(template: str, fields: dict[str, str]) -> list[dict]:
    """AlpacaEval's request for one pair: each placeholder's first occurrence replaced, in the order the
    placeholders first appear (utils.make_prompts), and the ChatML text split into messages (prompt_to_chatml)."""
    prompt = template
    for name in dict.fromkeys(_PLACEHOLDER.findall(template)):
        prompt = prompt.replace("{" + name + "}", str(fields[name]), 1)
    messages = []
    for block in prompt.strip().split("<|im_start|>")[1:]:
        role, _, rest = block.partition("\n")
        messages.append({"role": role.strip(), "content": rest.split("<|im_end|>", 1)[0].strip()})
    return messages


def is_switched(instruction: str, seed: int = SWITCH_SEED) -> bool:
    """Whether AlpacaEval shows the model's output first for this instruction (a coin seeded by it)."""
    return random.Random(SWITCH_COLUMN + instruction + str(seed)).choices([False, True], k=1)[0]


def weighted_preference(top_logprobs: list[dict]) -> float:
    """AlpacaEval's logprob_parser (numerator m, denominator m and M, not binarized): 2 - P(m) / (P(m) + P(M)) over
    those of the two among the most likely tokens; NaN when neither is."""
    found = {t.get("token"): t.get("logprob") for t in top_logprobs if t.get("token") in (FIRST, SECOND)}
    if not found:
        return math.nan
    first, second = found.get(FIRST, -math.inf), found.get(SECOND, -math.inf)
    top = max(first, second)
    denominator = top + math.log(math.exp(first - top) + math.exp(second - top))
    return 2 - math.exp(first - denominator)


def read_preference(entry: dict) -> tuple[float, str]:
    """(preference in the prompt's order, how it was read) from a logged answer: its log-probabilities when the
    endpoint returned them, else its label; NaN when neither names an output."""
    top = ((entry.get("logprobs") or [{}])[0] or {}).get("top_logprobs") or []
    if top:
        return weighted_preference(top), "logprobs"
    label = {FIRST: 1.0, SECOND: 2.0}.get((entry.get("text") or "").strip())
    return (label, "label") if label is not None else (math.nan, "unreadable")


def keep_answer(text: str) -> str:
    """Every answer is kept: its log-probabilities decide, not its text (AlpacaEval asks for one token, which is
    always cut at the length limit)."""
    return text


def _with_baseline(bench: Benchmark, items: list[Item], baseline: str) -> list[Item]:
    """The items with `baseline`'s answers as their predictions, and its model as the predictor."""
    answers = read_answers(load_records(baseline), bench.keys(), required=[item.key for item in items])
    name = model_id(answers, baseline)
    return [replace(item, prediction=answers[item.key]["text"], predicted_by=name) for item in items]


def _plan(bench: Benchmark, items: list[Item], path: str, template: str, judge: str,
          params: dict) -> tuple[str, list[Job], dict]:
    """(the model's name, its requests, the keys whose outputs equal the baseline's: 1.5 without a request)."""
    answers = read_answers(load_records(path), bench.keys(), required=[item.key for item in items])
    generator = model_id(answers, path)
    jobs, fixed = [], {}
    for item in items:
        if item.prediction is None:
            raise DataError(f"{item.where}: no baseline output (field 'output'): give the baseline's answers with "
                            "--baseline")
        output = answers[item.key]["text"]
        if output == item.prediction:
            fixed[item.key] = 1.5
            continue
        switched = is_switched(item.prompt)
        shown = (output, item.prediction) if switched else (item.prediction, output)
        messages = annotator_messages(template, {"instruction": item.prompt, "output_1": shown[0],
                                                 "output_2": shown[1]})
        jobs.append(Job(job_id("alpaca_eval", judge, params, messages), messages, params, parse=keep_answer,
                        meta={"key": item.key, "switched": switched, "output": output},
                        source={"question_id": item.key, "generator": generator}))
    return generator, jobs, fixed


def annotation_records(items: list[Item], jobs: list[Job], fixed: dict, done: dict, generator: str,
                       annotator: str) -> list[dict]:
    """AlpacaEval's annotations (output_1 the baseline, output_2 the model; preference 1 to 2, 2 the model) of every
    item judged or with an output equal to the baseline's, in benchmark order."""
    judged = {job.meta["key"]: job for job in jobs}
    rows = []
    for item in items:
        if item.key in fixed:
            preference, how, raw, output = fixed[item.key], "identical outputs", None, item.prediction
        elif (job := judged.get(item.key)) is not None and job.id in done:
            entry = done[job.id]
            preference, how = read_preference(entry)
            preference = 3 - preference if job.meta["switched"] else preference
            raw = {"text": entry.get("text"), "logprobs": {"content": entry.get("logprobs")},
                   "is_switched_outputs": job.meta["switched"]}
            output = job.meta["output"]
        else:
            continue
        rows.append({"instruction": item.prompt, "output_1": item.prediction,
                     "generator_1": item.predicted_by or BASELINE,
                     "dataset": item.category, "output_2": output, "generator_2": generator, "annotator": annotator,
                     "preference": None if math.isnan(preference) else preference, "preference_from": how,
                     "raw_completion": raw})
    return rows


def annotator_template(prompt: str) -> str:
    path = local_source(prompt)
    try:
        template = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise DataError(f"{prompt}: cannot read the annotator prompt: {error}") from None
    found = set(_PLACEHOLDER.findall(template))
    if not template.strip().startswith("<|im_start|>") or found != {"instruction", "output_1", "output_2"}:
        raise DataError(f"{prompt}: not an AlpacaEval ChatML prompt with {{instruction}}, {{output_1}} and "
                        f"{{output_2}} (found {sorted(found)})")
    return template


# ---------------------------------------------------------------- reading annotations


def read_annotations(records: Records, bench: Benchmark) -> list[dict]:
    """Annotation rows in AlpacaEval's schema, each with `index`, the benchmark row of its instruction (what the GLM
    looks the instruction's difficulty up by), and `dataset` from the benchmark where the file has none."""
    rows_of = {}
    for item in bench.items:
        rows_of.setdefault(item.prompt, item)
    out = []
    for row, where in zip(records.rows, records.locations):
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected an annotation object, got {type(row).__name__}")
        instruction = text_field(row, "instruction", where)
        item = rows_of.get(instruction)
        if item is None:
            raise DataError(f"{where}: field 'instruction' is not an instruction of {bench.name}")
        outputs = [row.get(name) if isinstance(row.get(name), str) else _missing(where, name)
                   for name in ("output_1", "output_2")]
        preference = row.get("preference")
        if preference is not None and (isinstance(preference, bool) or not isinstance(preference, (int, float))):
            raise DataError(f"{where}: field 'preference' must be a number from 1 to 2 or null, got {preference!r}")
        out.append({"index": int(item.key), "instruction": instruction, "dataset": row.get("dataset") or item.category,
                    "output_1": outputs[0], "output_2": outputs[1],
                    "generator_1": text_field(row, "generator_1", where),
                    "generator_2": text_field(row, "generator_2", where),
                    "annotator": str(row.get("annotator") or "unknown"),
                    "preference": math.nan if preference is None else float(preference)})
    return out


def _missing(where: str, name: str):
    raise DataError(f"{where}: field '{name}' must be a string")


# ---------------------------------------------------------------- the metrics


def head_to_head(preferences) -> dict:
    """AlpacaEval's get_winrate: the weighted preferences' win rate (percent, draws half) with its standard error,
    wins, base wins, draws and total (0 and 1.5 are draws; what is not a preference from 1 to 2 is left out), and the
    discrete win rate (each preference rounded to a win, a loss or a draw)."""
    preferences = np.asarray(preferences, dtype=float)
    weighted = _describe(preferences)
    discrete = np.round(np.where(preferences == 1.5, 0.0, preferences))
    return weighted | {"discrete_win_rate": _describe(discrete)["win_rate"]}


def _describe(preferences: np.ndarray) -> dict:
    """BaseScoringRule.describe_head2head."""
    draws = int(np.sum((preferences == 1.5) | (preferences == 0)))
    preferences = np.where(preferences == 0, 1.5, preferences)
    kept = preferences[~np.isnan(preferences) & (preferences >= 1) & (preferences <= 2)] - 1
    n = len(kept)
    return {
        "win_rate": float(kept.mean() * 100) if n else None,
        "standard_error": float(kept.std(ddof=1) / math.sqrt(n) * 100) if n > 1 else None,
        "n_wins": int(np.sum(kept > 0.5)),
        "n_wins_base": int(np.sum(kept < 0.5)),
        "n_draws": draws,
        "n_total": n,
    }


def length_controlled(rows: list[dict], gamed) -> np.ndarray | None:
    """AlpacaEval's length_controlled_v1 predictions for each annotation row (its preference for the model if its
    output were as long as the baseline's), fitted on the rows and the gamed table; None where it cannot be fitted
    (fewer than 5 rows with a preference, or no length difference at all)."""
    from sklearn import config_context
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.metrics import make_scorer
    from sklearn.model_selection import GroupKFold

    delta = np.array([len(r["output_1"]) - len(r["output_2"]) for r in rows], dtype=float)
    preference = np.array([r["preference"] for r in rows], dtype=float)
    preference = np.where(preference == 0, 1.5, preference) - 1
    spread = delta.std(ddof=1) if len(delta) > 1 else 0.0
    if not spread or np.sum(~np.isnan(preference)) < GLM_FOLDS:
        return None
    difficulty = _difficulty(gamed, [r["index"] for r in rows])
    ones = np.ones(len(rows))
    features = np.column_stack([np.tanh(delta / spread), difficulty, ones])
    train = np.vstack([gamed["features"], features])
    target = np.concatenate([gamed["preference"], preference])
    weight = np.concatenate([np.full(len(gamed["preference"]), GAMED_WEIGHT), ones])
    known = ~np.isnan(target)
    train, target, weight = train[known], target[known], weight[known]
    # AlpacaEval's fit with probabilities as targets: each row twice, as label 1 weighted by p and label 0 by 1 - p
    n = len(target)
    true_prob = np.concatenate([target, 1 - target])
    row_weight = np.concatenate([weight, weight])
    with config_context(enable_metadata_routing=True):
        scorer = make_scorer(_log_loss, response_method="predict_proba", greater_is_better=False)
        model = LogisticRegressionCV(cv=GroupKFold(n_splits=GLM_FOLDS), scoring=scorer.set_score_request(
            true_sample_weight=True, true_prob=True), random_state=GLM_RANDOM_STATE, dual=False, l1_ratios=(1,),
            solver="liblinear", n_jobs=None, fit_intercept=False, use_legacy_attributes=False)
        model.set_fit_request(sample_weight=True)
        model.fit(np.vstack([train, train]), np.concatenate([np.ones(n), np.zeros(n)]),
                  sample_weight=true_prob * row_weight, groups=np.concatenate([np.arange(n), np.arange(n)]),
                  true_sample_weight=row_weight, true_prob=true_prob)
    return model.predict_proba(np.column_stack([np.zeros(len(rows)), difficulty, ones]))[:, 1]


def _log_loss(y_true, y_pred, true_prob, true_sample_weight=None) -> float:
    """AlpacaEval's logloss_continuous: the weighted log loss against the probability each duplicated row stands
    for."""
    y_true = np.where(y_true == 1, true_prob, 1 - true_prob)
    y_pred = np.clip(y_pred, 1e-15, 1 - 1e-15)
    losses = y_true * np.log(y_pred) + (1 - y_true) * np.log(1 - y_pred)
    return -np.mean(losses * true_sample_weight if true_sample_weight is not None else losses)


def _gamed_table(source: str) -> dict:
    """AlpacaEval's df_gamed.csv: the gamed variants' rows as GLM features and targets, and the instruction
    difficulties as AlpacaEval reads them (the first row of each instruction, looked up by that row's position)."""
    import pandas as pd

    path = local_source(source)
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as error:
        raise DataError(f"{source}: cannot read the gamed table: {error}") from None
    needed = ("index", "preference", "std_delta_len", "instruction_difficulty", "not_gamed_baseline")
    missing = [name for name in needed if name not in table.columns]
    if missing:
        raise DataError(f"{source}: field '{missing[0]}' is missing (AlpacaEval's df_gamed.csv has {list(needed)})")
    features = np.column_stack([np.tanh(table["std_delta_len"].to_numpy(float)),
                                table["instruction_difficulty"].to_numpy(float),
                                table["not_gamed_baseline"].astype(float).to_numpy()])
    first = table.drop_duplicates("index")["instruction_difficulty"]
    return {"source": str(source), "features": features, "preference": table["preference"].to_numpy(float),
            "difficulty": {int(label): float(value) for label, value in first.items()}}


def _difficulty(gamed: dict, indices: list[int]) -> np.ndarray:
    missing = [i for i in indices if i not in gamed["difficulty"]]
    if missing:
        raise DataError(f"{gamed['source']}: no instruction difficulty for benchmark rows {missing[:5]}")
    return np.array([gamed["difficulty"][i] for i in indices])


def leaderboard_row(generator: str, rows: list[dict], gamed: dict | None) -> dict:
    """One generator's metrics in the leaderboard's column names, and the same per subset (`paper_benchmark` names
    the paper's two)."""
    baseline = {r["generator_1"] for r in rows}
    preferences = [r["preference"] for r in rows]
    predicted = None
    if gamed is not None:
        predicted = np.full(len(rows), 0.5) if baseline == {generator} else length_controlled(rows, gamed)
    row = {"generator": generator, "baseline": ", ".join(sorted(baseline)), **_metrics(rows, preferences, predicted),
           "n_without_preference": sum(math.isnan(p) for p in preferences)}  # left out of n_total, as AlpacaEval does
    if predicted is not None and any(r["index"] != i for i, r in enumerate(rows)):
        logger.warning("%s: the annotations are not the benchmark's rows in order (some missing or moved): the GLM "
                       "takes each instruction's difficulty by its benchmark row; AlpacaEval's own code takes it by "
                       "the row's position in the file, and its LC win rate differs here", generator)
    if predicted is None and gamed is not None:
        logger.warning("%s: too few annotations (or no length differences) to fit the LC GLM", generator)
    elif predicted is not None and _extreme(row["win_rate"], row["length_controlled_winrate"]):
        logger.warning("%s: the LC win rate (%.1f%%) is far from the raw one (%.1f%%): the GLM may have failed",
                       generator, row["length_controlled_winrate"], row["win_rate"])
    subsets = {}
    for subset in sorted({r["dataset"] for r in rows}):
        chosen = [i for i, r in enumerate(rows) if r["dataset"] == subset]
        subsets[subset] = _metrics([rows[i] for i in chosen], [preferences[i] for i in chosen],
                                   None if predicted is None else predicted[chosen])
        if subset in PAPER_SUBSETS:
            subsets[subset]["paper_benchmark"] = PAPER_SUBSETS[subset]
    return row | {"subsets": subsets}


def _metrics(rows: list[dict], preferences: list[float], predicted: np.ndarray | None) -> dict:
    lengths = [len(r["output_2"]) for r in rows]
    out = head_to_head(preferences) | {"avg_length": int(np.mean(lengths)) if lengths else None}
    if predicted is None:
        return out | {"length_controlled_winrate": None, "lc_standard_error": None}
    return out | {"length_controlled_winrate": float(predicted.mean() * 100),
                  "lc_standard_error": float(predicted.std(ddof=1) / math.sqrt(len(predicted)) * 100)
                  if len(predicted) > 1 else None}


def _extreme(before: float | None, after: float | None) -> bool:
    """AlpacaEval's get_is_extreme_changes (abs_diff 10, rel_diff 4)."""
    if before is None or after is None:
        return False
    return (after < min(before - before / 4, before - 10)) or (after > max(before + (100 - before) / 4, before + 10))


def _slug(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name).strip("_") or "model"
