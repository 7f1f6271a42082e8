"""Training and evaluation loops for the legacy graphs (the ``train``/``eval`` CLI).

The loops are ours, not the originals': the originals' graphs, data logic and
hyperparameters are reproduced by the model modules, while the loop adds what
a tool needs (progress, Saver checkpoints, TensorBoard summaries, resume).
Deviations from each original's own loop are listed in docs/originals.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import os
import re
import sys
import time
from collections.abc import Iterator
from typing import Any, TextIO

import numpy as np

from formats import predictions
from formats.errors import FormatError
from legacy_tf1 import registry
from legacy_tf1.api import Predictor, options_for, resolve_checkpoint
from legacy_tf1.core import graph_scope, tf1


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """What ``train`` does; ``None`` fields fall back to the model's defaults."""

    model: str
    ckpt_dir: str
    steps: int | None = None
    batch_size: int | None = None
    data_dir: str | None = None
    logdir: str | None = None
    seed: int | None = None
    save_every: int | None = None
    save_all: bool = False
    resume: bool = True
    options: dict[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """Where training ended: the last checkpoint and the last step's numbers."""

    checkpoint: str
    steps_run: int
    final_loss: float | None
    losses: tuple[float, ...]


def _model_options(config: TrainConfig):
    overrides = dict(config.options)
    if config.steps is not None:
        overrides["steps"] = config.steps
    if config.batch_size is not None:
        overrides["batch_size"] = config.batch_size
    return options_for(config.model, **overrides)


def _default_save_every(model: str, steps: int) -> int:
    # seed001 saved every 10 steps; the others never saved, so ~10 saves a run.
    return 10 if model == "cifar10_cnn" else max(1, steps // 10)


def checkpoint_step(prefix: str) -> int:
    """The global step encoded in a Saver prefix such as ``ckpt/model.ckpt-120``."""
    match = re.search(r"-(\d+)$", prefix)
    return int(match.group(1)) if match else 0


@contextlib.contextmanager
def queue_runners(sess) -> Iterator[None]:
    """Start the graph's queue runners and always stop and join them."""
    coord = tf1.train.Coordinator()
    threads = tf1.train.start_queue_runners(sess=sess, coord=coord)
    try:
        yield
    finally:
        coord.request_stop()
        sess.run(_close_queues(sess.graph))
        coord.join(threads, stop_grace_period_secs=5, ignore_live_threads=True)


def _close_queues(graph) -> list:
    # Cancelling pending enqueues unblocks runner threads stuck on a full queue.
    runners = graph.get_collection(tf1.GraphKeys.QUEUE_RUNNERS)
    return [qr.cancel_op for qr in runners if qr.cancel_op is not None]


class Progress:
    """One-line-per-interval progress with rate and ETA, on stderr."""

    def __init__(self, total: int, start: int = 0, stream: TextIO | None = None):
        self.total, self.start, self.stream = total, start, stream or sys.stderr
        self.began = time.monotonic()
        self.every = max(1, (total - start) // 20)

    def update(self, step: int, loss: float, accuracy: float) -> None:
        """Print a line every ~5 % of the run and at the last step."""
        done = step + 1
        if (done - self.start) % self.every and done != self.total:
            return
        elapsed = time.monotonic() - self.began
        rate = (done - self.start) / max(elapsed, 1e-9)
        eta = (self.total - done) / max(rate, 1e-9)
        print(
            f"step {done}/{self.total}  loss {loss:.4f}  acc {accuracy:.4f}  "
            f"{rate:.2f} steps/s  eta {eta:.0f}s",
            file=self.stream,
            flush=True,
        )


def _summaries(model):
    loss = tf1.summary.scalar("loss", model.loss)
    accuracy = tf1.summary.scalar("accuracy", tf1.cast(model.accuracy, tf1.float32))
    return tf1.summary.merge([loss, accuracy])


def _saver(model, save_all: bool):
    var_list = None if save_all else model.saver_var_list
    return tf1.train.Saver(var_list=var_list, max_to_keep=5)


def _start_step(sess, saver, config: TrainConfig, log: TextIO) -> int:
    latest = tf1.train.latest_checkpoint(config.ckpt_dir) if config.resume else None
    if latest is None:
        return 0
    saver.restore(sess, latest)
    print(f"resumed from {latest}", file=log, flush=True)
    return checkpoint_step(latest)


def train(config: TrainConfig, log: TextIO | None = None) -> TrainResult:
    """Train ``config.model`` and write Saver checkpoints and summaries.

    ``steps=0`` saves the initial variables. An existing checkpoint in
    ``ckpt_dir`` is resumed from unless ``resume`` is False. Progress goes to
    ``log`` (default: stderr).
    """
    log = log or sys.stderr
    module = registry.get(config.model)
    options = _model_options(config)
    os.makedirs(config.ckpt_dir, exist_ok=True)
    if config.seed is not None:
        # The originals' data logic shuffles with numpy's global RNG.
        np.random.seed(config.seed)
    prefix = os.path.join(config.ckpt_dir, registry.checkpoint_basename(config.model))
    with graph_scope(config.seed) as graph:
        source = module.train_source(options, config.data_dir) if options.steps > 0 else None
        model = module.build(options)
        summary_op = _summaries(model)
        saver = _saver(model, config.save_all)
        init = tf1.global_variables_initializer()
        # FileWriter refuses to be built while eager execution is the default.
        writer = tf1.summary.FileWriter(config.logdir, graph) if config.logdir else None
    save_every = config.save_every or _default_save_every(config.model, options.steps)
    losses: list[float] = []
    with tf1.Session(graph=graph) as sess, queue_runners(sess):
        sess.run(init)
        start = _start_step(sess, saver, config, log)
        progress = Progress(options.steps, start, log)
        last = saver.save(sess, prefix, global_step=start) if start == 0 else None
        for step in range(start, options.steps):
            images, labels = source.next_batch(sess)
            _, loss, accuracy, summary = sess.run(
                [model.train_op, model.loss, model.accuracy, summary_op],
                model.feed(images, labels, training=True),
            )
            losses.append(float(loss))
            if writer:
                writer.add_summary(summary, step + 1)
            progress.update(step, float(loss), float(accuracy))
            if (step + 1) % save_every == 0 or step + 1 == options.steps:
                last = saver.save(sess, prefix, global_step=step + 1)
    if writer:
        writer.close()
    last = last or tf1.train.latest_checkpoint(config.ckpt_dir)
    print(f"checkpoint: {last}", file=log, flush=True)
    return TrainResult(last, len(losses), losses[-1] if losses else None, tuple(losses))


@dataclasses.dataclass(frozen=True)
class EvalResult:
    """Test accuracy of one checkpoint.

    ``examples`` counts the predictions in the accuracy (seed001 counts its
    wrapped-around ones, 79 * 128); ``images`` the distinct test images.
    """

    checkpoint: str
    accuracy: float
    examples: int
    images: int = 0
    predictions_file: str | None = None


def evaluate(
    model_name: str,
    ckpt: str,
    data_dir: str | None = None,
    *,
    batch_size: int | None = None,
    predictions_file: str | None = None,
    overwrite: bool = False,
    **overrides: Any,
) -> EvalResult:
    """Accuracy of the checkpoint ``ckpt`` (a prefix or directory) on the test split.

    Reads only the test files of ``data_dir``. Runs ``batch_size`` images at a
    time where the model's figure does not depend on the batch (see each
    module's ``indexed_test_batches``), so memory stays bounded; the accuracy
    is the original's own formula (seed001's wrap-around count included).
    ``predictions_file`` gets one ``index,label,prediction`` row per test
    image (:mod:`formats.predictions`); an existing file is kept unless
    ``overwrite``.
    """
    module = registry.get(model_name)
    options = options_for(model_name, **overrides)
    prefix = resolve_checkpoint(ckpt)
    if predictions_file is not None:
        predictions.check_destination(predictions_file, overwrite=overwrite)
    batches = module.indexed_test_batches(options, data_dir, batch_size=batch_size)
    first = next(batches, None)  # read and check the data before building the graph
    if first is None:
        raise FormatError(str(data_dir or "the embedded sample"), "the test split is empty")
    indices, labels, predicted = [], [], []
    with Predictor(model_name, prefix, **overrides) as predictor:
        for index, images, batch_labels in itertools.chain([first], batches):
            logits = predictor.predict(images, batch_size=len(images))
            indices.append(index)
            labels.append(_label_ids(batch_labels))
            predicted.append(np.argmax(logits, axis=1))
    labels, predicted = np.concatenate(labels), np.concatenate(predicted)
    rows = predictions.collect(np.concatenate(indices), labels, predicted)
    if predictions_file is not None:
        predictions.write(predictions_file, rows, overwrite=overwrite)
    right = int(np.sum(labels == predicted))
    return EvalResult(prefix, right / len(labels), len(labels), len(rows.index), predictions_file)


def _label_ids(labels: np.ndarray) -> np.ndarray:
    """Class ids from the original's labels (one-hot rows or sparse ids)."""
    labels = np.asarray(labels)
    return np.argmax(labels, axis=1) if labels.ndim == 2 else labels.astype(np.int64)
