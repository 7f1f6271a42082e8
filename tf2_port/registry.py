"""One row per model: its module, config, loss and input pipeline.

The names are the same as ``legacy_tf1``'s. Tests parametrize over :data:`MODELS`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from types import ModuleType
from typing import Any

from tf2_port import (
    alexnet_cifar10,
    cifar10_cnn,
    data,
    precision,
    resnet_mnist,
    resnet_mnist_class,
    vgg16,
)
from tf2_port.config import replace_config


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """Everything the trainer and the tests need to know about one model."""

    name: str
    module: ModuleType
    pipeline: data.Pipeline
    # Overrides that make the port compute what the faithful legacy graph computes.
    parity_overrides: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def config_class(self) -> type:
        return self.module.Config

    @property
    def labels(self) -> str:
        """'one_hot' or 'sparse': the label format of the pipeline and the loss."""
        return self.module.LABELS

    def config(self, **overrides: Any) -> Any:
        """The default config with ``overrides`` applied (unknown names are a TypeError)."""
        return replace_config(self.module.Config(), overrides)

    def build_model(self, config: Any) -> Any:
        """The model for ``config``, its layers made under ``config.precision``'s dtype policy."""
        with precision.policy(config.precision):
            return self.module.build_model(config)

    @property
    def per_example_loss(self) -> Callable:
        return self.module.per_example_loss


MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in (
        ModelSpec("resnet_mnist", resnet_mnist, data.MNIST),
        ModelSpec("cifar10_cnn", cifar10_cnn, data.CIFAR10_DISTORTED),
        ModelSpec("vgg16", vgg16, data.CIFAR_RESIZED, parity_overrides=vgg16.PARITY_OVERRIDES),
        ModelSpec("resnet_mnist_class", resnet_mnist_class, data.MNIST),
        ModelSpec("alexnet_cifar10", alexnet_cifar10, data.CIFAR_PYTHON),
    )
}
MODEL_NAMES = tuple(MODELS)


def get(name: str) -> ModelSpec:
    """The spec of model ``name``; a KeyError lists the known names."""
    try:
        return MODELS[name]
    except KeyError:
        raise KeyError(f"unknown model {name!r}; expected one of {list(MODEL_NAMES)}") from None
