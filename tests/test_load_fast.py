"""``tf2_port.load`` builds without drawing initial values, then restores every variable.

A variable the checkpoint lacks would hold arbitrary bytes: it must be an
error naming it, never a silent value.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import tf2_port
from tf2_port import registry, restore

SMALL = {"resnet_mnist": {}, "alexnet_cifar10": {}, "vgg16": {"image_size": 32}}


def _saved(name: str, overrides: dict, directory) -> tuple[object, str]:
    """A randomly initialised model ``name`` and the prefix it was saved at."""
    model = tf2_port.build(name, **overrides)
    prefix = tf.train.Checkpoint(model=model).save(str(directory / "ckpt"))
    return model, prefix


@pytest.mark.parametrize("name", sorted(SMALL))
def test_load_restores_every_variable_bit_for_bit(name, tmp_path):
    saved, prefix = _saved(name, SMALL[name], tmp_path)
    loaded = tf2_port.load(name, prefix, **SMALL[name])
    expected = {v.path: v.numpy() for v in saved.weights}
    restored = {v.path: v.numpy() for v in loaded.weights}
    assert restored.keys() == expected.keys()
    for path, value in expected.items():
        assert restored[path].tobytes() == value.tobytes(), path


def test_load_fills_no_checkpointed_variable_with_initial_values(tmp_path, monkeypatch):
    name = "alexnet_cifar10"
    _, prefix = _saved(name, {}, tmp_path)
    unfilled = []
    original = restore._unfilled
    monkeypatch.setattr(
        restore,
        "_unfilled",
        lambda shape, dtype=None: unfilled.append(shape) or original(shape, dtype),
    )
    model = tf2_port.load(name, prefix)
    checkpointed = restore.checkpointed_variables(tf.train.Checkpoint(model=model))
    # Every checkpointed variable got an unfilled buffer, none its initializer's values.
    assert len(unfilled) == len(checkpointed) == len(model.weights)


def test_build_unfilled_leaves_nothing_pending_for_keras(tmp_path):
    spec = registry.get("resnet_mnist")
    restore.build_unfilled(spec.build_model, spec.config())
    restore.build_described(spec.build_model, spec.config())
    from keras.src.backend.common import global_state

    assert not global_state.get_global_attribute("uninitialized_variables")


def test_a_checkpoint_without_the_model_is_an_error_naming_its_variables(tmp_path):
    prefix = tf.train.Checkpoint(step=tf.Variable(3, dtype=tf.int64)).save(str(tmp_path / "c"))
    with pytest.raises(restore.MissingVariablesError) as error:
        tf2_port.load("resnet_mnist", prefix)
    message = str(error.value)
    assert prefix in message and "conv1/kernel" in message and "more" in message


def test_one_missing_variable_is_named(tmp_path):
    import keras

    name = "resnet_mnist"
    saved, prefix = _saved(name, {}, tmp_path)
    spec = registry.get(name)
    model = restore.build_unfilled(spec.build_model, spec.config())
    model.extra_scale = keras.Variable(np.ones(3, np.float32), name="extra_scale")
    with pytest.raises(restore.MissingVariablesError, match="1 variable.*extra_scale"):
        restore.restore_every_variable(model, prefix)
    # Without the extra variable the same checkpoint restores.
    del model.extra_scale
    restore.restore_every_variable(model, prefix)
    np.testing.assert_array_equal(model.weights[0].numpy(), saved.weights[0].numpy())


def test_variables_no_checkpoint_holds_keep_their_initializers():
    # Dropout's seed state is not checkpointed: it must not be left unfilled.
    spec = registry.get("vgg16")
    model = restore.build_unfilled(spec.build_model, spec.config(image_size=32))
    checkpointed = {id(v) for v in restore.checkpointed_variables(tf.train.Checkpoint(model=model))}
    others = [v for v in model.variables if id(v) not in checkpointed]
    assert others and all("seed_generator" in v.path for v in others)
    # SeedGenerator draws its state as [seed, 0] with a random seed.
    assert all(int(v.numpy()[1]) == 0 for v in others)
