"""Interleaved A/B timing and robust statistics, with no TensorFlow import.

Machines here are noisy (2 shared cores), so every figure is a median over
rounds in which the contestants run alternately (A B A B ...): slow drifts in
the machine's speed hit both sides of a round alike, and a ratio taken per
round cancels most of it. The spread reported is the interquartile range.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any


@dataclasses.dataclass(frozen=True)
class Repeats:
    """How many counted rounds follow how many warm-up rounds."""

    rounds: int
    warmup: int = 1


@dataclasses.dataclass(frozen=True)
class Summary:
    """Median and quartiles of a sample (``n`` values)."""

    median: float
    q1: float
    q3: float
    n: int

    @property
    def iqr(self) -> float:
        """The interquartile range ``q3 - q1``."""
        return self.q3 - self.q1

    def to_json(self, digits: int = 4) -> dict[str, float | int]:
        """A JSON-ready dict, values rounded to ``digits`` significant digits."""
        return {
            "median": round_sig(self.median, digits),
            "q1": round_sig(self.q1, digits),
            "q3": round_sig(self.q3, digits),
            "iqr": round_sig(self.iqr, digits),
            "n": self.n,
        }


def round_sig(value: float, digits: int = 4) -> float:
    """``value`` rounded to ``digits`` significant digits (0, inf and nan unchanged)."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - math.floor(math.log10(abs(value))))


def summarize(samples: Sequence[float]) -> Summary:
    """Median and quartiles (linear interpolation, as numpy's default) of ``samples``."""
    values = sorted(float(v) for v in samples)
    if not values:
        raise ValueError("summarize: expected at least one sample, received none")
    return Summary(
        median=_quantile(values, 0.5),
        q1=_quantile(values, 0.25),
        q3=_quantile(values, 0.75),
        n=len(values),
    )


def _quantile(sorted_values: Sequence[float], fraction: float) -> float:
    position = (len(sorted_values) - 1) * fraction
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    weight = position - low
    return sorted_values[low] * (1 - weight) + sorted_values[high] * weight


def paired_ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """``numerators[i] / denominators[i]`` for each interleaved round ``i``."""
    if len(numerators) != len(denominators):
        raise ValueError(
            f"paired_ratios: expected samples of equal length, received "
            f"{len(numerators)} and {len(denominators)}"
        )
    if any(d <= 0 for d in denominators):
        raise ValueError(f"paired_ratios: expected positive denominators, received {denominators}")
    return [n / d for n, d in zip(numerators, denominators, strict=True)]


def timed(action: Callable[[], object], clock: Callable[[], float] = time.perf_counter):
    """A trial that runs ``action`` once and returns its wall time in seconds."""

    def trial() -> float:
        start = clock()
        action()
        return clock() - start

    return trial


def interleave(
    trials: Mapping[str, Callable[[], float]], *, rounds: int, warmup: int = 1
) -> dict[str, list[float]]:
    """Run each trial ``warmup`` times, then ``rounds`` times alternately (A B A B ...).

    Each trial returns its own measurement (for example :func:`timed`'s
    seconds). The warm-up rounds are interleaved the same way and discarded.
    Returns the measurements of the counted rounds, per trial, in round order.
    """
    if rounds < 1 or warmup < 0:
        raise ValueError(
            f"interleave: expected rounds >= 1 and warmup >= 0, got {rounds}, {warmup}"
        )
    samples: dict[str, list[float]] = {name: [] for name in trials}
    for round_index in range(warmup + rounds):
        for name, trial in trials.items():
            value = float(trial())
            if round_index >= warmup:
                samples[name].append(value)
    return samples


def compare(
    samples: Mapping[str, Sequence[float]], numerator: str, denominator: str
) -> dict[str, object]:
    """The per-round ratio ``numerator / denominator`` (summary and values), both sides' summaries."""
    values = paired_ratios(samples[numerator], samples[denominator])
    return {
        "ratio": summarize(values).to_json(),
        "ratios": [round_sig(v) for v in values],
        numerator: summarize(samples[numerator]).to_json(),
        denominator: summarize(samples[denominator]).to_json(),
    }


def pool_processes(runs: Sequence[Mapping[str, Mapping[str, Any]]]) -> dict[str, dict[str, Any]]:
    """One keyed result from the same case run in several processes: per-round ratios pooled.

    The ratio between two sides measured in one process moves by a few
    percent from one process to the next (thread placement, memory layout),
    more than between the rounds of one process; the median of every
    process's rounds together is the figure, and each process's median is
    kept in the details. A figure without per-round ratios is the median of
    the processes' values.
    """
    if not runs:
        raise ValueError("pool_processes: no runs")
    pooled = {}
    for key in runs[0]:
        details = [run[key]["details"] for run in runs]
        if "ratios" not in details[0]:  # a figure without rounds: the median process's
            values = [run[key]["value"] for run in runs]
            pooled[key] = {
                "value": summarize(values).median,
                "details": {**details[0], "processes": len(runs), "process_values": values},
            }
            continue
        values = [ratio for detail in details for ratio in detail["ratios"]]
        summary = summarize(values)
        # Settings shared by the runs; the sides' own summaries are per process.
        merged = {k: v for k, v in details[0].items() if not isinstance(v, (dict, list))}
        merged.update(
            ratio=summary.to_json(),
            ratios=values,
            processes=len(runs),
            process_medians=[detail["ratio"]["median"] for detail in details],
        )
        pooled[key] = {"value": summary.median, "details": merged}
    return pooled
