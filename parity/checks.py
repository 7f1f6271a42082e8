"""The parity checks: legacy graph -> Saver checkpoint -> converter -> port, then compare.

:func:`make_pair` builds a model's faithful legacy graph, saves its initial
variables with a ``tf.train.Saver``, converts the checkpoint with
``converters.ckpt_v1_to_v2.convert`` and restores the port (model, Keras Adam,
step) from the converted checkpoint. Every check starts by restoring both
sides from those checkpoints, so the checks are independent of each other.

Dropout is off on both sides (legacy option ``keep_prob=1.0`` makes the
training feed 1.0; the port's ``keep_prob=1.0`` makes its Dropout rate 0), so
"training mode" differs from inference only by batch norm using batch
statistics (seed004) and its moving averages being updated.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from parity import tolerances
from parity.compare import Comparison, compare

# Op-name marker of seed001's weight-loss terms in the 'losses' collection.
REG_LOSS_MARKER = "weight_loss"


@dataclasses.dataclass(frozen=True)
class Batch:
    """One batch in both layouts: the original's and the port's."""

    legacy_images: np.ndarray
    legacy_labels: np.ndarray
    port_images: np.ndarray
    port_labels: np.ndarray


class LegacySide:
    """The legacy graph in a session, restorable from the pair's checkpoint."""

    def __init__(self, name: str, options: dict[str, Any], *, seed: int | None = None):
        from legacy_tf1 import api
        from legacy_tf1.core import tf1

        self.model = api.build(name, seed=seed, **options)
        graph = self.model.graph
        with graph.as_default():
            self.variables = graph.get_collection(tf1.GraphKeys.GLOBAL_VARIABLES)
            self.saver = tf1.train.Saver(var_list=self.variables, max_to_keep=None)
            self.regularization = _legacy_regularization(graph)
            self.init = tf1.global_variables_initializer()
        self.session = tf1.Session(graph=graph)
        self.session.run(self.init)
        self._gradients: dict[str, Any] | None = None

    def gradient_tensors(self, names: Sequence[str]) -> dict[str, Any]:
        """``tf.gradients`` of the loss for the variables ``names`` (built once)."""
        from legacy_tf1.core import tf1

        if self._gradients is None:
            by_name = {v.op.name: v for v in self.variables}
            with self.model.graph.as_default():
                grads = tf1.gradients(self.model.loss, [by_name[n] for n in names])
            self._gradients = dict(zip(names, grads, strict=True))
        return self._gradients

    def save(self, prefix: str, step: int) -> str:
        """Save every global variable (weights, BN statistics, Adam state)."""
        os.makedirs(os.path.dirname(prefix), exist_ok=True)
        # Saver.save/restore build eager-only code unless the graph is the default one.
        with self.model.graph.as_default():
            return self.saver.save(self.session, prefix, global_step=step)

    def restore(self, prefix: str) -> None:
        with self.model.graph.as_default():
            self.saver.restore(self.session, prefix)

    def run(self, fetches, batch: Batch, *, training: bool):
        return self.session.run(fetches, self.run_feed(batch, training=training))

    def run_feed(self, batch: Batch, *, training: bool = False) -> dict:
        """The feed dict of ``batch`` with the original's extra feeds."""
        return self.model.feed(batch.legacy_images, batch.legacy_labels, training=training)

    def values(self, names: Sequence[str]) -> dict[str, np.ndarray]:
        by_name = {v.op.name: v for v in self.variables}
        fetched = self.session.run([by_name[n] for n in names])
        return dict(zip(names, fetched, strict=True))

    def close(self) -> None:
        self.session.close()


def _legacy_regularization(graph):
    """The weight-loss terms the original adds to its total loss (0.0 when none)."""
    from legacy_tf1.core import tf1

    # seed001's variable_with_weight_loss puts `weight_loss` tensors in the 'losses'
    # collection next to the cross-entropy; tf.losses.* (seed004) also use that name.
    terms = [t for t in graph.get_collection("losses") if REG_LOSS_MARKER in t.op.name]
    terms += graph.get_collection(tf1.GraphKeys.REGULARIZATION_LOSSES)
    with graph.as_default():
        return tf1.add_n(terms) if terms else tf1.constant(0.0)


