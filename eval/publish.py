"""`python -m eval publish`: a model's evaluation results into its Hub card as `model-index` entries (what the
Hub shows beside the model and what leaderboards read), and the files behind them as a dataset.

Each result names its benchmark, its judge and what it is measured against, so results under different judges or
references stay apart; publishing the same results again changes nothing, a new value replaces the old one.
"""

import json
from pathlib import Path
from typing import Sequence

from huggingface_hub.errors import HfHubHTTPError

from gpt4llm.data import DataError
from gpt4llm.publish import hub_error

TASK = "text-generation"
SOURCE = "gpt4llm eval"  # the model-index `source` of every result: this project's evaluation


def evaluated_models(*, judge: Sequence = (), mt_bench: Sequence = (), alpaca_eval: Sequence = (),
                     rouge: Sequence = ()) -> dict[str, list[dict]]:
    """Every result of the files, by the model it evaluates: {model: [{benchmark, metric, value, ...}]}."""
    found: dict[str, list[dict]] = {}

    def add(model: str, **result) -> None:
        found.setdefault(model, []).append(result)

    for path in judge:
        for r in _results(path, list):
            if r.get("ratio") is not None:
                add(r["models"][0], benchmark=r.get("benchmark", "vicuna80"), metric="relative_score",
                    name=f"score relative to {r['reference']} (%), judged by {r.get('judge', 'unknown')}",
                    value=round(100 * r["ratio"], 2))
    for path in mt_bench:
        for r in _results(path, list):
            if r.get("kind") == "single" and r.get("score") is not None:
                add(r["model"], benchmark="mt_bench", metric="mt_bench_score",
                    name=f"MT-bench score (1-10), judged by {r['judge']}", value=round(r["score"], 3))
    for path in alpaca_eval:
        summary = _results(path, dict)
        for m in summary["models"]:
            against = f"against {m['baseline']}, judged by {summary['judge']}"
            if m.get("length_controlled_winrate") is not None:
                add(m["generator"], benchmark="alpaca_eval", metric="length_controlled_winrate",
                    name=f"LC win rate (%) {against}", value=round(m["length_controlled_winrate"], 2))
            add(m["generator"], benchmark="alpaca_eval", metric="win_rate", name=f"win rate (%) {against}",
                value=round(m["win_rate"], 2))
    for path in rouge:
        for model, r in _results(path, dict).items():
            if r.get("overall") is not None:
                add(model, benchmark="unnatural_core", metric="rougeL", name="ROUGE-L against the labels",
                    value=round(r["overall"], 4))
    return found


def _results(path, kind: type):
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as error:
        raise DataError(f"{path}: cannot read this result file: {error}") from None
    if not isinstance(data, kind):
        raise DataError(f"{path}: not an evaluation result file (expected a JSON {kind.__name__})")
    return data


BENCHMARKS = {  # model-index dataset name and type per benchmark
    "vicuna80": ("Vicuna-80", "vicuna80"),
    "mt_bench": ("MT-bench", "mt_bench"),
    "alpaca_eval": ("AlpacaEval 2", "tatsu-lab/alpaca_eval"),
    "unnatural_core": ("Unnatural Instructions (core)", "mrm8488/unnatural-instructions-core"),
    "user_oriented252": ("User-Oriented-252", "user_oriented252"),
}


def eval_results(results: list[dict], source_url: str | None = None):
    """The results as huggingface_hub `EvalResult`s."""
    from huggingface_hub import EvalResult

    entries = []
    for r in results:
        name, kind = BENCHMARKS.get(r["benchmark"], (r["benchmark"], r["benchmark"]))  # a file: its path
        entries.append(EvalResult(task_type=TASK, dataset_name=name, dataset_type=kind, metric_type=r["metric"],
                                  metric_name=r["name"], metric_value=r["value"],
                                  source_name=SOURCE if source_url else None, source_url=source_url))
    return entries


