"""The legacy model registry: one name per model, the same name everywhere.

Each entry is a module following the contract in ``legacy_tf1/core.py``:
``ORIGINAL``, ``DATA_KIND``, ``Options``, ``inference``, ``build``,
``train_source`` and ``test_batches``.
"""

from __future__ import annotations

import importlib
from types import ModuleType

MODEL_NAMES = ("resnet_mnist", "cifar10_cnn", "vgg16", "resnet_mnist_class", "alexnet_cifar10")

# The originals' own checkpoint basename where they had one (seed001 saved
# ./ckpt/cifar10.ckpt-STEP); the other originals never saved, so ours is generic.
CHECKPOINT_BASENAMES = {"cifar10_cnn": "cifar10.ckpt"}
DEFAULT_CHECKPOINT_BASENAME = "model.ckpt"


class UnknownModelError(KeyError):
    """A model name that is not in the registry."""

    def __str__(self) -> str:
        return f"unknown model {self.args[0]!r}; expected one of: {', '.join(MODEL_NAMES)}"


def get(name: str) -> ModuleType:
    """The legacy module for ``name`` (imported on first use)."""
    if name not in MODEL_NAMES:
        raise UnknownModelError(name)
    return importlib.import_module(f"legacy_tf1.{name}")


def checkpoint_basename(name: str) -> str:
    """File name stem of the Saver checkpoints written for ``name``."""
    return CHECKPOINT_BASENAMES.get(name, DEFAULT_CHECKPOINT_BASENAME)
