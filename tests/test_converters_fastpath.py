"""The streaming conversion path (converters/fastpath.py) and the index format (tablefile.py).

The fast path must write what the materialising path writes: each test converts
the same legacy checkpoint both ways and compares the outputs tensor by tensor.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.protobuf import trackable_object_graph_pb2

from converters import ckpt_v1_to_v2, fastpath, maps, tablefile, write
from converters.bundle import EXIT_INPUT, Reader, resolve, write_name_based

STEPS = {
    "resnet_mnist": 2,
    "cifar10_cnn": 1,
    "vgg16": 0,
    "resnet_mnist_class": 1,
    "alexnet_cifar10": 1,
}
OPTIONS = {"vgg16": {"image_size": 32}}
FALLBACK_NOTE = "converting through the full port"


@pytest.fixture(scope="module")
def sources(legacy_checkpoints):
    """model -> directory of a small legacy Saver checkpoint, trained lazily once."""
    return legacy_checkpoints(STEPS, OPTIONS)


def _slow(monkeypatch):
    """Force the materialising path."""

    def refuse(plan, resolved):
        raise fastpath.Unsupported("forced by the test")

    monkeypatch.setattr(ckpt_v1_to_v2, "_fast_source", refuse)


def _object_graph(prefix: str):
    value = Reader(prefix).get(fastpath.OBJECT_GRAPH_KEY)
    return trackable_object_graph_pb2.TrackableObjectGraph.FromString(value)


def _graph_shape(graph) -> list:
    """Nodes' edges and checkpoint keys: the structure assert_consumed() matches on."""
    return [
        (
            sorted((c.local_name, c.node_id) for c in node.children),
            sorted(a.checkpoint_key for a in node.attributes),
            sorted((s.original_variable_node_id, s.slot_name) for s in node.slot_variables),
        )
        for node in graph.nodes
    ]


def assert_same_outputs(fast: str, slow: str) -> None:
    """Same keys, dtypes, shapes and bytes; object graphs of the same structure; same side files."""
    a, b = Reader(resolve(fast).prefix), Reader(resolve(slow).prefix)
    assert a.infos.keys() == b.infos.keys()
    assert os.path.basename(a.prefix) == os.path.basename(b.prefix)  # ckpt-STEP
    for name in a.tensor_names():
        x, y = a.get(name), b.get(name)
        assert x.dtype == y.dtype and x.shape == y.shape, name
        assert x.tobytes() == y.tobytes(), name
    assert _graph_shape(_object_graph(a.prefix)) == _graph_shape(_object_graph(b.prefix))
    for side in ("port_config.json", "manifest.json"):
        assert Path(fast, side).read_text() == Path(slow, side).read_text()
    ignored = [os.path.join(d, ckpt_v1_to_v2.IGNORED_PREFIX) for d in (fast, slow)]
    assert os.path.exists(ignored[0] + ".index") == os.path.exists(ignored[1] + ".index")
    if os.path.exists(ignored[0] + ".index"):
        left, right = Reader(ignored[0]), Reader(ignored[1])
        assert left.tensor_names() == right.tensor_names()
        for name in left.tensor_names():
            assert left.get(name).tobytes() == right.get(name).tobytes()


# ---- tablefile -----------------------------------------------------------------------------


def test_crc32c_known_values_and_zero_runs():
    assert tablefile.crc32c(b"123456789") == 0xE3069283  # the standard check value
    assert tablefile.crc32c(b"") == 0
    for count in (0, 1, 7, 4096, 100_003):
        assert tablefile.crc32c_zeros(count) == tablefile.crc32c(bytes(count))
        assert tablefile.crc32c_zeros(count, tablefile.crc32c(b"ab")) == tablefile.crc32c(
            b"ab" + bytes(count)
        )
    assert tablefile.unmask(tablefile.mask(0x12345678)) == 0x12345678


@pytest.mark.parametrize("count", [3, 6000])
def test_tf_written_index_round_trips_byte_for_byte(tmp_path, count):
    # 6000 long keys span several 256 KiB data blocks and index entries.
    names = [
        f"layer_{i:05d}/with/a/long/variable/name/.ATTRIBUTES/VARIABLE_VALUE" for i in range(count)
    ]
    values = [np.arange(i % 5 + 1, dtype=np.float32) * i for i in range(count)]
    prefix = str(tmp_path / "saved")
    tf.raw_ops.SaveV2(
        prefix=prefix,
        tensor_names=names,
        shape_and_slices=[""] * count,
        tensors=[tf.constant(v) for v in values],
    )
    original = (tmp_path / "saved.index").read_bytes()
    items = tablefile.read_table(prefix + ".index")
    assert len(items) == count + 1 and items[0][0] == b""
    tablefile.write_table(str(tmp_path / "copy.index"), items)
    assert (tmp_path / "copy.index").read_bytes() == original
    header, entries = tablefile.read_bundle_index(prefix + ".index")
    tablefile.write_bundle_index(str(tmp_path / "again.index"), header, entries)
    assert (tmp_path / "again.index").read_bytes() == original
    # The payload crc32c that TF stores is the masked crc of the tensor's bytes.
    data = (tmp_path / "saved.data-00000-of-00001").read_bytes()
    entry = entries[names[-1]]
    raw = data[entry.offset : entry.offset + entry.size]
    assert tablefile.mask(tablefile.crc32c(raw)) == entry.crc32c


