"""Training and evaluation: a ``tf.function`` train step under any ``tf.distribute`` strategy.

The loop is a custom one rather than ``model.fit`` so that the loss is exactly
the original's (per-example loss averaged over the *global* batch, plus the
model's weight losses once per step, whatever the number of replicas) and so
that checkpoints hold an explicit ``step``.

Checkpoints: ``tf.train.CheckpointManager`` over ``model``, ``optimizer`` and
``step`` in ``ckpt_dir``; training resumes from the latest one and replays
the input stream from the saved step. ``ckpt_dir/port_config.json`` records
the model name, its config overrides and the data seed, so ``eval``, ``load``
and a resumed run rebuild the same network.

Adam: Keras 3 and TF1 ``AdamOptimizer`` apply the same update,
``var -= lr * sqrt(1 - b2^t) / (1 - b1^t) * m / (sqrt(v) + eps)``, but Keras'
default epsilon is 1e-7 and TF1's 1e-8; :func:`make_optimizer` uses 1e-8.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import itertools
import json
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from formats import predictions
from tf2_port import data, registry
from tf2_port.optimizers import FusedAdam

CONFIG_FILE = "port_config.json"
STRATEGIES = ("default", "mirrored", "multiworker")


@dataclasses.dataclass(frozen=True)
class RunSettings:
    """Where and how to train; ``None`` means the model config's default."""

    ckpt_dir: str
    logdir: str | None = None
    steps: int | None = None
    batch_size: int | None = None
    data_dir: str | None = None
    seed: int | None = None
    strategy: str = "default"
    deterministic: bool = False
    save_every: int = 100
    log_every: int = 10
    steps_per_call: int = 10
    max_to_keep: int = 3
    verbose: bool = True


@dataclasses.dataclass
class TrainResult:
    """What a run did: the final step, the losses of the steps it ran, the last checkpoint."""

    model: keras.Model
    step: int
    losses: list[float]
    checkpoint: str | None


def make_optimizer(learning_rate: float, *, fused: bool = True) -> keras.optimizers.Optimizer:
    """Adam matching ``tf.compat.v1.train.AdamOptimizer(learning_rate)`` (epsilon 1e-8).

    ``fused`` (the default) applies it with TF1's fused kernel
    (:class:`tf2_port.optimizers.FusedAdam`); ``fused=False`` gives plain
    ``keras.optimizers.Adam`` with the same hyperparameters.
    """
    kind = FusedAdam if fused else keras.optimizers.Adam
    return kind(learning_rate, beta_1=0.9, beta_2=0.999, epsilon=1e-8)


def make_strategy(kind: str) -> tf.distribute.Strategy:
    """'default' (no distribution), 'mirrored' (all local devices) or 'multiworker' (TF_CONFIG)."""
    if kind == "default":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        return tf.distribute.MirroredStrategy()
    if kind == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy multiworker needs the TF_CONFIG environment variable")
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise ValueError(f"unknown strategy {kind!r}; expected one of {list(STRATEGIES)}")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True unless this process is a non-chief worker of a multi-worker cluster."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return True
    if resolver.task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief


# ---- the saved run description -------------------------------------------------------


