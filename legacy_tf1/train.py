"""Training and evaluation loops for the legacy graphs (the ``train``/``eval`` CLI).

The loops are ours, not the originals': the originals' graphs, data logic and
hyperparameters are reproduced by the model modules, while the loop adds what
a tool needs (progress, Saver checkpoints, TensorBoard summaries, resume).
Deviations from each original's own loop are listed in docs/originals.md.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import sys
import time
from collections.abc import Iterator
from typing import Any, TextIO

import numpy as np

from legacy_tf1 import registry
from legacy_tf1.api import options_for, resolve_checkpoint, restore, variables_read_by
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
    """Test accuracy of one checkpoint."""

    checkpoint: str
    accuracy: float
    examples: int


def evaluate(
    model_name: str, ckpt: str, data_dir: str | None = None, **overrides: Any
) -> EvalResult:
    """Accuracy of the checkpoint ``ckpt`` (a prefix or directory) on the test split."""
    module = registry.get(model_name)
    options = options_for(model_name, **overrides)
    prefix = resolve_checkpoint(ckpt)
    with graph_scope() as graph:
        model = module.build(options)
        correct = tf1.equal(tf1.argmax(model.logits, 1), _label_ids(model.labels))
    right = total = 0
    with tf1.Session(graph=graph) as sess:
        restore(sess, prefix, variables_read_by(model.logits))
        for images, labels in module.test_batches(options, data_dir):
            hits = sess.run(correct, model.feed(images, labels, training=False))
            right += int(np.sum(hits))
            total += len(hits)
    return EvalResult(prefix, right / max(total, 1), total)


def _label_ids(labels):
    """Class ids from the original's label placeholder (one-hot or sparse)."""
    if labels.shape.rank == 2:
        return tf1.argmax(labels, 1)
    return tf1.cast(labels, tf1.int64)
