"""Results of a human study, as pure functions of its de-randomised judgments: per criterion, how often model A's
answer won, tied or lost against model B's (the paper's Figure 3: every judgment counts once), with Fleiss'
kappa over the items that two or more annotators judged; a Markdown table for the eval report; the pies.

A judgment here is `{annotator, item_id, helpfulness, honesty, harmlessness}` with each criterion 'A', 'B' or
'tie' (see `study.winner`).
"""

import json
from collections import Counter, defaultdict
from pathlib import Path

from gpt4llm.data import DataError
from gpt4llm.files import write_json_atomic

from .store import Store
from .study import CRITERIA, WINNERS, derandomised

OUTCOMES = {"A": "win", "tie": "tie", "B": "loss"}  # from model A's side


def fleiss_kappa(table: list[list[int]]) -> float | None:
    """Fleiss' kappa of a table with a row per item and a column per category (the number of annotators who put
    the item in that category). Rows may have different totals (every row needs two or more): each item's
    agreement P_i is averaged, and chance agreement comes from the pooled category proportions, which is
    Fleiss' formula when every item has the same number of annotators. None when it is undefined: no items, or
    all annotations in one category (chance agreement 1)."""
    if not table:
        return None
    if any(sum(row) < 2 for row in table):
        raise ValueError("every item needs two or more annotations")
    agreement = [(sum(n * n for n in row) - sum(row)) / (sum(row) * (sum(row) - 1)) for row in table]
    mean_agreement = sum(agreement) / len(table)
    total = sum(map(sum, table))
    chance = sum((sum(row[j] for row in table) / total) ** 2 for j in range(len(table[0])))
    return None if chance == 1 else (mean_agreement - chance) / (1 - chance)


def summarize(judgments: list[dict], model_a: str, model_b: str) -> dict:
    """{models, annotators, items, criteria: {criterion: {counts, percent, judgments, kappa, kappa_items}}}:
    counts and percentages of win/tie/loss for model A, and Fleiss' kappa over A/B/tie."""
    criteria = {}
    for criterion in CRITERIA:
        counts = Counter(OUTCOMES[j[criterion]] for j in judgments)
        n = sum(counts.values())
        by_item = defaultdict(Counter)
        for j in judgments:
            by_item[j["item_id"]][j[criterion]] += 1
        table = [[votes[w] for w in WINNERS] for votes in by_item.values() if sum(votes.values()) >= 2]
        criteria[criterion] = {
            "counts": {k: counts[k] for k in ("win", "tie", "loss")},
            "percent": {k: 100 * counts[k] / n if n else None for k in ("win", "tie", "loss")},
            "judgments": n,
            "kappa": fleiss_kappa(table),
            "kappa_items": len(table),
        }
    return {
        "models": [model_a, model_b],
        "annotators": len({j["annotator"] for j in judgments}),
        "items": len({j["item_id"] for j in judgments}),
        "criteria": criteria,
    }


def judge_agreement(
    judgments: list[dict], judge: dict, model_a: str, model_b: str, criterion: str = "helpfulness"
) -> dict:
    """Agreement of a judge with the annotators on the same pairs, as MT-bench reports it: every (judge verdict,
    human judgment) pair of an item counts once; with ties, a tie is a third outcome that agrees only with a tie;
    without ties, the pairs where either says tie are left out. `judge` is a judge/aggregate summary of the
    study's two models (model A and B in any order); its verdict on an item is the side with the higher mean
    score."""
    model, reference = judge["models"]
    if {model, reference} != {model_a, model_b}:
        raise DataError(f"the judge's summary compares {model} with {reference}, the study {model_a} with {model_b}")
    verdicts = {}
    for q in judge["per_question"]:
        winner = (
            model if q["model_score"] > q["reference_score"]
            else reference if q["model_score"] < q["reference_score"]
            else None
        )
        verdicts[str(q["question_id"])] = "tie" if winner is None else "A" if winner == model_a else "B"
    votes = [(verdicts[j["item_id"]], j[criterion]) for j in judgments if j["item_id"] in verdicts]
    decisive = [(v, h) for v, h in votes if "tie" not in (v, h)]

    def rate(pairs: list) -> dict:
        agree = sum(v == h for v, h in pairs)
        return {"agree": agree, "total": len(pairs), "rate": agree / len(pairs) if pairs else None}

    return {"criterion": criterion, "items": len({j["item_id"] for j in judgments if j["item_id"] in verdicts}),
            "with_ties": rate(votes), "without_ties": rate(decisive)}


