"""Faithful ``tf.compat.v1`` graph/session versions of the five reference tutorials.

Public API::

    legacy_tf1.build(model, **options) -> LegacyModel
    legacy_tf1.predict(model, checkpoint_prefix, inputs, **options) -> logits

Submodules are imported lazily so that ``python -m legacy_tf1.run`` can set up
TF1 behaviour before any model code touches TensorFlow.
"""

from __future__ import annotations

from typing import Any

__all__ = ["build", "predict"]


def build(model: str, *, seed: int | None = None, **options: Any):
    """Build ``model``'s legacy graph in a new ``tf.Graph`` and return its handles.

    ``options`` override fields of the model's ``Options`` dataclass (its
    defaults reproduce the original script).
    """
    from legacy_tf1.api import build as _build

    return _build(model, seed=seed, **options)


def predict(model: str, checkpoint_prefix: str, inputs, **options: Any):
    """Logits of ``model`` restored from a Saver checkpoint, for ``inputs`` in the original's layout."""
    from legacy_tf1.api import predict as _predict

    return _predict(model, checkpoint_prefix, inputs, **options)
