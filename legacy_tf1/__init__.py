"""Faithful ``tf.compat.v1`` graph/session versions of the five reference tutorials.

Public API::

    legacy_tf1.build(model, **options) -> LegacyModel
    legacy_tf1.predict(model, checkpoint_prefix, inputs, batch_size=None, **options) -> logits
    legacy_tf1.Predictor(model, checkpoint, batch_size=None, **options)  # restores once

Submodules are imported lazily so that ``python -m legacy_tf1.run`` can set up
TF1 behaviour before any model code touches TensorFlow.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Predictor", "build", "predict"]


def build(model: str, *, seed: int | None = None, **options: Any):
    """Build ``model``'s legacy graph in a new ``tf.Graph`` and return its handles.

    ``options`` override fields of the model's ``Options`` dataclass (its
    defaults reproduce the original script).
    """
    from legacy_tf1.api import build as _build

    return _build(model, seed=seed, **options)


def predict(model: str, checkpoint_prefix: str, inputs, *, batch_size=None, **options: Any):
    """Logits of ``model`` restored from a Saver checkpoint, for ``inputs`` in the original's layout.

    Runs ``batch_size`` inputs at a time (default: the model's; see ``Predictor``).
    """
    from legacy_tf1.api import predict as _predict

    return _predict(model, checkpoint_prefix, inputs, batch_size=batch_size, **options)


def __getattr__(name: str):
    # Predictor lives in legacy_tf1.api, imported on first use like the rest.
    if name == "Predictor":
        from legacy_tf1.api import Predictor

        return Predictor
    raise AttributeError(f"module 'legacy_tf1' has no attribute {name!r}")
