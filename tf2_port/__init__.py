"""Idiomatic Keras 3 ports of the five TF1 tutorials.

``build(name, **overrides)`` makes a model whose default computation is the
original's (vgg16: the standard VGG16; see :mod:`tf2_port.vgg16`), and
``load(name, checkpoint)`` restores one trained by ``python -m tf2_port train``.
This package never imports ``legacy_tf1``.
"""

from __future__ import annotations

from typing import Any

import keras

from tf2_port import registry
from tf2_port.registry import MODEL_NAMES
from tf2_port.train import load

__all__ = ["MODEL_NAMES", "build", "load"]


def build(name: str, **overrides: Any) -> keras.Model:
    """A new, randomly initialised model ``name`` with config ``overrides``.

    Unknown names raise KeyError; unknown override names raise TypeError.
    """
    spec = registry.get(name)
    return spec.build_model(spec.config(**overrides))
