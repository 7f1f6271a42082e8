"""Helpers shared by the model modules: config overrides and the TF1 initializers."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

import keras

ConfigT = TypeVar("ConfigT")


def replace_config(config: ConfigT, overrides: dict[str, Any]) -> ConfigT:
    """``dataclasses.replace`` with an error that lists the valid field names."""
    fields = {field.name for field in dataclasses.fields(config)}
    unknown = sorted(set(overrides) - fields)
    if unknown:
        raise TypeError(
            f"unknown option(s) {unknown} for {type(config).__module__}.{type(config).__name__}; "
            f"expected some of {sorted(fields)}"
        )
    return dataclasses.replace(config, **overrides)


def truncated_normal(stddev: float) -> keras.initializers.Initializer:
    """``tf.truncated_normal(shape, stddev=stddev)``: resampled beyond two stddevs."""
    return keras.initializers.TruncatedNormal(mean=0.0, stddev=stddev)


def random_normal(stddev: float) -> keras.initializers.Initializer:
    """``tf.random_normal(shape, stddev=stddev)``."""
    return keras.initializers.RandomNormal(mean=0.0, stddev=stddev)


def constant(value: float) -> keras.initializers.Initializer:
    """``tf.constant(value, shape=shape)``."""
    return keras.initializers.Constant(value)


# tf_slim.xavier_initializer() and xavier_initializer_conv2d() are both
# uniform Glorot with fan_in/fan_out over receptive field x channels, and so is
# the glorot_uniform default of tf.layers and Keras.
XAVIER = "glorot_uniform"


@dataclasses.dataclass(frozen=True)
class BlockSpec:
    """One residual block of the ResNet ports: name, filters (f1, f2, f3), projection shortcut or not."""

    name: str
    filters: tuple[int, int, int]
    projection: bool
    stride: int = 1
    kernel_size: int = 3