def read_run_config(ckpt_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The ``port_config.json`` of a checkpoint directory, or None when there is none."""
    path = Path(ckpt_dir) / CONFIG_FILE
    if not path.exists():
        return None
    try:
        saved = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error})") from None
    if not isinstance(saved, dict) or not {"model", "overrides"} <= saved.keys():
        raise ValueError(f"{path}: expected an object with 'model' and 'overrides'")
    return saved


def _write_json_atomic(path: Path, payload: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(handle, "w") as stream:
        json.dump(payload, stream, indent=1, sort_keys=True)
    os.replace(tmp, path)


def _resolve_run(name: str, settings: RunSettings, overrides: dict[str, Any]) -> dict[str, Any]:
    """The run description: the saved one when resuming (must agree), else a new one."""
    saved = read_run_config(settings.ckpt_dir)
    if saved is None:
        seed = (
            settings.seed if settings.seed is not None else random.SystemRandom().randrange(2**31)
        )
        return {"model": name, "overrides": overrides, "seed": seed}
    if saved["model"] != name:
        raise ValueError(f"{settings.ckpt_dir} holds a {saved['model']!r} run, not {name!r}")
    if overrides and overrides != saved["overrides"]:
        raise ValueError(
            f"{settings.ckpt_dir} was trained with overrides {saved['overrides']}, got {overrides}"
        )
    if settings.seed is not None and settings.seed != saved["seed"]:
        raise ValueError(
            f"{settings.ckpt_dir} was trained with seed {saved['seed']}, got {settings.seed}"
        )
    return saved


# ---- the step functions --------------------------------------------------------------


def _label_ids(spec: registry.ModelSpec, labels):
    return tf.argmax(labels, axis=-1) if spec.labels == "one_hot" else tf.cast(labels, tf.int64)


def _correct(spec, labels, outputs):
    hits = tf.equal(tf.argmax(outputs, axis=-1), _label_ids(spec, labels))
    return tf.reduce_sum(tf.cast(hits, tf.float32))


def _after_backward(gradients):
    """The gradients, released only once the whole backward pass has run.

    A resource variable's update op copies the variable's buffer first if a
    value read from it is still alive (copy-on-write), e.g. while a backprop
    matmul that reads the same weights has not finished: for resnet_mnist's
    12.8 M-weight fc1 that copy cost ~30 % of Adam's time (TF profiler). TF1's
    ref variables updated in place. Holding every update until every gradient
    exists lets those reads die first, so the updates run in place too.
    """
    with tf.control_dependencies([g for g in gradients if g is not None]):
        return [None if g is None else tf.identity(g) for g in gradients]


def _distributed_step(spec, config, model, optimizer, strategy, global_batch_size):
    """One training step over a (distributed) batch; returns (mean loss, accuracy)."""

    def replica_step(images, labels):
        with tf.GradientTape() as tape:
            outputs = model(images, training=True)
            per_example = spec.per_example_loss(config, labels, outputs)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch_size)
            if model.losses:
                # Weight losses count once per step, not once per replica.
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
        variables = model.trainable_variables
        gradients = _after_backward(tape.gradient(loss, variables))
        optimizer.apply_gradients(zip(gradients, variables, strict=True))
        return loss, _correct(spec, labels, outputs)

    def step(batch):
        loss, correct = strategy.run(replica_step, args=batch)
        total = tf.distribute.ReduceOp.SUM
        return (
            strategy.reduce(total, loss, axis=None),
            strategy.reduce(total, correct, axis=None) / global_batch_size,
        )

    return step


def make_train_step(spec, config, model, optimizer, strategy, global_batch_size):
    """A ``tf.function`` running one distributed step on a batch; returns (mean loss, accuracy)."""
    return tf.function(
        _distributed_step(spec, config, model, optimizer, strategy, global_batch_size)
    )


def make_train_steps(spec, config, model, optimizer, strategy, global_batch_size, count):
    """A ``tf.function`` running ``count`` steps on batches from an iterator, in one call.

    Returns the steps' losses and accuracies, each a vector of ``count``.
    What Keras calls ``steps_per_execution``: a call to a ``tf.function`` costs
    about a millisecond beyond its kernels (Python dispatch, ~100 captured
    variable handles, the executor's start), which is 4-5 % of
    resnet_mnist_class's step on 2 cores; ``count`` steps share one call and
    take their batches from the iterator inside it. The steps are unrolled,
    not a ``tf.while_loop``: the loop measured slower (issue 7). The numbers
    are those of ``count`` calls of :func:`make_train_step`.
    """
    step = _distributed_step(spec, config, model, optimizer, strategy, global_batch_size)

    @tf.function
    def train_steps(iterator):
        losses, accuracies = zip(*(step(next(iterator)) for _ in range(count)), strict=True)
        return tf.stack(losses), tf.stack(accuracies)

    return train_steps


# ---- training ------------------------------------------------------------------------


def _build(spec, config, learning_rate, strategy):
    with strategy.scope():
        model = spec.build_model(config)
        optimizer = make_optimizer(learning_rate)
        # Slots exist before a restore, so Adam's moments are restored too.
        optimizer.build(model.trainable_variables)
    return model, optimizer


# What tf.summary.scalar writes, without needing the tensorboard package installed.
_SCALAR_METADATA = tf.compat.v1.SummaryMetadata(
    plugin_data=tf.compat.v1.SummaryMetadata.PluginData(plugin_name="scalars"),
    data_class=summary_pb2.DATA_CLASS_SCALAR,
)


def write_scalars(**values: Any) -> None:
    """TensorBoard scalar summaries at the default writer's step."""
    for tag, value in values.items():
        tf.summary.write(tag, tf.cast(value, tf.float32), metadata=_SCALAR_METADATA)


def _summary_writer(logdir, chief):
    if logdir and chief:
        return tf.summary.create_file_writer(logdir)
    return tf.summary.create_noop_writer()


@contextlib.contextmanager
def _checkpoint_write_dir(ckpt_dir: str, chief: bool):
    """The chief writes to ckpt_dir; other workers must save too, into a throwaway directory."""
    if chief:
        yield ckpt_dir
        return
    scratch = tempfile.mkdtemp(prefix="tf2_port-worker-")
    try:
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _distribute(dataset, strategy):
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return strategy.experimental_distribute_dataset(dataset.with_options(options))


class _StepCalls:
    """Runs training steps ``settings.steps_per_call`` at a time (see :func:`make_train_steps`).

    A call never crosses a checkpoint step, so every checkpoint is saved at
    its own step. Calls of other lengths (after a resume, before a
    checkpoint) run one step per call, so at most two functions are traced.
    """

    def __init__(self, spec, config, model, optimizer, strategy, batch_size, settings):
        if settings.steps_per_call < 1:
            raise ValueError(f"steps_per_call must be >= 1, got {settings.steps_per_call}")
        self._build = functools.partial(
            make_train_steps, spec, config, model, optimizer, strategy, batch_size
        )
        self._settings = settings
        self._functions: dict[int, Any] = {}

    def size(self, current: int, steps: int) -> int:
        """How many steps the next call runs, starting after step ``current``."""
        to_save = self._settings.save_every - current % self._settings.save_every
        return min(self._settings.steps_per_call, to_save, steps - current)

    def _function(self, count: int):
        if count not in self._functions:
            self._functions[count] = self._build(count)
        return self._functions[count]

    def run(self, iterator, count: int):
        """(losses, accuracies) of the next ``count`` steps, as numpy vectors."""
        if count == self._settings.steps_per_call:
            losses, accuracies = self._function(count)(iterator)
            return losses.numpy(), accuracies.numpy()
        single = self._function(1)
        results = [single(iterator) for _ in range(count)]
        return tuple(np.concatenate([r[i].numpy() for r in results]) for i in (0, 1))


def train(name: str, settings: RunSettings, **overrides: Any) -> TrainResult:
    """Train model ``name`` to ``settings.steps`` total steps, resuming from ``ckpt_dir``."""
    spec = registry.get(name)
    config = spec.config(**overrides)
    strategy = make_strategy(settings.strategy)
    run = _resolve_run(name, settings, overrides)
    steps = settings.steps if settings.steps is not None else config.steps
    batch_size = settings.batch_size or config.batch_size
    if batch_size % strategy.num_replicas_in_sync:
        raise ValueError(
            f"batch size {batch_size} is not divisible by {strategy.num_replicas_in_sync} replicas"
        )
    keras.utils.set_random_seed(run["seed"])
    model, optimizer = _build(spec, config, config.learning_rate, strategy)
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, step=step)
    latest = tf.train.latest_checkpoint(settings.ckpt_dir)
    if latest:
        checkpoint.restore(latest).assert_existing_objects_matched()
    start = int(step.numpy())
    dataset = data.train_dataset(
        spec.pipeline,
        batch_size=batch_size,
        data_dir=settings.data_dir,
        seed=run["seed"],
        deterministic=settings.deterministic,
        start_step=start,
        image_size=getattr(config, "image_size", None),
    )
    chief = is_chief(strategy)
    # Written only once the data has been read: bad data leaves no checkpoint directory.
    if chief:
        _write_json_atomic(Path(settings.ckpt_dir) / CONFIG_FILE, run)
    calls = _StepCalls(spec, config, model, optimizer, strategy, batch_size, settings)
    losses: list[float] = []
    saved = latest
    with _checkpoint_write_dir(settings.ckpt_dir, chief) as write_dir:
        manager = tf.train.CheckpointManager(
            checkpoint, write_dir, max_to_keep=settings.max_to_keep
        )
        writer = _summary_writer(settings.logdir, chief)
        progress = keras.utils.Progbar(steps, verbose=1 if settings.verbose and chief else 0)
        iterator = iter(_distribute(dataset, strategy))
        current = start
        while current < steps:
            count = calls.size(current, steps)
            step_losses, step_accuracies = calls.run(iterator, count)
            first, current = current + 1, int(step.assign_add(count).numpy())
            losses.extend(float(x) for x in step_losses)
            for index, number in enumerate(range(first, current + 1)):
                # Every step's own values: the bar averages them as it did one call per step.
                loss, accuracy = float(step_losses[index]), float(step_accuracies[index])
                progress.update(number, [("loss", loss), ("accuracy", accuracy)])
                if number % settings.log_every == 0 or number == steps:
                    with writer.as_default(step=number):
                        write_scalars(
                            loss=step_losses[index],
                            accuracy=step_accuracies[index],
                            learning_rate=config.learning_rate,
                        )
            if current % settings.save_every == 0 or current == steps:
                saved = manager.save(checkpoint_number=current)
        writer.flush()
    return TrainResult(model, int(step.numpy()), losses, saved if chief else None)


# ---- restoring and evaluating --------------------------------------------------------


def checkpoint_prefix(checkpoint: str | os.PathLike[str]) -> tuple[str, Path]:
    """(checkpoint prefix, directory) for a CheckpointManager directory or a prefix."""
    path = Path(checkpoint)
    if path.is_dir():
        latest = tf.train.latest_checkpoint(str(path))
        if latest is None:
            raise FileNotFoundError(f"{path}: no checkpoint in this directory")
        return latest, path
    if not Path(f"{path}.index").exists():
        raise FileNotFoundError(f"{path}: neither a checkpoint directory nor a checkpoint prefix")
    return str(path), path.parent


def load(
    name: str, checkpoint: str | os.PathLike[str], *, logits: bool = False, **overrides: Any
) -> keras.Model:
    """Model ``name`` with weights from a CheckpointManager directory or a checkpoint prefix.

    The config saved by :func:`train` next to the checkpoint is applied first,
    then ``overrides``. ``logits=True`` returns the pre-softmax outputs of every
    model: vgg16 and resnet_mnist_class end in a Softmax layer (the originals'
    probabilities), read before it; the others return logits either way.
    The model is built without drawing initial values (every variable comes
    from the checkpoint); one the checkpoint lacks is a
    :class:`tf2_port.restore.MissingVariablesError` naming it.
    """
    from tf2_port import restore

    prefix, directory = checkpoint_prefix(checkpoint)
    spec = registry.get(name)
    saved = read_run_config(directory)
    if saved is not None and saved["model"] != name:
        raise ValueError(f"{directory} holds a {saved['model']!r} checkpoint, not {name!r}")
    merged = {**(saved["overrides"] if saved else {}), **overrides}
    model = restore.build_unfilled(spec.build_model, spec.config(**merged))
    restore.restore_every_variable(model, prefix)
    last = model.layers[-1]
    if logits and isinstance(last, keras.layers.Softmax):
        # Same layers and weights, one layer shorter: the Softmax's input is the logits.
        return keras.Model(model.inputs[0], last.input, name=f"{model.name}_logits")
    return model


def evaluate(
    name: str,
    model: keras.Model,
    *,
    data_dir: str | None = None,
    batch_size: int | None = None,
    max_batches: int | None = None,
    predictions_file: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    **overrides: Any,
) -> dict[str, Any]:
    """Mean loss and accuracy of ``model`` over the test split (inference mode).

    Reads only the test files, ``batch_size`` images at a time. With
    ``predictions_file``, also writes one ``index,label,prediction`` row per
    evaluated test image in file order (:mod:`formats.predictions`); an
    existing file is kept unless ``overwrite``.
    """
    spec = registry.get(name)
    config = spec.config(**overrides)
    if predictions_file is not None:
        predictions.check_destination(predictions_file, overwrite=overwrite)
    dataset = data.eval_dataset(
        spec.pipeline,
        batch_size=batch_size or config.batch_size,
        data_dir=data_dir,
        image_size=getattr(config, "image_size", None),
    )

    @tf.function
    def eval_step(images, labels):
        outputs = model(images, training=False)
        loss = tf.reduce_sum(spec.per_example_loss(config, labels, outputs))
        return loss, tf.argmax(outputs, axis=-1), _label_ids(spec, labels)

    total_loss = 0.0
    predicted, label_ids = [], []
    for images, labels in itertools.islice(dataset, max_batches):
        loss, batch_predicted, batch_labels = eval_step(images, labels)
        total_loss += float(loss)
        predicted.append(batch_predicted.numpy())
        label_ids.append(batch_labels.numpy())
    if not predicted:
        raise ValueError(f"{name}: the test split is empty")
    predicted, label_ids = np.concatenate(predicted), np.concatenate(label_ids)
    count = len(predicted)
    metrics: dict[str, Any] = {
        "loss": total_loss / count,
        "accuracy": float(np.sum(predicted == label_ids)) / count,
        "examples": count,
    }
    if predictions_file is not None:
        rows = predictions.collect(np.arange(count), label_ids, predicted)
        metrics["predictions"] = str(predictions.write(predictions_file, rows, overwrite=overwrite))
    return metrics
