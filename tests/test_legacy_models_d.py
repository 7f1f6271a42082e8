"""Faithful legacy graphs, group D: vgg16 (seed002) and alexnet_cifar10 (seed004).

Generic tests are parametrized over MODELS so they can move into the
registry-parametrized suite; model-specific tests (defect options, the
benchmark statistics, the data sources) follow.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from formats import cifar
from legacy_tf1 import alexnet_cifar10, vgg16
from legacy_tf1.core import graph_scope, tf1

GOLDEN = Path(__file__).parent / "golden" / "legacy_variables"
MODULES = {"vgg16": vgg16, "alexnet_cifar10": alexnet_cifar10}
MODELS = tuple(MODULES)

# Options small enough to run on 2 CPU cores; vgg16 keeps its structure (and
# the 2512 typo) but runs at 32x32, which shrinks only fc6's input (1x1x512).
SMALL = {
    "vgg16": vgg16.Options(image_size=32, batch_size=2),
    "alexnet_cifar10": alexnet_cifar10.Options(),
}

# Trainable parameters of the original's network (vgg16 without its random
# image 'Variable', which is trainable in the original but never trained).
# vgg16 (224x224, conv4_3 = 2512):
#   conv1: 3*3*3*64+64 + 3*3*64*64+64                        =      38,720
#   conv2: 3*3*64*128+128 + 3*3*128*128+128                  =     221,440
#   conv3: 3*3*128*256+256 + 2*(3*3*256*256+256)             =   1,475,328
#   conv4: 3*3*256*512+512 + 3*3*512*512+512 + 3*3*512*2512+2512 = 15,117,776
#   conv5: 3*3*2512*512+512 + 2*(3*3*512*512+512)            =  16,295,424
#   fc6: 7*7*512*4096+4096; fc7: 4096*4096+4096; fc8: 4096*1000+1000 = 123,642,856
#   total 156,791,544 (the standard VGG16's 138,357,544 + 18,434,000 from the typo)
# alexnet_cifar10:
#   conv1 3*3*3*48+48 = 1,344; conv2 3*3*48*96+96 = 41,568; conv3 3*3*96*192+192 = 166,080;
#   conv4 3*3*192*192+192 = 331,968; conv5 3*3*192*96+96 = 165,984; two tf.layers BNs 2*(96+96) = 384;
#   dense 1536*1024+1024 = 1,573,888 (1536 = 4*4*96); dense_1 1024*1024+1024 = 1,049,600;
#   batch_normal scale+shift 2*(1024+1024) = 4,096; dense_2 1024*10+10 = 10,250
#   total 3,345,162
TRAINABLE_PARAMS = {"vgg16": 156_791_544, "alexnet_cifar10": 3_345_162}

# fmt: off
END_POINTS = {
    "vgg16": [
        "conv1_1", "conv1_2", "pool1", "conv2_1", "conv2_2", "pool2",
        "conv3_1", "conv3_2", "conv3_3", "pool3", "conv4_1", "conv4_2", "conv4_3", "pool4",
        "conv5_1", "conv5_2", "conv5_3", "pool5", "resh1",
        "fc6", "fc6_drop", "fc7", "fc7_drop", "fc8", "logits",
    ],
    "alexnet_cifar10": [
        "x_image", "conv1", "lrn1", "pool1", "conv2", "batch_normalization", "conv2_relu", "pool2",
        "conv3", "conv4", "conv5", "batch_normalization_1", "conv5_relu", "pool5", "flatten",
        "dense", "bn6", "fc1", "dense_1", "bn7", "fc2", "logits",
    ],
}
# fmt: on


def golden_variables(model: str) -> list[list]:
    return json.loads((GOLDEN / f"{model}.json").read_text())["variables"]


def adam_variables(params: list[list]) -> list[list]:
    """What AdamOptimizer.minimize adds after ``params``: beta powers, then two slots each."""
    slots = [[name + suffix, shape] for name, shape in params for suffix in ("/Adam", "/Adam_1")]
    return [["beta1_power", []], ["beta2_power", []], *slots]


def expected_build_variables(model: str) -> list[list]:
    golden = golden_variables(model)
    if model == "vgg16":
        # The original never trains; build() adds Adam over its 32 parameters
        # (not over the random image batch, golden[0]).
        return golden + adam_variables(golden[1:])
    return golden


def global_variables() -> list[list]:
    return [[v.op.name, v.shape.as_list()] for v in tf1.global_variables()]


def global_variables_of(graph: tf.Graph) -> list[list]:
    with graph.as_default():
        return global_variables()


def fake_batch(model: str, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random inputs in the model's original layout, and int64 labels 0..9."""
    rng = np.random.RandomState(seed)
    labels = rng.randint(0, 10, size=size).astype(np.int64)
    if model == "vgg16":
        side = SMALL["vgg16"].image_size
        return rng.uniform(0, 1, (size, side, side, 3)).astype(np.float32), labels
    return rng.uniform(-1, 1, (size, 3072)).astype(np.float32), labels


