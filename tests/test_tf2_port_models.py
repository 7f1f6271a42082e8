"""The Keras 3 ports: parameter counts, shapes, defect options, layers, and training."""

from __future__ import annotations

import json
import math
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

import tf2_port
from converters import maps
from tf2_port import data, layers, registry, train

FIXTURES = Path("/work/shared/fixtures/original_variables")

# Trainable parameter counts of the originals (weights only: no Adam slots,
# beta powers, moving statistics, EMA shadows or vgg16's image 'Variable').
GOLDEN_PARAMS = {
    # stem 2*2*1*64+64 = 320; res2a: 64*64+64 + 9*64*64+64 + 64*256+256 + 64*256 (shortcut,
    # no bias) = 70,016; res2b, res2c: 256*64+64 + 36,928 + 16,640 = 69,952 each;
    # fc1 12544*1024+1024 = 12,846,080; fc2 1024*10+10 = 10,250. Sum 13,070,794.
    "resnet_mnist": 13_070_794,
    # conv1 5*5*3*64+64 = 4,864; conv2 5*5*64*64+64 = 102,464; local3 2304*384+384 = 885,120;
    # local4 384*192+192 = 73,920; logits 192*10+10 = 1,930. Sum 1,068,298.
    "cifar10_cnn": 1_068_298,
    # Standard VGG16 is 138,357,544; conv4_3 with 2512 filters adds 9*512*2000+2000 =
    # 9,218,000 and conv5_1 9*2000*512 = 9,216,000: 156,791,544.
    "vgg16": 156_791_544,
    # conv1 9*16+16 = 160; each identity block 16*8+8 + 9*8*8+8 + 8*16+16 + 16 (b_conv_fin)
    # = 880, four of them 3,520; projection 16*16+16 + 9*16*16+16 + 16*32+32 + 32 = 3,184
    # (the shortcut shares conv_3's kernel); fc1 1568*128+128 = 200,832; fc2 1,290. Sum 208,970.
    "resnet_mnist_class": 208_970,
    # convs 1,344 + 41,568 + 166,080 + 331,968 + 165,984; two BN gamma/beta 384;
    # dense 1536*1024+1024 = 1,573,888, 1024*1024+1024 = 1,049,600, 1024*10+10 = 10,250;
    # two batch_normal scale/shift 4,096. Sum 3,345,162.
    "alexnet_cifar10": 3_345_162,
}
COUNT_OVERRIDES = {"vgg16": {"conv4_3_filters": 2512}}
# Small inputs keep vgg16 fast where its size does not matter.
FAST_OVERRIDES = {"vgg16": {"image_size": 32}}
NUM_OUTPUTS = {"vgg16": 1000}


def trainable_count(model: keras.Model) -> int:
    return sum(math.prod(v.shape) for v in model.trainable_variables)


def fixture_trainable_count(name: str) -> int:
    skipped = ("/Adam", "beta1_power", "beta2_power", "moving_", "ExponentialMovingAverage")
    variables = json.loads((FIXTURES / f"{name}.json").read_text())["variables"]
    return sum(
        math.prod(shape)
        for var, shape in variables
        if not any(part in var for part in skipped) and not (name == "vgg16" and var == "Variable")
    )


@pytest.mark.parametrize("name", registry.MODEL_NAMES)
def test_trainable_parameters_equal_the_originals(name):
    model = tf2_port.build(name, **COUNT_OVERRIDES.get(name, {}))
    assert trainable_count(model) == GOLDEN_PARAMS[name]


@pytest.mark.parametrize("name", registry.MODEL_NAMES)
def test_golden_counts_agree_with_the_variable_fixtures(name):
    if not FIXTURES.is_dir():
        pytest.skip("the originals' variable fixtures are not available")
    assert fixture_trainable_count(name) == GOLDEN_PARAMS[name]


@pytest.mark.parametrize("name", registry.MODEL_NAMES)
def test_output_shapes_and_named_layers(name):
    model = tf2_port.build(name, **FAST_OVERRIDES.get(name, {}))
    images = np.random.default_rng(0).normal(size=(2, *model.input_shape[1:])).astype("float32")
    for training in (False, True):
        outputs = model(images, training=training)
        assert outputs.shape == (2, NUM_OUTPUTS.get(name, 10))
        assert np.isfinite(outputs.numpy()).all()
    names = [layer.name for layer in model.layers]
    assert len(names) == len(set(names))
    # Every layer got an explicit name, not a Keras auto-name like "conv2d_3".
    assert not [n for n in names if n.split("_")[0] in {"conv2d", "dense", "dropout", "add"}]


