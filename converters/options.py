"""The declared legacy -> port option mapping, shared by the converters and the parity suite.

Per model, :data:`OPTION_MAPS` says what each legacy ``Options`` field becomes on
the port: a port ``Config`` field of another name, ``(field, ValueMap)`` when the
values differ too, or :class:`LegacyOnly` with the reason it has no counterpart.
An unlisted legacy option exists on the port under the same name.
:data:`PORT_ONLY_OPTIONS` lists the port fields with no legacy option.

This module imports nothing heavy: ``converters/cli.py`` parses ``--option``
before TensorFlow starts.
"""

from __future__ import annotations

import ast
import dataclasses
from typing import Any


@dataclasses.dataclass(frozen=True)
class LegacyOnly:
    """A legacy option with no port counterpart, and why that is right."""

    reason: str


@dataclasses.dataclass(frozen=True)
class ValueMap:
    """Legacy value -> port value, callable, and invertible for the way back."""

    values: tuple[tuple[Any, Any], ...]

    def __call__(self, legacy_value: Any) -> Any:
        return dict(self.values)[legacy_value]

    def inverse(self, port_value: Any) -> Any:
        """The legacy value that gives ``port_value``; KeyError when none does."""
        return {port: legacy for legacy, port in self.values}[port_value]


# Legacy options that only steer the original's loops and logging, not what is trained.
_LOOP_ONLY = LegacyOnly("the original's loop, logging or evaluation schedule; not training")
_DATA_SEED = LegacyOnly("numpy's shuffle seed of the original's data class; the port's is --seed")

OPTION_MAPS: dict[str, dict[str, Any]] = {
    "resnet_mnist": {"eval_batch_size": LegacyOnly("chunks the legacy evaluation feed only")},
    "cifar10_cnn": {
        "python2_division": LegacyOnly(
            "reproduces Python 2's integer division (weight5 all zero); the port has the "
            "default, Python 3, semantics only"
        ),
        "fix_norm2_depth_radius": ("norm2_depth_radius", ValueMap(((True, 4), (False, 5)))),
        "skip_zero_weight_losses": LegacyOnly("drops exact-zero loss terms: the same loss"),
        "dynamic_batch": LegacyOnly("the port takes any batch size"),
        "exact_eval": LegacyOnly("the legacy evaluation loop's wrap-around"),
        "eval_num_examples": LegacyOnly("the legacy evaluation loop's hard-coded size"),
        "queue_examples_per_epoch": LegacyOnly("the legacy queue's warm-up; tf.data has none"),
    },
    "vgg16": {
        "num_batches": _LOOP_ONLY,
        "num_burn_in": _LOOP_ONLY,
        "fix_timing_stats": _LOOP_ONLY,
        "data_seed": _DATA_SEED,
    },
    "resnet_mnist_class": {},
    "alexnet_cifar10": {
        "test_steps": _LOOP_ONLY,
        "eval_every": _LOOP_ONLY,
        "log_every": _LOOP_ONLY,
        "full_test_set": _LOOP_ONLY,
        "data_seed": _DATA_SEED,
        "fix_pool_names": LegacyOnly("renames a pooling op; no variable or number changes"),
        "fix_conv5_relu_before_bn": LegacyOnly(
            "not offered by the port: its conv5 is the original's (ReLU before batch norm)"
        ),
    },
}

# Every port computes in float32 or mixed bfloat16 (tf2_port.precision); the originals in float32.
_PRECISION = {
    "precision": "the originals compute in float32; mixed_bfloat16 is the port's speed-up"
}

PORT_ONLY_OPTIONS: dict[str, dict[str, str]] = {
    "resnet_mnist": {**_PRECISION},
    "cifar10_cnn": {
        "norm1_depth_radius": "the original hard-codes 4; the port names it",
        **_PRECISION,
    },
    "vgg16": {**_PRECISION},
    "resnet_mnist_class": {**_PRECISION},
    "alexnet_cifar10": {
        "bn_unbiased_moving_variance": "True is tf.layers' update; False is plain Keras'",
        **_PRECISION,
    },
}


class OptionError(ValueError):
    """An option the converter cannot carry to the port (unknown, or legacy only)."""


def parse_option(text: str) -> tuple[str, Any]:
    """``NAME=VALUE`` -> (name, value), the value a Python literal (True, 512, 1e-3) or a string."""
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ValueError(f"expected NAME=VALUE, received {text!r}")
    try:
        return name, ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name, value


def port_field(model: str, legacy_name: str) -> tuple[str, ValueMap | None] | LegacyOnly:
    """(port field, value map or None) of a legacy option, or its :class:`LegacyOnly`."""
    mapping = OPTION_MAPS[model].get(legacy_name, legacy_name)
    if isinstance(mapping, LegacyOnly):
        return mapping
    return mapping if isinstance(mapping, tuple) else (mapping, None)


def to_port(
    model: str, options: dict[str, Any], legacy_fields: set[str], port_fields: set[str]
) -> dict[str, Any]:
    """Port config overrides for ``options`` named as legacy options (or port-only fields).

    Raises :class:`OptionError` naming an unknown or legacy-only option and the valid names.
    """
    valid = sorted(
        {n for n in legacy_fields if not isinstance(port_field(model, n), LegacyOnly)}
        | set(PORT_ONLY_OPTIONS[model])
    )
    overrides: dict[str, Any] = {}
    for name, value in options.items():
        if name in legacy_fields:
            mapping = port_field(model, name)
            if isinstance(mapping, LegacyOnly):
                raise OptionError(
                    f"option {name!r} of {model} is legacy only ({mapping.reason}); "
                    f"the port can carry: {', '.join(valid)}"
                )
            field, values = mapping
            overrides[field] = _mapped(model, name, value, values)
        elif name in PORT_ONLY_OPTIONS[model] and name in port_fields:
            overrides[name] = value
        else:
            raise OptionError(
                f"unknown option {name!r} for {model}; expected one of: {', '.join(valid)}"
            )
    return overrides


def _mapped(model: str, name: str, value: Any, values: ValueMap | None) -> Any:
    if values is None:
        return value
    try:
        return values(value)
    except (KeyError, TypeError):
        expected = ", ".join(repr(legacy) for legacy, _ in values.values)
        raise OptionError(
            f"option {name}={value!r} of {model}: expected one of {expected}"
        ) from None


def to_legacy(model: str, overrides: dict[str, Any], legacy_fields: set[str]) -> dict[str, Any]:
    """The legacy options that compute what port ``overrides`` compute (port-only fields dropped)."""
    by_port_field = {}
    for name in legacy_fields:
        mapping = port_field(model, name)
        if not isinstance(mapping, LegacyOnly):
            by_port_field[mapping[0]] = (name, mapping[1])
    options = {}
    for field, value in overrides.items():
        if field not in by_port_field:
            continue
        name, values = by_port_field[field]
        if values is None:
            options[name] = value
        elif value in {port for _, port in values.values}:
            options[name] = values.inverse(value)
        # else: no legacy value computes it (norm2_depth_radius=3); the legacy default stays
    return options