def human_table(result: dict) -> list[str]:
    """Markdown lines: win/tie/loss of model A against model B per criterion, with counts and Fleiss' kappa."""
    a, b = result["models"]

    def cell(c: dict, outcome: str) -> str:
        return f"{c['percent'][outcome]:.1f}% ({c['counts'][outcome]})" if c["judgments"] else "-"

    lines = [
        f"| criterion | {a} wins | tie | {b} wins | judgments | Fleiss' kappa (items) |",
        "|---|---|---|---|---|---|",
    ]
    for criterion, c in result["criteria"].items():
        kappa = f"{c['kappa']:.3f}" if c["kappa"] is not None else "n/a"
        lines.append(
            f"| {criterion} | {cell(c, 'win')} | {cell(c, 'tie')} | {cell(c, 'loss')} | {c['judgments']} "
            f"| {kappa} ({c['kappa_items']}) |"
        )
    lines += [
        "",
        (f"{result['items']} items judged by {result['annotators']} annotator(s); "
         "kappa over items judged by two or more."),
    ]
    if agreement := result.get("judge_agreement"):
        cells = [f"{100 * r['rate']:.1f}% ({r['agree']} of {r['total']})" if r["rate"] is not None else "n/a"
                 for r in (agreement["with_ties"], agreement["without_ties"])]
        lines.append(
            f"Judge-human agreement on {agreement['criterion']} over {agreement['items']} items (MT-bench's): "
            f"{cells[0]} with ties, {cells[1]} without."
        )
    return lines


def plot_pies(result: dict, path: Path) -> None:
    """Figure 3 style: one pie per criterion of model A's wins, ties and losses."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    a, b = result["models"]
    fig, axes = plt.subplots(1, len(result["criteria"]), figsize=(3.4 * len(result["criteria"]), 3.6))
    for ax, (criterion, c) in zip(axes, result["criteria"].items()):
        ax.set_title(f"{criterion} ({c['judgments']})")
        if not c["judgments"]:
            ax.text(0.5, 0.5, "no judgments", ha="center", va="center", transform=ax.transAxes)
            ax.axis("off")
            continue
        counts = [c["counts"][k] for k in ("win", "tie", "loss")]
        labels = [label if n else "" for label, n in zip((f"{a} wins", "tie", f"{b} wins"), counts)]  # no empty slices
        ax.pie(counts, labels=labels, colors=["tab:blue", "tab:gray", "tab:orange"],
               autopct=lambda p: f"{p:.1f}%" if p else "", startangle=90, counterclock=False,
               textprops={"fontsize": 8})
    fig.suptitle(f"{a} vs {b}: human evaluation")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def results(study: Path, *, output_dir: Path | None = None, judge: Path | None = None,
            criterion: str = "helpfulness") -> Path:
    """`python -m eval.human results`: win/tie/loss of model A per criterion with Fleiss' kappa, printed and
    written to OUTPUT_DIR/human_eval.json with the pies (human_eval.png; OUTPUT_DIR defaults to the study); with
    `judge`, the summary of an `eval judge` run on the same two answer files, also the judge's agreement with the
    annotators on `criterion`. Returns human_eval.json."""
    store = Store(Path(study))
    meta = store.meta()
    judgments = derandomised(store.judgments())
    result = summarize(judgments, meta["model_a"], meta["model_b"])
    if judge:
        pair = {meta["model_a"], meta["model_b"]}
        summaries = [s for s in json.loads(Path(judge).read_text()) if set(s["models"]) == pair]
        if not summaries:
            raise DataError(f"{judge}: no judged comparison of {meta['model_a']} with {meta['model_b']}")
        result["judge_agreement"] = judge_agreement(judgments, summaries[0], meta["model_a"], meta["model_b"],
                                                    criterion)
    out = Path(output_dir or study)
    write_json_atomic(out / "human_eval.json", result)
    plot_pies(result, out / "human_eval.png")
    print("\n".join(human_table(result)))
    print(f"\nwrote {out / 'human_eval.json'} and {out / 'human_eval.png'}")
    return out / "human_eval.json"
