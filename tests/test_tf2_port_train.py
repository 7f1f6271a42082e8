"""Training loop, checkpoints, CLI, export, input pipelines and the Adam/BN numerics."""

from __future__ import annotations

import os

# tf.compat.v1.layers (used below as the reference batch norm) needs tf_keras.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

import json  # noqa: E402

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

from tf2_port import __main__ as cli  # noqa: E402
from tf2_port import data, export, layers, registry, train  # noqa: E402

tf1 = tf.compat.v1


def settings(tmp_path, **changes) -> train.RunSettings:
    base = dict(
        ckpt_dir=str(tmp_path / "ckpt"),
        logdir=str(tmp_path / "logs"),
        batch_size=8,
        seed=11,
        verbose=False,
        save_every=2,
    )
    return train.RunSettings(**{**base, **changes})


def weights(model):
    return [v.numpy() for v in model.trainable_variables]


# ---- resume ----------------------------------------------------------------------------


def test_resume_continues_at_the_saved_step_and_replays_the_stream(tmp_path):
    straight = train.train("cifar10_cnn", settings(tmp_path / "a", steps=4))
    first = train.train("cifar10_cnn", settings(tmp_path / "b", steps=2))
    assert first.step == 2 and first.checkpoint.endswith("ckpt-2")
    resumed = train.train("cifar10_cnn", settings(tmp_path / "b", steps=4))
    assert resumed.step == 4 and len(resumed.losses) == 2
    # Same data (augmented, shuffled), same Adam state: the same run as without a break.
    np.testing.assert_allclose(first.losses + resumed.losses, straight.losses, rtol=1e-5)
    for a, b in zip(weights(resumed.model), weights(straight.model), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    assert tf.train.latest_checkpoint(str(tmp_path / "b" / "ckpt")).endswith("ckpt-4")


def test_steps_per_call_runs_the_same_steps_as_one_call_per_step(tmp_path):
    # 3 calls: steps 1-2 and 3-4 two per call, then step 5 alone (a checkpoint at 4).
    single = train.train("cifar10_cnn", settings(tmp_path / "a", steps=5, steps_per_call=1))
    grouped = train.train(
        "cifar10_cnn", settings(tmp_path / "b", steps=5, steps_per_call=2, save_every=4)
    )
    assert grouped.step == 5 and len(grouped.losses) == 5
    # The same kernels on the same batches: only the calls are grouped.
    np.testing.assert_allclose(grouped.losses, single.losses, rtol=1e-6)
    for a, b in zip(weights(grouped.model), weights(single.model), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
    saved = tf.train.get_checkpoint_state(str(tmp_path / "b" / "ckpt"))
    assert [p.rsplit("-", 1)[1] for p in saved.all_model_checkpoint_paths] == ["4", "5"]


def test_steps_per_call_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="steps_per_call"):
        train.train("cifar10_cnn", settings(tmp_path, steps=1, steps_per_call=0))


def test_resume_refuses_a_different_model_or_config(tmp_path):
    train.train("cifar10_cnn", settings(tmp_path, steps=1))
    with pytest.raises(ValueError, match="cifar10_cnn"):
        train.train("alexnet_cifar10", settings(tmp_path, steps=2))
    with pytest.raises(ValueError, match="overrides"):
        train.train("cifar10_cnn", settings(tmp_path, steps=2), norm2_depth_radius=4)


# ---- load / eval -----------------------------------------------------------------------


def test_load_from_directory_or_prefix_restores_the_weights(tmp_path):
    result = train.train(
        "resnet_mnist_class", settings(tmp_path, steps=2, deterministic=True), drop_final_bias=True
    )
    from_dir = train.load("resnet_mnist_class", tmp_path / "ckpt")
    from_prefix = train.load("resnet_mnist_class", result.checkpoint)
    # The saved override is applied: no final biases.
    assert "block1_final_bias" not in [layer.name for layer in from_dir.layers]
    for model in (from_dir, from_prefix):
        for a, b in zip(weights(model), weights(result.model), strict=True):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="resnet_mnist_class"):
        train.load("resnet_mnist", tmp_path / "ckpt")
    with pytest.raises(FileNotFoundError):
        train.load("resnet_mnist_class", tmp_path / "nothing")
    metrics = train.evaluate("resnet_mnist_class", from_dir, max_batches=2, drop_final_bias=True)
    assert metrics["examples"] == 2 * 128 and 0.0 <= metrics["accuracy"] <= 1.0


# ---- CLI -------------------------------------------------------------------------------


