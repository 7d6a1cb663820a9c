"""The evaluation report: Markdown tables and PNG figures like the paper's Figures 4-6, the judge's length bias,
MT-bench's grades, the reward curves of RL runs, and the data statistics of its Figure 1 for any Alpaca-schema
dataset."""

import json
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from gpt4llm.data import DataError, alpaca_rows, load_records  # noqa: E402
from gpt4llm.files import write_text_atomic  # noqa: E402

from .words import length_in_tokens  # noqa: E402

logger = logging.getLogger(__name__)
SPACY_MODEL = "en_core_web_sm"  # the paper's notebook loads en_core_web_md; both give the dependency parse used here
SPACY_HINT = f"pip install spacy && python -m spacy download {SPACY_MODEL}"

# ---------------------------------------------------------------- judged totals (Figures 4 and 5)


def _interval(result: dict, name: str, scale: float = 1.0, fmt: str = "{:.1f}") -> str:
    bounds = (result.get("intervals") or {}).get(name)
    return f" [{fmt.format(bounds[0] * scale)}, {fmt.format(bounds[1] * scale)}]" if bounds else ""


def judge_table(result: dict) -> list[str]:
    """Totals of a model and its reference, the model's relative score (model / reference, the paper's
    percentages) with 95% bootstrap intervals over questions, per category, and the judge's biases."""
    model, reference = result["models"]
    totals, single = result["totals"], result["single_order_totals"]

    def relative(t: dict, name: str | None = None) -> str:
        if not t.get(reference):
            return "n/a"
        return f"{100 * t[model] / t[reference]:.1f}%" + (_interval(result, name, 100, "{:.1f}%") if name else "")

    both = result["position"] is not None
    orders = (
        "both orders averaged"
        if both
        else f"{reference if result['single_order_questions'] else model} as Assistant 1"
    )
    lines = [
        f"| | {model} | {reference} | {model} / {reference} |",
        "|---|---|---|---|",
        (
            f"| total, {orders} | {totals[model]:.1f}{_interval(result, 'model_total')} | "
            f"{totals[reference]:.1f}{_interval(result, 'reference_total')} | {relative(totals, 'ratio')} |"
        ),
    ]
    if both:
        lines.append(
            f"| total, {reference} as Assistant 1 only (FastChat's order) | {single[model]:.1f} | "
            f"{single[reference]:.1f} | {relative(single)} |"
        )
    lines += [
        f"| {category} | {t[model]:.1f} | {t[reference]:.1f} | {relative(t)} |"
        for category, t in result["by_category"].items()
    ]
    n, outcomes = result["questions"], result["outcomes"]
    lines.append("")
    if n:
        lines.append(
            f"{model} wins {outcomes['win']}, ties {outcomes['tie']} and loses {outcomes['loss']} of {n} questions: "
            f"win rate {100 * result['win_rate']:.1f}%{_interval(result, 'win_rate', 100, '{:.1f}%')}, "
            f"loss rate {100 * result['loss_rate']:.1f}%{_interval(result, 'loss_rate', 100, '{:.1f}%')}."
        )
    if both:
        position = result["position"]
        lines.append(
            f"Position bias: the winner changes with the answer order on {100 * position['flip_rate']:.1f}% of the "
            f"{position['questions']} questions judged both ways; Assistant 1 scores higher in "
            f"{100 * position['first_position_win_rate']:.1f}% of the reviews."
        )
    if result["length"]["longer_answer_win_rate"] is not None:
        lines.append(f"Length: the longer answer wins {100 * result['length']['longer_answer_win_rate']:.1f}% of the "
                     f"{result['length']['questions']} questions with a winner "
                     "and answers of different lengths.")
    lines.append(
        f"{n} questions, {result['reviews']} reviews; {result['unparsed']} could not be read and are not counted; "
        f"{result['score_text_disagreements']} stored scores disagree with their review's text (the stored ones are "
        f"used). Intervals: {100 * result['bootstrap']['level']:.0f}% bootstrap over questions "
        f"({result['bootstrap']['resamples']} resamples)."
    )
    return lines


def short_names(models: Iterable[str]) -> dict[str, str]:
    """FastChat's `name:version` ids without their version, unless two different models would then look alike."""
    models = list(dict.fromkeys(models))
    short = {m: m.split(":")[0] for m in models}
    clashes = {s for s in short.values() if list(short.values()).count(s) > 1}
    return {m: m if short[m] in clashes else short[m] for m in models}


def plot_totals(results: list[dict], path: Path, title: str = "GPT-4-judged total scores", *,
                published: dict[tuple[str, str], float] | None = None) -> None:
    """Figure 4 style: a horizontal bar per comparison, the model's total relative to its reference's (with its
    95% interval), "model : reference" totals beside it, and a colour (and legend entry) per reference; with
    `published` ((model, reference) -> ratio), a diamond at the published ratio of that comparison."""
    published = published or {}
    names = short_names(m for r in results for m in r["models"])
    references = list(dict.fromkeys(r["reference"] for r in results))
    colors = {ref: plt.get_cmap("tab10")(i % 10) for i, ref in enumerate(references)}
    rows = sorted(results, key=lambda r: references.index(r["reference"]))  # grouped by reference, stable
    fig, ax = plt.subplots(figsize=(7.5, 1.5 + 0.36 * len(rows)), layout="constrained")
    right = 100.0
    for y, result in enumerate(rows):
        model, reference = result["models"]
        ratio = 100 * result["ratio"] if result["ratio"] is not None else 0.0
        bounds = (result.get("intervals") or {}).get("ratio")
        xerr = [[ratio - 100 * bounds[0]], [100 * bounds[1] - ratio]] if bounds else None
        ax.barh(y, ratio, height=0.7, color=colors[reference], alpha=0.85)
        if xerr:
            ax.errorbar(ratio, y, xerr=xerr, color="black", capsize=2, linewidth=0.8)
        end = max(ratio, 100 * bounds[1] if bounds else ratio)
        if (model, reference) in published:
            marked = 100 * published[model, reference]
            ax.plot(marked, y, marker="D", color="black", markersize=5, linestyle="none")
            end = max(end, marked)
        totals = result["totals"]
        ax.text(end + 1.5, y, f"{ratio:.0f}%   {totals[model]:g} : {totals[reference]:g}", va="center", fontsize=8)
        right = max(right, end)
    ax.set_yticks(range(len(rows)), [names[r["models"][0]] for r in rows], fontsize=8)
    ax.invert_yaxis()  # the first comparison on top
    ax.set_ylim(len(rows) - 0.5, -0.5)
    ax.axvline(100, color="gray", linestyle="--", linewidth=0.8)
    ax.set_xlim(0, right * 1.32)  # room for the labels right of the longest bar
    ax.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(decimals=0))
    ax.xaxis.grid(True, linestyle="--", alpha=0.3)
    ax.set_xlabel(
        "model total / reference total (95% bootstrap interval); beside each bar: model : reference", fontsize=8
    )
    ax.set_title(title, fontsize=10)
    handles = [Patch(color=colors[ref], alpha=0.85, label=f"vs {names[ref]}") for ref in references]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(4, len(handles)), fontsize=7, frameon=False)
    fig.savefig(path, dpi=130)
    plt.close(fig)


