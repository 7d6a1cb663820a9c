"""ROUGE-L of predictions against ground truth on Unnatural Instructions, overall and by reference length, as in
the paper's Figure 6: rouge-score's F-measure, `score(reference, prediction)`, averaged plainly, over tokens that
keep Chinese text (eval/words.py)."""

from pathlib import Path

from gpt4llm.benchmarks import model_id, read_benchmark
from gpt4llm.data import DataError, Records, load_records, text_field
from gpt4llm.files import write_json_atomic

from .words import MultilingualTokenizer

BUCKETS = [("0-2", 0, 2), ("3-5", 3, 5), ("6-10", 6, 10), (">10", 11, None)]


def bucket(reference: str, tokenizer=MultilingualTokenizer()) -> str:
    """The paper's bucket of a reference by its length in words (CJK characters count as words)."""
    length = len(tokenizer.tokenize(reference))
    return next(name for name, low, high in BUCKETS if length >= low and (high is None or length <= high))


def rouge_l(records: list[dict]) -> dict:
    """`records` have `output` (the prediction) and `label` (the reference). Returns {overall, buckets:
    {name: {rouge_l, count}}, count}; empty buckets are reported with count 0 and no score."""
    from rouge_score import rouge_scorer  # here, so that what only counts tokens needs no rouge-score

    scorer = rouge_scorer.RougeScorer(["rougeL"], tokenizer=MultilingualTokenizer())
    by_bucket: dict[str, list[float]] = {name: [] for name, _, _ in BUCKETS}
    for record in records:
        f = scorer.score(record["label"], record["output"])["rougeL"].fmeasure
        by_bucket[bucket(record["label"])].append(f)
    scores = [f for values in by_bucket.values() for f in values]
    return {
        "count": len(scores),
        "overall": sum(scores) / len(scores) if scores else None,
        "buckets": {n: {"rouge_l": sum(v) / len(v) if v else None, "count": len(v)} for n, v in by_bucket.items()},
    }


def rouge(inputs: list[str], output: Path | None = None) -> dict[str, dict]:
    """`python -m eval rouge`: ROUGE-L of each input's predictions, by model; printed as a table and, with
    `output`, written as JSON."""
    from .report import rouge_table  # matplotlib: only where a table is printed

    results = {}
    for path in inputs:
        name, pairs = predictions(load_records(str(path)))
        if name in results:
            raise DataError(f"{path}: model {name!r} is in two inputs; give each its own --model-id")
        results[name] = rouge_l(pairs)
    print("\n".join(rouge_table(results)))
    if output:
        write_json_atomic(Path(output), results)
    return results


def predictions(records: Records) -> tuple[str, list[dict]]:
    """(model, [{output, label}]) from FastChat answers with their `reference` (what `generate` writes), or from
    a benchmark whose records carry a prediction beside the label (the released GPT-4 Unnatural file)."""
    first = records.rows[0]
    if isinstance(first, dict) and "answer_id" in first:
        answers = {where: row for row, where in zip(records.rows, records.locations)}
        for where, row in answers.items():
            text_field(row, "text", where)
            if not isinstance(row.get("reference"), str):
                raise DataError(f"{where}: field 'reference' must be a string: rouge scores answers that "
                                "`eval generate` wrote for a benchmark with references or labels")
        return model_id(answers, records.source), [{"output": a["text"], "label": a["reference"]}
                                                   for a in answers.values()]
    bench = read_benchmark(records)
    for item in bench.items:
        if item.prediction is None or item.reference is None:
            raise DataError(f"{item.where}: field '{'output' if item.prediction is None else 'label'}' is missing: "
                            "rouge needs answers from `eval generate`, or records with an output beside their "
                            "label")
    return Path(records.source).stem, [{"output": item.prediction, "label": item.reference} for item in bench.items]
