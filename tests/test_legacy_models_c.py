"""Faithful legacy graphs of resnet_mnist (seed000), resnet_mnist_class (seed003), cifar10_cnn (seed001).

Golden facts (variable lists) come from tests/golden/legacy_variables; expected
numbers are recomputed here in numpy from the fetched weights, never taken from the
code under test.
"""

from __future__ import annotations

import importlib
import json
import math
from pathlib import Path

import numpy as np
import pytest

from legacy_tf1.core import graph_scope, tf, tf1

GOLDEN_DIR = Path(__file__).parent / "golden" / "legacy_variables"
MODELS = ("resnet_mnist", "resnet_mnist_class", "cifar10_cnn")

# Trainable parameter counts, derived from the originals' shapes.
PARAMETER_COUNTS = {
    # stem 2*2*1*64 + 64 = 320
    # res2a: 64*64+64 + 3*3*64*64+64 + 64*256+256 + shortcut 64*256 = 74112
    # res2b, res2c: 256*64+64 + 3*3*64*64+64 + 64*256+256 = 70016 each
    # fc1 7*7*256*1024 + 1024 = 12846080; fc2 1024*10 + 10 = 10250
    "resnet_mnist": 320 + 74112 + 2 * 70016 + 12846080 + 10250,
    # stem 3*3*1*16 + 16 = 160; fc 1568*128 + 128 = 200832; 128*10 + 10 = 1290
    # identity blocks: 16*8+8 + 3*3*8*8+8 + 8*16+16 + b_conv_fin 16 = 880 each (x4)
    # projection block: 16*16+16 + 3*3*16*16+16 + 16*32+32 + b_conv_fin 32 = 3168
    "resnet_mnist_class": 160 + 200832 + 1290 + 4 * 880 + 3168,
    # conv1 5*5*3*64 + 64 = 4864; conv2 5*5*64*64 + 64 = 102464
    # local3 (6*6*64=2304)*384 + 384 = 885120; local4 384*192 + 192 = 73920; 192*10 + 10 = 1930
    "cifar10_cnn": 4864 + 102464 + 885120 + 73920 + 1930,
}

# A small batch per model, in the original's input layout, and the option overrides
# that let cifar10_cnn's fixed-batch placeholder take it.
SMALL_BATCH = 4
SMALL_OPTIONS = {
    "resnet_mnist": {},
    "resnet_mnist_class": {},
    "cifar10_cnn": {"batch_size": SMALL_BATCH},
}


def module(name):
    return importlib.import_module(f"legacy_tf1.{name}")


def build(name, seed=0, **overrides):
    """Build ``name`` in a fresh graph; returns the LegacyModel."""
    mod = module(name)
    options = mod.Options(**{**SMALL_OPTIONS[name], **overrides})
    with graph_scope(seed):
        return mod.build(options)


def start(model):
    """A session on the model's graph with variables initialised."""
    sess = tf1.Session(graph=model.graph)
    with model.graph.as_default():
        sess.run(tf1.global_variables_initializer())
    return sess


def fake_batch(name, batch=SMALL_BATCH, seed=1):
    """Deterministic images and labels in the model's input layout."""
    rng = np.random.default_rng(seed)
    classes = np.arange(batch) % 10
    if name == "cifar10_cnn":
        return rng.normal(size=(batch, 24, 24, 3)).astype(np.float32), classes.astype(np.int32)
    images = rng.uniform(size=(batch, 784)).astype(np.float32)
    if name == "resnet_mnist_class":
        images = images.reshape(batch, 28, 28, 1)
    return images, np.eye(10, dtype=np.float32)[classes]


def model_variables(model):
    """The model's own variables (no Adam slots or beta powers), in creation order."""
    with model.graph.as_default():
        return [
            v
            for v in tf1.global_variables()
            if "Adam" not in v.op.name and "power" not in v.op.name
        ]


def copy_weights(src_model, src_sess, dst_model, dst_sess, skip=()):
    """Load src's model variables into dst's, pairing them in creation order (minus ``skip`` names)."""
    dst_vars = [v for v in model_variables(dst_model) if v.op.name not in skip]
    src_vars = model_variables(src_model)
    assert [v.shape.as_list() for v in src_vars] == [v.shape.as_list() for v in dst_vars]
    for src, dst in zip(src_vars, dst_vars, strict=True):
        dst.load(src_sess.run(src), dst_sess)


def variable(model, name):
    with model.graph.as_default():
        return next(v for v in tf1.global_variables() if v.op.name == name)