class PortSide:
    """The port model, its Keras Adam and step, restorable from a converted checkpoint."""

    def __init__(self, name: str, overrides: dict[str, Any]):
        import tensorflow as tf

        from converters.ckpt_v1_to_v2 import build_port
        from tf2_port import registry

        self.spec = registry.get(name)
        self.config = self.spec.config(**overrides)
        self.state = build_port(name, overrides)
        self.model = self.state.model
        self.optimizer = self.state.optimizer
        self.checkpoint = self.state.checkpoint()
        self._strategy = tf.distribute.get_strategy()
        self._train_step = None
        self._probe = None

    def restore(self, directory: str) -> None:
        import tensorflow as tf

        prefix = tf.train.latest_checkpoint(directory)
        if prefix is None:
            raise FileNotFoundError(f"{directory}: no converted checkpoint")
        self.checkpoint.restore(prefix).assert_existing_objects_matched()

    def end_points(self, layer_names: Sequence[str], images, *, training: bool) -> list:
        """Outputs of ``layer_names`` ('<input>' is the input itself) for ``images``."""
        import keras

        if self._probe is None:
            outputs = [
                self.model.inputs[0] if n == "<input>" else self.model.get_layer(n).output
                for n in layer_names
            ]
            self._probe = keras.Model(self.model.inputs[0], outputs)
        return [np.asarray(x) for x in self._probe(images, training=training)]

    def losses_and_gradients(self, batch: Batch, *, training: bool):
        """(data loss + weight losses, weight losses, gradients by variable path).

        The loss is the one ``tf2_port.train.make_train_step`` minimises.
        """
        import tensorflow as tf

        size = len(batch.port_images)
        with tf.GradientTape() as tape:
            outputs = self.model(batch.port_images, training=training)
            per_example = self.spec.per_example_loss(self.config, batch.port_labels, outputs)
            data_loss = tf.reduce_sum(per_example) / size
            regularization = tf.add_n(self.model.losses) if self.model.losses else tf.constant(0.0)
            total = data_loss + regularization
        variables = self.model.trainable_variables
        grads = tape.gradient(total, variables)
        by_path = {v.path: np.asarray(g) for v, g in zip(variables, grads, strict=True)}
        return float(total), float(regularization), by_path

    def train_step(self, batch: Batch) -> float:
        """One step of ``tf2_port.train.make_train_step``; returns the step's loss."""
        from tf2_port.train import make_train_step

        if self._train_step is None:
            self._train_step = make_train_step(
                self.spec,
                self.config,
                self.model,
                self.optimizer,
                self._strategy,
                len(batch.port_images),
            )
        loss, _ = self._train_step((batch.port_images, batch.port_labels))
        return float(loss)


@dataclasses.dataclass
class Pair:
    """Both sides of one model, starting from the same (legacy-initialised) variables."""

    name: str
    workdir: str
    legacy: LegacySide
    port: PortSide
    legacy_prefix: str
    port_dir: str
    port_overrides: dict[str, Any]
    legacy_options: dict[str, Any]
    # TF1 variable name -> converter target, in the legacy creation order.
    targets: dict[str, str]

    def reset(self) -> None:
        """Restore both sides to the initial checkpoints."""
        self.legacy.restore(self.legacy_prefix)
        self.port.restore(self.port_dir)

    def port_values(self, names: Sequence[str]) -> dict[str, np.ndarray]:
        return {n: np.asarray(self.port.state.target(self.targets[n])) for n in names}

    @property
    def trainable_names(self) -> list[str]:
        """TF1 trainable variables that the port trains, in creation order."""
        trainable = self.port.state.trainable_paths
        return [n for n, t in self.targets.items() if t in trainable]

    @property
    def state_names(self) -> list[str]:
        """Every mapped model variable and Adam slot (not the beta powers or step)."""
        from converters import maps

        skip = (maps.BETA1_POWER, maps.BETA2_POWER, maps.STEP)
        return [n for n, t in self.targets.items() if t not in skip]

    def close(self) -> None:
        self.legacy.close()