def publish_results(repo_id: str, *, model: str | None = None, judge: Sequence = (), mt_bench: Sequence = (),
                    alpaca_eval: Sequence = (), rouge: Sequence = (), files_repo: str | None = None,
                    files: Sequence = (), private: bool = False) -> dict:
    """`python -m eval publish`: `model`'s results in the given result files (the only model they evaluate, when
    not named) into the card of the model repository `repo_id` as model-index entries; with `files_repo`, the
    result files and `files` (reviews, annotations: files or folders) uploaded first to that dataset repository,
    which each entry then names as its source. Returns what was published."""
    found = evaluated_models(judge=judge, mt_bench=mt_bench, alpaca_eval=alpaca_eval, rouge=rouge)
    if model is None and len(found) != 1:
        raise DataError(f"the result files evaluate {sorted(found) or 'no model'}: name the one to publish (--model)")
    model = model if model is not None else next(iter(found))
    if model not in found:
        raise DataError(f"no result for {model!r} in the result files; they evaluate {sorted(found)}")
    try:
        return _publish(repo_id, model, found[model], files_repo, [*judge, *mt_bench, *alpaca_eval, *rouge, *files],
                        private)
    except HfHubHTTPError as error:
        raise DataError(f"{repo_id}: not published: {hub_error(error)}") from None


def _publish(repo_id: str, model: str, results: list[dict], files_repo: str | None, files: list,
             private: bool) -> dict:
    from huggingface_hub import ModelCard
    from huggingface_hub.errors import EntryNotFoundError, RepositoryNotFoundError

    try:
        card = ModelCard.load(repo_id)  # before any upload: a repository that does not exist stops here
    except EntryNotFoundError:
        card = ModelCard(f"---\n---\n# {repo_id.split('/')[-1]}\n")
    except RepositoryNotFoundError:
        raise DataError(f"{repo_id}: no such model repository on the Hub, or your token cannot read it") from None
    source_url = None
    if files_repo:
        source_url = upload_files(files_repo, files, model_repo=repo_id, private=private)
    new = eval_results(results, source_url)
    # a result of the same benchmark, metric, judge and reference is replaced, whatever its value and source
    kept = [old for old in card.data.eval_results or [] if not any(_same_measure(old, n) for n in new)]
    card.data.eval_results = kept + new
    card.data.model_name = card.data.model_name or repo_id.split("/")[-1]
    commit = card.push_to_hub(repo_id, commit_message=f"Evaluation results of {model}")  # no commit if unchanged
    return {"repo_id": repo_id, "model": model, "results": results, "files": source_url, "commit": commit}


def _same_measure(a, b) -> bool:
    return all(getattr(a, name) == getattr(b, name) for name in (
        "task_type", "dataset_type", "dataset_name", "dataset_config", "dataset_split", "metric_type", "metric_name"))


def upload_files(repo_id: str, paths: Sequence, *, model_repo: str, private: bool = False) -> str:
    """The evaluation's files (folders whole) to a dataset repository under their own names, in one commit with a
    card that lists them; files already there unchanged are not committed again. Returns the repository's URL."""
    from huggingface_hub import CommitOperationAdd, DatasetCard, HfApi

    operations = {}
    for path in map(Path, paths):
        if not path.exists():
            raise DataError(f"{path}: no such file or folder")
        for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if file.is_file():
                name = file.relative_to(path.parent).as_posix()
                operations[name] = CommitOperationAdd(path_in_repo=name, path_or_fileobj=str(file))
    card = DatasetCard(
        "---\ntags: [gpt4llm, evaluation]\n---\n"
        f"# Evaluation files of [{model_repo}](https://huggingface.co/{model_repo})\n\n"
        "Written by `python -m eval` of the LLaMA-GPT4 recipes: the results in the model's card come from these.\n\n"
        + "".join(f"- `{name}`\n" for name in operations))
    api = HfApi()
    url = api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    api.create_commit(url.repo_id, repo_type="dataset", commit_message=f"Evaluation files of {model_repo}",
                      operations=[*operations.values(),
                                  CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=str(card).encode())])
    return str(url)
