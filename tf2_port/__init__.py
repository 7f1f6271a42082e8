"""Idiomatic Keras 3 ports of the five TF1 tutorials.

``build(name, **overrides)`` makes a model whose default computation is the
original's (vgg16: the standard VGG16; see :mod:`tf2_port.vgg16`), and
``load(name, checkpoint)`` restores one trained by ``python -m tf2_port train``.
This package never imports ``legacy_tf1``.

Keras and TensorFlow load on first use of ``build``/``load``, not on
``import tf2_port``: ``python -m tf2_port --help`` answers at once.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

# Spelled out rather than read from the registry, which imports Keras;
# tests check that the two agree.
MODEL_NAMES = ("resnet_mnist", "cifar10_cnn", "vgg16", "resnet_mnist_class", "alexnet_cifar10")

__all__ = ["MODEL_NAMES", "build", "load"]

if TYPE_CHECKING:
    import keras


def build(name: str, **overrides: Any) -> keras.Model:
    """A new, randomly initialised model ``name`` with config ``overrides``.

    Unknown names raise KeyError; unknown override names raise TypeError.
    """
    from tf2_port import registry

    spec = registry.get(name)
    return spec.build_model(spec.config(**overrides))


def load(
    name: str, checkpoint: str | os.PathLike[str], *, logits: bool = False, **overrides: Any
) -> keras.Model:
    """The model ``name`` restored from ``checkpoint`` (see :func:`tf2_port.train.load`).

    ``logits=True`` always returns logits (vgg16 and resnet_mnist_class otherwise
    return softmax probabilities, as their originals do).
    """
    from tf2_port import train

    return train.load(name, checkpoint, logits=logits, **overrides)