def dropout_off(options_type, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` plus ``keep_prob=1.0`` when ``options_type`` has that field."""
    fields = {f.name for f in dataclasses.fields(options_type)}
    return {**values, "keep_prob": 1.0} if "keep_prob" in fields else dict(values)


def make_pair(name: str, workdir: str, *, seed: int = 0, options: dict | None = None) -> Pair:
    """Build, save, convert and restore both sides of ``name`` under ``workdir``."""
    from converters import maps
    from converters.ckpt_v1_to_v2 import convert
    from legacy_tf1 import registry as legacy_registry
    from tf2_port import registry as port_registry

    spec = tolerances.get(name)
    chosen = spec.fast_options if options is None else options
    legacy_options = dropout_off(legacy_registry.get(name).Options, chosen)
    legacy = LegacySide(name, legacy_options, seed=seed)
    prefix = legacy.save(os.path.join(workdir, "legacy", "model.ckpt"), 0)
    port_dir = os.path.join(workdir, "tf2")
    result = convert(prefix, model=name, output=port_dir, verification=False, log=io.StringIO())
    overrides = dropout_off(port_registry.get(name).config_class, result.overrides)
    port = PortSide(name, overrides)
    model_map = maps.get(name)
    targets = {}
    for variable in legacy.variables:
        found = maps.match(model_map, variable.op.name)
        if isinstance(found, tuple):
            targets[variable.op.name] = found[0]
    pair = Pair(name, workdir, legacy, port, prefix, port_dir, overrides, legacy_options, targets)
    pair.reset()
    return pair


# ---- batches -------------------------------------------------------------------------------


def data_batches(pair: Pair, count: int, *, skip: int = 0) -> list[Batch]:
    """``count`` batches of the embedded sample's test split, unaugmented, in file order.

    Real digits and images keep the losses of the un-normalised originals in a
    sane range; random labels make seed000's loss 30-140 and its 20-step
    trajectory chaotic.
    """
    import itertools

    from legacy_tf1 import api
    from legacy_tf1 import registry as legacy_registry

    size = tolerances.get(pair.name).batch_size
    module = legacy_registry.get(pair.name)
    chunking = {"batch_size": size}
    if "eval_batch_size" in {f.name for f in dataclasses.fields(module.Options)}:
        chunking["eval_batch_size"] = size  # seed000 feeds its whole test set at once
    options = api.options_for(pair.name, **{**pair.legacy_options, **chunking})
    batches = []
    for images, labels in itertools.islice(module.test_batches(options, None), skip, skip + count):
        labels = np.asarray(labels)
        ids = labels.argmax(axis=1) if labels.ndim == 2 else labels.astype(np.int64)
        batches.append(to_batch(pair, np.asarray(images, np.float32)[:size], ids[:size]))
    if len(batches) < count:
        raise ValueError(
            f"{pair.name}: the sample test split gave {len(batches)} < {count} batches"
        )
    return batches


def to_batch(pair: Pair, legacy_images: np.ndarray, ids: np.ndarray) -> Batch:
    """A batch from original-layout images and class ids, labels in each side's format."""
    from converters import maps

    classes = int(pair.legacy.model.logits.shape[-1])
    one_hot = np.eye(classes, dtype=np.float32)[ids]
    legacy_labels = one_hot if pair.legacy.model.labels.shape.rank == 2 else ids.astype(np.int64)
    port_labels = one_hot if pair.port.spec.labels == "one_hot" else ids.astype(np.int64)
    port_images = maps.get(pair.name).to_port_inputs(legacy_images)
    return Batch(legacy_images, legacy_labels, np.asarray(port_images, np.float32), port_labels)


# ---- the checks ---------------------------------------------------------------------------


def _label(pair: Pair, check: str) -> str:
    return f"{pair.name} {check}"


def check_forward(pair: Pair, batch: Batch, *, training: bool = False) -> Comparison:
    """Every end point, legacy vs port, in network order (first divergence is localised)."""
    check = "forward_training" if training else "forward"
    spec = tolerances.get(pair.name)
    pair.reset()
    legacy_names = [legacy for legacy, _ in spec.end_points]
    wanted = {n: pair.legacy.model.end_points[n] for n in legacy_names}
    legacy = pair.legacy.run(wanted, batch, training=training)
    port_values = pair.port.end_points(
        [port for _, port in spec.end_points], batch.port_images, training=training
    )
    expected = {n: legacy[n] for n in legacy_names}
    actual = dict(zip(legacy_names, port_values, strict=True))
    return compare(expected, actual, spec.tolerance(check), label=_label(pair, check))


def check_gradients(pair: Pair, batch: Batch, *, training: bool) -> Comparison:
    """Total loss, regularization loss and every trainable variable's gradient."""
    check = "gradients_training" if training else "gradients_inference"
    spec = tolerances.get(pair.name)
    pair.reset()
    names = pair.trainable_names
    grads = pair.legacy.gradient_tensors(names)
    fetches = {"loss": pair.legacy.model.loss, "reg": pair.legacy.regularization, "grads": grads}
    legacy = pair.legacy.run(fetches, batch, training=training)
    total, regularization, by_path = pair.port.losses_and_gradients(batch, training=training)
    expected = {
        "loss/total": legacy["loss"],
        "loss/regularization": legacy["reg"],
        **{f"grad/{n}": legacy["grads"][n] for n in names},
    }
    actual = {
        "loss/total": total,
        "loss/regularization": regularization,
        **{f"grad/{n}": by_path[pair.targets[n]] for n in names},
    }
    return compare(expected, actual, spec.tolerance(check), label=_label(pair, check))


def _legacy_steps(pair: Pair, batches: Sequence[Batch]) -> list[float]:
    model = pair.legacy.model
    return [
        float(pair.legacy.run([model.train_op, model.loss], b, training=True)[1]) for b in batches
    ]


def check_steps(pair: Pair, batches: Sequence[Batch]) -> Comparison:
    """Free-running optimizer steps on both sides: the per-step training losses.

    Chaotic models compare only their first ``free_running_steps`` (see
    parity/tolerances.py); :func:`check_steps_synced` checks every step strictly.
    """
    spec = tolerances.get(pair.name)
    pair.reset()
    legacy_losses = _legacy_steps(pair, batches)
    port_losses = [pair.port.train_step(b) for b in batches]
    compared = spec.free_running_steps or len(batches)
    return compare(
        {f"step{i + 1}": v for i, v in enumerate(legacy_losses[:compared])},
        {f"step{i + 1}": v for i, v in enumerate(port_losses[:compared])},
        spec.tolerance("steps_loss"),
        label=_label(pair, f"steps_loss ({compared} of {len(batches)} free-running steps)"),
    )


def _sync_port_to_legacy(pair: Pair, step: int) -> None:
    """Copy every mapped legacy variable (weights, BN statistics, Adam slots) into the port."""
    names = pair.state_names
    for name, value in pair.legacy.values(names).items():
        pair.port.state.target(pair.targets[name]).assign(value)
    pair.port.optimizer.iterations.assign(step)


def constant_value(tensor):
    """The value of a graph Const (seen through Identity ops), or None.

    Read from the op itself: running it could trigger the control dependencies
    that the original's optimizer constants carry (seed004's update ops).
    """
    from tensorflow.python.framework import tensor_util

    op = tensor.op
    while op.type == "Identity":
        op = op.inputs[0].op
    return tensor_util.MakeNdarray(op.get_attr("value")) if op.type == "Const" else None


def _set_legacy_iteration(pair: Pair, step: int) -> None:
    """Put the legacy Adam at iteration ``step``: beta powers b^(step+1), global step ``step``."""
    from converters import maps
    from legacy_tf1.core import tf1

    graph = pair.legacy.model.graph
    adam = next(op for op in graph.get_operations() if op.type == "ApplyAdam")
    beta1, beta2 = (constant_value(t) for t in adam.inputs[6:8])
    powers = {maps.BETA1_POWER: beta1, maps.BETA2_POWER: beta2}
    by_name = {v.op.name: v for v in pair.legacy.variables}
    with graph.as_default():
        for name, target in pair.targets.items():
            if target in powers:
                by_name[name].load(powers[target] ** (step + 1), pair.legacy.session)
        global_step = tf1.train.get_global_step(graph)
        if global_step is not None:
            global_step.load(step, pair.legacy.session)


def check_steps_synced(pair: Pair, batches: Sequence[Batch], *, start: int = 0) -> Comparison:
    """Each step from the SAME state: legacy state copied into the port before every step.

    This measures one optimizer step's discrepancy along the legacy trajectory,
    without the chaotic amplification of free-running training (seed000 and
    seed004 separate visibly within 20 steps from ~1e-5 gradient differences).
    ``start`` puts both optimizers at that iteration first (Adam's bias
    correction and any learning-rate schedule then act as they would there).
    """
    spec = tolerances.get(pair.name)
    pair.reset()
    if start:
        _set_legacy_iteration(pair, start)
    model = pair.legacy.model
    names = pair.state_names
    leaves = []
    for index, batch in enumerate(batches):
        _sync_port_to_legacy(pair, start + index)
        legacy_loss = pair.legacy.run([model.train_op, model.loss], batch, training=True)[1]
        port_loss = pair.port.train_step(batch)
        step = compare(
            {"loss": legacy_loss, **pair.legacy.values(names)},
            {"loss": port_loss, **pair.port_values(names)},
            spec.tolerance("steps_synced"),
        )
        leaves += [
            dataclasses.replace(leaf, name=f"step{index + 1}/{leaf.name}") for leaf in step.leaves
        ]
    label = _label(pair, f"steps_synced ({len(batches)} steps)")
    return Comparison(label, spec.tolerance("steps_synced"), tuple(leaves))


def check_resume(pair: Pair, batches: Sequence[Batch], legacy_steps: int) -> Comparison:
    """N legacy steps, convert, M port steps vs N+M legacy steps (losses and all state)."""
    spec = tolerances.get(pair.name)
    pair.reset()
    first, rest = batches[:legacy_steps], batches[legacy_steps:]
    _legacy_steps(pair, first)
    workdir = os.path.join(pair.workdir, f"resume{legacy_steps}")
    prefix = pair.legacy.save(os.path.join(workdir, "legacy", "model.ckpt"), legacy_steps)
    from converters.ckpt_v1_to_v2 import convert

    output = os.path.join(workdir, "tf2")
    convert(prefix, model=pair.name, output=output, verification=False, log=io.StringIO())
    resumed = PortSide(pair.name, pair.port_overrides)
    resumed.restore(output)
    iterations = int(resumed.optimizer.iterations.numpy())
    port_losses = [resumed.train_step(b) for b in rest]
    legacy_losses = _legacy_steps(pair, rest)
    names = pair.state_names
    resumed_pair = dataclasses.replace(pair, port=resumed)
    expected = {
        "optimizer_iterations": float(legacy_steps),
        "losses": np.array(legacy_losses),
        **pair.legacy.values(names),
    }
    actual = {
        "optimizer_iterations": float(iterations),
        "losses": np.array(port_losses),
        **resumed_pair.port_values(names),
    }
    label = _label(pair, f"resume ({legacy_steps} legacy + {len(rest)} port steps)")
    return compare(expected, actual, spec.tolerance("resume"), label=label)


@dataclasses.dataclass(frozen=True)
class CheckRow:
    """One line of the report: model x check x max difference x tolerance x pass."""

    model: str
    check: str
    max_abs: float
    tolerance: str
    passed: bool
    detail: str


def row(model: str, check: str, comparison: Comparison) -> CheckRow:
    """The report row of one comparison."""
    return CheckRow(
        model,
        check,
        comparison.max_abs,
        comparison.tolerance.describe(),
        comparison.passed,
        comparison.message(),
    )


@contextlib.contextmanager
def deterministic_ops(seed: int = 0) -> Iterator[None]:
    """TF's deterministic op implementations for the duration, then the previous setting.

    Determinism needs a global seed (TF refuses unseeded random ops under it);
    the checks feed or seed everything that matters, so its value is arbitrary.
    """
    import tensorflow as tf
    from tensorflow.python.framework import config as tf_config

    was_on = tf_config.is_op_determinism_enabled()
    tf.config.experimental.enable_op_determinism()
    tf.random.set_seed(seed)
    try:
        yield
    finally:
        if not was_on:
            tf_config.disable_op_determinism()


def run_all(
    name: str, workdir: str, *, steps: int = 20, resume_split: tuple[int, int] = (10, 2)
) -> Iterator[CheckRow]:
    """Every check of ``name`` (forward, gradients both modes, steps, resume) as report rows.

    Runs under :func:`deterministic_ops`, so a difference is the two
    implementations', not thread scheduling's.
    """
    with deterministic_ops():
        yield from _run_all(name, workdir, steps=steps, resume_split=resume_split)


def _run_all(name: str, workdir: str, *, steps: int, resume_split: tuple[int, int]):
    pair = make_pair(name, workdir)
    try:
        batch = data_batches(pair, 1)[0]
        yield row(name, "forward", check_forward(pair, batch))
        from parity import bf16

        yield row(name, "forward_bf16", bf16.check_forward_bf16(pair, batch))
        yield row(name, "forward_training", check_forward(pair, batch, training=True))
        yield row(name, "gradients_inference", check_gradients(pair, batch, training=False))
        yield row(name, "gradients_training", check_gradients(pair, batch, training=True))
        batches = data_batches(pair, steps, skip=1)
        losses = check_steps(pair, batches)
        yield row(name, f"steps_loss ({len(losses.leaves)}/{steps})", losses)
        yield row(name, f"steps_synced ({steps})", check_steps_synced(pair, batches))
        legacy_steps, port_steps = resume_split
        resume_batches = data_batches(pair, legacy_steps + port_steps, skip=1)
        yield row(
            name,
            f"resume ({legacy_steps}+{port_steps})",
            check_resume(pair, resume_batches, legacy_steps),
        )
        from parity import setup_checks

        yield from setup_checks.run_setup(pair, batches, workdir)
    finally:
        pair.close()
