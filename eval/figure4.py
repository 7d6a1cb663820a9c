"""`python -m eval figure4`: the paper's Figure 4 under any judge. The user's models and FastChat's stored
baseline answers (LLaMA-13B, Alpaca-13B, Vicuna-13B, Bard, ChatGPT) are each reviewed against every reference's
answers (ChatGPT's by default; GPT-4's or any other model's given as a file) by the same judge, so their ratios
are comparable with one another, and shown beside the GPT-4-judged ratios the paper published (its plotting
notebook, fetched and pinned) with the judge of every column named.
"""

import json
import re
from pathlib import Path

from gpt4llm.benchmarks import load_benchmark, model_id, read_answers
from gpt4llm.data import DataError, load_records, local_source
from gpt4llm.files import write_json_atomic, write_text_atomic
from gpt4llm.teacher.options import TeacherConfig
from gpt4llm.teacher.runlog import Written

from .judge import FASTCHAT_REVIEWERS, review, review_plan

# FastChat's stored answers of the paper's baselines, and the names the paper's figure gives them
BASELINES = {
    "vicuna80_answers_llama13b": "LLaMA (13B)",
    "vicuna80_answers_alpaca13b": "Alpaca (13B)",
    "vicuna80_answers_vicuna13b": "Vicuna (13B)",
    "vicuna80_answers_bard": "Bard",
    "vicuna80_answers_chatgpt": "ChatGPT",
}
REFERENCES = {"ChatGPT": "vicuna80_answers_chatgpt"}  # GPT-4's Vicuna-80 answers were never published
PUBLISHED = "gpt4llm_plots"  # the registered source of the paper's totals
# the notebook's variable names -> the paper's names: review_<model>_<reference>[_r1] = [model, reference]
_PAPER_NAMES = {"llama": "LLaMA (13B)", "alpaca": "Alpaca (13B)", "vicuna": "Vicuna (13B)", "bard": "Bard",
                "gpt35": "ChatGPT", "gpt4": "GPT-4", "llama_gpt4": "LLaMA-GPT4 (7B)",
                "llama_gpt4_r1": "LLaMA-GPT4 (7B, R1)"}
_TOTALS = re.compile(r"\breview_(\w+?)_(gpt4|gpt35)(_r1)?\s*=\s*\[\s*([\d.]+)\s*,\s*([\d.]+)\s*\]")


def published_totals(notebook: str = PUBLISHED) -> dict[tuple[str, str], tuple[float, float]]:
    """(model, reference) -> (model total, reference total), by the paper's names, from its plotting notebook
    (where Figure 4's bars are drawn from them: ratio = model / reference)."""
    data = json.loads(Path(local_source(notebook)).read_text())
    totals = {}
    for cell in data.get("cells", []):
        for model, reference, r1, ours, theirs in _TOTALS.findall("".join(cell.get("source", []))):
            name = _PAPER_NAMES.get(model + (r1 or ""), model + (r1 or ""))
            totals[name, _PAPER_NAMES[reference]] = (float(ours), float(theirs))
    if not totals:
        raise DataError(f"{notebook}: no review_<model>_<reference> = [model, reference] totals in the notebook")
    return totals


def figure4(answers: list[str], output_dir: Path, judge_model: TeacherConfig, *,
            references: dict[str, str] | None = None, baselines: dict[str, str] | None = None,
            questions: str = "vicuna80", reviewers: str | None = None, review_prompts: str | None = None,
            limit: int | None = None, single_order: bool = False,
            max_tokens: int | None = None, extra_body: dict | None = None, bootstrap: int = 1000, seed: int = 0,
            published: str | None = PUBLISHED, dry_run: bool = False) -> Written | None:
    """Review every model (`answers`, then `baselines`: answer file -> the paper's name) against every reference
    (name -> answer file) with one judge: DIR/reviews/<model>_vs_<reference>.jsonl and their summaries, and
    DIR/figure4.json, .md and .png beside the paper's published GPT-4-judged ratios (`published`: its notebook;
    None leaves them out). A model is not reviewed against its own answers. None after a dry run."""
    output_dir = Path(output_dir)
    bench = load_benchmark(questions)
    references = dict(references or REFERENCES)
    models = {path: None for path in answers} | dict(baselines if baselines is not None else BASELINES)
    ids = {path: _model_id(bench, path) for path in {*models, *references.values()}}
    pairs = [(path, label, reference) for path, label in models.items() for reference in references.items()
             if ids[path] != ids[reference[1]]]
    options = {"reviewers": reviewers or FASTCHAT_REVIEWERS[0],
               "review_prompts": review_prompts or FASTCHAT_REVIEWERS[1], "limit": limit,
               "single_order": single_order, "max_tokens": max_tokens, "extra_body": extra_body}
    if dry_run:
        from gpt4llm.teacher.dispatch import print_dry_run

        jobs = [job for path, _, (_, reference) in pairs
                for job in review_plan(bench, path, reference, judge_model.model, **options)[0]]
        print(f"Figure 4 under {judge_model.model}: {len(pairs)} comparisons")
        print_dry_run(jobs, judge_model)
        return None
    paper = published_totals(published) if published else {}
    rows, results, failures = [], [], []
    for path, label, (reference_name, reference) in pairs:
        output = output_dir / "reviews" / f"{_slug(ids[path])}_vs_{_slug(reference_name)}.jsonl"
        written = review(bench, path, reference, output, judge_model, bootstrap=bootstrap, seed=seed, **options)
        if written.failures:
            failures.append(written.failures)
        (result,) = json.loads(Path(written.summary).read_text())
        results.append(result)
        name = label or ids[path]
        stored = paper.get((name, reference_name))
        rows.append({"model": name, "model_id": ids[path], "reference": reference_name,
                     "reference_id": ids[reference], "judge": judge_model.model,
                     "totals": [result["totals"][ids[path]], result["totals"][ids[reference]]],
                     "ratio": result["ratio"], "interval": result["intervals"]["ratio"],
                     "questions": result["questions"], "reviews": str(output),
                     "published": None if stored is None else {
                         "judge": "gpt-4 (the paper)", "totals": list(stored), "ratio": stored[0] / stored[1]}})
    summary = {"judge": judge_model.model, "questions": bench.name, "references": references, "rows": rows}
    write_json_atomic(output_dir / "figure4.json", summary)
    from .report import figure4_table, plot_totals  # matplotlib: not for --help

    write_text_atomic(output_dir / "figure4.md", "\n".join(figure4_table(summary)) + "\n")
    plot_totals(results, output_dir / "figure4.png",
                title=f"Figure 4 judged by {judge_model.model} (diamonds: the paper's GPT-4-judged ratios)",
                published={(r["model_id"], r["reference_id"]): r["published"]["ratio"]
                           for r in rows if r["published"]})
    print("\n".join(figure4_table(summary)))
    if len(failures) > 1:
        print("requests failed in: " + ", ".join(map(str, failures)))
    return Written(output_dir / "figure4.json", failures[0] if failures else None)


def _model_id(bench, path: str) -> str:
    return model_id(read_answers(load_records(path), bench.keys()), path)


def _slug(name: str) -> str:
    return re.sub(r"[^\w.-]+", "_", name)
