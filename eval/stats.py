"""Uncertainty for pairwise judging: percentile-bootstrap intervals over questions.

Questions are the unit that varies (a benchmark is a sample of the questions one could ask), so each resample
draws n questions with replacement and recomputes every statistic from them; the interval is the central
`level` share of the resampled values. Seeded: the same inputs and seed give the same intervals.
"""

from collections.abc import Callable

import numpy as np

RESAMPLES = 1000
LEVEL = 0.95


def bootstrap(
    columns: dict[str, list[float]],
    statistics: dict[str, Callable[[dict[str, np.ndarray]], np.ndarray]],
    *,
    resamples: int = RESAMPLES,
    seed: int = 0,
    level: float = LEVEL,
) -> dict[str, list[float] | None]:
    """{statistic: [low, high]} from the rows of `columns` (one value per question in each column). A statistic
    maps the resampled columns, arrays of shape (resamples, n), to one value per resample; resamples where it is
    undefined (nan or inf, e.g. a ratio over a zero total) are left out. None without questions."""
    n = len(next(iter(columns.values()))) if columns else 0
    if n == 0:
        return {name: None for name in statistics}
    index = np.random.default_rng(seed).integers(0, n, size=(resamples, n))
    sampled = {name: np.asarray(values, dtype=float)[index] for name, values in columns.items()}
    intervals = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for name, statistic in statistics.items():
            values = np.asarray(statistic(sampled), dtype=float)
            values = values[np.isfinite(values)]
            bounds = np.quantile(values, [(1 - level) / 2, (1 + level) / 2]) if len(values) else None
            intervals[name] = None if bounds is None else [float(bounds[0]), float(bounds[1])]
    return intervals


def pairwise_intervals(model: list[float], reference: list[float], **options) -> dict[str, list[float] | None]:
    """Intervals of a model's and a reference's totals, their ratio (model / reference) and the model's win and
    loss rates, from their scores on each question."""
    return bootstrap(
        {"model": model, "reference": reference},
        {
            "model_total": lambda s: s["model"].sum(axis=1),
            "reference_total": lambda s: s["reference"].sum(axis=1),
            "ratio": lambda s: s["model"].sum(axis=1) / s["reference"].sum(axis=1),
            "win_rate": lambda s: (s["model"] > s["reference"]).mean(axis=1),
            "loss_rate": lambda s: (s["model"] < s["reference"]).mean(axis=1),
        },
        **options,
    )


def ranks(values) -> np.ndarray:
    """Ranks from 1, ties sharing their average rank."""
    values = np.asarray(values, dtype=float)
    order = np.argsort(values, kind="stable")
    ranked = np.empty(len(values))
    ranked[order] = np.arange(1, len(values) + 1)
    for value in np.unique(values):
        tied = values == value
        ranked[tied] = ranked[tied].mean()
    return ranked


def spearman(x, y) -> float | None:
    """Spearman's rank correlation (the Pearson correlation of average ranks); None when either side is constant."""
    rx, ry = ranks(x), ranks(y)
    if len(rx) < 2 or rx.std() == 0 or ry.std() == 0:
        return None
    return float(np.corrcoef(rx, ry)[0, 1])


def kendall_tau(x, y) -> float | None:
    """Kendall's tau-b (ties on either side corrected for); None when either side is constant."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    i, j = np.triu_indices(len(x), k=1)
    dx, dy = np.sign(x[i] - x[j]), np.sign(y[i] - y[j])
    pairs_x, pairs_y = np.count_nonzero(dx), np.count_nonzero(dy)
    if not pairs_x or not pairs_y:
        return None
    return float((dx * dy).sum() / np.sqrt(pairs_x * pairs_y))


def cohen_kappa(a: list, b: list) -> float | None:
    """Cohen's kappa of two raters' labels of the same items; None when chance agreement is already complete."""
    labels = sorted(set(a) | set(b))
    observed = float(np.mean([x == y for x, y in zip(a, b)]))
    expected = sum((a.count(label) / len(a)) * (b.count(label) / len(b)) for label in labels)
    return None if expected == 1 else (observed - expected) / (1 - expected)
