"""Small statistics used by the set-up checks and the accuracy criterion (numpy only).

Every test here states its false-alarm rate; the callers choose it so that
the whole suite's family-wise rate stays small (see docs/parity.md).
"""

from __future__ import annotations

import math

import numpy as np

# Per-comparison false-alarm rate of the set-up checks' distribution tests. About 300
# comparisons run in `python -m parity --fast`, so the suite raises a false alarm
# with probability below 300 * 1e-6 = 3e-4 on an unchanged port.
ALPHA = 1e-6


def ks_critical(n: int, m: int, alpha: float = ALPHA) -> float:
    """The two-sample Kolmogorov-Smirnov statistic's critical value at ``alpha``.

    The asymptotic bound sqrt(-ln(alpha/2)/2) * sqrt((n+m)/(n*m)) (Smirnov);
    it is conservative for the sample sizes used here (n, m >= 50).
    """
    return math.sqrt(-math.log(alpha / 2) / 2) * math.sqrt((n + m) / (n * m))


def ks_statistic(a: np.ndarray, b: np.ndarray) -> float:
    """The largest gap between the empirical distribution functions of ``a`` and ``b``."""
    a, b = np.sort(np.ravel(a)), np.sort(np.ravel(b))
    points = np.concatenate([a, b])
    cdf_a = np.searchsorted(a, points, side="right") / len(a)
    cdf_b = np.searchsorted(b, points, side="right") / len(b)
    return float(np.max(np.abs(cdf_a - cdf_b)))


def subsample(values: np.ndarray, limit: int, seed: int = 0) -> np.ndarray:
    """At most ``limit`` of ``values`` (flattened), drawn without replacement, reproducibly."""
    flat = np.ravel(values)
    if flat.size <= limit:
        return flat
    return np.random.default_rng(seed).choice(flat, size=limit, replace=False)


def binomial_margin(p: float, n: int, z: float = 5.0) -> float:
    """``z`` standard errors of a proportion ``p`` estimated from ``n`` draws (at least 1/n)."""
    return z * math.sqrt(max(p * (1 - p), 1.0 / n) / n)


def normal_quantile(p: float) -> float:
    """The standard normal distribution's ``p`` quantile (Acklam's rational approximation)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    a = (-3.969683028665376e01, 2.209460984245205e02, -2.759285104469687e02,
         1.383577518672690e02, -3.066479806614716e01, 2.506628277459239e00)  # fmt: skip
    b = (-5.447609879822406e01, 1.615858368580409e02, -1.556989798598866e02,
         6.680131188771972e01, -1.328068155288572e01)  # fmt: skip
    c = (-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e00,
         -2.549732539343734e00, 4.374664141464968e00, 2.938163982698783e00)  # fmt: skip
    d = (7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e00,
         3.754408661907416e00)  # fmt: skip
    low = 0.02425
    if p < low:
        q = math.sqrt(-2 * math.log(p))
        num = ((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]
        return num / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    if p > 1 - low:
        return -normal_quantile(1 - p)
    q = p - 0.5
    r = q * q
    num = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q
    return num / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)


def student_t_quantile(p: float, dof: int) -> float:
    """Student's t ``p`` quantile (Cornish-Fisher expansion; within 1e-3 for dof >= 4)."""
    z = normal_quantile(p)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / dof + g2 / dof**2 + g3 / dof**3 + g4 / dof**4