def test_unknown_model_and_option_are_reported():
    with pytest.raises(KeyError, match="expected one of"):
        tf2_port.build("alexnet")
    with pytest.raises(TypeError, match="extra_bias"):
        tf2_port.build("resnet_mnist", extra_bais=True)


def test_resnet_mnist_extra_bias_adds_one_bias_per_block():
    plain = tf2_port.build("resnet_mnist")
    variant = tf2_port.build("resnet_mnist", extra_bias=True)
    assert trainable_count(variant) - trainable_count(plain) == 3 * 256
    bias = variant.get_layer("res2a_final_bias").bias.numpy()
    np.testing.assert_array_equal(bias, np.full(256, 0.1, np.float32))


def test_resnet_mnist_class_shortcut_shares_the_conv3_kernel():
    model = tf2_port.build("resnet_mnist_class")
    conv3 = model.get_layer("block5_conv3")
    # One layer, called on the main path and on the shortcut.
    assert len(conv3._inbound_nodes) == 2
    block_input = model.get_layer("block4_relu").output
    probe = keras.Model(model.input, [block_input, model.get_layer("block5_add").output])
    images = np.random.default_rng(1).random((2, 28, 28, 1), dtype=np.float32)
    x, added = (t.numpy() for t in probe(images))
    conv3.kernel.assign(conv3.kernel * 2.0)
    x2, added2 = (t.numpy() for t in probe(images))
    np.testing.assert_array_equal(x, x2)
    assert not np.allclose(added, added2)
    separate = tf2_port.build("resnet_mnist_class", separate_shortcut_weights=True)
    assert trainable_count(separate) - trainable_count(model) == 16 * 32


def test_resnet_mnist_class_double_softmax_loss():
    model = tf2_port.build("resnet_mnist_class")
    spec = registry.get("resnet_mnist_class")
    probabilities = tf.constant([[0.9, 0.1] + [0.0] * 8])
    labels = tf.one_hot([0], 10)
    faithful = spec.per_example_loss(spec.config(), labels, probabilities).numpy()
    # softmax cross-entropy applied to the probabilities treated as logits.
    expected = -np.log(np.exp(0.9) / (np.exp(0.9) + np.exp(0.1) + 8.0))
    np.testing.assert_allclose(faithful, [expected], rtol=1e-6)
    fixed = spec.per_example_loss(spec.config(fix_double_softmax=True), labels, probabilities)
    np.testing.assert_allclose(fixed.numpy(), [-np.log(0.9)], rtol=1e-6)
    assert isinstance(model.layers[-1], keras.layers.Softmax)


def test_cifar10_cnn_weight_losses_and_lrn_radii():
    model = tf2_port.build("cifar10_cnn")
    expected = sum(
        0.004 * np.sum(model.get_layer(name).kernel.numpy() ** 2) / 2
        for name in ("local3", "local4", "logits")
    )
    np.testing.assert_allclose(float(tf.add_n(model.losses)), expected, rtol=1e-5)
    assert model.get_layer("norm1").depth_radius == 4
    assert model.get_layer("norm2").depth_radius == 5


def test_vgg16_fc8_relu_option():
    standard = tf2_port.build("vgg16", image_size=32)
    faithful = tf2_port.build("vgg16", image_size=32, fix_fc8_relu=False)
    assert "fc8_relu" not in [layer.name for layer in standard.layers]
    assert isinstance(faithful.get_layer("fc8_relu"), keras.layers.ReLU)
    assert registry.get("vgg16").parity_overrides == {
        "conv4_3_filters": 2512,
        "fix_fc8_relu": False,
    }