def build_small(model: str, seed: int = 0, **overrides):
    """(graph, model) built from SMALL[model] with ``overrides``."""
    options = SMALL[model].__class__(**{**SMALL[model].__dict__, **overrides})
    with graph_scope(seed) as graph:
        built = MODULES[model].build(options)
        init = tf1.global_variables_initializer()
    return graph, built, init


def variable(graph: tf.Graph, name: str):
    (found,) = [
        v for v in graph.get_collection(tf1.GraphKeys.GLOBAL_VARIABLES) if v.op.name == name
    ]
    return found


# ---------------------------------------------------------------- generic


@pytest.mark.parametrize("model", MODELS)
def test_golden_copy_is_the_fixture(model):
    fixture = (
        Path(__file__).parents[2] / "shared" / "fixtures" / "original_variables" / f"{model}.json"
    )
    if not fixture.exists():
        pytest.skip(f"{fixture} not available")
    assert golden_variables(model) == json.loads(fixture.read_text())["variables"]


@pytest.mark.parametrize("model", MODELS)
def test_build_creates_the_originals_variables_in_order(model):
    with graph_scope():
        MODULES[model].build(MODULES[model].Options())
        assert global_variables() == expected_build_variables(model)


@pytest.mark.parametrize("model", MODELS)
def test_trainable_parameter_count(model):
    with graph_scope():
        MODULES[model].build(MODULES[model].Options())
        params = [
            v
            for v in tf1.trainable_variables()
            if not (model == "vgg16" and v.op.name == "Variable")
        ]
        assert sum(int(np.prod(v.shape)) for v in params) == TRAINABLE_PARAMS[model]


@pytest.mark.parametrize("model", MODELS)
def test_logits_shape_and_ordered_end_points(model):
    graph, built, init = build_small(model)
    assert list(built.end_points) == END_POINTS[model]
    assert built.end_points["logits"] is built.logits
    op_index = {op.name: i for i, op in enumerate(graph.get_operations())}
    positions = [op_index[t.op.name] for t in built.end_points.values()]
    assert positions == sorted(positions), "end_points are not in graph order"
    images, _ = fake_batch(model, 3)
    with tf1.Session(graph=graph) as sess:
        sess.run(init)
        logits = sess.run(built.logits, built.feed(images, training=False))
    num_classes = 1000 if model == "vgg16" else 10
    assert logits.shape == (3, num_classes)
    assert np.all(np.isfinite(logits))


TRAIN_STEPS = 10


@pytest.mark.parametrize("model", MODELS)
def test_training_steps_change_weights_and_lower_loss(model):
    # vgg16: the same structure with conv4_3 at 512 and 10 classes, 3x faster per step.
    lighter = {"conv4_3_filters": 512, "num_classes": 10} if model == "vgg16" else {}
    graph, built, init = build_small(model, seed=1, **lighter)
    images, labels = fake_batch(model, 8, seed=1)
    with graph.as_default():
        first_kernel = [v for v in tf1.trainable_variables() if v.op.name != "Variable"][0]
    # vgg16's train feed has dropout; alexnet needs the train feed for its
    # tf.layers batch norms (their moving statistics barely move in 10 steps).
    loss_feed = built.feed(images, labels, training=(model == "alexnet_cifar10"))
    with tf1.Session(graph=graph) as sess:
        sess.run(init)
        kernel_before = sess.run(first_kernel)
        loss_before = sess.run(built.loss, loss_feed)
        for _ in range(TRAIN_STEPS):
            sess.run(built.train_op, built.feed(images, labels, training=True))
        loss_after = sess.run(built.loss, loss_feed)
        assert not np.allclose(sess.run(first_kernel), kernel_before)
    assert np.isfinite(loss_after)
    # vgg16 learns slowly here (Adam 1e-4, ReLU'd fc8): about -9 % in 10 steps.
    assert loss_after < 0.95 * loss_before


