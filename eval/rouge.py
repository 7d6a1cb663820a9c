"""ROUGE-L of predictions against ground truth on Unnatural Instructions, overall and by reference length, as in
the paper's Figure 6: rouge-score's F-measure, `score(reference, prediction)`, averaged plainly.

rouge-score's own tokenizer keeps only [a-z0-9] and so scores any Chinese text as empty; this one also keeps
each CJK character as a token, and gives exactly the same tokens as rouge-score's on text without CJK.
`length_in_tokens` is the length the reports use (output lengths, answer-length bias) on the same principle.
"""

import re

BUCKETS = [("0-2", 0, 2), ("3-5", 3, 5), ("6-10", 6, 10), (">10", 11, None)]
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"  # kana, CJK ideographs, hangul
_TOKEN = re.compile(rf"[{_CJK}]|[a-z0-9]+")
# a CJK character, or a run of anything else but spaces and CJK punctuation (full-width forms included)
_LENGTH_TOKEN = re.compile(rf"[{_CJK}]|[^\s{_CJK}\u3000-\u303f\uff00-\uffef]+")


class MultilingualTokenizer:
    def tokenize(self, text: str) -> list[str]:
        return _TOKEN.findall(text.lower())


def length_in_tokens(text: str) -> int:
    """Whitespace-separated words, with each CJK character a word: the paper's `len(output.split())` on English,
    and a length that means something on Chinese (where split() sees whole sentences as one word)."""
    return len(_LENGTH_TOKEN.findall(text))


def bucket(reference: str, tokenizer=MultilingualTokenizer()) -> str:
    """The paper's bucket of a reference by its length in words (CJK characters count as words)."""
    length = len(tokenizer.tokenize(reference))
    return next(name for name, low, high in BUCKETS if length >= low and (high is None or length <= high))


def rouge_l(records: list[dict]) -> dict:
    """`records` have `output` (the prediction) and `label` (the reference). Returns {overall, buckets:
    {name: {rouge_l, count}}, count}; empty buckets are reported with count 0 and no score."""
    from rouge_score import (
        rouge_scorer,  # here, so that the token counts above need no rouge-score (e.g. eval generate)
    )

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
