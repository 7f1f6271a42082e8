"""The accuracy criteria, stated before any run (docs/parity.md gives the arithmetic).

Two criteria, for two budgets:

* **Equivalence over seeds** (the seed study, ``python -m parity.seeds``):
  each side trained alone K times; the two one-sided tests (TOST) on the
  difference of the mean test accuracies, Welch's standard error, at
  ``ALPHA`` = 0.05 each side: the sides are equivalent when the 90 %
  confidence interval of the difference lies inside +-``MARGIN_POINTS``.
  Declaring equivalence when the true difference is the margin happens at
  most 5 % of the time; :func:`tost_power` gives the chance of declaring it
  when the sides are truly equal, from the measured seed spread.
* **The gross-difference screen** (``python -m parity --full``, inside the
  main job's budget): one lock-step run per screened model; it fails when
  the gap exceeds ``SCREEN_MARGIN_POINTS``. :func:`screen_rates` gives its
  false-alarm rate at a true gap of one margin and its power against a true
  gap of ``GROSS_POINTS``, from the seed study's spread.
"""

from __future__ import annotations

import dataclasses
import math
import statistics
from collections.abc import Sequence

from parity.stats import student_t_quantile

MARGIN_POINTS = 1.0
ALPHA = 0.05
SCREEN_MARGIN_POINTS = 3.0
GROSS_POINTS = 5.0


def _phi(x: float) -> float:
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


@dataclasses.dataclass(frozen=True)
class Equivalence:
    """The TOST of one model: means, spreads, the difference and its 90 % interval (points)."""

    model: str
    n_legacy: int
    n_port: int
    mean_legacy: float
    mean_port: float
    sd_legacy: float
    sd_port: float
    difference: float  # legacy - port
    standard_error: float
    dof: float
    low: float
    high: float
    margin: float

    @property
    def equivalent(self) -> bool:
        """The whole interval inside +-margin."""
        return -self.margin < self.low and self.high < self.margin

    @property
    def verdict(self) -> str:
        if self.equivalent:
            return "equivalent"
        if self.low >= self.margin or self.high <= -self.margin:
            return "different"
        return "not shown"

    @property
    def power(self) -> float:
        """Chance of declaring equivalence at this K if the sides were truly equal."""
        return tost_power(self.sd_legacy, self.sd_port, self.n_legacy, self.n_port, self.margin)


def welch_dof(sd_a: float, n_a: int, sd_b: float, n_b: int) -> float:
    """Welch-Satterthwaite degrees of freedom (at least 1)."""
    va, vb = sd_a**2 / n_a, sd_b**2 / n_b
    denominator = va**2 / max(n_a - 1, 1) + vb**2 / max(n_b - 1, 1)
    return max(1.0, (va + vb) ** 2 / denominator) if denominator else float(n_a + n_b - 2)


def tost(
    model: str,
    legacy: Sequence[float],
    port: Sequence[float],
    margin: float = MARGIN_POINTS,
    alpha: float = ALPHA,
) -> Equivalence:
    """TOST on accuracies given in points (percent); needs >= 2 runs per side."""
    if len(legacy) < 2 or len(port) < 2:
        raise ValueError(
            f"{model}: the TOST needs >= 2 runs per side, got {len(legacy)}/{len(port)}"
        )
    sd_l, sd_p = statistics.stdev(legacy), statistics.stdev(port)
    se = math.sqrt(sd_l**2 / len(legacy) + sd_p**2 / len(port))
    dof = welch_dof(sd_l, len(legacy), sd_p, len(port))
    difference = statistics.fmean(legacy) - statistics.fmean(port)
    half = student_t_quantile(1 - alpha, round(dof)) * se
    return Equivalence(
        model,
        len(legacy),
        len(port),
        statistics.fmean(legacy),
        statistics.fmean(port),
        sd_l,
        sd_p,
        difference,
        se,
        dof,
        difference - half,
        difference + half,
        margin,
    )


def tost_power(
    sd_legacy: float,
    sd_port: float,
    n_legacy: int,
    n_port: int,
    margin: float = MARGIN_POINTS,
    alpha: float = ALPHA,
    true_difference: float = 0.0,
) -> float:
    """P(TOST declares equivalence) at a true difference (normal approximation of the estimate)."""
    se = math.sqrt(sd_legacy**2 / n_legacy + sd_port**2 / n_port)
    if se == 0:
        return 1.0 if abs(true_difference) < margin else 0.0
    dof = welch_dof(sd_legacy, n_legacy, sd_port, n_port)
    half = student_t_quantile(1 - alpha, round(dof)) * se
    if half >= margin:
        return 0.0
    upper = (margin - half - true_difference) / se
    lower = (-margin + half - true_difference) / se
    return max(0.0, _phi(upper) - _phi(lower))


def screen_passes(gap_points: float) -> bool:
    """The main job's screen: one lock-step run's |legacy - port| within the screen margin."""
    return abs(float(gap_points)) <= SCREEN_MARGIN_POINTS


def screen_rates(sd_gap: float) -> tuple[float, float]:
    """(false alarm at a true gap of MARGIN_POINTS, power at GROSS_POINTS) for a gap s.d."""
    if sd_gap <= 0:
        return 0.0, 1.0
    false_alarm = 1 - _phi((SCREEN_MARGIN_POINTS - MARGIN_POINTS) / sd_gap)
    false_alarm += _phi((-SCREEN_MARGIN_POINTS - MARGIN_POINTS) / sd_gap)
    power = 1 - _phi((SCREEN_MARGIN_POINTS - GROSS_POINTS) / sd_gap)
    return false_alarm, power