# ---------------------------------------------------------------- vgg16


def test_vgg16_defaults_are_the_originals():
    options = vgg16.Options()
    assert (options.batch_size, options.num_batches, options.num_burn_in) == (32, 100, 10)
    assert (options.image_size, options.keep_prob, options.num_classes) == (224, 0.5, 1000)
    assert options.conv4_3_filters == 2512
    assert not options.fix_fc8_relu and not options.fix_timing_stats


def test_vgg16_bench_graph_has_exactly_the_originals_variables():
    with graph_scope():
        images, keep_prob, predictions, grads = vgg16.bench_graph()
        assert global_variables() == golden_variables("vgg16")
        assert images.op.name == "Variable" and images.shape.as_list() == [32, 224, 224, 3]
        assert keep_prob.op.type == "Placeholder"
        assert predictions.dtype == tf.int64
        assert [g.shape.as_list() for g in grads] == [s for _, s in golden_variables("vgg16")[1:]]


def test_vgg16_bench_graph_runs_forward_and_backward():
    with graph_scope(3) as graph:
        _, keep_prob, predictions, grads = vgg16.bench_graph(SMALL["vgg16"])
        init = tf1.global_variables_initializer()
    with tf1.Session(graph=graph) as sess:
        sess.run(init)
        assert sess.run(predictions, {keep_prob: 1.0}).shape == (2,)
        values = sess.run(grads, {keep_prob: 0.5})
    assert len(values) == 32
    assert all(np.all(np.isfinite(v)) for v in values)
    assert any(np.any(v != 0) for v in values)


def test_vgg16_conv4_3_typo_option():
    def shapes(**overrides):
        with graph_scope():
            vgg16.build(vgg16.Options(**overrides))
            return dict(global_variables())

    typo, fixed = shapes(), shapes(conv4_3_filters=512)
    assert typo["conv4_3/w"] == [3, 3, 512, 2512] and typo["conv5_1/w"] == [3, 3, 2512, 512]
    assert fixed["conv4_3/w"] == [3, 3, 512, 512] and fixed["conv5_1/w"] == [3, 3, 512, 512]
    assert fixed["conv4_3/b"] == [512]


def test_vgg16_fc8_is_relud_by_default_and_linear_with_fix():
    images, _ = fake_batch("vgg16", 4, seed=5)
    outputs = {}
    for fix in (False, True):
        # Same seed and same ops up to fc8, so both graphs get the same weights.
        graph, built, init = build_small("vgg16", seed=7, fix_fc8_relu=fix)
        assert built.logits.op.type == ("BiasAdd" if fix else "Relu")
        with tf1.Session(graph=graph) as sess:
            sess.run(init)
            outputs[fix] = sess.run(built.logits, built.feed(images, training=False))
    assert np.all(outputs[False] >= 0)
    assert np.any(outputs[True] < 0)
    np.testing.assert_allclose(outputs[False], np.maximum(outputs[True], 0), rtol=1e-5, atol=1e-6)


def test_vgg16_build_reads_the_random_batch_unless_fed_and_never_trains_it():
    graph, built, init = build_small("vgg16", seed=2)
    image_batch = variable(graph, "Variable")
    assert image_batch.trainable  # as in the original (a plain tf.Variable)
    assert built.inputs.op.type == "PlaceholderWithDefault"
    assert built.labels.dtype == tf.int64
    images, labels = fake_batch("vgg16", 2)
    with tf1.Session(graph=graph) as sess:
        sess.run(init)
        before = sess.run(image_batch)
        unfed = sess.run(built.logits, dict(built.eval_feed))
        sess.run(built.train_op, built.feed(images, labels, training=True))
        np.testing.assert_array_equal(sess.run(image_batch), before)
    assert unfed.shape == (2, 1000)
    assert built.train_feed[next(iter(built.train_feed))] == 0.5
    assert list(built.eval_feed.values()) == [1.0]


def test_timing_stats_faithful_reproduces_the_headers_numbers():
    # seed002's header: ~14.29 s per step, 110 steps; only i % 10 == 0 steps
    # (11 of them, burn-in included) are summed and divided by 100.
    mean, std = vgg16.timing_stats([14.29] * 110, num_burn_in=10, faithful=True)
    assert mean == pytest.approx(11 * 14.29 / 100)
    assert round(mean, 3) == 1.572
    assert std == pytest.approx(math.sqrt(11 * 14.29**2 / 100 - (11 * 14.29 / 100) ** 2))
    assert round(std, 2) == 4.47


