"""reports/parity.md (model x check x max difference x tolerance x pass) and reports/parity.png.

matplotlib is not a dependency, so the PNG is drawn by a tiny numpy
rasteriser (frames, polylines, a 5x7 pixel font) and written with zlib.
Layout of parity.png: a legend line, then one column per trained model (in
registry order, named above it); top row the training loss (window means,
log10 scale, min and max written in the panel), bottom row the test accuracy
at the evaluation points on a fixed 50-100 % scale, with the floor as a grey
line; legacy in blue (thick), port in orange (thin, on top).
"""

from __future__ import annotations

import math
import os
import struct
import tempfile
import zlib
from collections.abc import Sequence

import numpy as np

from parity.accuracy import AccuracyResult
from parity.checks import CheckRow
from parity.criterion import SCREEN_MARGIN_POINTS
from parity.glyphs import HEIGHT as TEXT_HEIGHT
from parity.glyphs import draw_text

LEGACY_COLOUR = (31, 119, 180)
PORT_COLOUR = (255, 127, 14)
FRAME_COLOUR = (90, 90, 90)
FLOOR_COLOUR = (170, 170, 170)
TEXT_COLOUR = (0, 0, 0)
PANEL = (240, 160)
MARGIN = 12
TITLE = TEXT_HEIGHT + 6  # a text line above each panel
ACCURACY_RANGE = (0.5, 1.0)


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
        "| model | check | max abs difference | tolerance | pass |",
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
) -> str:
    """The whole reports/parity.md."""
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
            "Curves: reports/parity.png (columns = models above, top = training loss, "
            "bottom = test accuracy; blue legacy, orange port).",
        ]
    return "\n".join(parts) + "\n"


# ---- PNG -----------------------------------------------------------------------------------