def read_scalars(logdir):
    found = {}
    for path in logdir.iterdir():
        for event in tf1.train.summary_iterator(str(path)):
            for value in event.summary.value:
                found.setdefault(value.tag, []).append(
                    (event.step, float(tf.make_ndarray(value.tensor)))
                )
    return found


def test_cli_train_writes_a_checkpoint_and_events_then_eval_and_export(tmp_path, capsys):
    ckpt, logs = tmp_path / "ckpt", tmp_path / "logs"
    argv = ["train", "alexnet_cifar10", "--steps", "2", "--ckpt-dir", str(ckpt)]
    argv += ["--logdir", str(logs), "--log-every", "1", "--seed", "3"]
    assert cli.main(argv) == 0
    assert tf.train.latest_checkpoint(str(ckpt)).endswith("ckpt-2")
    scalars = read_scalars(logs)
    assert [step for step, _ in scalars["loss"]] == [1, 2]
    assert {"loss", "accuracy", "learning_rate"} <= scalars.keys()
    assert json.loads((ckpt / "port_config.json").read_text())["seed"] == 3
    capsys.readouterr()
    assert cli.main(["eval", "alexnet_cifar10", "--ckpt-dir", str(ckpt), "--max-batches", "2"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["examples"] == 40
    out = tmp_path / "model.keras"
    assert (
        cli.main(["export", "alexnet_cifar10", "--ckpt-dir", str(ckpt), "--keras", str(out)]) == 0
    )
    assert out.exists()
    # An existing output is never overwritten silently.
    assert (
        cli.main(["export", "alexnet_cifar10", "--ckpt-dir", str(ckpt), "--keras", str(out)]) == 3
    )


def test_cli_usage_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as error:
        cli.main(["train", "no_such_model"])
    assert error.value.code == 2
    argv = ["train", "cifar10_cnn", "--set", "bogus=1", "--ckpt-dir", str(tmp_path)]
    assert cli.main(argv) == 2
    assert "bogus" in capsys.readouterr().err
    missing = [
        "train",
        "cifar10_cnn",
        "--data-dir",
        str(tmp_path / "none"),
        "--ckpt-dir",
        str(tmp_path),
    ]
    assert cli.main(missing) == 3


# ---- export ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["alexnet_cifar10", "resnet_mnist_class", "cifar10_cnn"])
def test_export_keras_and_saved_model_reload_with_the_same_outputs(tmp_path, name):
    model = registry.get(name).build_model(registry.get(name).config())
    images = np.random.default_rng(0).normal(size=(3, *model.input_shape[1:])).astype(np.float32)
    expected = model(images, training=False).numpy()
    keras_path = export.export_keras(model, tmp_path / "m.keras")
    reloaded = keras.models.load_model(keras_path)
    np.testing.assert_allclose(reloaded(images, training=False), expected, rtol=1e-6, atol=1e-6)
    served = tf.saved_model.load(str(export.export_saved_model(model, tmp_path / "served")))
    np.testing.assert_allclose(served.serve(tf.constant(images)), expected, rtol=1e-6, atol=1e-6)
    with pytest.raises(FileExistsError):
        export.export_saved_model(model, tmp_path / "served")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.keras", "served"]


# ---- input pipelines -------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, shape, label_shape, label_dtype",
    [
        ("resnet_mnist", (28, 28, 1), (10,), tf.float32),
        ("cifar10_cnn", (24, 24, 3), (), tf.int32),
        ("vgg16", (40, 40, 3), (), tf.int64),
        ("alexnet_cifar10", (32, 32, 3), (), tf.int64),
    ],
)
def test_pipelines_yield_nhwc_float_batches(name, shape, label_shape, label_dtype):
    pipeline = registry.get(name).pipeline
    images, labels = next(iter(data.train_dataset(pipeline, batch_size=4, image_size=40)))
    assert images.shape == (4, *shape) and images.dtype == tf.float32
    assert labels.shape == (4, *label_shape) and labels.dtype == label_dtype
    test_images, _ = next(iter(data.eval_dataset(pipeline, batch_size=4, image_size=40)))
    assert test_images.shape == (4, *shape)


def test_mnist_pipeline_skips_the_validation_prefix_and_scales_like_input_data():
    from formats import idx, sample

    directory = sample.resolve_data_dir("mnist")
    raw = idx.read_idx(directory / "train-images-idx3-ubyte.gz")
    raw_labels = idx.read_idx(directory / "train-labels-idx1-ubyte.gz")
    images, labels = next(iter(data.train_dataset(data.MNIST, batch_size=3, deterministic=True)))
    expected = raw[5000:5003].astype(np.float32) * np.float32(1.0 / 255.0)
    np.testing.assert_array_equal(images.numpy()[..., 0], expected)
    np.testing.assert_array_equal(np.argmax(labels, 1), raw_labels[5000:5003])


def test_alexnet_pipeline_matches_the_originals_normalisation_and_layout():
    from formats import cifar, sample

    batch = cifar.load_batch(sample.resolve_data_dir("cifar-py") / "data_batch_1")
    images, _ = next(iter(data.train_dataset(data.CIFAR_PYTHON, batch_size=2, deterministic=True)))
    # CifarData: data / 127.5 - 1 in float64, fed to a float32 placeholder, reshaped to CHW
    # and transposed to NHWC by the graph.
    flat = (batch["data"][:2] / 127.5 - 1).astype(np.float32)
    np.testing.assert_array_equal(images.numpy(), flat.reshape(2, 3, 32, 32).transpose(0, 2, 3, 1))


def test_cifar_distortions_are_seeded_standardized_and_replayable():
    pipeline = data.CIFAR10_DISTORTED
    stream = data.train_dataset(pipeline, batch_size=4, seed=5)
    first = [b[0].numpy() for b in stream.take(3)]
    again = [b[0].numpy() for b in data.train_dataset(pipeline, batch_size=4, seed=5).take(3)]
    np.testing.assert_array_equal(np.stack(first), np.stack(again))
    replay = next(iter(data.train_dataset(pipeline, batch_size=4, seed=5, start_step=2)))[0]
    np.testing.assert_array_equal(replay.numpy(), first[2])
    other = next(iter(data.train_dataset(pipeline, batch_size=4, seed=6)))[0].numpy()
    assert not np.array_equal(other, first[0])
    per_image = first[0].reshape(4, -1)
    np.testing.assert_allclose(per_image.mean(1), 0.0, atol=1e-4)
    np.testing.assert_allclose(per_image.std(1), 1.0, atol=1e-3)


def _standardized(image):
    return (image - image.mean()) / max(image.std(), 1 / np.sqrt(image.size))


def test_batched_cifar_distortion_crops_and_flips_each_image_on_its_own():
    from formats import cifar, sample

    raw, _ = cifar.read_cifar_bin(sample.resolve_data_dir("cifar-bin") / "data_batch_1.bin")
    images = raw[:16].transpose(0, 2, 3, 1)
    distorted = data.distort_cifar_batch(tf.constant(images), tf.constant([7, 0], tf.int64))
    windows = set()
    for source, output in zip(images.astype(np.float32), distorted.numpy(), strict=True):
        # The sample's images are grey (three equal channels): brightness and contrast
        # then cancel in the standardization, leaving a standardized (flipped) crop.
        candidates = {
            (top, left, flip): _standardized(window[:, ::-1] if flip else window)
            for top in range(9)
            for left in range(9)
            for flip in (False, True)
            for window in [source[top : top + 24, left : left + 24]]
        }
        found = [k for k, c in candidates.items() if np.allclose(c, output, atol=1e-4)]
        assert found, "a distorted image is not a standardized 24x24 window of its source"
        windows.add(found[0])
    assert len(windows) > 8  # offsets and flips are drawn per image, not once per batch


def test_deterministic_cifar10_uses_the_central_crop():
    from formats import cifar, sample

    raw, _ = cifar.read_cifar_bin(sample.resolve_data_dir("cifar-bin") / "data_batch_1.bin")
    images, _ = next(
        iter(data.train_dataset(data.CIFAR10_DISTORTED, batch_size=1, deterministic=True))
    )
    crop = raw[0].transpose(1, 2, 0)[4:28, 4:28].astype(np.float32)
    expected = (crop - crop.mean()) / max(crop.std(), 1 / np.sqrt(crop.size))
    np.testing.assert_allclose(images.numpy()[0], expected, rtol=1e-5, atol=1e-5)


# ---- numerics against TF1 ---------------------------------------------------------------


def test_adam_matches_tf1_adam_optimizer():
    rng = np.random.default_rng(0)
    start = rng.normal(size=200).astype(np.float32)
    # Gradients over seven orders of magnitude: epsilon matters for the small ones.
    grads = [
        (rng.normal(size=200) * 10 ** rng.uniform(-6, 1, size=200)).astype(np.float32)
        for _ in range(20)
    ]
    graph = tf.Graph()
    with graph.as_default(), tf1.variable_scope(tf1.get_variable_scope(), use_resource=False):
        var = tf1.Variable(start)
        grad = tf1.placeholder(tf.float32, [200])
        apply = tf1.train.AdamOptimizer(1e-3).apply_gradients([(grad, var)])
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            reference = []
            for g in grads:
                sess.run(apply, {grad: g})
                reference.append(sess.run(var))
    for fused in (True, False):
        ported = keras.Variable(start)
        optimizer = train.make_optimizer(1e-3, fused=fused)
        for g, expected in zip(grads, reference, strict=True):
            optimizer.apply_gradients([(tf.constant(g), ported)])
            np.testing.assert_allclose(ported.numpy(), expected, rtol=0, atol=1e-6)
    # Keras' default epsilon (1e-7) would not match.
    default = keras.Variable(start)
    keras_default = keras.optimizers.Adam(1e-3)
    for g in grads:
        keras_default.apply_gradients([(tf.constant(g), default)])
    assert np.abs(default.numpy() - reference[-1]).max() > 1e-5


def test_fused_adam_runs_tf1s_fused_kernel_and_matches_keras_adam():
    rng = np.random.default_rng(3)
    start = rng.normal(size=(30, 7)).astype(np.float32)
    grads = [rng.normal(size=(30, 7)).astype(np.float32) for _ in range(10)]
    fused_var, keras_var = keras.Variable(start), keras.Variable(start)
    fused, plain = train.make_optimizer(1e-2), train.make_optimizer(1e-2, fused=False)

    @tf.function
    def fused_step(gradient):
        fused.apply_gradients([(gradient, fused_var)])

    for g in grads:
        fused_step(tf.constant(g))
        plain.apply_gradients([(tf.constant(g), keras_var)])
    graph = fused_step.get_concrete_function(tf.constant(grads[0])).graph
    op_types = {op.type for op in graph.get_operations()}
    assert "ResourceApplyAdam" in op_types
    assert int(fused.iterations.numpy()) == len(grads)
    # Same formula; only 1 - beta is rounded differently (float32 vs float64 first).
    np.testing.assert_allclose(fused_var.numpy(), keras_var.numpy(), rtol=1e-5, atol=1e-6)


def test_fused_adam_builds_the_steps_scalars_once_for_all_variables():
    variables = [keras.Variable(np.ones((3, 2), np.float32)) for _ in range(4)]
    optimizer = train.make_optimizer(1e-2)
    optimizer.build(variables)

    @tf.function
    def step():
        optimizer.apply_gradients([(tf.ones((3, 2)), v) for v in variables])

    graph = step.get_concrete_function().graph
    op_types = [op.type for op in graph.get_operations()]
    assert op_types.count("ResourceApplyAdam") == 4
    # beta1^t and beta2^t once per step, as TF1's beta powers, not once per variable.
    assert op_types.count("Pow") == 2


def test_tf1_batch_normalization_matches_tf_layers():
    x = np.random.default_rng(1).normal(1.0, 3.0, size=(20, 16, 16, 8)).astype(np.float32)
    graph = tf.Graph()
    with graph.as_default(), tf1.variable_scope(tf1.get_variable_scope(), use_resource=False):
        placeholder = tf1.placeholder(tf.float32, [None, 16, 16, 8])
        output = tf1.layers.batch_normalization(placeholder, training=True)
        updates = tf1.get_collection(tf1.GraphKeys.UPDATE_OPS)
        moving = {v.name.split("/")[-1][:-2]: v for v in tf1.global_variables()}
        with tf1.Session() as sess:
            sess.run(tf1.global_variables_initializer())
            expected, _ = sess.run([output, updates], {placeholder: x})
            stats = sess.run({k: moving[k] for k in ("moving_mean", "moving_variance")})
    # The same fused kernel on the same inputs: equal bit for bit, not merely close.
    layer = layers.TF1BatchNormalization()
    actual = layer(x, training=True).numpy()
    np.testing.assert_array_equal(actual, expected)
    np.testing.assert_array_equal(layer.moving_mean.numpy(), stats["moving_mean"])
    np.testing.assert_array_equal(layer.moving_variance.numpy(), stats["moving_variance"])
    # Keras' unfused arithmetic (the same statistics) stays within float32 rounding.
    plain = layers.TF1BatchNormalization(unbiased_moving_variance=False)
    np.testing.assert_allclose(plain(x, training=True).numpy(), expected, rtol=1e-5, atol=1e-5)