def numpy_softmax_xent(scores, one_hot):
    shifted = scores - scores.max(axis=1, keepdims=True)
    log_softmax = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    return float(np.mean(-(one_hot * log_softmax).sum(axis=1)))


def numpy_softmax(scores):
    exp = np.exp(scores - scores.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------- all three


@pytest.mark.parametrize("name", MODELS)
def test_variables_match_golden(name):
    golden = json.loads((GOLDEN_DIR / f"{name}.json").read_text())["variables"]
    model = build(name, **{"batch_size": 128} if name == "cifar10_cnn" else {})
    with model.graph.as_default():
        got = [[v.op.name, v.shape.as_list()] for v in tf1.global_variables()]
        kinds = {type(v).__name__ for v in tf1.global_variables()}
    assert got == golden
    assert kinds == {"RefVariable"}


@pytest.mark.parametrize("name", MODELS)
def test_trainable_parameter_count(name):
    model = build(name)
    with model.graph.as_default():
        count = sum(v.shape.num_elements() for v in tf1.trainable_variables())
    assert count == PARAMETER_COUNTS[name]


@pytest.mark.parametrize("name", MODELS)
def test_module_contract_constants(name):
    mod = module(name)
    originals = {
        "resnet_mnist": "seed000",
        "resnet_mnist_class": "seed003",
        "cifar10_cnn": "seed001",
    }
    assert mod.ORIGINAL.startswith(originals[name]) and mod.ORIGINAL.endswith(".py")
    expected_kind = "cifar-bin" if name == "cifar10_cnn" else "mnist"
    assert expected_kind == mod.DATA_KIND


@pytest.mark.parametrize("name", MODELS)
def test_logits_shape_and_end_points(name):
    model = build(name)
    assert list(model.end_points)[-1 if name != "resnet_mnist_class" else -2] == "logits"
    assert model.end_points["logits"] is model.logits
    images, labels = fake_batch(name)
    with start(model) as sess:
        logits, points = sess.run(
            [model.logits, model.end_points], model.feed(images, labels, training=False)
        )
    assert logits.shape == (SMALL_BATCH, 10)
    assert np.all(np.isfinite(logits))
    for key, value in points.items():
        assert value.shape[0] == SMALL_BATCH, key
    # end_points are in graph order: each one's op was created after the previous one's.
    ids = [t.op._id for t in model.end_points.values()]
    assert ids == sorted(ids)


@pytest.mark.parametrize("name", MODELS)
def test_training_steps_change_weights_and_lower_loss(name):
    model = build(name, seed=3)
    images, labels = fake_batch(name)
    eval_feed = model.feed(images, labels, training=False)
    with start(model) as sess:
        before_weights = [sess.run(v) for v in model_variables(model)]
        before = sess.run(model.loss, eval_feed)
        for _ in range(15):
            sess.run(model.train_op, model.feed(images, labels, training=True))
        after = sess.run(model.loss, eval_feed)
        after_weights = [sess.run(v) for v in model_variables(model)]
    assert all(not np.array_equal(a, b) for a, b in zip(before_weights, after_weights, strict=True))
    assert after < before


@pytest.mark.parametrize("name", MODELS)
def test_default_options_are_the_originals_hyperparameters(name):
    expected = {
        "resnet_mnist": {"steps": 3001, "batch_size": 10, "learning_rate": 1e-3, "keep_prob": 0.5},
        "resnet_mnist_class": {"steps": 100000, "batch_size": 128, "learning_rate": 3e-3},
        "cifar10_cnn": {"steps": 1000, "batch_size": 128, "learning_rate": 1e-3},
    }[name]
    options = module(name).Options()
    assert {k: getattr(options, k) for k in expected} == expected
    bools = {k: v for k, v in vars(options).items() if isinstance(v, bool)}
    assert bools and not any(bools.values()), "every defect switch must default to False"


# --------------------------------------------------------------------------- resnet_mnist (seed000)


def test_resnet_mnist_feeds_keep_prob_and_loss_is_softmax_xent():
    model = build("resnet_mnist")
    (keep_prob,) = model.train_feed
    assert model.train_feed == {keep_prob: 0.5} and model.eval_feed == {keep_prob: 1.0}
    images, labels = fake_batch("resnet_mnist")
    with start(model) as sess:
        logits, loss, accuracy = sess.run(
            [model.logits, model.loss, model.accuracy], model.feed(images, labels, training=False)
        )
    assert loss == pytest.approx(numpy_softmax_xent(logits, labels), rel=1e-5)
    assert accuracy == pytest.approx(np.mean(logits.argmax(1) == labels.argmax(1)))


def test_resnet_mnist_extra_bias_adds_one_bias_per_block_after_add():
    model = build("resnet_mnist", extra_bias=True)
    names = [v.op.name for v in model_variables(model)]
    # The "before" version creates b_conv_fin after the shortcut weight / third bias.
    assert names[names.index("res2a/Variable_6") + 1] == "res2a/Variable_7"
    assert names[names.index("res2b/Variable_5") + 1] == "res2b/Variable_6"
    assert names[names.index("res2c/Variable_5") + 1] == "res2c/Variable_6"
    assert len(names) == len(model_variables(build("resnet_mnist"))) + 3
    with start(model) as sess:
        for name in ("res2a/Variable_7", "res2b/Variable_6", "res2c/Variable_6"):
            np.testing.assert_array_equal(
                sess.run(variable(model, name)), np.full(256, 0.1, np.float32)
            )


def test_resnet_mnist_extra_bias_is_added_before_the_final_relu():
    faithful, extra = build("resnet_mnist"), build("resnet_mnist", extra_bias=True)
    extras = ("res2a/Variable_7", "res2b/Variable_6", "res2c/Variable_6")
    images, _ = fake_batch("resnet_mnist")
    with start(faithful) as s_faithful, start(extra) as s_extra:
        copy_weights(faithful, s_faithful, extra, s_extra, skip=extras)
        feed = faithful.feed(images, training=False)
        base = s_faithful.run(faithful.logits, feed)
        with_bias = s_extra.run(extra.logits, extra.feed(images, training=False))
        assert not np.allclose(base, with_bias)
        for name in extras:
            variable(extra, name).load(np.zeros(256, np.float32), s_extra)
        # A zero extra bias is exactly the original.
        np.testing.assert_allclose(
            s_extra.run(extra.logits, extra.feed(images, training=False)),
            base,
            rtol=1e-6,
            atol=1e-6,
        )


@pytest.mark.parametrize("name", ["resnet_mnist", "resnet_mnist_class"])
def test_linear_last_conv_changes_output_with_same_weights(name):
    faithful, fixed = build(name), build(name, linear_last_conv=True)
    images, _ = fake_batch(name)
    with start(faithful) as s_faithful, start(fixed) as s_fixed:
        copy_weights(faithful, s_faithful, fixed, s_fixed)
        first_block = "res2a" if name == "resnet_mnist" else "Rt"
        a = s_faithful.run(faithful.end_points[first_block], faithful.feed(images, training=False))
        b = s_fixed.run(fixed.end_points[first_block], fixed.feed(images, training=False))
    assert not np.allclose(a, b)


def test_resnet_mnist_dropout_is_active_only_with_train_feed():
    model = build("resnet_mnist")
    images, _ = fake_batch("resnet_mnist")
    with start(model) as sess:
        train = sess.run(model.end_points["fc1_drop"], model.feed(images, training=True))
        evals = [
            sess.run(model.end_points["fc1_drop"], model.feed(images, training=False))
            for _ in range(2)
        ]
        fc1 = sess.run(model.end_points["fc1"], model.feed(images, training=False))
    np.testing.assert_array_equal(evals[0], evals[1])
    np.testing.assert_allclose(evals[0], fc1)
    kept = train != 0
    # Inverted dropout: kept units are scaled by 1 / keep_prob.
    np.testing.assert_allclose(train[kept], fc1[kept] / 0.5, rtol=1e-6)
    assert 0 < kept.mean() < 1


# --------------------------------------------------------------------------- resnet_mnist_class (seed003)


def test_resnet_mnist_class_double_softmax_and_its_fix():
    faithful, fixed = (
        build("resnet_mnist_class"),
        build("resnet_mnist_class", fix_double_softmax=True),
    )
    images, labels = fake_batch("resnet_mnist_class")
    with start(faithful) as s_faithful, start(fixed) as s_fixed:
        copy_weights(faithful, s_faithful, fixed, s_fixed)
        logits, loss, yo = s_faithful.run(
            [faithful.logits, faithful.loss, faithful.end_points["yo"]],
            faithful.feed(images, labels, training=False),
        )
        fixed_logits, fixed_loss = s_fixed.run(
            [fixed.logits, fixed.loss], fixed.feed(images, labels, training=False)
        )
    np.testing.assert_allclose(fixed_logits, logits, rtol=1e-6)
    np.testing.assert_allclose(yo, numpy_softmax(logits), rtol=1e-5, atol=1e-7)
    # The original feeds softmax(logits) to softmax_cross_entropy_with_logits.
    assert loss == pytest.approx(numpy_softmax_xent(numpy_softmax(logits), labels), rel=1e-5)
    assert fixed_loss == pytest.approx(numpy_softmax_xent(logits, labels), rel=1e-5)
    assert fixed_loss != pytest.approx(loss, rel=1e-3)


def test_resnet_mnist_class_projection_shortcut_reuses_conv_3():
    model = build("resnet_mnist_class")
    # URt's variables are Variable_34..40: conv_1, b1, conv_2, b2, conv_3 [1,1,16,32], b3, b_conv_fin.
    conv_3 = variable(model, "Variable_38")
    readers = [
        op
        for op in model.graph.get_operations()
        if op.type == "Conv2D" and conv_3.value().name in [t.name for t in op.inputs]
    ]
    assert len(readers) == 2  # main path and shortcut share the weight


def test_resnet_mnist_class_separate_shortcut_weights():
    faithful = build("resnet_mnist_class")
    fixed = build("resnet_mnist_class", separate_shortcut_weights=True)
    names = [v.op.name for v in model_variables(fixed)]
    assert names == [v.op.name for v in model_variables(faithful)] + ["Variable_41"]
    assert variable(fixed, "Variable_41").shape.as_list() == [1, 1, 16, 32]
    images, _ = fake_batch("resnet_mnist_class")
    with start(faithful) as s_faithful, start(fixed) as s_fixed:
        copy_weights(faithful, s_faithful, fixed, s_fixed, skip=("Variable_41",))
        base = s_faithful.run(faithful.logits, faithful.feed(images, training=False))
        assert not np.allclose(base, s_fixed.run(fixed.logits, fixed.feed(images, training=False)))
        # With the separate weight equal to conv_3 the fixed graph computes the original.
        variable(fixed, "Variable_41").load(
            s_faithful.run(variable(faithful, "Variable_38")), s_fixed
        )
        np.testing.assert_allclose(
            s_fixed.run(fixed.logits, fixed.feed(images, training=False)),
            base,
            rtol=1e-5,
            atol=1e-6,
        )


def test_resnet_mnist_class_drop_final_bias():
    faithful = build("resnet_mnist_class")
    dropped = build("resnet_mnist_class", drop_final_bias=True)
    fins = {"Variable_12", "Variable_19", "Variable_26", "Variable_33", "Variable_40"}
    assert len(model_variables(dropped)) == len(model_variables(faithful)) - 5
    images, _ = fake_batch("resnet_mnist_class")
    with start(faithful) as s_faithful, start(dropped) as s_dropped:
        for name in sorted(fins):  # zero-initialised in the original
            assert not s_faithful.run(variable(faithful, name)).any()
        keep = [v for v in model_variables(faithful) if v.op.name not in fins]
        for src, dst in zip(keep, model_variables(dropped), strict=True):
            dst.load(s_faithful.run(src), s_dropped)
        base = s_faithful.run(faithful.logits, faithful.feed(images, training=False))
        np.testing.assert_allclose(
            s_dropped.run(dropped.logits, dropped.feed(images, training=False)),
            base,
            rtol=1e-5,
            atol=1e-6,
        )
        variable(faithful, "Variable_12").load(np.full(16, 0.5, np.float32), s_faithful)
        assert not np.allclose(
            s_faithful.run(faithful.logits, faithful.feed(images, training=False)), base
        )


def test_resnet_mnist_class_accuracy_is_defined():
    model = build("resnet_mnist_class")
    images, labels = fake_batch("resnet_mnist_class")
    with start(model) as sess:
        logits, accuracy = sess.run(
            [model.logits, model.accuracy], model.feed(images, labels, training=False)
        )
    assert accuracy == pytest.approx(np.mean(logits.argmax(1) == labels.argmax(1)))


# --------------------------------------------------------------------------- cifar10_cnn (seed001)


def test_cifar10_placeholders_are_fixed_batch():
    model = build("cifar10_cnn", batch_size=128)
    assert model.inputs.shape.as_list() == [128, 24, 24, 3] and model.inputs.dtype == tf.float32
    assert model.labels.shape.as_list() == [128] and model.labels.dtype == tf.int32
    dynamic = build("cifar10_cnn", dynamic_batch=True)
    assert dynamic.inputs.shape.as_list() == [None, 24, 24, 3]
    images, labels = fake_batch("cifar10_cnn", batch=3)
    with start(dynamic) as sess:
        assert sess.run(dynamic.logits, dynamic.feed(images, labels, training=False)).shape == (
            3,
            10,
        )


def test_cifar10_saver_var_list_is_weights_then_biases():
    model = build("cifar10_cnn")
    names = [v.op.name for v in model.saver_var_list]
    # saver = tf.train.Saver([weight1, ..., weight5, bias1, ..., bias5]); creation order is w1 b1 w2 b2 ...
    weights = ["Variable", "Variable_2", "Variable_4", "Variable_6", "Variable_8"]
    biases = ["Variable_1", "Variable_3", "Variable_5", "Variable_7", "Variable_9"]
    assert names == weights + biases


def test_cifar10_total_loss_includes_l2_on_fc_weights():
    model = build("cifar10_cnn")
    images, labels = fake_batch("cifar10_cnn")
    with start(model) as sess:
        logits, loss = sess.run(
            [model.logits, model.loss], model.feed(images, labels, training=False)
        )
        fc_weights = [
            sess.run(variable(model, n)) for n in ("Variable_4", "Variable_6", "Variable_8")
        ]
    one_hot = np.eye(10)[labels]
    l2 = sum(0.004 * float((w.astype(np.float64) ** 2).sum()) / 2 for w in fc_weights)
    assert loss == pytest.approx(
        numpy_softmax_xent(logits.astype(np.float64), one_hot) + l2, rel=1e-5
    )
    with model.graph.as_default():
        assert (
            len(tf1.get_collection("losses")) == 6
        )  # 5 weight losses (2 zero-weighted) + cross-entropy


def test_cifar10_skip_zero_weight_losses_keeps_the_loss():
    faithful = build("cifar10_cnn")
    fixed = build("cifar10_cnn", skip_zero_weight_losses=True)
    with fixed.graph.as_default():
        assert len(tf1.get_collection("losses")) == 4
    images, labels = fake_batch("cifar10_cnn")
    with start(faithful) as s_faithful, start(fixed) as s_fixed:
        copy_weights(faithful, s_faithful, fixed, s_fixed)
        a = s_faithful.run(faithful.loss, faithful.feed(images, labels, training=False))
        b = s_fixed.run(fixed.loss, fixed.feed(images, labels, training=False))
    assert a == pytest.approx(b, rel=1e-6)


def _lrn_radii(model):
    return [op.get_attr("depth_radius") for op in model.graph.get_operations() if op.type == "LRN"]


def test_cifar10_norm2_depth_radius():
    assert _lrn_radii(build("cifar10_cnn")) == [4, 5]
    assert _lrn_radii(build("cifar10_cnn", fix_norm2_depth_radius=True)) == [4, 4]


def test_cifar10_python2_division_zeroes_weight5_and_shortens_eval():
    mod = module("cifar10_cnn")
    py3, py2 = build("cifar10_cnn"), build("cifar10_cnn", python2_division=True)
    with start(py3) as s3, start(py2) as s2:
        w5_py3, w5_py2 = s3.run(variable(py3, "Variable_8")), s2.run(variable(py2, "Variable_8"))
    assert not w5_py2.any()
    assert 0 < w5_py3.std() < 2 / 192  # truncated normal, stddev 1/192
    assert mod.eval_num_iter(mod.Options()) == math.ceil(10000 / 128) == 79
    assert mod.eval_num_iter(mod.Options(python2_division=True)) == 78


def test_cifar10_precision_formula_divides_by_whole_batches():
    mod = module("cifar10_cnn")
    assert mod.precision(10112, mod.Options()) == 1.0
    assert mod.precision(5056, mod.Options()) == 0.5
    assert mod.precision(9984, mod.Options(python2_division=True)) == 1.0
    # Python 2: numpy int / int floors, so the original printed 0 for any imperfect score.
    assert mod.precision(9000, mod.Options(python2_division=True)) == 0.0


def test_cifar10_preprocess_eval_matches_tf_ops():
    mod = module("cifar10_cnn")
    raw = np.random.default_rng(5).integers(0, 256, size=(3, 3, 32, 32), dtype=np.uint8)
    raw[2] = 7  # a constant image exercises the 1/sqrt(N) floor
    got = mod.preprocess_eval(raw)
    # Reference: cifar10_input.inputs(eval_data=True)'s TF ops, run eagerly.
    hwc = tf.cast(tf.transpose(tf.constant(raw), [0, 2, 3, 1]), tf.float32)
    want = [
        tf.image.per_image_standardization(tf.image.resize_with_crop_or_pad(img, 24, 24))
        for img in hwc
    ]
    np.testing.assert_allclose(got, np.stack([w.numpy() for w in want]), rtol=1e-5, atol=1e-5)
    assert got.dtype == np.float32 and got.shape == (3, 24, 24, 3)


# --------------------------------------------------------------------------- data (embedded sample)


@pytest.mark.parametrize("name", ["resnet_mnist", "resnet_mnist_class"])
def test_mnist_sources_serve_the_original_layout(name):
    mod = module(name)
    options = mod.Options(batch_size=6)
    with graph_scope(0):
        source = mod.train_source(options, None)
        model = mod.build(options)
    images, labels = source.next_batch(None)
    assert images.shape == ((6, 784) if name == "resnet_mnist" else (6, 28, 28, 1))
    assert images.dtype == np.float32 and images.min() >= 0.0 and images.max() <= 1.0
    np.testing.assert_array_equal(labels.sum(axis=1), np.ones(6))  # one-hot
    chunks = list(mod.test_batches(options, None))
    total = sum(len(x) for x, _ in chunks)
    with start(model) as sess:
        sess.run(model.train_op, model.feed(images, labels, training=True))
        accuracy = sess.run(model.accuracy, model.feed(*chunks[0], training=False))
    assert 0.0 <= accuracy <= 1.0
    if name == "resnet_mnist":
        assert len(chunks) == 1  # the original evaluates mnist.test in one feed
        chunked = list(mod.test_batches(mod.Options(eval_batch_size=300), None))
        assert [len(x) for x, _ in chunked[:-1]] == [300] * (len(chunked) - 1)
        np.testing.assert_array_equal(np.concatenate([x for x, _ in chunked]), chunks[0][0])
    else:
        assert all(x.shape[1:] == (28, 28, 1) for x, _ in chunks)
        assert [len(x) for x, _ in chunks[:-1]] == [6] * (len(chunks) - 1)
    assert total == len(np.concatenate([y for _, y in chunks]))


def test_cifar10_test_batches_wrap_around_like_the_queue():
    from formats.cifar import read_cifar_bin
    from formats.sample import resolve_data_dir

    mod = module("cifar10_cnn")
    raw, raw_labels = read_cifar_bin(resolve_data_dir("cifar-bin") / "test_batch.bin")
    chunks = list(mod.test_batches(mod.Options(), None))
    assert len(chunks) == 79 and all(x.shape == (128, 24, 24, 3) for x, _ in chunks)
    labels = np.concatenate([y for _, y in chunks])
    # 10112 labels: the test file cycled from its start (the sample holds fewer than 10000).
    np.testing.assert_array_equal(labels, np.resize(raw_labels.astype(np.int32), 79 * 128))
    np.testing.assert_allclose(chunks[0][0], mod.preprocess_eval(raw[:128]))
    assert len(list(mod.test_batches(mod.Options(python2_division=True), None))) == 78


def test_cifar10_exact_eval_covers_each_image_once():
    mod = module("cifar10_cnn")
    with pytest.raises(ValueError, match="dynamic_batch"):
        list(mod.test_batches(mod.Options(exact_eval=True), None))
    chunks = list(
        mod.test_batches(mod.Options(exact_eval=True, dynamic_batch=True, batch_size=300), None)
    )
    sizes = [len(x) for x, _ in chunks]
    assert sizes[:-1] == [300] * (len(sizes) - 1) and 0 < sizes[-1] <= 300


def test_cifar10_train_source_feeds_the_fixed_placeholders():
    mod = module("cifar10_cnn")
    options = mod.Options(batch_size=4, queue_examples_per_epoch=50)
    with graph_scope(0):
        source = mod.train_source(options, None)
        model = mod.build(options)
    with start(model) as sess:
        coord = tf1.train.Coordinator()
        with model.graph.as_default():
            threads = tf1.train.start_queue_runners(sess=sess, coord=coord)
        try:
            images, labels = source.next_batch(sess)
            sess.run(model.train_op, model.feed(images, labels, training=True))
        finally:
            coord.request_stop()
            coord.join(threads)
    assert images.shape == (4, 24, 24, 3) and images.dtype == np.float32
    assert labels.shape == (4,) and labels.dtype == np.int32