def test_timing_stats_default_uses_the_measured_steps():
    durations = [100.0] * 10 + [float(1 + i % 7) for i in range(100)]
    stats = vgg16.timing_stats(durations)
    assert stats.mean == pytest.approx(statistics.fmean(durations[10:]))
    assert stats.std == pytest.approx(statistics.pstdev(durations[10:]))
    # The faithful figures come from steps 0, 10, ..., 100 only, over 100.
    sampled = durations[::10]
    faithful = vgg16.timing_stats(durations, faithful=True)
    assert faithful.mean == pytest.approx(sum(sampled) / 100)
    assert faithful.std == pytest.approx(
        math.sqrt(sum(d * d for d in sampled) / 100 - (sum(sampled) / 100) ** 2)
    )
    assert vgg16.timing_stats([14.29] * 110) == pytest.approx((14.29, 0.0))


def test_benchmark_stats_follow_the_fix_timing_stats_option():
    durations = [2.0] * 10 + [1.0, 3.0] * 50
    assert vgg16.benchmark_stats(durations) == vgg16.timing_stats(durations, faithful=True)
    fixed = vgg16.benchmark_stats(durations, vgg16.Options(fix_timing_stats=True))
    assert fixed == pytest.approx((2.0, 1.0))


def test_timing_stats_rejects_too_few_steps():
    with pytest.raises(ValueError, match="num_burn_in=10"):
        vgg16.timing_stats([1.0] * 10)
    # 1 measured step, 2 sampled (i = 0, 10): the original's variance is 2/1 - 2**2 < 0.
    with pytest.raises(ValueError, match="negative variance"):
        vgg16.timing_stats([1.0] * 11, faithful=True)


def test_vgg16_resize_matches_tf_image_resize():
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, (2, 3, 32, 32)).astype(np.uint8)
    for size in (48, 224):
        ours = vgg16.resize_images(images, size)
        nhwc = images.transpose(0, 2, 3, 1).astype(np.float32) / 255.0
        reference = tf.image.resize(nhwc, [size, size], method="bilinear").numpy()
        assert ours.dtype == np.float32 and ours.shape == (2, size, size, 3)
        # TF interpolates in float32, we in float64: float32 rounding only.
        np.testing.assert_allclose(ours, reference, atol=1e-5)


def test_vgg16_source_covers_each_epoch_and_is_seeded():
    images = np.arange(10, dtype=np.uint8).repeat(3 * 32 * 32).reshape(10, 3, 32, 32)
    labels = np.arange(10, dtype=np.int64)

    def label_stream(seed):
        source = vgg16.ResizedCifarSource(images, labels, 4, 8, seed)
        batches = [source.next_batch() for _ in range(5)]  # 20 = two epochs
        assert all(b[0].shape == (4, 8, 8, 3) and b[0].dtype == np.float32 for b in batches)
        for batch_images, batch_labels in batches:
            # A constant image of value k resizes to k/255 everywhere.
            np.testing.assert_allclose(batch_images[:, 0, 0, 0], batch_labels / 255.0, rtol=1e-6)
        return np.concatenate([b[1] for b in batches])

    stream = label_stream(3)
    assert sorted(stream[:10]) == list(range(10)) and sorted(stream[10:]) == list(range(10))
    np.testing.assert_array_equal(stream, label_stream(3))
    assert not np.array_equal(stream, label_stream(4))


# ---------------------------------------------------------------- alexnet_cifar10


def test_alexnet_defaults_are_the_originals():
    options = alexnet_cifar10.Options()
    assert (options.steps, options.batch_size, options.learning_rate) == (10000, 20, 1e-3)
    assert (options.test_steps, options.eval_every, options.log_every) == (100, 5000, 500)
    assert options.data_seed is None
    flags = ("fix_batch_normal_inference", "fix_conv5_relu_before_bn", "drop_bias_before_bn")
    assert not any(getattr(options, f) for f in (*flags, "fix_pool_names", "full_test_set"))