def test_tf_reads_a_bundle_assembled_by_write_bundle(tmp_path):
    left, right = str(tmp_path / "left"), str(tmp_path / "right")
    write_name_based(left, {"a": np.arange(6, dtype=np.float32).reshape(2, 3)})
    write_name_based(right, {"b": np.array(7, np.int64), "c": np.ones(4, np.float64)})
    one, two = fastpath.read_source(left), fastpath.read_source(right)
    parts = [
        fastpath.copied("x/renamed", one, "a"),
        fastpath.copied("y", two, "b"),
        fastpath.copied("z", two, "c"),
        fastpath.zeros("zeros", "float32", (1000, 3)),
    ]
    out = str(tmp_path / "out")
    fastpath.write_bundle(out, parts, one.header)
    reader = tf.train.load_checkpoint(out)
    np.testing.assert_array_equal(reader.get_tensor("x/renamed"), np.arange(6).reshape(2, 3))
    assert reader.get_tensor("y") == 7 and reader.get_tensor("z").sum() == 4
    np.testing.assert_array_equal(reader.get_tensor("zeros"), np.zeros((1000, 3), np.float32))
    # And TF's restore op checks every crc32c (the zeros' computed one included).
    restored = tf.raw_ops.RestoreV2(
        prefix=out,
        tensor_names=["x/renamed", "y", "z", "zeros"],
        shape_and_slices=[""] * 4,
        dtypes=[tf.float32, tf.int64, tf.float64, tf.float32],
    )
    assert restored[3].shape == (1000, 3)


def test_damaged_index_is_a_table_error(tmp_path):
    write_name_based(str(tmp_path / "b"), {"a": np.ones(3, np.float32)})
    data = bytearray((tmp_path / "b.index").read_bytes())
    data[3] ^= 0x10
    (tmp_path / "b.index").write_bytes(bytes(data))
    with pytest.raises(tablefile.TableError, match="crc32c"):
        tablefile.read_table(str(tmp_path / "b.index"))


# ---- the fast path against the materialising one --------------------------------------------


@pytest.mark.parametrize("model", maps.MAPS)
def test_fast_path_writes_what_the_full_port_writes(model, sources, tmp_path, monkeypatch, capsys):
    fast = str(tmp_path / "fast")
    ckpt_v1_to_v2.convert(sources(model), model=model, output=fast, verification=False)
    assert FALLBACK_NOTE not in capsys.readouterr().err
    _slow(monkeypatch)
    slow = str(tmp_path / "slow")
    ckpt_v1_to_v2.convert(sources(model), model=model, output=slow, verification=False)
    assert FALLBACK_NOTE in capsys.readouterr().err
    assert_same_outputs(fast, slow)


def test_fast_path_verifies_and_its_output_resumes(sources, tmp_path):
    output = str(tmp_path / "out")
    result = ckpt_v1_to_v2.convert(sources("resnet_mnist"), model="resnet_mnist", output=output)
    assert result.max_abs_diff is not None and result.iterations == STEPS["resnet_mnist"]
    state = ckpt_v1_to_v2.build_port("resnet_mnist", result.overrides)
    state.checkpoint().restore(tf.train.latest_checkpoint(output)).assert_consumed()
    source = Reader(resolve(sources("resnet_mnist")).prefix)
    np.testing.assert_array_equal(
        state.target("adam/v/res2a_shortcut/kernel").numpy(), source.get("res2a/Variable_6/Adam_1")
    )
    assert int(state.optimizer.iterations.numpy()) == STEPS["resnet_mnist"]


