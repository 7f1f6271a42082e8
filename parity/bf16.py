"""Forward agreement of a mixed-bfloat16 port with the float32 legacy graph.

A bfloat16 port cannot match float32 bit for bit, so its parity is judged
in two ways: by accuracy over seeds (``python -m parity.seeds run
--precision mixed_bfloat16``, the equivalence criterion of
parity/criterion.py), and here, by how far its logits may move from the
legacy graph's on the same weights and input. The bound comes from a
rounding-error model, not from observed differences:

* bfloat16 keeps 8 significant bits, so rounding to nearest has relative
  error at most u = 2**-8, spread about uniformly over [-u, u]: standard
  deviation u / sqrt(3) per rounding.
* oneDNN accumulates bfloat16 convolutions and matmuls in float32; the
  errors come from rounding their operands: the layer's inputs when they
  arrive in float32 (the images, the outputs of float32 layers), its
  weights, and its outputs. A ReLU, pool or flatten of bfloat16 values is
  exact and adds nothing.
* Roundings anywhere in the network are independent, so their relative
  variances add: sigma = u * sqrt(E / 3) for E rounding events on the way
  to the logits (:func:`rounding_events` counts them from the model).
* Layers propagate relative errors with a gain near 1 (ReLU networks are
  positively homogeneous), but a sum with cancellation amplifies them;
  :data:`parity.tolerances.BF16_CANCELLATION` allows for that, and the
  limit is :data:`parity.tolerances.BF16_SIGMAS` such standard deviations
  of the logits' RMS.
"""

from __future__ import annotations

import math

import numpy as np

from parity import tolerances
from parity.compare import Comparison, LeafDifference, Tolerance


def rounding_events(model) -> int:
    """How many bfloat16 roundings the model's computation applies, per the module docstring.

    Every bfloat16 layer with weights rounds its weights and its output;
    every bfloat16 layer whose input comes from a float32 layer (or is the
    float32 image) rounds that input; an ``Add`` rounds its sum.
    """
    import keras

    events = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer) or layer.compute_dtype != "bfloat16":
            continue
        if layer.weights:
            events += 2
        elif isinstance(layer, keras.layers.Add):
            events += 1
        events += sum(_float32_input(inbound) for inbound in _inbound_layers(layer))
    return events


def _inbound_layers(layer):
    for node in layer._inbound_nodes:
        for tensor in node.input_tensors:
            yield tensor._keras_history.operation


def _float32_input(inbound) -> bool:
    import keras

    if isinstance(inbound, keras.layers.InputLayer):
        return True  # the images arrive in float32
    return inbound.compute_dtype == "float32"


def forward_limit(events: int) -> float:
    """The largest allowed RMS(logit difference) / RMS(float32 logits) for ``events`` roundings."""
    sigma = tolerances.BF16_UNIT_ROUNDOFF * math.sqrt(events / 3.0)
    return tolerances.BF16_SIGMAS * tolerances.BF16_CANCELLATION * sigma


def compare_logits(label: str, expected, actual, events: int) -> Comparison:
    """Relative RMS difference of ``actual`` (bfloat16 port) from ``expected`` (float32 legacy)."""
    expected = np.asarray(expected, dtype=np.float64)
    actual = np.asarray(actual, dtype=np.float64)
    limit = forward_limit(events)
    tolerance = Tolerance(
        rtol=limit,
        atol=0.0,
        argument=f"bfloat16 rounding model, {events} roundings (parity/bf16.py)",
    )
    if expected.shape != actual.shape or not np.all(np.isfinite(actual)):
        problem = (
            f"shape {list(actual.shape)} or non-finite values; expected {list(expected.shape)}"
        )
        leaf = LeafDifference("logits", expected.shape, float("nan"), float("inf"), problem)
        return Comparison(label, tolerance, (leaf,))
    scale = math.sqrt(float(np.mean(expected**2))) or 1.0
    relative = math.sqrt(float(np.mean((actual - expected) ** 2))) / scale
    leaf = LeafDifference(
        "logits (relative RMS)",
        expected.shape,
        float(np.max(np.abs(actual - expected))),
        relative / limit,
    )
    return Comparison(label, tolerance, (leaf,))


def check_forward_bf16(pair, batch) -> Comparison:
    """The legacy float32 logits against the port's in mixed bfloat16, on the pair's weights."""
    from converters.port import port_logits
    from parity.checks import PortSide

    pair.reset()
    legacy = pair.legacy.run(pair.legacy.model.end_points["logits"], batch, training=False)
    port = PortSide(pair.name, {**pair.port_overrides, "precision": "mixed_bfloat16"})
    port.restore(pair.port_dir)
    actual = port_logits(port.model, batch.port_images)
    events = rounding_events(port.model)
    return compare_logits(f"{pair.name} forward_bf16", legacy, actual, events)