def png_bytes(image: np.ndarray) -> bytes:
    """An RGB uint8 ``[height, width, 3]`` array as PNG file bytes."""
    height, width, _ = image.shape
    raw = b"".join(b"\x00" + image[row].tobytes() for row in range(height))

    def chunk(kind: bytes, payload: bytes) -> bytes:
        crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def _draw_polyline(canvas, xs, ys, box, ranges, colour, thickness):
    """Draw (xs, ys) scaled from ``ranges`` into the pixel ``box`` (left, top, w, h)."""
    left, top, width, height = box
    (x0, x1), (y0, y1) = ranges
    px = left + (np.asarray(xs, float) - x0) / max(x1 - x0, 1e-12) * (width - 1)
    py = top + (1 - (np.asarray(ys, float) - y0) / max(y1 - y0, 1e-12)) * (height - 1)
    if len(px) == 1:
        px, py = np.repeat(px, 2), np.repeat(py, 2)
    for ax, ay, bx, by in zip(px[:-1], py[:-1], px[1:], py[1:], strict=True):
        count = int(max(abs(bx - ax), abs(by - ay))) + 2
        for t in np.linspace(0.0, 1.0, count):
            cx, cy = ax + t * (bx - ax), ay + t * (by - ay)
            r0, c0 = int(round(cy)), int(round(cx))
            canvas[
                max(r0 - thickness // 2, top) : min(r0 + thickness - thickness // 2, top + height),
                max(c0 - thickness // 2, left) : min(c0 + thickness - thickness // 2, left + width),
            ] = colour


def _frame(canvas, box):
    left, top, width, height = box
    canvas[top, left : left + width] = FRAME_COLOUR
    canvas[top + height - 1, left : left + width] = FRAME_COLOUR
    canvas[top : top + height, left] = FRAME_COLOUR
    canvas[top : top + height, left + width - 1] = FRAME_COLOUR


def _smooth(values: Sequence[float], points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """Window means so that a 10000-step loss curve stays readable."""
    values = np.asarray(values, float)
    size = max(1, len(values) // points)
    usable = len(values) // size * size
    means = values[:usable].reshape(-1, size).mean(axis=1)
    return (np.arange(len(means)) + 1) * size, means


def _loss_panel(canvas, box, result: AccuracyResult) -> None:
    """Smoothed training losses of both sides on a log10 scale, min and max labelled."""
    curves = [_smooth(c.losses) for c in (result.legacy, result.port)]
    logs = [np.log10(np.maximum(ys, 1e-12)) for _, ys in curves]
    low = min(float(np.min(v)) for v in logs)
    high = max(float(np.max(v)) for v in logs)
    ranges = ((0, result.steps), (low, high if high > low else low + 1.0))
    for (xs, _), values, colour, thick in zip(
        curves, logs, (LEGACY_COLOUR, PORT_COLOUR), (3, 1), strict=True
    ):
        _draw_polyline(canvas, xs, values, box, ranges, colour, thick)
    left, top, width, height = box
    draw_text(canvas, f"{10**high:.3g}", left + 4, top + 4, TEXT_COLOUR)
    draw_text(canvas, f"{10**low:.3g}", left + 4, top + height - 4 - TEXT_HEIGHT, TEXT_COLOUR)


def _accuracy_panel(canvas, box, result: AccuracyResult) -> None:
    """Test accuracy at the evaluation points on 50-100 %, with the floor as a grey line."""
    ranges = ((0, result.steps), ACCURACY_RANGE)
    if result.floor is not None:
        _draw_polyline(canvas, [0, result.steps], [result.floor] * 2, box, ranges, FLOOR_COLOUR, 1)
    for curve, colour, thick in zip(
        (result.legacy, result.port), (LEGACY_COLOUR, PORT_COLOUR), (3, 1), strict=True
    ):
        _draw_polyline(canvas, curve.eval_steps, curve.accuracies, box, ranges, colour, thick)
    left, top, _, height = box
    draw_text(canvas, "100%", left + 4, top + 4, TEXT_COLOUR)
    draw_text(canvas, "50%", left + 4, top + height - 4 - TEXT_HEIGHT, TEXT_COLOUR)


def curves_image(results: Sequence[AccuracyResult]) -> np.ndarray:
    """The curves figure as an RGB array (see the module doc for the layout)."""
    trained = [r for r in results if r.steps is not None and r.legacy.losses]
    columns = max(1, len(trained))
    width = columns * (PANEL[0] + MARGIN) + MARGIN
    legend = MARGIN + TEXT_HEIGHT
    height = legend + 2 * (TITLE + PANEL[1] + MARGIN) + MARGIN
    canvas = np.full((height, width, 3), 255, np.uint8)
    draw_text(canvas, "legacy", MARGIN, MARGIN // 2, LEGACY_COLOUR)
    draw_text(canvas, "port", MARGIN + 48, MARGIN // 2, PORT_COLOUR)
    draw_text(canvas, "floor", MARGIN + 84, MARGIN // 2, FLOOR_COLOUR)
    for column, result in enumerate(trained):
        left = MARGIN + column * (PANEL[0] + MARGIN)
        loss_top = legend + MARGIN + TITLE
        accuracy_top = loss_top + PANEL[1] + MARGIN + TITLE
        draw_text(canvas, f"{result.model} loss (log)", left, loss_top - TITLE, TEXT_COLOUR)
        draw_text(canvas, "test accuracy", left, accuracy_top - TITLE, TEXT_COLOUR)
        loss_box = (left, loss_top, *PANEL)
        accuracy_box = (left, accuracy_top, *PANEL)
        _frame(canvas, loss_box)
        _frame(canvas, accuracy_box)
        _loss_panel(canvas, loss_box, result)
        _accuracy_panel(canvas, accuracy_box, result)
    return canvas


def write_reports(
    directory: str,
    rows: Sequence[CheckRow],
    results: Sequence[AccuracyResult],
    *,
    command: str,
    seconds: float,
) -> tuple[str, str | None]:
    """Write parity.md (and parity.png when there are curves); return their paths."""
    md_path = os.path.join(directory, "parity.md")
    write_atomic(md_path, markdown(rows, results, command=command, seconds=seconds).encode())
    if not any(r.steps for r in results):
        return md_path, None
    png_path = os.path.join(directory, "parity.png")
    write_atomic(png_path, png_bytes(curves_image(results)))
    return md_path, png_path