def test_vgg16_loads_keras_applications_weights_layer_by_layer():
    reference = keras.applications.VGG16(weights=None)
    port = tf2_port.build("vgg16")
    weighted = [layer for layer in reference.layers if layer.weights]
    for layer in weighted:
        port.get_layer(layer.name).set_weights(layer.get_weights())
    port_weighted = {layer.name for layer in port.layers if layer.weights}
    assert port_weighted == {layer.name for layer in weighted}
    images = np.random.default_rng(2).random((1, 224, 224, 3), dtype=np.float32) * 255
    expected = reference(images, training=False).numpy()
    actual = port(images, training=False).numpy()
    np.testing.assert_allclose(actual, expected, rtol=0, atol=1e-5)


# ---- layers ----------------------------------------------------------------------------


def test_lrn_layer_defaults_are_tf_nn_lrn_defaults():
    x = tf.random.stateless_normal((2, 3, 3, 16), seed=(1, 2))
    np.testing.assert_array_equal(layers.LocalResponseNormalization()(x), tf.nn.lrn(x))


@pytest.mark.parametrize(
    "keras_layer, our_layer, shape",
    [
        (keras.layers.Conv2D, layers.Conv2D, (2, 6, 6, 3)),
        (keras.layers.Dense, layers.Dense, (4, 3)),
    ],
)
def test_conv_and_dense_add_their_bias_as_tf1_did(keras_layer, our_layer, shape):
    args = (5, 3) if keras_layer is keras.layers.Conv2D else (5,)
    x = tf.random.stateless_normal(shape, seed=(4, 2))
    reference = keras_layer(*args, activation="relu", bias_initializer="random_normal")
    ours = our_layer(*args, activation="relu")
    reference.build(shape), ours.build(shape)
    ours.set_weights(reference.get_weights())
    np.testing.assert_array_equal(ours(x), reference(x))

    @tf.function
    def bias_gradient(inputs):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(ours(inputs) ** 2)
        return tape.gradient(loss, ours.bias)

    op_types = {op.type for op in bias_gradient.get_concrete_function(x).graph.get_operations()}
    # conv + b backpropagates through Sum, as in the legacy graphs; no BiasAdd/BiasAddGrad.
    assert "AddV2" in op_types and "Sum" in op_types
    assert not {"BiasAdd", "BiasAddGrad"} & op_types


def test_batch_normal_reproduces_the_original_and_its_fix():
    rng = np.random.default_rng(3)
    first, second = (rng.normal(2.0, 3.0, size=(20, 8)).astype(np.float32) for _ in range(2))
    faithful = layers.BatchNormal()
    for inputs in (first, second):
        # Inference still normalises with the batch's own statistics.
        outputs = faithful(inputs, training=False).numpy()
        expected = (inputs - inputs.mean(0)) / np.sqrt(inputs.var(0) + 0.001)
        np.testing.assert_allclose(outputs, expected, rtol=1e-4, atol=1e-5)
    # ...and the EMA (zero start, decay 0.9, no debiasing) moved on both calls.
    after_first = 0.9 * 0.0 + 0.1 * first.mean(0)
    ema = 0.9 * after_first + 0.1 * second.mean(0)
    np.testing.assert_allclose(faithful.moving_mean.numpy(), ema, rtol=1e-5)
    fixed = layers.BatchNormal(use_moving_statistics_at_inference=True)
    fixed(first, training=True)
    mean, var = fixed.moving_mean.numpy(), fixed.moving_variance.numpy()
    outputs = fixed(second, training=False).numpy()
    np.testing.assert_allclose(
        outputs, (second - mean) / np.sqrt(var + 0.001), rtol=1e-4, atol=1e-4
    )
    np.testing.assert_array_equal(fixed.moving_mean.numpy(), mean)


def test_tf1_batch_normalization_stores_the_unbiased_variance():
    x = np.random.default_rng(4).normal(1.0, 2.0, size=(4, 3, 3, 5)).astype(np.float32)
    tf1_style = layers.TF1BatchNormalization()
    keras_style = layers.TF1BatchNormalization(unbiased_moving_variance=False)
    out_tf1, out_keras = tf1_style(x, training=True), keras_style(x, training=True)
    np.testing.assert_allclose(out_tf1, out_keras, rtol=1e-6, atol=1e-6)
    n = 4 * 3 * 3
    variance = x.reshape(-1, 5).var(0)
    np.testing.assert_allclose(
        tf1_style.moving_variance.numpy(), 0.99 + 0.01 * variance * n / (n - 1), rtol=1e-6
    )
    np.testing.assert_allclose(
        keras_style.moving_variance.numpy(), 0.99 + 0.01 * variance, rtol=1e-6
    )
    assert tf1_style.momentum == 0.99 and tf1_style.epsilon == 1e-3


