"""reports/parity.md (model x check x max difference x tolerance x pass) and reports/parity.png.

parity.png is drawn with matplotlib (Agg backend), an optional extra
(``pip install '.[plots]'``; the nox sessions install it): without it the
figure is skipped and parity.md says so. Layout: one column per trained
model; top the training loss against the step (window means, log scale),
bottom the test accuracy at the evaluation points with the floor as a dashed
reference line; legacy and port in each panel, the screen criterion in the
title. The same curves go to TensorBoard (parity.accuracy.write_tensorboard).
"""

from __future__ import annotations

import io
import math
import os
import tempfile
from collections.abc import Sequence

import numpy as np

from parity.accuracy import AccuracyResult
from parity.checks import CheckRow
from parity.criterion import SCREEN_MARGIN_POINTS

# Figure geometry: inches per model column and in height, at DPI dots per inch.
COLUMN_INCHES = 4.5
HEIGHT_INCHES = 7.0
DPI = 100
SIDE_STYLES = (("legacy", "tab:blue", 2.5), ("port", "tab:orange", 1.2))


def write_atomic(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", dir=directory)
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
        # mkstemp creates 0600; a report should get the usual umask-based mode.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(temp, 0o666 & ~umask)
        os.replace(temp, path)
    except BaseException:
        if os.path.exists(temp):
            os.unlink(temp)
        raise


# ---- markdown ------------------------------------------------------------------------------


def _number(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.3g}"


def checks_table(rows: Sequence[CheckRow]) -> str:
    """The check table in markdown."""
    lines = [
        "| model | check | max abs difference (set-up checks: worst / allowed) | tolerance | pass |",
        "|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r.model} | {r.check} | {_number(r.max_abs)} | {r.tolerance} | "
            f"{'yes' if r.passed else '**NO**'} |"
        )
    return "\n".join(lines)


def accuracy_table(results: Sequence[AccuracyResult]) -> str:
    """The accuracy table in markdown."""
    lines = [
        "| model | steps | legacy acc | port acc | gap (points) | gap s.e. | floor | pass "
        "| seconds | schedule |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if r.steps is None:
            lines.append(f"| {r.model} | - | - | - | - | - | - | skipped | - | {r.reason} |")
            continue
        floor = "-" if r.floor is None else f"{100 * r.floor:.0f} %"
        lines.append(
            f"| {r.model} | {r.steps} | {100 * r.legacy.final_accuracy:.2f} % | "
            f"{100 * r.port.final_accuracy:.2f} % | {r.gap_points:.2f} | "
            f"{r.gap_standard_error_points:.2f} | {floor} | "
            f"{'yes' if r.passed else '**NO**'} | {r.seconds:.0f} | {r.reason} |"
        )
    return "\n".join(lines)


def failures(rows: Sequence[CheckRow]) -> str:
    """The localising message of every failed check."""
    failed = [f"- {r.detail}" for r in rows if not r.passed]
    return "\n".join(failed) if failed else "none"


def markdown(
    rows: Sequence[CheckRow],
    results: Sequence[AccuracyResult],
    *,
    command: str,
    seconds: float,
    curves_note: str = "",
) -> str:
    """The whole reports/parity.md; ``curves_note`` says where the curves are."""
    parts = [
        "# Parity report",
        "",
        f"Produced by `{command}` in {seconds:.0f} s.",
        "",
        "## Checks (legacy graph -> Saver checkpoint -> converter -> port)",
        "",
        checks_table(rows),
        "",
        "Failures (first diverging tensor):",
        "",
        failures(rows),
    ]
    if results:
        parts += [
            "",
            "## Accuracy (same initial weights, same batch stream, embedded sample data)",
            "",
            f"The gross-difference screen (parity/criterion.py): one lock-step run's gap "
            f"must stay within {SCREEN_MARGIN_POINTS:g} points. Equivalence within 1 point "
            "is judged over seeds by `python -m parity.seeds report` (docs/parity.md). "
            "The floor is a reference line, not a criterion. The gap's standard error "
            "is sqrt(D) / N points x 100, D the test images exactly one side gets right: "
            "it is how much of the gap the 1000-image test set alone explains.",
            "",
            accuracy_table(results),
            "",
            curves_note,
        ]
    return "\n".join(parts) + "\n"


# ---- figure --------------------------------------------------------------------------------


def _smooth(values: Sequence[float], points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Window means (at each window's last step) so a 10000-step loss curve stays readable."""
    values = np.asarray(values, float)
    size = max(1, len(values) // points)
    usable = len(values) // size * size
    means = values[:usable].reshape(-1, size).mean(axis=1)
    return (np.arange(len(means)) + 1) * size, means


def trained(results: Sequence[AccuracyResult]) -> list[AccuracyResult]:
    """The results that have curves to draw (skipped models have none)."""
    return [r for r in results if r.steps is not None and r.legacy.losses]


def figure_pixels(columns: int) -> tuple[int, int]:
    """(width, height) in pixels of parity.png with ``columns`` model columns."""
    return round(COLUMN_INCHES * max(1, columns) * DPI), round(HEIGHT_INCHES * DPI)


def _loss_axes(axes, result: AccuracyResult) -> None:
    for side, colour, width in SIDE_STYLES:
        steps, means = _smooth(getattr(result, side).losses)
        axes.plot(steps, means, color=colour, linewidth=width, label=side)
    axes.set_yscale("log")
    axes.set_title(f"{result.model}: training loss", fontsize=10)
    axes.set_xlabel("step")
    axes.set_ylabel("loss (window mean, log scale)")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend(loc="upper right")


def _accuracy_axes(axes, result: AccuracyResult) -> None:
    for side, colour, width in SIDE_STYLES:
        curve = getattr(result, side)
        accuracies = 100 * np.asarray(curve.accuracies, float)
        axes.plot(
            curve.eval_steps,
            accuracies,
            color=colour,
            linewidth=width,
            marker="o",
            markersize=3,
            label=f"{side} ({100 * curve.final_accuracy:.2f} %)",
        )
    if result.floor is not None:
        axes.axhline(
            100 * result.floor,
            color="grey",
            linestyle="--",
            linewidth=1,
            label=f"floor {100 * result.floor:.0f} % (reference)",
        )
    verdict = "pass" if result.passed else "FAIL"
    axes.set_title(
        f"{result.model}: test accuracy\nfinal gap {result.gap_points:.2f} points ({verdict})",
        fontsize=10,
    )
    axes.set_xlabel("step")
    axes.set_ylabel("test accuracy (%)")
    axes.set_xlim(0, result.steps)
    axes.grid(True, alpha=0.3)
    axes.legend(loc="lower right")


def figure_png(results: Sequence[AccuracyResult]) -> bytes:
    """parity.png's bytes (see the module doc). Raises ImportError without matplotlib."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    drawn = trained(results)
    width, height = figure_pixels(len(drawn))
    figure = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    FigureCanvasAgg(figure)
    grid = figure.subplots(2, max(1, len(drawn)), squeeze=False)
    for column, result in enumerate(drawn):
        _loss_axes(grid[0, column], result)
        _accuracy_axes(grid[1, column], result)
    figure.suptitle(
        "Legacy graph vs port, trained in lock step from the same weights\n"
        f"screen: fail when the final accuracy gap exceeds {SCREEN_MARGIN_POINTS:g} points "
        "(parity/criterion.py); the floor is a reference line, not a criterion",
        fontsize=9,
    )
    figure.tight_layout()
    buffer = io.BytesIO()
    # No bbox="tight": the file keeps the size figure_pixels() promises.
    figure.savefig(buffer, format="png", dpi=DPI)
    return buffer.getvalue()


def write_reports(
    directory: str,
    rows: Sequence[CheckRow],
    results: Sequence[AccuracyResult],
    *,
    command: str,
    seconds: float,
) -> tuple[str, str | None]:
    """Write parity.md (and parity.png when there are curves); return their paths.

    Without matplotlib the figure is skipped, parity.md says so, and the png
    path returned is None.
    """
    png_path, note = None, ""
    if trained(results):
        tensorboard = os.path.join(directory, "tensorboard")
        try:
            data = figure_png(results)
        except ImportError as error:
            note = (
                f"Curves: figure skipped ({error}; `pip install '.[plots]'` adds matplotlib). "
                f"TensorBoard: `tensorboard --logdir {tensorboard}`."
            )
        else:
            png_path = os.path.join(directory, "parity.png")
            write_atomic(png_path, data)
            note = (
                f"Curves: {png_path} (columns = models, top = training loss, bottom = test "
                f"accuracy) and TensorBoard: `tensorboard --logdir {tensorboard}`."
            )
    md_path = os.path.join(directory, "parity.md")
    text = markdown(rows, results, command=command, seconds=seconds, curves_note=note)
    write_atomic(md_path, text.encode())
    return md_path, png_path
