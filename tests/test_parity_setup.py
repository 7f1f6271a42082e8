"""The set-up checks: they pass on the ports as they are, and catch planted set-up mistakes.

Each mistake is one a port author makes in practice and that the step checks
cannot see (they start from the converted legacy weights, feed legacy batches
and turn dropout off). It is planted in-process with monkeypatch (no file is
edited) and the check that ``python -m parity --fast`` runs must fail and name
it. ``MUTANTS`` is the catalogue; docs/parity.md reports its kill rate.
"""

from __future__ import annotations

import dataclasses
import functools

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf2_port.alexnet_cifar10
import tf2_port.cifar10_cnn
import tf2_port.resnet_mnist
from parity import checks, pipeline_checks, setup_checks, tolerances
from tf2_port import config as port_config
from tf2_port import data, train


@pytest.fixture(scope="module")
def pairs(tmp_path_factory):
    """Pairs built on demand, one per model, closed at the end of the module."""
    built: dict[str, checks.Pair] = {}

    def get(name: str) -> checks.Pair:
        if name not in built:
            built[name] = checks.make_pair(name, str(tmp_path_factory.mktemp(name)))
        return built[name]

    yield get
    for pair in built.values():
        pair.close()


def _batches(pair, count=3):
    return checks.data_batches(pair, count, skip=1)


# ---- the planted mistakes ---------------------------------------------------------------


def _distort_variant(*, flip=True, contrast=(0.2, 1.8), standardise=True):
    """cifar10_cnn's batch augmentation with one thing changed (crop kept as is)."""

    def distort(images, seed):
        seeds = tf.unstack(tf.random.experimental.stateless_split(seed, num=4))
        images = data._random_crops(tf.cast(images, tf.float32), data.CIFAR_CROP, seeds[0])
        per_image = [tf.shape(images)[0], 1, 1, 1]
        if flip:
            flipped = tf.random.stateless_uniform(per_image, seeds[1]) < 0.5
            images = tf.where(flipped, tf.reverse(images, axis=[2]), images)
        images += tf.random.stateless_uniform(per_image, seeds[2], -63.0, 63.0)
        factor = tf.random.stateless_uniform(per_image, seeds[3], *contrast)
        means = tf.reduce_mean(images, axis=[1, 2], keepdims=True)
        images = (images - means) * factor + means
        return tf.image.per_image_standardization(images) if standardise else images

    return distort


def _adam(**changes):
    def make(learning_rate, *, fused=True):
        del fused
        settings = {"beta_1": 0.9, "beta_2": 0.999, "epsilon": 1e-8, **changes}
        rate = settings.pop("schedule", None) or learning_rate
        return keras.optimizers.Adam(rate, **settings)

    return make


class _SwappedDropout(keras.layers.Dropout):
    """Dropout(keep_prob) where Dropout(1 - keep_prob) was meant."""

    def __init__(self, rate, **kwargs):
        super().__init__(1.0 - rate, **kwargs)


class _SlowBatchNorm(tf2_port.alexnet_cifar10.TF1BatchNormalization):
    """Keras' usual momentum 0.9 instead of tf.layers' 0.99."""

    def __init__(self, *args, momentum=0.99, **kwargs):
        del momentum
        super().__init__(*args, momentum=0.9, **kwargs)


@dataclasses.dataclass(frozen=True)
class Mutant:
    """A planted set-up mistake: where it goes, what it is, which check must name what."""

    category: str
    model: str
    check: str  # init, config, steps_late, train_pipeline, eval_pipeline, steps_synced
    named: str  # text the failing check's message must contain
    plant: tuple  # (object, attribute, replacement value)


def _config_with(module, **defaults):
    fields = [(k, type(v), dataclasses.field(default=v)) for k, v in defaults.items()]
    return dataclasses.make_dataclass("Config", fields, bases=(module.Config,), frozen=True)