def _percent(value, bounds=None) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.1f}%" + (f" [{100 * bounds[0]:.1f}, {100 * bounds[1]:.1f}]" if bounds else "")


def _number(value, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


_MEASURES = {"ratio": "second / first total", "win_rate_adjusted": "second's win rate (ties half)",
             "mean_score": "mean score"}


def figure4_table(summary: dict) -> list[str]:
    """Figure 4 under a new judge: per model, its ratio to each reference under that judge (95% interval) and the
    paper's GPT-4-judged ratio where it published one; every column names its judge."""
    judge, references = summary["judge"], list(summary["references"])
    header = "| model | " + " | ".join(f"vs {r}: {judge} | vs {r}: gpt-4 (the paper)" for r in references) + " |"
    lines = [header, "|---|" + "---|---|" * len(references)]
    by_model: dict = {}
    for row in summary["rows"]:
        by_model.setdefault(row["model"], {})[row["reference"]] = row
    for model, rows in by_model.items():
        cells = []
        for reference in references:
            row = rows.get(reference)
            if row is None:
                cells += ["-", "-"]
                continue
            ours, theirs = row["totals"]
            cells.append(f"{_percent(row['ratio'], row['interval'])} ({ours:g} : {theirs:g})")
            paper = row["published"]
            cells.append(f"{100 * paper['ratio']:.1f}% ({paper['totals'][0]:g} : {paper['totals'][1]:g})"
                         if paper else "-")
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    questions = {row["questions"] for row in summary["rows"]}
    lines += ["", f"Ratios are model / reference totals over {', '.join(map(str, sorted(questions)))} questions, "
              "with 95% bootstrap intervals; the paper's were judged by GPT-4 in 2023 (shut down since) on 80."]
    return lines


def calibration_table(result: dict) -> list[str]:
    """How a new judge agrees with stored verdicts (eval calibrate): the headline figures, then a row per
    comparison with the stored and the new measure."""
    judge, stored = result["judge"], result["stored_judge"]
    sampled = f" (a stratified sample of {result['sample']})" if result["sample"] else ""
    lines = [f"Calibration of {judge} against {stored}'s stored judgments: {result['pairs']} pairs{sampled}, "
             f"judged {result['repeats']} time(s){' in both orders' if result['orders'] == 2 else ''}: "
             f"{result['judgments']} judgments, "
             f"{result['unreadable']} unreadable.", ""]
    lines += ["| measure | value |", "|---|---|"]
    if "verdict_agreement" in result:
        flip = result["flip_rate"]
        lines += [
            f"| verdict agreement (win / tie / loss) | "
            f"{_percent(result['verdict_agreement'], (result['intervals'] or {}).get('verdict_agreement'))} |",
            f"| Cohen's kappa | {_number(result['cohen_kappa'])} |",
            f"| flip rate (winner changes with the order) | {_percent(flip['flip_rate'])} of {flip['pairs']} |",
        ]
        if "score_difference_spearman" in result:
            lines.append(f"| Spearman of score differences | {_number(result['score_difference_spearman'])} |")
    else:
        lines += [f"| Spearman of scores | {_number(result['score_spearman'])} |",
                  f"| mean absolute difference | {_number(result['mean_absolute_difference'])} |",
                  f"| exact agreement (rounded) | {_percent(result['exact_agreement'])} |"]
    lines.append(f"| Kendall's tau, stored vs new ranking of the comparisons | {_number(result['kendall_tau'])} |")
    if spread := result.get("repeat_spread"):
        lines += [f"| same verdict in every repeat | {_percent(spread['same_verdict_share'])} of {spread['pairs']} |",
                  f"| preference's std across repeats | {_number(spread['preference_std'])} |"]
    lines.append("")
    if human := result.get("human"):
        turns = {turn: block for turn, block in human.items() if turn != "author_votes"}
        judges = [(judge, {turn: block[side] for turn, block in turns.items() if side in block})
                  for side, judge in (("new", result["judge"]), ("stored", result["stored_judge"]))]
        lines += agreement_table(result["judge"], [(j, column) for j, column in judges if column],
                                 {turn: block["between_experts"] for turn, block in turns.items()},
                                 human["author_votes"]) + [""]
    if result.get("by_category"):
        lines += ["| category | pairs | verdict agreement |", "|---|---|---|"]
        lines += [f"| {category} | {row['pairs']} | {_percent(row['verdict_agreement'])} |"
                  for category, row in result["by_category"].items()]
        lines.append("")
    measure = result["comparisons"][0]["measure"] if result["comparisons"] else "ratio"
    lines += [f"| comparison | pairs | {stored} ({_MEASURES[measure]}) | {judge} |", "|---|---|---|---|"]
    scale = 1 if measure == "mean_score" else 100
    for row in result["comparisons"]:
        cells = []
        for side in ("stored", "new"):
            value, bounds = row[side], row.get(f"{side}_interval")
            if scale == 1:
                cells.append(_number(value) + (f" [{bounds[0]:.2f}, {bounds[1]:.2f}]" if bounds else ""))
            else:
                cells.append(_percent(value, bounds))
        lines.append(f"| {row['comparison']} | {row['pairs']} | {cells[0]} | {cells[1]} |")
    return lines


def agreement_table(judge: str, judges: list[tuple[str, dict]], between_experts: dict, author_votes: int) -> list[str]:
    """Agreement with MT-bench's expert votes (the MT-bench paper's Table 2, FastChat's compute_agreement): per turn,
    with ties and without, a column pair per judge (label, per-turn agreement) and the experts with one another."""
    columns = judges + [("experts with one another (vote pairs)", between_experts)]
    lines = [f"Agreement with the MT-bench experts' votes, on the pairs {judge} judged:", "",
             "| | " + " | ".join(f"{label}: with ties | without ties" for label, _ in columns) + " |",
             "|---|" + "---|---|" * len(columns)]
    for turn in judges[0][1]:
        cells = []
        for _, column in columns:
            block = column.get(turn)
            cells.append(f"{_percent(block['agreement_with_ties'])} of {block['votes']} | "
                         f"{_percent(block['agreement_without_ties'])} of {block['votes_without_ties']}" if block
                         else "- | -")
        lines.append(f"| {turn} | " + " | ".join(cells) + " |")
    return lines + ["", f"Votes of the paper's authors, counted apart as FastChat counts them: {author_votes}."]


def mt_agreement_table(result: dict) -> list[str]:
    """A stored judge's agreement with the experts, replayed from the stored files (eval aggregate)."""
    return agreement_table(result["judge"], [(result["judge"], result["agreement"])], result["between_experts"],
                           result["author_votes"])


def alpaca_eval_table(result: dict) -> list[str]:
    """AlpacaEval 2 results (eval alpaca-eval): per model the leaderboard's columns, then the paper's two subsets."""
    lc = result["length_controlled"]
    lines = [f"AlpacaEval 2 against {', '.join(sorted({m['baseline'] for m in result['models']}))}, judged by "
             f"{result['judge']}; LC: {lc or 'not computed (no gamed table)'}.", "",
             "| model | LC win rate | win rate | discrete | wins / base / draws / total | avg length | "
             "leaderboard: LC / win rate / length |",
             "|---|---|---|---|---|---|---|"]
    published = {p["generator"]: p for p in result.get("published") or []}
    for m in result["models"]:
        p = published.get(m["generator"])
        listed = (f"{_rate(p['length_controlled_winrate'])} / {_rate(p['win_rate'])} / {p['avg_length']}" if p
                  else "-")
        lines.append(f"| {m['generator']} | {_rate(m['length_controlled_winrate'], m['lc_standard_error'])} | "
                     f"{_rate(m['win_rate'], m['standard_error'])} | {_rate(m['discrete_win_rate'])} | "
                     f"{m['n_wins']} / {m['n_wins_base']} / {m['n_draws']} / {m['n_total']} | {m['avg_length']} | "
                     f"{listed} |")
    unread = {m["generator"]: m["n_without_preference"] for m in result["models"] if m.get("n_without_preference")}
    if unread:
        lines += ["", "Left out of the totals, as AlpacaEval leaves them out, the annotations without a preference "
                  "(neither label among the judge's likeliest tokens): "
                  + ", ".join(f"{g} {n}" for g, n in unread.items()) + "."]
    paper = [(name, label) for name, label in (("selfinstruct", "User-Oriented-252"), ("vicuna", "Vicuna-80"))
             if any(name in m["subsets"] for m in result["models"])]
    if paper:
        lines += ["", "The paper's benchmarks as AlpacaEval subsets (LC / win rate, n):", "",
                  "| model | " + " | ".join(f"{name} ({label})" for name, label in paper) + " |",
                  "|---|" + "---|" * len(paper)]
        for m in result["models"]:
            cells = [m["subsets"].get(name) for name, _ in paper]
            lines.append(f"| {m['generator']} | " + " | ".join(
                f"{_rate(c['length_controlled_winrate'])} / {_rate(c['win_rate'])}, {c['n_total']}" if c else "-"
                for c in cells) + " |")
    return lines


def _rate(value, error=None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.1f}%" + (f" ± {error:.1f}" if error is not None else "")


def alpaca_eval_leaderboard_table(result: dict, published: list[dict]) -> list[str]:
    """The user's models placed among the published leaderboard's (bold), by LC win rate."""
    ours = {m["generator"] for m in result["models"]}
    rows = [m | {"ours": True} for m in result["models"]] + [p for p in published if p["generator"] not in ours]
    rows.sort(key=lambda r: -(r["length_controlled_winrate"] if r["length_controlled_winrate"] is not None
                              else r["win_rate"] or 0))
    lines = ["| rank | model | LC win rate | win rate | avg length |", "|---|---|---|---|---|"]
    for rank, row in enumerate(rows, 1):
        name = f"**{row['generator']}** ({result['judge']})" if row.get("ours") else row["generator"]
        lines.append(f"| {rank} | {name} | {_rate(row['length_controlled_winrate'])} | {_rate(row['win_rate'])} | "
                     f"{row['avg_length']} |")
    return lines


def plot_alpaca_eval(result: dict, published: list[dict], path: Path) -> None:
    """Win rate against LC win rate, a point per model sized by its average length: the published leaderboard in
    grey, the user's models in colour and named."""
    def size(rows):
        return [max(8.0, (r["avg_length"] or 0) / 15) for r in rows]

    fig, ax = plt.subplots(figsize=(7, 6))
    shown = [p for p in published if p["length_controlled_winrate"] is not None]
    if shown:
        ax.scatter([p["win_rate"] for p in shown], [p["length_controlled_winrate"] for p in shown], s=size(shown),
                   color="0.75", alpha=0.6, label=f"published leaderboard ({len(shown)} models, gpt-4-turbo)")
    ours = [m for m in result["models"] if m["win_rate"] is not None and m["length_controlled_winrate"] is not None]
    if ours:
        ax.scatter([m["win_rate"] for m in ours], [m["length_controlled_winrate"] for m in ours], s=size(ours),
                   color="tab:red", alpha=0.8, label=f"judged by {result['judge']}")
    for m in ours:
        ax.annotate(m["generator"], (m["win_rate"], m["length_controlled_winrate"]), textcoords="offset points",
                    xytext=(6, 4), fontsize=8)
    no_lc = [m for m in result["models"] if m["win_rate"] is not None and m["length_controlled_winrate"] is None]
    if no_lc:  # no LC win rate: marked on the x axis at their win rate
        ax.scatter([m["win_rate"] for m in no_lc], [0] * len(no_lc), marker="x", color="tab:red", clip_on=False,
                   label=f"judged by {result['judge']}, no LC win rate (on the axis)")
        for m in no_lc:
            ax.annotate(m["generator"], (m["win_rate"], 0), textcoords="offset points", xytext=(4, 6), fontsize=8,
                        rotation=45)
    ax.plot([0, 100], [0, 100], color="0.5", linewidth=0.8, linestyle="--")
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.set_xlabel("win rate against the baseline (%)")
    ax.set_ylabel("length-controlled win rate (%)")
    ax.set_title("AlpacaEval 2 (point size: average output length)")
    ax.legend(loc="upper left", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_calibration(result: dict, path: Path) -> None:
    """Stored against new, one point per comparison with both 95% intervals, and the diagonal where a judge that
    agreed with the stored one would put every point."""
    rows = [r for r in result["comparisons"] if r["stored"] is not None and r["new"] is not None]
    measure = rows[0]["measure"] if rows else "ratio"
    scale = 1 if measure == "mean_score" else 100
    fig, ax = plt.subplots(figsize=(6.4, 6.0), layout="constrained")
    values = []
    for i, row in enumerate(rows):
        x, y = scale * row["stored"], scale * row["new"]
        xs, ys = row.get("stored_interval"), row.get("new_interval")
        ax.errorbar(x, y, xerr=[[x - scale * xs[0]], [scale * xs[1] - x]] if xs else None,
                    yerr=[[y - scale * ys[0]], [scale * ys[1] - y]] if ys else None,
                    fmt="o", color=plt.get_cmap("tab20")(i % 20), capsize=2, markersize=5, linewidth=0.8,
                    label=row["comparison"])
        values += [x, y] + [scale * b for b in (xs or []) + (ys or [])]
    if values:
        low, high = min(values), max(values)
        pad = 0.05 * (high - low or 1)
        ax.plot([low - pad, high + pad], [low - pad, high + pad], color="gray", linestyle="--", linewidth=0.8)
        ax.set_xlim(low - pad, high + pad)
        ax.set_ylim(low - pad, high + pad)
    unit = "" if scale == 1 else " (%)"
    ax.set_xlabel(f"{result['stored_judge']}, stored: {_MEASURES[measure]}{unit}", fontsize=9)
    ax.set_ylabel(f"{result['judge']}, new{unit}", fontsize=9)
    ax.grid(True, linestyle="--", alpha=0.3)
    headline = (f"verdict agreement {_percent(result['verdict_agreement'])}" if "verdict_agreement" in result
                else f"score Spearman {_number(result['score_spearman'])}")
    ax.set_title(f"{result['judge']} against {result['stored_judge']}'s stored judgments\n{result['pairs']} pairs, "
                 f"{headline}, Kendall's tau {_number(result['kendall_tau'])}", fontsize=9)
    if rows:
        fig.legend(loc="outside lower center", ncol=2, fontsize=6, frameon=False)
    fig.savefig(path, dpi=130)
    plt.close(fig)


def plot_length_bias(results: list[dict], path: Path) -> None:
    """The judge's length bias, a panel per comparison: the model's win rate (ties count half) against how much
    longer its answer is than the reference's, over bins of questions of equal size (at most 5)."""
    names = short_names(m for r in results for m in r["models"])
    results = [r for r in results if r.get("per_question")]
    cols = min(4, max(1, len(results)))
    rows = -(-max(1, len(results)) // cols)
    fig, axes = plt.subplots(
        rows, cols, figsize=(2.9 * cols, 0.6 + 2.3 * rows), squeeze=False, sharey=True, layout="constrained"
    )
    for ax, result in zip(axes.flat, results):
        questions = result["per_question"]
        diff = np.array([q["model_length"] - q["reference_length"] for q in questions], dtype=float)
        outcome = np.array([np.sign(q["model_score"] - q["reference_score"]) / 2 + 0.5 for q in questions])
        bins = np.array_split(np.argsort(diff, kind="stable"), min(5, max(1, len(questions) // 8)))
        ax.plot([np.median(diff[b]) for b in bins], [outcome[b].mean() for b in bins], marker="o")
        ax.axhline(0.5, color="gray", linestyle="--", linewidth=0.8)
        ax.axvline(0, color="gray", linestyle=":", linewidth=0.8)
        ax.set_title(f"{names[result['models'][0]]}\nvs {names[result['reference']]}", fontsize=7)
        ax.text(
            0.03,
            0.04,
            f"{len(questions) // len(bins)}+ questions a point",
            transform=ax.transAxes,
            fontsize=6,
            color="gray",
        )
        ax.tick_params(labelsize=7)
        ax.set_ylim(-0.05, 1.05)
    for ax in list(axes.flat)[len(results) :]:
        ax.axis("off")
    fig.supxlabel("answer length, model minus reference (tokens; median of each bin)", fontsize=8)
    fig.supylabel("model win rate (ties half)", fontsize=8)
    fig.suptitle("Length bias: the model's win rate by how much longer its answer is", fontsize=9)
    fig.savefig(path, dpi=130)
    plt.close(fig)


# ---------------------------------------------------------------- MT-bench


def _score(value, bounds=None) -> str:
    if value is None:
        return "-"
    return f"{value:.2f}" + (f" [{bounds[0]:.2f}, {bounds[1]:.2f}]" if bounds else "")


def mt_bench_table(results: list[dict]) -> list[str]:
    """Single-answer grading as FastChat's show_result.py prints it, a row per model (and judge): the mean score
    over all judgments, turn 1, turn 2, with 95% bootstrap intervals over questions; then the mean per category."""
    categories = sorted({c for r in results for c in r["by_category"]})
    lines = ["| model | judge | score | turn 1 | turn 2 | judgments |", "|---|---|---|---|---|---|"]
    for r in results:
        intervals = r.get("intervals") or {}
        turns = [_score(r["turns"][t], intervals.get(f"turn_{t}")) for t in ("1", "2")]
        score = _score(r["score"], intervals.get("score"))
        counts = f"{r['counts']['1']} + {r['counts']['2']}"
        lines.append(f"| {r['model']} | {r['judge']} | {score} | {turns[0]} | {turns[1]} | {counts} |")
    lines += ["", "| model | " + " | ".join(categories) + " |", "|---" * (len(categories) + 1) + "|"]
    for r in results:
        lines.append(f"| {r['model']} | " + " | ".join(_score(r["by_category"].get(c)) for c in categories) + " |")
    unreadable = sum(r["unreadable"] for r in results)
    duplicates = sum(r["duplicates"] for r in results)
    resamples = results[0]["bootstrap"]["resamples"]
    lines += ["", ("Scores 1-10, the mean over each model's judgments (turns 1 and 2, as FastChat's show_result.py); "
              f"{unreadable} judgments without a rating are not counted; {duplicates} repeated judgments replaced by "
              f"the later one. Intervals: 95% bootstrap over questions ({resamples} resamples).")]
    return lines


def mt_model_table(totals: list[dict]) -> list[str]:
    """Each model's pairwise games against all the others it met, per judge (FastChat's pairwise-all table)."""
    lines = ["| model | judge | win | tie | loss | games | win rate | loss rate | adjusted win rate |",
             "|---|---|---|---|---|---|---|---|---|"]
    for t in totals:
        rates = " | ".join("-" if t[k] is None else f"{100 * t[k]:.1f}%"
                           for k in ("win_rate", "loss_rate", "win_rate_adjusted"))
        counts = " | ".join(str(t[k]) for k in ("win", "tie", "loss", "games"))
        lines.append(f"| {t['model']} | {t['judge']} | {counts} | {rates} |")
    return lines


def mt_pair_table(result: dict) -> list[str]:
    """Pairwise MT-bench judgments of one model pair, counted as FastChat's show_result.py counts them."""
    model_1, model_2 = result["models"]
    intervals = result.get("intervals") or {}

    def rate(name):
        value, bounds = result[name], intervals.get(name)
        if value is None:
            return "-"
        return f"{100 * value:.1f}%" + (f" [{100 * bounds[0]:.1f}%, {100 * bounds[1]:.1f}%]" if bounds else "")

    def row(name, counts):
        wins, ties, losses = (counts.get(o, 0) for o in ("win", "tie", "loss"))
        return f"| {name} | {wins} | {ties} | {losses} | {wins + ties + losses} |"

    lines = [f"| {model_1} vs {model_2} | win | tie | loss | games |", "|---|---|---|---|---|", row("all", result)]
    lines += [row(f"turn {turn}", counts) for turn, counts in result["by_turn"].items()]
    lines += [row(category, counts) for category, counts in result["by_category"].items()]
    games, inconsistent = result["games"], result["inconsistent"]
    share = f" ({100 * inconsistent / games:.1f}%)" if games else ""
    lines += ["", (f"{model_1} against {model_2} (judge {result['judge']}): win rate {rate('win_rate')}, loss rate "
              f"{rate('loss_rate')}, adjusted win rate (ties half) {rate('win_rate_adjusted')}. Each game (question "
              f"and turn) is judged in both answer orders; the verdict changes with the order in {inconsistent} of "
              f"{games} games{share}, counted as ties; {result['errors']} games with an unreadable verdict are left "
              "out.")]
    return lines


def plot_mt_bench(results: list[dict], path: Path) -> None:
    """MT-bench single-answer grades: per model, the mean score of turn 1, turn 2 and both (95% intervals), and
    the mean per category, on FastChat's 1-10 scale."""
    names = short_names(r["model"] for r in results)
    categories = sorted({c for r in results for c in r["by_category"]})
    colors = [plt.get_cmap("tab10")(i % 10) for i in range(len(results))]
    fig, (left, right) = plt.subplots(
        1, 2, figsize=(10, 1.8 + 0.3 * max(3, len(categories)) * max(1, len(results)) / 2),
        gridspec_kw={"width_ratios": [1, 2]}, layout="constrained",
    )
    height = 0.8 / len(results)
    for panel, rows, value in ((left, ["all", "turn 1", "turn 2"], None), (right, categories, "category")):
        for i, (result, color) in enumerate(zip(results, colors)):
            intervals = result.get("intervals") or {}
            for y, row in enumerate(rows):
                if value:
                    mean, bounds = result["by_category"].get(row), None
                else:
                    key = {"all": "score", "turn 1": "turn_1", "turn 2": "turn_2"}[row]
                    mean = result["score"] if row == "all" else result["turns"][row[-1]]
                    bounds = intervals.get(key)
                position = y + (i - (len(results) - 1) / 2) * height
                if mean is None:
                    panel.text(0.2, position, "no judgments", va="center", fontsize=6, color="gray")
                    continue
                panel.barh(position, mean, height=height * 0.9, color=color)
                if bounds:
                    panel.errorbar(mean, position, xerr=[[mean - bounds[0]], [bounds[1] - mean]], color="black",
                                   capsize=2, linewidth=0.8)
                end = bounds[1] if bounds else mean
                panel.text(max(mean, end) + 0.1, position, f"{mean:.1f}", va="center", fontsize=7)
        panel.set_yticks(range(len(rows)), rows, fontsize=8)
        panel.set_ylim(len(rows) - 0.5, -0.5)
        panel.set_xlim(0, 10.9)
        panel.xaxis.set_major_locator(matplotlib.ticker.MultipleLocator(2))
        panel.xaxis.grid(True, linestyle="--", alpha=0.3)
        panel.tick_params(axis="x", labelsize=7)
        panel.set_xlabel("judge's score, 1-10", fontsize=8)
    left.set_title("mean score (95% bootstrap interval)", fontsize=9)
    right.set_title("mean score per category (both turns)", fontsize=9)
    handles = [Patch(color=c, label=names[r["model"]]) for c, r in zip(colors, results)]
    fig.legend(handles=handles, loc="outside lower center", ncol=min(4, len(handles)), fontsize=7, frameon=False)
    fig.suptitle(f"MT-bench, single-answer grading by {results[0]['judge']}", fontsize=10)
    fig.savefig(path, dpi=130)
    plt.close(fig)


# ---------------------------------------------------------------- ROUGE-L (Figure 6)


def rouge_table(results: dict[str, dict]) -> list[str]:
    """ROUGE-L per model, overall and by the paper's reference-length buckets, with counts."""
    buckets = list(next(iter(results.values()))["buckets"])
    lines = [
        "| model | overall | " + " | ".join(f"{b} words" for b in buckets) + " |",
        "|---" * (len(buckets) + 2) + "|",
    ]
    for model, result in results.items():
        cells = [
            f"{v['rouge_l']:.3f} ({v['count']})" if v["rouge_l"] is not None else f"- ({v['count']})"
            for v in result["buckets"].values()
        ]
        overall = f"{result['overall']:.3f}" if result["overall"] is not None else "-"
        lines.append(f"| {model} | {overall} ({result['count']}) | " + " | ".join(cells) + " |")
    return lines


def plot_rouge(results: dict[str, dict], path: Path) -> None:
    """Figure 6 style: ROUGE-L per reference-length bucket, one bar per model; a bucket without examples has no
    bar (and says so), rather than a bar at 0."""
    buckets = list(next(iter(results.values()))["buckets"])
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    width = 0.8 / len(results)
    colors = [plt.get_cmap("tab10")(i % 10) for i in range(len(results))]
    for i, (model, result) in enumerate(results.items()):
        color = colors[i]
        for x, name in enumerate(buckets):
            position, value = x + i * width, result["buckets"][name]["rouge_l"]
            if value is None:
                ax.text(position, 0.005, "no data", rotation=90, ha="center", va="bottom", fontsize=6, color="gray")
            else:
                ax.bar(position, value, width=width, color=color)
    ax.set_xticks([x + width * (len(results) - 1) / 2 for x in range(len(buckets))], [f"{b} words" for b in buckets])
    ax.set_xlabel("reference (ground truth) length")
    ax.set_ylabel("ROUGE-L")
    ax.legend(handles=[Patch(color=c, label=m) for c, m in zip(colors, results)], fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


# ---------------------------------------------------------------- data statistics (Figure 1)


def length_table(outputs: dict[str, list[str]]) -> list[str]:
    """Per dataset: its records and the mean, median and 90th percentile of their output lengths (tokens, a CJK
    character counting as one): the numbers behind the output-length figure."""
    lines = ["| dataset | records | mean | median | 90th percentile |", "|---|---|---|---|---|"]
    for name, texts in outputs.items():
        lengths = [length_in_tokens(text) for text in texts]
        lines.append(f"| {name} | {len(lengths)} | {np.mean(lengths):.1f} | {np.median(lengths):g} | "
                     f"{np.percentile(lengths, 90):g} |")
    return lines


def plot_output_lengths(outputs: dict[str, list[str]], path: Path) -> None:
    """Figure 1 style: output lengths (tokens, CJK characters counted one by one) of datasets side by side,
    log-scaled counts as in the paper."""
    lengths = {name: [length_in_tokens(text) for text in texts] for name, texts in outputs.items()}
    top = max(max(v) for v in lengths.values() if v) or 1
    fig, ax = plt.subplots(figsize=(7, 2.6))
    bins = np.linspace(0, top, min(100, top + 1))
    for name, values in lengths.items():
        ax.hist(values, bins=bins, alpha=0.5, label=f"{name} (mean {np.mean(values):.0f})")
    ax.set_yscale("log")
    ax.yaxis.grid(True, linestyle="--", alpha=0.5)
    ax.set_xlabel("output length (tokens; a CJK character is one)")
    ax.set_ylabel("records")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def root_verb_object(tokens: list[dict]) -> tuple[str, str] | None:
    """The paper's pair for one sentence's dependency parse (each token: lemma, pos, dep, head = the index of its
    head, the root's own): from the root down the first children to the first verb, that verb's lemma and its
    first noun direct object's; None when the verb has none, or no verb is reached."""
    index = next((i for i, t in enumerate(tokens) if t["dep"] == "ROOT"), None)
    while index is not None:
        children = [j for j, t in enumerate(tokens) if t["head"] == index and j != index]
        if tokens[index]["pos"] == "VERB":
            obj = next((j for j in children if tokens[j]["dep"] == "dobj" and tokens[j]["pos"] == "NOUN"), None)
            return (tokens[index]["lemma"], tokens[obj]["lemma"]) if obj is not None else None
        index = children[0] if children else None
    return None


def verb_object_counts(outputs: Iterable[str], parse: Callable[[list[str]], Iterable[list[dict]]]) -> Counter:
    """Root verb / direct object pairs of the first sentence of each distinct output (the paper parses each
    output once), counted."""
    texts = list(dict.fromkeys(outputs))
    return Counter(pair for tokens in parse(texts) if (pair := root_verb_object(tokens)) is not None)


def spacy_parser(model: str = SPACY_MODEL):
    """texts -> the first sentence of each as tokens for `root_verb_object`, with spaCy's English pipeline; None
    when spaCy or the pipeline is not installed."""
    try:
        import spacy

        nlp = spacy.load(model, disable=["ner"])
    except (ImportError, OSError):
        return None

    def parse(texts: list[str]):
        for doc in nlp.pipe(texts, batch_size=256):
            sentence = next(iter(doc.sents), None)
            if sentence is None:
                yield []
                continue
            yield [
                {"lemma": t.lemma_, "pos": t.pos_, "dep": t.dep_, "head": t.head.i - sentence.start} for t in sentence
            ]

    return parse


def verb_object_table(counts: dict[str, Counter], top: int = 25) -> list[str]:
    """The top pairs of each dataset side by side (rank, "verb noun (count)"), and each one's number of pairs."""
    names = list(counts)
    ranked = {name: counts[name].most_common(top) for name in names}
    lines = ["| rank | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for rank in range(max((len(r) for r in ranked.values()), default=0)):
        cells = []
        for name in names:
            (verb, obj), n = ranked[name][rank] if rank < len(ranked[name]) else (("", ""), None)
            cells.append(f"{verb} {obj} ({n})" if n else "")
        lines.append(f"| {rank + 1} | " + " | ".join(cells) + " |")
    lines += ["", "Unique verb-noun pairs: " + ", ".join(f"{name} {len(counts[name])}" for name in names) + "."]
    return lines


def plot_verb_objects(counts: dict[str, Counter], path: Path, top: int = 25) -> None:
    """Figure 1 style: each dataset's most frequent root verb / direct object pairs, side by side."""
    rows = max(1, max(min(top, len(counter)) for counter in counts.values()))
    fig, axes = plt.subplots(
        1, len(counts), figsize=(3.6 * len(counts), 1.2 + 0.2 * rows), squeeze=False, layout="constrained"
    )
    for i, (ax, (name, counter)) in enumerate(zip(axes[0], counts.items())):
        ranked = counter.most_common(top)
        ax.barh(range(len(ranked)), [n for _, n in ranked], color=plt.get_cmap("tab10")(i % 10))
        ax.set_yticks(range(len(ranked)), [f"{v} {o}" for (v, o), _ in ranked], fontsize=7)
        ax.set_ylim(rows - 0.5, -0.5)
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_title(f"{name} ({len(counter)} pairs)", fontsize=9)
        ax.set_xlabel("frequency", fontsize=8)
        ax.xaxis.grid(True, linestyle="--", alpha=0.3)
    fig.suptitle(f"top {top} root verb / direct object pairs of the outputs' first sentences", fontsize=9)
    fig.savefig(path, dpi=130)
    plt.close(fig)


# ---------------------------------------------------------------- RL (recipes/rl.py's reward_curve.json)


def rl_table(curves: dict[str, list[dict]]) -> list[str]:
    """Per RL run: the reward model's mean score of the policy's finished completions (std across them) at the
    first and last logged steps with any, the KL to the starting policy at the last step, and the share of
    completions cut off at the length limit (unscored) over all steps."""
    lines = ["| run | steps logged | mean reward, first step | mean reward, last step | KL at the last | cut off |",
             "|---|---|---|---|---|---|"]
    for name, curve in curves.items():
        scored = [log for log in curve if log["reward"] is not None]
        first, last = (scored[0], scored[-1]) if scored else (None, None)
        kl = f"{curve[-1]['kl']:.3f}" if curve[-1].get("kl") is not None else "-"
        clipped = [log["clipped_ratio"] for log in curve if log.get("clipped_ratio") is not None]
        cut = f"{sum(clipped) / len(clipped):.0%}" if clipped else "-"
        lines.append(f"| {name} | {len(curve)} | {_reward(first)} | {_reward(last)} | {kl} | {cut} |")
    return lines


def _reward(log: dict | None) -> str:
    if log is None:
        return "- (every completion cut off)"
    std = f" ± {log['reward_std']:.3f}" if log.get("reward_std") is not None else ""
    return f"{log['reward']:.3f}{std} (step {log['step']})"


def plot_rl_curves(curves: dict[str, list[dict]], path: Path) -> None:
    """The reward model's mean score of each step's completions (the band: their std) and the KL to the starting
    policy, step by step, for each RL run."""
    fig, (reward, kl, clipped) = plt.subplots(1, 3, figsize=(12, 3.2), layout="constrained")
    for i, (name, curve) in enumerate(curves.items()):
        color = plt.get_cmap("tab10")(i % 10)
        scored = [log for log in curve if log["reward"] is not None]  # a step with every completion cut has none
        steps = np.array([log["step"] for log in scored])
        mean = np.array([log["reward"] for log in scored])
        reward.plot(steps, mean, marker="o", markersize=3, color=color, label=name)
        # the band where a std was logged (none for a step with a single finished completion): gaps elsewhere
        std = np.array([np.nan if log.get("reward_std") is None else log["reward_std"] for log in scored], dtype=float)
        reward.fill_between(steps, mean - std, mean + std, color=color, alpha=0.15, linewidth=0)
        for panel, key in ((kl, "kl"), (clipped, "clipped_ratio")):
            if all(log.get(key) is not None for log in curve):
                panel.plot([log["step"] for log in curve], [log[key] for log in curve], marker="o", markersize=3,
                           color=color, label=name)
    reward.set_title("reward model's score of the finished completions\n(mean, ± std)", fontsize=9)
    kl.set_title("KL to the starting policy", fontsize=9)
    clipped.set_title("share of completions cut off at the length limit\n(unscored)", fontsize=9)
    clipped.set_ylim(-0.05, 1.05)
    for panel in (reward, kl, clipped):
        panel.set_xlabel("optimizer step", fontsize=8)
        panel.tick_params(labelsize=7)
        panel.grid(True, linestyle="--", alpha=0.3)
    reward.legend(fontsize=7, frameon=False)
    fig.savefig(path, dpi=130)
    plt.close(fig)


def write_report(path: Path, sections: list[tuple[str, list[str]]]) -> None:
    text = (
        "# Evaluation report\n\n" + "\n\n".join(f"## {title}\n\n" + "\n".join(body) for title, body in sections) + "\n"
    )
    write_text_atomic(path, text)


# ---------------------------------------------------------------- the stage


def _read_json(paths: Iterable) -> list:
    return [json.loads(Path(path).read_text()) for path in paths]


def report(output_dir: Path, *, judge: Sequence = (), mt_bench: Sequence = (), rl: Sequence = (),
           rouge: Sequence = (), datasets: Sequence = (), human: Sequence = (), figure4: Sequence = (),
           calibration: Sequence = (), alpaca_eval: Sequence = ()) -> Path:
    """`python -m eval report`: OUTPUT_DIR/report.md and its figures, from the summaries of judge/aggregate and of
    MT-bench grading, RL reward curves (reward_curve.json), ROUGE-L results, human-evaluation results, Figure 4
    under a new judge (figure4.json), judge calibrations, AlpacaEval 2 results (placed among the published
    leaderboard's models they carry) and Alpaca-schema datasets (the data statistics); returns report.md."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    sections = []
    for number, summary in enumerate(_read_json(figure4)):
        results = [result for row in summary["rows"] for result in _read_json([f"{row['reviews']}.summary.json"])[0]]
        plot_totals(results, out / f"figure4_{number}.png",
                    title=f"Figure 4 judged by {summary['judge']} (diamonds: the paper's GPT-4-judged ratios)",
                    published={(r["model_id"], r["reference_id"]): r["published"]["ratio"]
                               for r in summary["rows"] if r["published"]})
        sections.append((f"Figure 4 judged by {summary['judge']}, beside the paper's GPT-4-judged ratios",
                         figure4_table(summary) + ["", f"![](figure4_{number}.png)"]))
    for number, result in enumerate(_read_json(calibration)):
        plot_calibration(result, out / f"calibration_{number}.png")
        sections.append((f"Calibration: {result['judge']} against {result['stored_judge']}'s stored judgments",
                         calibration_table(result) + ["", f"![](calibration_{number}.png)"]))
    for number, result in enumerate(_read_json(alpaca_eval)):
        lines, published = alpaca_eval_table(result), result.get("published") or []
        if published:
            lines += ["", f"Among the published leaderboard's {len(published)} models (judged by gpt-4-turbo; yours "
                      "in bold, judged as named):", "", *alpaca_eval_leaderboard_table(result, published)]
        plot_alpaca_eval(result, published, out / f"alpaca_eval_{number}.png")
        sections.append((f"AlpacaEval 2 judged by {result['judge']}", lines + ["", f"![](alpaca_eval_{number}.png)"]))
    if judge:
        results = [result for summary in _read_json(judge) for result in summary]
        for result in results:
            sections.append((f"{result['models'][0]} vs {result['models'][1]} (judged)", judge_table(result)))
        plot_totals(results, out / "judge_totals.png")
        plot_length_bias(results, out / "length_bias.png")
        sections.append(("Figure: total scores", ["![](judge_totals.png)", "", "![](length_bias.png)"]))
    if mt_bench:
        results = [result for summary in _read_json(mt_bench) for result in summary]
        singles = [r for r in results if r["kind"] == "single"]
        if singles:
            plot_mt_bench(singles, out / "mt_bench.png")
            table = mt_bench_table(singles) + ["", "![](mt_bench.png)"]
            sections.append(("MT-bench: single-answer grading (1-10)", table))
        for result in (r for r in results if r["kind"] == "pairwise"):
            model_1, model_2 = result["models"]
            sections.append((f"MT-bench: {model_1} vs {model_2} (pairwise)", mt_pair_table(result)))
        if totals := [r for r in results if r["kind"] == "pairwise-model"]:
            sections.append(("MT-bench: each model against all the others (pairwise)", mt_model_table(totals)))
        for result in (r for r in results if r["kind"] == "agreement"):
            sections.append((f"MT-bench: {result['judge']}'s agreement with the experts", mt_agreement_table(result)))
    if rl:
        curves = {Path(path).parent.name: curve for path, curve in zip(rl, _read_json(rl))}
        empty = [path for path, curve in zip(rl, curves.values()) if not curve]
        if empty:
            raise DataError(f"{empty[0]}: no logged step (the RL run logged no reward)")
        plot_rl_curves(curves, out / "rl_reward.png")
        sections.append(("RL: the reward model's score of the policy's completions",
                         rl_table(curves) + ["", "![](rl_reward.png)"]))
    if rouge:
        results = {name: result for summary in _read_json(rouge) for name, result in summary.items()}
        sections.append(("ROUGE-L by reference length (count)", rouge_table(results)))
        plot_rouge(results, out / "rouge_buckets.png")
        sections.append(("Figure: ROUGE-L by reference length", ["![](rouge_buckets.png)"]))
    for result in _read_json(human):
        from .human.results import human_table, plot_pies

        name = f"human_eval_{len(sections)}.png"
        plot_pies(result, out / name)
        sections.append((f"{result['models'][0]} vs {result['models'][1]} (human, HHH)",
                         human_table(result) + ["", f"![]({name})"]))
    if datasets:
        outputs = {Path(p).stem: [r["output"] for r in alpaca_rows(load_records(str(p)))] for p in datasets}
        plot_output_lengths(outputs, out / "output_lengths.png")
        lines = ["Output lengths (tokens; a CJK character is one):", "", *length_table(outputs), "",
                 "![](output_lengths.png)", ""]
        parse = spacy_parser()
        if parse is None:
            hint = f"Root verb / direct object pairs need spaCy and its English pipeline: {SPACY_HINT}"
            logger.warning(hint)
            lines.append(hint)
        else:
            counts = {name: verb_object_counts(texts, parse) for name, texts in outputs.items()}
            plot_verb_objects(counts, out / "verb_objects.png")
            lines += ["Root verb / direct object of each output's first sentence, the top 25:", "",
                      *verb_object_table(counts), "", "![](verb_objects.png)"]
        sections.append(("Data statistics (Figure 1)", lines))
    write_report(out / "report.md", sections)
    logger.info("wrote %s", out / "report.md")
    return out / "report.md"
