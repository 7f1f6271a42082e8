"""seed002's VGG16 forward / forward-backward benchmark, with correct statistics."""

from __future__ import annotations

import time
from typing import Any

from legacy_tf1 import vgg16
from legacy_tf1.api import options_for
from legacy_tf1.core import graph_scope, tf1


def _time_target(sess, target, feed, batches: int, burn_in: int) -> list[float]:
    durations = []
    for _ in range(batches + burn_in):
        start = time.perf_counter()
        sess.run(target, feed_dict=feed)
        durations.append(time.perf_counter() - start)
    return durations


def run_benchmark(batch_size: int = 32, batches: int = 100, **overrides: Any) -> dict:
    """Time VGG16 forward and forward-backward passes as seed002 does.

    Returns per-pass statistics over the measured batches (after the
    original's 10 burn-in batches), the original's own formula's figures for
    comparison, and a printable ``text`` summary.
    """
    options = options_for("vgg16", batch_size=batch_size, num_batches=batches, **overrides)
    burn_in = options.num_burn_in
    with graph_scope() as graph:
        _images, keep_prob, predictions, grads = vgg16.bench_graph(options)
        init = tf1.global_variables_initializer()
    result: dict[str, Any] = {
        "batch_size": batch_size,
        "batches": batches,
        "options": repr(options),
    }
    lines = []
    with tf1.Session(graph=graph) as sess:
        sess.run(init)
        for label, target, keep in (
            ("forward", predictions, 1.0),
            ("forward-backward", grads, 0.5),
        ):
            durations = _time_target(sess, target, {keep_prob: keep}, batches, burn_in)
            stats = vgg16.timing_stats(durations, num_burn_in=burn_in)
            original = vgg16.timing_stats(durations, num_burn_in=burn_in, faithful=True)
            result[label] = {"mean_s": stats[0], "std_s": stats[1], "original_formula": original}
            lines.append(
                f"{label}: {stats[0]:.3f} +/- {stats[1]:.3f} sec / batch across {batches} batches "
                f"(the original's formula would print {original[0]:.3f} +/- {original[1]:.3f})"
            )
    result["text"] = "\n".join(lines)
    return result
