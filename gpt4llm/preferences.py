"""Preference pairs for reward models and DPO, from the paper's comparison data and its kin.

Schemas, told apart by their fields:
- comparison_data_v2 (the release): `user_input` (the Alpaca prompt without `### Response:`) and
  `responses_and_scores: [{response, score, source}]`. K scored responses give the C(K,2) pairs whose scores
  differ, the higher-scored response chosen; ties, empty responses and prompts with fewer than two usable
  responses are dropped and counted. A score of 0 on a non-empty response is a real (lowest) score.
- comparison_data v1: `user_input`, `completion_a` (ranked above) `completion_b`.
- plain pairs: `chosen`, `rejected`, optionally `prompt` (otherwise the prompt is empty).

Every pair's prompt is the Alpaca template SFT trains on, ending in `### Response:`, and `margin` is the score
difference (1.0 for ranked pairs without scores).
"""

import logging
import random
from collections import Counter
from itertools import combinations

from datasets import Dataset

from .data import DataError, Records, text_field
from .templates import ALPACA_PROMPT_NO_INPUT, alpaca_prompt

logger = logging.getLogger(__name__)
RESPONSE_MARKER = "### Response:"
_PREAMBLE = ALPACA_PROMPT_NO_INPUT.split("\n\n")[0].split(". ")[0]  # "Below is an instruction that describes a task"


def prompt_from_user_input(user_input: str) -> str:
    """The Alpaca prompt of a comparison record: its user_input completed with `### Response:`, or, for a bare
    instruction, the template around it."""
    if user_input.startswith(_PREAMBLE):
        return user_input.rstrip() + "\n\n" + RESPONSE_MARKER
    return alpaca_prompt(user_input)


def preference_pairs(records: Records) -> tuple[list[dict], Counter]:
    """`[{prompt, chosen, rejected, margin, group}]` and counts of what was kept and dropped. `group` numbers the
    prompt a pair came from, so that a held-out split can keep all pairs of one prompt on one side."""
    pairs: list[dict] = []
    counts: Counter = Counter()
    for group, (row, where) in enumerate(zip(records.rows, records.locations)):
        if not isinstance(row, dict):
            raise DataError(f"{where}: expected a JSON object, got {type(row).__name__}")
        if "responses_and_scores" in row:
            found = _scored_pairs(row, where, group, counts)
        elif "completion_a" in row:
            prompt = prompt_from_user_input(text_field(row, "user_input", where))
            found = [_pair(prompt, text_field(row, "completion_a", where), text_field(row, "completion_b", where),
                           1.0, group)]
        elif "chosen" in row:
            prompt = text_field(row, "prompt", where, required=False)
            found = [_pair(prompt, text_field(row, "chosen", where), text_field(row, "rejected", where), 1.0, group)]
        else:
            raise DataError(
                f"{where}: unknown schema with fields {sorted(row)}; expected comparison data (user_input, "
                "responses_and_scores), v1 (user_input, completion_a, completion_b) or chosen/rejected pairs"
            )
        usable = [p for p in found if p["chosen"].strip() and p["rejected"].strip()]
        if len(usable) < len(found):
            counts["empty pair dropped"] += len(found) - len(usable)
        pairs += usable
    counts["pairs"] = len(pairs)
    if not pairs:
        raise DataError(f"{records.source}: no usable preference pairs ({_describe(counts)})")
    logger.info("%s: %s", records.source, _describe(counts))
    return pairs, counts


def _scored_pairs(row: dict, where: str, group: int, counts: Counter) -> list[dict]:
    prompt = prompt_from_user_input(text_field(row, "user_input", where))
    scored = row["responses_and_scores"]
    if not isinstance(scored, list):
        raise DataError(f"{where}: field 'responses_and_scores' must be a list")
    usable = []
    for i, item in enumerate(scored):
        field = f"responses_and_scores[{i}]"
        if not isinstance(item, dict) or not isinstance(item.get("response"), str):
            raise DataError(f"{where}: field '{field}.response' must be a string")
        score = item.get("score")
        if isinstance(score, bool) or not isinstance(score, (int, float)):
            raise DataError(f"{where}: field '{field}.score' must be a number, got {type(score).__name__}")
        if item["response"].strip():
            usable.append((item["response"], float(score)))
        else:
            counts["empty response dropped"] += 1
    if len(usable) < 2:
        counts["prompt with fewer than 2 responses dropped"] += 1
        return []
    pairs = []
    for (a, score_a), (b, score_b) in combinations(usable, 2):
        if score_a == score_b:
            counts["tied pair dropped"] += 1
        elif score_a > score_b:
            pairs.append(_pair(prompt, a, b, score_a - score_b, group))
        else:
            pairs.append(_pair(prompt, b, a, score_b - score_a, group))
    return pairs


def _pair(prompt: str, chosen: str, rejected: str, margin: float, group: int) -> dict:
    return {"prompt": prompt, "chosen": chosen, "rejected": rejected, "margin": margin, "group": group}


def _describe(counts: Counter) -> str:
    return ", ".join(f"{count} {what}" for what, count in sorted(counts.items()) if count)


def preference_groups(pairs: Dataset) -> Dataset:
    """The same pairs with each prompt's responses listed once: `{prompt, responses, chosen_index, rejected_index,
    margin}` per prompt, the pairs as indices into `responses` (for grouped reward training, which runs each
    response through the model once instead of once per pair it is in)."""
    groups: dict[str, dict] = {}
    for pair in pairs:
        group = groups.setdefault(pair["prompt"], {"prompt": pair["prompt"], "responses": [], "chosen_index": [],
                                                   "rejected_index": [], "margin": []})
        for side in ("chosen", "rejected"):
            if pair[side] not in group["responses"]:
                group["responses"].append(pair[side])
            group[f"{side}_index"].append(group["responses"].index(pair[side]))
        group["margin"].append(pair["margin"])
    return Dataset.from_list(list(groups.values()))


def split_by_prompt(pairs: list[dict], eval_fraction: float, seed: int) -> tuple[Dataset, Dataset | None]:
    """Train and held-out pairs; all pairs of a prompt fall on the same side, so nothing held out was seen."""
    groups = sorted({p["group"] for p in pairs})
    random.Random(seed).shuffle(groups)
    held_out = set(groups[: round(len(groups) * eval_fraction)]) if eval_fraction > 0 else set()
    train = [p for p in pairs if p["group"] not in held_out]
    test = [p for p in pairs if p["group"] in held_out]
    columns = ("prompt", "chosen", "rejected", "margin")
    as_dataset = lambda rows: Dataset.from_dict({c: [r[c] for r in rows] for c in columns})  # noqa: E731
    return as_dataset(train), (as_dataset(test) if test else None)