def test_alexnet_placeholders_accuracy_and_train_op_as_the_original():
    graph, built, _ = build_small("alexnet_cifar10")
    assert built.inputs.shape.as_list() == [None, 3072] and built.inputs.dtype == tf.float32
    assert built.labels.shape.as_list() == [None] and built.labels.dtype == tf.int64
    (is_training,) = built.train_feed
    assert is_training.dtype == tf.bool and is_training.shape.as_list() == []
    assert built.train_feed == {is_training: True} and built.eval_feed == {is_training: False}
    assert built.accuracy.dtype == tf.float64
    assert built.train_op.name.startswith("train_op/")
    update_ops = graph.get_collection(tf1.GraphKeys.UPDATE_OPS)
    assert len(update_ops) == 4  # moving mean and variance of the two tf.layers BNs


def test_alexnet_train_step_runs_the_update_ops():
    graph, built, init = build_small("alexnet_cifar10", seed=4)
    moving_mean = variable(graph, "batch_normalization/moving_mean")
    images, labels = fake_batch("alexnet_cifar10", 6)
    with tf1.Session(graph=graph) as sess:
        sess.run(init)
        sess.run([built.loss, built.accuracy], built.feed(images, labels, training=True))
        np.testing.assert_array_equal(sess.run(moving_mean), 0.0)
        sess.run(built.train_op, built.feed(images, labels, training=True))
        assert np.any(sess.run(moving_mean) != 0.0)


def test_alexnet_second_pool_is_named_pool2_again():
    def pool_ops(**overrides):
        graph, _, _ = build_small("alexnet_cifar10", **overrides)
        return sorted(op.name for op in graph.get_operations() if op.type == "MaxPool")

    assert pool_ops() == ["pool1/MaxPool", "pool2/MaxPool", "pool2_1/MaxPool"]
    assert pool_ops(fix_pool_names=True) == ["pool1/MaxPool", "pool2/MaxPool", "pool5/MaxPool"]


def _first_example_logits(graph, built, init, batches) -> list[np.ndarray]:
    with tf1.Session(graph=graph) as sess:
        sess.run(init)
        return [sess.run(built.logits, built.feed(b, training=False))[0] for b in batches]