def test_no_optimizer_output_holds_fresh_zero_slots_not_the_sources(sources, tmp_path, monkeypatch):
    model = "resnet_mnist"  # its legacy trainer saves the Adam slots (seed001's does not)
    fast = str(tmp_path / "fast")
    ckpt_v1_to_v2.convert(sources(model), model=model, output=fast, optimizer=False)
    reader = Reader(resolve(fast).prefix)
    slots = [n for n in reader.tensor_names() if n.startswith("optimizer/_variables/")]
    assert slots and all(not reader.get(n).any() for n in slots)
    # None of the source's Adam tensors' bytes are in the output's data file.
    source = Reader(resolve(sources(model)).prefix)
    data = Path(resolve(fast).prefix + ".data-00000-of-00001").read_bytes()
    adam = [source.get(n) for n in source.tensor_names() if n.endswith(("/Adam", "/Adam_1"))]
    assert adam and not any(value.tobytes() in data for value in adam if value.any())
    _slow(monkeypatch)
    slow = str(tmp_path / "slow")
    ckpt_v1_to_v2.convert(sources(model), model=model, output=slow, optimizer=False)
    assert_same_outputs(fast, slow)


def test_v1_single_file_falls_back_to_the_full_port(sources, tmp_path, capsys):
    from test_converters import rewrite_checkpoint

    prefix = rewrite_checkpoint(
        sources("cifar10_cnn"), str(tmp_path / "v1" / "model.ckpt"), v1=True
    )
    result = ckpt_v1_to_v2.convert(prefix, output=str(tmp_path / "out"), verification=False)
    assert result.model == "cifar10_cnn"
    assert FALLBACK_NOTE in capsys.readouterr().err


def test_sharded_source_is_streamed_from_both_shards(sources, tmp_path, monkeypatch, capsys):
    from test_converters import rewrite_checkpoint

    prefix = rewrite_checkpoint(
        sources("resnet_mnist"), str(tmp_path / "sharded" / "model.ckpt"), shards=2
    )
    bundle = fastpath.read_source(prefix)
    assert {e.shard_id for e in bundle.entries.values()} == {0, 1}
    fast = str(tmp_path / "fast")
    ckpt_v1_to_v2.convert(prefix, output=fast)
    assert FALLBACK_NOTE not in capsys.readouterr().err
    _slow(monkeypatch)
    slow = str(tmp_path / "slow")
    ckpt_v1_to_v2.convert(prefix, output=slow, verification=False)
    assert_same_outputs(fast, slow)


@pytest.mark.parametrize("fast_crc", [True, False], ids=["crc-while-copying", "read-back"])
def test_flipped_byte_in_an_adam_slot_is_an_input_error(
    sources, tmp_path, capsys, monkeypatch, fast_crc
):
    # Verification never reads Adam slots: the crc32c check must catch it, whether it runs
    # while copying (TF's crc32c found) or as a read-back through TF's reader.
    if not fast_crc:
        monkeypatch.setattr(write.fastcrc, "extender", lambda: None)
    directory = tmp_path / "flipped"
    os.makedirs(directory)
    source = resolve(sources("resnet_mnist")).prefix
    for suffix in (".index", ".data-00000-of-00001"):
        with open(source + suffix, "rb") as stream:
            (directory / ("model.ckpt-1" + suffix)).write_bytes(stream.read())
    bundle = fastpath.read_source(str(directory / "model.ckpt-1"))
    entry = bundle.entries["Variable_2/Adam_1"]
    data_file = directory / "model.ckpt-1.data-00000-of-00001"
    data = bytearray(data_file.read_bytes())
    data[entry.offset + entry.size // 2] ^= 0x40
    data_file.write_bytes(bytes(data))
    output = tmp_path / "out"
    code = ckpt_v1_to_v2.main([str(directory / "model.ckpt-1"), "--output", str(output)])
    err = capsys.readouterr().err
    assert code == EXIT_INPUT, err
    assert "Variable_2/Adam_1" in err and "Traceback" not in err
    assert sorted(os.listdir(tmp_path)) == ["flipped"]


def test_auto_detection_builds_no_full_size_port(sources, monkeypatch):
    built = []
    original = ckpt_v1_to_v2.build_port
    monkeypatch.setattr(
        ckpt_v1_to_v2, "build_port", lambda *a, **k: built.append(a) or original(*a, **k)
    )
    result = ckpt_v1_to_v2.convert(sources("resnet_mnist_class"), dry_run=True)
    assert result.model == "resnet_mnist_class" and built == []


def test_skeleton_keys_map_every_port_variable(sources, tmp_path):
    model = "alexnet_cifar10"
    overrides = ckpt_v1_to_v2.port_overrides(model, {})
    state = ckpt_v1_to_v2.build_port(model, overrides)
    names = set(fastpath.port_variables(state))
    layout = fastpath.skeleton_layout(state, str(tmp_path), 0, ckpt_v1_to_v2._save_port)
    mapped = {slot.variable for slot in layout.slots.values()}
    # Every variable has its key; only the object graph and save_counter are not variables.
    assert names <= mapped and mapped - names == {""}
    assert sorted(k for k, s in layout.slots.items() if not s.variable) == [
        fastpath.OBJECT_GRAPH_KEY,
        "save_counter/.ATTRIBUTES/VARIABLE_VALUE",
    ]
