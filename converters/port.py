"""The port side of a conversion: the registry model a checkpoint goes into.

:class:`PortShapes` describes the port without allocating it (planning);
:class:`PortState` is the built model, its Keras 3 Adam and step (writing,
verifying). The ``--target`` conversions (converters/target.py) use
:class:`PortState` for the user's own model.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import tensorflow as tf

from converters import maps
from converters import options as option_map

VERIFY_BATCH = 4


@dataclasses.dataclass
class PortState:
    """A freshly built port model, its Adam and step: the objects a TF2 checkpoint holds."""

    name: str
    overrides: dict[str, Any]
    model: Any
    optimizer: Any
    step: tf.Variable

    @property
    def variables(self) -> dict[str, tf.Variable]:
        """The model's variables by Keras path (``layer/kernel``)."""
        return {v.path: v for v in self.model.weights}

    @property
    def trainable_paths(self) -> set[str]:
        return {v.path for v in self.model.trainable_variables}

    def target(self, name: str):
        """The variable a map target names (model path, Adam slot or power, step)."""
        if name == maps.STEP:
            return self.step
        for prefix, slots in ((maps.M_SLOT, "_momentums"), (maps.V_SLOT, "_velocities")):
            if name.startswith(prefix):
                variable = self.variables[name[len(prefix) :]]
                # Keras 3 Adam keeps slots in lists indexed like its trainable variables.
                return getattr(self.optimizer, slots)[self.optimizer._get_variable_index(variable)]
        return self.variables[name]

    def target_dtype(self, name: str) -> str:
        """The dtype name of the variable a map target names."""
        return tf.as_dtype(self.target(name).dtype).name

    def checkpoint(self, **extra: Any) -> tf.train.Checkpoint:
        """The root object, keyed as tf2_port.train saves it."""
        return tf.train.Checkpoint(
            model=self.model, optimizer=self.optimizer, step=self.step, **extra
        )


@dataclasses.dataclass(frozen=True)
class PortShapes:
    """A port model's variables described, never allocated: what planning needs."""

    name: str
    overrides: dict[str, Any]
    shapes: dict[str, tuple[int, ...]]
    dtypes: dict[str, str]
    trainable_paths: frozenset[str]

    def _variable(self, name: str) -> str:
        for prefix in (maps.M_SLOT, maps.V_SLOT):
            if name.startswith(prefix):
                return name[len(prefix) :]
        return name

    def target_dtype(self, name: str) -> str:
        """The dtype name of a map target (Adam slots have their variable's); KeyError if unknown."""
        return "int64" if name == maps.STEP else self.dtypes[self._variable(name)]

    def target_shape(self, name: str) -> tuple[int, ...]:
        """The full-size shape of a map target (slots: their variable's; step: scalar)."""
        return () if name == maps.STEP else self.shapes[self._variable(name)]


def port_shapes(name: str, overrides: dict[str, Any]) -> PortShapes:
    """The port model's variable shapes, dtypes and trainability, without allocating them.

    Built described only (tf2_port.restore): Keras defers the variables and
    they are never created, so a 1.9 GB vgg16 costs neither time nor memory here.
    """
    from tf2_port import registry, restore

    spec = registry.get(name)
    model = restore.build_described(spec.build_model, spec.config(**overrides))
    return PortShapes(
        name,
        dict(overrides),
        {v.path: tuple(v.shape) for v in model.weights},
        {v.path: tf.as_dtype(v.dtype).name for v in model.weights},
        frozenset(v.path for v in model.trainable_variables),
    )


def build_port(name: str, overrides: dict[str, Any], *, unfilled: bool = False) -> PortState:
    """The port model ``name`` with ``overrides``, plus a built Keras 3 Adam (zero slots).

    ``unfilled=True`` leaves every variable (model, slots) unfilled instead of
    drawing initial values: for a caller that overwrites them all (the fast
    path's skeleton fills each with a marker).
    """
    import tf2_port
    from tf2_port import registry, restore
    from tf2_port.train import make_optimizer

    spec = registry.get(name)
    config = spec.config(**overrides)
    if unfilled:
        model = restore.build_unfilled(spec.build_model, config)
    else:
        model = tf2_port.build(name, **overrides)
    optimizer = make_optimizer(config.learning_rate)
    optimizer.build(model.trainable_variables)
    step = tf.Variable(0, dtype=tf.int64, trainable=False, name="step")
    return PortState(name, dict(overrides), model, optimizer, step)


def registry_learning_rate(name: str, overrides: dict[str, Any]) -> float:
    """The port's Adam learning rate for ``overrides`` (the TF1 original's)."""
    from tf2_port import registry

    return float(registry.get(name).config(**overrides).learning_rate)


def port_overrides(
    name: str, shapes: dict[str, tuple[int, ...]], options: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Config overrides for the port: its parity overrides, what the shapes imply, then ``options``.

    ``options`` are named as legacy options (``--option``), translated by the declared
    mapping (:mod:`converters.options`); they come last, so they win over what a
    checkpoint's shapes imply (a wrong one then fails planning or verification).
    """
    from tf2_port import registry

    model_map = maps.get(name)
    _, variant = maps.fit(model_map, shapes)
    return {
        **registry.get(name).parity_overrides,
        **model_map.infer_overrides(shapes),
        **variant,
        **option_overrides(name, options or {}),
    }


def option_overrides(name: str, options: dict[str, Any]) -> dict[str, Any]:
    """Port config overrides for legacy-named ``options``; OptionError for one the port lacks."""
    from legacy_tf1 import registry as legacy_registry
    from tf2_port import registry

    legacy_fields = {f.name for f in dataclasses.fields(legacy_registry.get(name).Options)}
    port_fields = {f.name for f in dataclasses.fields(registry.get(name).config_class)}
    return option_map.to_port(name, options, legacy_fields, port_fields)


def port_logits(model, images: np.ndarray) -> np.ndarray:
    """Pre-softmax outputs: ports that end in a Softmax layer are read before it."""
    import keras

    last = model.layers[-1]
    if isinstance(last, keras.layers.Softmax):
        model = keras.Model(model.inputs[0], last.input)
    return np.asarray(model(images, training=False))


def legacy_options(name: str, overrides: dict[str, Any]) -> dict[str, Any]:
    """The legacy options that compute what the port ``overrides`` compute.

    Translated back by the declared option mapping (cifar10_cnn's
    ``norm2_depth_radius=4`` is ``fix_norm2_depth_radius=True``); port-only fields drop out.
    """
    from legacy_tf1 import registry

    fields = {f.name for f in dataclasses.fields(registry.get(name).Options)}
    return option_map.to_legacy(name, overrides, fields)


def verification_batch(model_map: maps.ModelMap, overrides: dict[str, Any]) -> np.ndarray:
    """A fixed pseudo-random batch in the original's input layout."""
    shape = (VERIFY_BATCH, *model_map.legacy_input_shape(overrides))
    return np.random.default_rng(0).random(shape, dtype=np.float32)