MUTANTS = (
    Mutant(
        "initializer",
        "resnet_mnist",
        "init",
        "KS",
        (tf2_port.resnet_mnist, "truncated_normal", lambda s: port_config.truncated_normal(10 * s)),
    ),
    Mutant(
        "initializer",
        "cifar10_cnn",
        "init",
        "constant",
        (tf2_port.cifar10_cnn, "constant", lambda v: port_config.constant(0.0)),
    ),
    Mutant(
        "augmentation",
        "cifar10_cnn",
        "train_pipeline",
        "flip rate",
        (data, "distort_cifar_batch", _distort_variant(flip=False)),
    ),
    Mutant(
        "augmentation",
        "cifar10_cnn",
        "train_pipeline",
        "contrast factor",
        (data, "distort_cifar_batch", _distort_variant(contrast=(0.5, 1.5))),
    ),
    Mutant(
        "standardisation",
        "cifar10_cnn",
        "train_pipeline",
        "per-image",
        (data, "distort_cifar_batch", _distort_variant(standardise=False)),
    ),
    Mutant(
        "dataset split/size",
        "resnet_mnist_class",
        "train_pipeline",
        "coverage",
        (data, "MNIST_VALIDATION_SIZE", 0),
    ),
    Mutant(
        "shuffling",
        "resnet_mnist",
        "train_pipeline",
        "jump",
        (data, "train_dataset", functools.partial(data.train_dataset, deterministic=True)),
    ),
    Mutant(
        "config default",
        "resnet_mnist",
        "config",
        "keep_prob",
        (tf2_port.resnet_mnist, "Config", _config_with(tf2_port.resnet_mnist, keep_prob=0.6)),
    ),
    Mutant(
        "config default",
        "alexnet_cifar10",
        "config",
        "batch_size",
        (tf2_port.alexnet_cifar10, "Config", _config_with(tf2_port.alexnet_cifar10, batch_size=32)),
    ),
    Mutant(
        "dropout form",
        "resnet_mnist",
        "config",
        "dropout/fc1_drop/kept@keep_prob=0.8",
        (tf2_port.resnet_mnist.keras.layers, "Dropout", _SwappedDropout),
    ),
    Mutant(
        "weight-decay form",
        "cifar10_cnn",
        "config",
        "weight_loss/",
        (tf2_port.cifar10_cnn, "L2WeightLoss", lambda wl: keras.regularizers.L2(wl)),
    ),
    Mutant(
        "optimizer constant",
        "resnet_mnist_class",
        "config",
        "epsilon",
        (train, "make_optimizer", _adam(epsilon=1e-7)),
    ),
    Mutant(
        "optimizer constant",
        "cifar10_cnn",
        "config",
        "beta2",
        (train, "make_optimizer", _adam(beta_2=0.99)),
    ),
    Mutant(
        "schedule",
        "resnet_mnist_class",
        "config",
        "learning_rate@1000",
        (
            train,
            "make_optimizer",
            _adam(schedule=keras.optimizers.schedules.ExponentialDecay(3e-3, 100, 0.96)),
        ),
    ),
    Mutant(
        "BN constant",
        "alexnet_cifar10",
        "steps_synced",
        "moving_mean",
        (tf2_port.alexnet_cifar10, "TF1BatchNormalization", _SlowBatchNorm),
    ),
)


def _run_check(mutant: Mutant, pair, workdir: str):
    batches = _batches(pair)
    if mutant.check == "init":
        return setup_checks.check_init(pair)
    if mutant.check == "config":
        return setup_checks.check_config(pair, batches[0])
    if mutant.check == "train_pipeline":
        return pipeline_checks.check_train_pipeline(pair.name, workdir)
    if mutant.check == "steps_synced":
        return checks.row(pair.name, "steps_synced", checks.check_steps_synced(pair, batches))
    raise ValueError(mutant.check)


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: f"{m.category}-{m.model}-{m.named}")
def test_planted_setup_mistake_is_caught_and_named(mutant, pairs, monkeypatch, tmp_path):
    target, attribute, replacement = mutant.plant
    # A mistake in the port's build must be there when the port side is built.
    builds_port = mutant.check == "steps_synced"
    monkeypatch.setattr(target, attribute, replacement)
    if builds_port:
        pair = checks.make_pair(mutant.model, str(tmp_path / "pair"))
    else:
        pair = pairs(mutant.model)
    try:
        with checks.deterministic_ops():
            result = _run_check(mutant, pair, str(tmp_path))
    finally:
        if builds_port:
            pair.close()
    assert not result.passed, f"{mutant.category} not caught: {result.detail}"
    assert mutant.named in result.detail, result.detail


def test_every_issue_category_has_a_mutant():
    wanted = {
        "initializer",
        "augmentation",
        "standardisation",
        "dataset split/size",
        "shuffling",
        "config default",
        "dropout form",
        "weight-decay form",
        "optimizer constant",
        "schedule",
        "BN constant",
    }
    assert wanted <= {m.category for m in MUTANTS}


def test_option_map_covers_every_option():
    # A new legacy option or port field must be mapped or declared, or the config check fails.
    for name in tolerances.MODEL_NAMES:
        findings = setup_checks.option_facts(name)
        assert all(not f.failed for f in findings), [f.describe() for f in findings if f.failed]


def test_ks_statistic_and_critical_value():
    from parity import stats

    rng = np.random.default_rng(0)
    same = stats.ks_statistic(rng.normal(size=5000), rng.normal(size=5000))
    wider = stats.ks_statistic(rng.normal(size=5000), 1.5 * rng.normal(size=5000))
    critical = stats.ks_critical(5000, 5000)
    assert same < critical < wider
    assert stats.ks_statistic(np.arange(10), np.arange(10) + 100) == 1.0