def test_alexnet_batch_normal_uses_batch_statistics_at_test_time():
    images, _ = fake_batch("alexnet_cifar10", 8, seed=2)
    other = images.copy()
    other[1:] = fake_batch("alexnet_cifar10", 7, seed=3)[0]  # same first example
    faithful = _first_example_logits(*build_small("alexnet_cifar10", seed=6), [images, other])
    assert not np.allclose(faithful[0], faithful[1], atol=1e-4)
    fixed = _first_example_logits(
        *build_small("alexnet_cifar10", seed=6, fix_batch_normal_inference=True), [images, other]
    )
    np.testing.assert_allclose(fixed[0], fixed[1], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("fix", [False, True])
def test_alexnet_batch_normal_ema_updates_on_evaluation_unless_fixed(fix):
    graph, built, init = build_small("alexnet_cifar10", seed=6, fix_batch_normal_inference=fix)
    assert [v[0] for v in global_variables_of(graph)] == [
        v[0] for v in golden_variables("alexnet_cifar10")
    ]
    shadow = variable(graph, "moments/Squeeze/ExponentialMovingAverage")
    images, labels = fake_batch("alexnet_cifar10", 5)
    with tf1.Session(graph=graph) as sess:
        sess.run(init)
        sess.run(built.accuracy, built.feed(images, labels, training=False))
        eval_changed = np.any(sess.run(shadow) != 0.0)
        sess.run(built.loss, built.feed(images, labels, training=True))
        assert np.any(sess.run(shadow) != 0.0)  # training runs update it either way
    assert eval_changed is np.bool_(not fix)


def test_alexnet_conv5_relu_before_bn_option():
    _, faithful, _ = build_small("alexnet_cifar10")
    _, fixed, _ = build_small("alexnet_cifar10", fix_conv5_relu_before_bn=True)
    assert faithful.end_points["conv5"].op.type == "Relu"
    assert fixed.end_points["conv5"].op.type == "BiasAdd"
    assert faithful.end_points["conv2"].op.type == "BiasAdd"  # conv2 is linear in the original


def test_alexnet_drop_bias_before_bn_option():
    graph, _, _ = build_small("alexnet_cifar10", drop_bias_before_bn=True)
    names = [name for name, _ in global_variables_of(graph)]
    dropped = {"conv2/bias", "dense/bias", "dense_1/bias"}
    golden = [name for name, _ in golden_variables("alexnet_cifar10")]
    assert names == [n for n in golden if n.split("/Adam")[0] not in dropped]
    with graph.as_default():
        count = sum(int(np.prod(v.shape)) for v in tf1.trainable_variables())
    assert count == TRAINABLE_PARAMS["alexnet_cifar10"] - (96 + 1024 + 1024)


# ---------------------------------------------------------------- data sources


@pytest.fixture
def cifar_dirs(tmp_path):
    """Tiny CIFAR-10 binary and python batch directories: 5 x 12 train, 50 test images."""
    rng = np.random.RandomState(0)
    bin_dir, py_dir = tmp_path / "bin", tmp_path / "py"
    bin_dir.mkdir()
    py_dir.mkdir()
    splits = {f"data_batch_{i}": 12 for i in range(1, 6)} | {"test_batch": 50}
    written = {}
    for name, count in splits.items():
        images = rng.randint(0, 256, (count, 3, 32, 32)).astype(np.uint8)
        labels = rng.randint(0, 10, count).astype(np.uint8)
        written[name] = (images, labels)
        cifar.write_cifar_bin(bin_dir / f"{name}.bin", images, labels)
        cifar.write_batch(
            py_dir / name,
            images.reshape(count, 3072),
            [int(label) for label in labels],
            batch_label=name,
            filenames=[f"{name}_{i}.png" for i in range(count)],
        )
    labels = [f"class_{k}" for k in range(10)]
    (bin_dir / "batches.meta.txt").write_text("\n".join(labels) + "\n")
    cifar.write_meta(py_dir / "batches.meta", labels, num_cases_per_batch=12)
    return bin_dir, py_dir, written


def test_vgg16_train_source_and_test_batches(cifar_dirs):
    bin_dir, _, written = cifar_dirs
    options = vgg16.Options(image_size=40, batch_size=16, data_seed=0)
    source = vgg16.train_source(options, str(bin_dir))
    assert source.num_examples == 60
    images, labels = source.next_batch(None)
    assert images.shape == (16, 40, 40, 3) and images.dtype == np.float32
    assert labels.dtype == np.int64 and images.min() >= 0.0 and images.max() <= 1.0
    chunks = list(vgg16.test_batches(options, str(bin_dir)))
    assert [len(y) for _, y in chunks] == [16, 16, 16, 2]
    test_images, test_labels = written["test_batch"]
    np.testing.assert_array_equal(np.concatenate([y for _, y in chunks]), test_labels)
    np.testing.assert_allclose(chunks[0][0], vgg16.resize_images(test_images[:16], 40))


def test_alexnet_train_source_and_test_batches(cifar_dirs):
    _, py_dir, written = cifar_dirs
    options = alexnet_cifar10.Options(batch_size=20, test_steps=2, data_seed=0)
    source = alexnet_cifar10.train_source(options, str(py_dir))
    assert source.num_examples == 60
    images, labels = source.next_batch(None)
    assert images.shape == (20, 3072) and images.min() >= -1.0 and images.max() <= 1.0
    train_pixels = np.concatenate([written[f"data_batch_{i}"][0] for i in range(1, 6)])
    assert any(np.allclose(images[0], row / 127.5 - 1) for row in train_pixels.reshape(60, 3072))
    test_images, test_labels = written["test_batch"]
    flat_test = test_images.reshape(50, 3072) / 127.5 - 1

    # The original's test loop: test_steps unshuffled batches from the start.
    chunks = list(alexnet_cifar10.test_batches(options, str(py_dir)))
    assert [len(y) for _, y in chunks] == [20, 20]
    np.testing.assert_allclose(np.concatenate([x for x, _ in chunks]), flat_test[:40])
    assert all(y.dtype == np.int64 for _, y in chunks)
    # More steps than the split holds: only its full batches (the original raised).
    more = alexnet_cifar10.Options(batch_size=20, test_steps=100)
    assert [len(y) for _, y in alexnet_cifar10.test_batches(more, str(py_dir))] == [20, 20]
    full = alexnet_cifar10.Options(batch_size=20, full_test_set=True)
    chunks = list(alexnet_cifar10.test_batches(full, str(py_dir)))
    assert [len(y) for _, y in chunks] == [20, 20, 10]
    np.testing.assert_array_equal(np.concatenate([y for _, y in chunks]), test_labels)