def test_alexnet_batch_normal_option_changes_inference_only():
    images = np.random.default_rng(5).normal(size=(4, 32, 32, 3)).astype(np.float32)
    faithful = tf2_port.build("alexnet_cifar10")
    fixed = tf2_port.build("alexnet_cifar10", fix_batch_normal_inference=True)
    fixed.set_weights(faithful.get_weights())
    np.testing.assert_allclose(
        fixed(images, training=True), faithful(images, training=True), atol=1e-6
    )
    assert not np.allclose(
        fixed(images, training=False), faithful(images, training=False), atol=1e-3
    )


def test_alexnet_drop_bias_before_bn_removes_the_three_biases_the_batch_norms_cancel():
    faithful = tf2_port.build("alexnet_cifar10")
    dropped = tf2_port.build("alexnet_cifar10", drop_bias_before_bn=True)
    # conv2 96 + fc1 1024 + fc2 1024 = 2,144 parameters (docs/originals.md).
    assert trainable_count(faithful) - trainable_count(dropped) == 2_144
    paths = {v.path for v in faithful.weights} - {v.path for v in dropped.weights}
    assert paths == {"conv2/bias", "fc1/bias", "fc2/bias"}
    # The batch norm right after each of them cancels a per-channel constant: with
    # batch statistics (training) the outputs agree once the shared weights agree.
    images = np.random.default_rng(6).normal(size=(4, 32, 32, 3)).astype(np.float32)
    shared = {v.path: v for v in faithful.weights}
    for variable in dropped.weights:
        variable.assign(shared[variable.path])
    faithful.get_layer("conv2").bias.assign(np.full(96, 0.5, np.float32))
    # Up to rounding: x + 0.5 is rounded before the mean is subtracted, and the 4-image
    # batch-statistics normalisations amplify last-bit differences, as between the
    # legacy graph and the port; hence that comparison's tolerance (converters/maps.py).
    tolerance = maps.get("alexnet_cifar10").tolerance
    with_bias, without = faithful(images, training=True), dropped(images, training=True)
    assert not tolerance.exceeded(np.asarray(without), np.asarray(with_bias))


# ---- a short training run lowers the loss ----------------------------------------------

TRAIN_STEPS = {"vgg16": 4}
TRAIN_BATCH = {"vgg16": 2, "resnet_mnist": 8}


@pytest.mark.parametrize("name", registry.MODEL_NAMES)
def test_short_training_lowers_the_loss(name):
    keras.utils.set_random_seed(0)
    spec = registry.get(name)
    overrides = FAST_OVERRIDES.get(name, {})
    config = spec.config(**overrides)
    batch_size = TRAIN_BATCH.get(name, 16)
    images, labels = next(
        iter(
            data.train_dataset(
                spec.pipeline,
                batch_size=batch_size,
                deterministic=True,
                image_size=getattr(config, "image_size", None),
            )
        )
    )
    model = spec.build_model(config)
    optimizer = train.make_optimizer(config.learning_rate)
    strategy = tf.distribute.get_strategy()
    step = train.make_train_step(spec, config, model, optimizer, strategy, batch_size)

    def inference_loss():
        outputs = model(images, training=False)
        return float(tf.reduce_mean(spec.per_example_loss(config, labels, outputs)))

    before = inference_loss()
    losses = [float(step((images, labels))[0]) for _ in range(TRAIN_STEPS.get(name, 8))]
    # Judged in inference mode: dropout makes single training losses noisy.
    assert inference_loss() < before, (before, losses)


def test_the_port_never_imports_legacy_tf1_or_tf_keras():
    import ast

    package = Path(tf2_port.__file__).parent
    for path in package.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                modules = [node.module or ""]
            else:
                continue
            assert not [m for m in modules if m.split(".")[0] in {"legacy_tf1", "tf_keras"}], path
        assert "tf.keras" not in path.read_text(), path
