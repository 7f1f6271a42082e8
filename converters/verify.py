"""Verify stage against the legacy graph: the written port reproduces the TF1 logits.

(The other verifiers: converters/meta_graph.py for a checkpoint's own ``.meta``
graph with ``--target``, and the bit-exact read-back of converters/rules.py.)
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import tensorflow as tf

from converters import maps, timing
from converters.bundle import VerificationError
from converters.port import build_port, legacy_options, port_logits, verification_batch


def legacy_logits(name: str, source_prefix: str, images: np.ndarray, **options: Any) -> np.ndarray:
    """``legacy_tf1.predict``'s logits, restoring only the variables the logits read.

    predict() restores every variable the checkpoint holds, Adam slots
    included (2/3 of a vgg16 checkpoint), though inference never reads them.
    """
    from legacy_tf1 import api
    from legacy_tf1 import registry as legacy_registry
    from legacy_tf1.core import tf1

    module = legacy_registry.get(name)
    fields = {f.name for f in dataclasses.fields(module.Options)}
    if "batch_size" in fields and getattr(module, "FIXED_BATCH", False):
        options = {**options, "batch_size": len(images)}  # placeholders fix the batch (seed001)
    with timing.phase("legacy_build"):
        built = api.build(name, **options)
        with built.graph.as_default():
            saver = tf1.train.Saver(var_list=api.variables_read_by(built.logits))
    with tf1.Session(graph=built.graph) as session:
        with timing.phase("legacy_restore"):
            saver.restore(session, source_prefix)
        feed = built.feed(images, training=False)
        with timing.phase("legacy_forward"):
            return session.run(built.logits, feed)


def verified_model(name, source_prefix, output, overrides, *, shown_as=None, legacy_logits_fn=None):
    """(max abs logits difference, the port restored from ``output``); VerificationError beyond tolerance."""
    import tf2_port

    model_map = maps.get(name)
    images = verification_batch(model_map, overrides)
    legacy = (legacy_logits_fn or legacy_logits)(
        name, source_prefix, images, **legacy_options(name, overrides)
    )
    with timing.phase("port_load"):
        model = tf2_port.load(name, output)
    inputs = model_map.to_port_inputs(images)
    with timing.phase("port_forward"):
        port = port_logits(model, inputs)
    difference = float(np.max(np.abs(port - legacy)))
    if model_map.tolerance.exceeded(port, legacy):
        raise VerificationError(
            f"{shown_as or output}: port logits differ from the legacy graph restored from {source_prefix}: "
            f"max abs difference {difference:.3g} exceeds atol {model_map.tolerance.atol} + "
            f"rtol {model_map.tolerance.rtol} * |logits|"
        )
    return difference, model


def verify(
    name: str,
    source_prefix: str,
    output: str,
    overrides: dict[str, Any],
    *,
    shown_as: str | None = None,
    legacy_logits_fn=None,
) -> float:
    """Max abs logits difference between the port restored from ``output`` and the legacy graph.

    Raises VerificationError beyond the model's tolerance (naming ``shown_as``,
    default ``output``).
    """
    return verified_model(
        name, source_prefix, output, overrides, shown_as=shown_as, legacy_logits_fn=legacy_logits_fn
    )[0]


def check_restorable(
    name: str,
    output: str,
    overrides: dict[str, Any],
    *,
    shown_as: str | None = None,
    build_port_fn=None,
) -> None:
    """Every variable of a fresh port model, its Adam and step is found in ``output``.

    And nothing else: the ignored tensors are kept outside the object graph,
    so the restore passes ``assert_consumed()``. (The materialising path's
    check; the streaming path checks the same from the index, _check_structure.)
    """
    state = (build_port_fn or build_port)(name, overrides)
    prefix = tf.train.latest_checkpoint(output)
    try:
        state.checkpoint().restore(prefix).assert_consumed()
    except AssertionError as error:
        raise VerificationError(
            f"{shown_as or output}: does not restore into {name!r} ({error})"
        ) from None
