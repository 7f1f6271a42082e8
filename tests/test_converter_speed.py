"""The converter's fast paths: absl crc32c through ctypes, the checked one-pass copy,
no Keras model drawn at full size, and ``--timings``.

The outputs themselves are compared with the materialising path's, byte for
byte, in tests/test_converters_fastpath.py.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from converters import ckpt_v1_to_v2, fastcrc, fastpath, tablefile
from converters.bundle import write_name_based

STEPS = {"resnet_mnist": 1}


@pytest.fixture(scope="module")
def sources(legacy_checkpoints):
    return legacy_checkpoints(STEPS, {})


def test_absl_crc32c_matches_the_reference_one():
    extend = fastcrc.extender()
    assert extend is not None, "TensorFlow's absl crc32c was not found"
    rng = np.random.default_rng(0)
    for size in (0, 1, 7, 4096, 100_003):
        data = rng.integers(0, 256, size, dtype=np.uint8)
        address = data.ctypes.data
        assert extend(0, address, size) == tablefile.crc32c(data.tobytes())
        half = size // 2
        assert extend(extend(0, address, half), address + half, size - half) == tablefile.crc32c(
            data.tobytes()
        )


@pytest.mark.parametrize("first, second", [(0, 5), (100, 37), (5, 0), (1 << 16, 3)])
def test_crc32c_combine(first, second):
    data = np.random.default_rng(1).integers(0, 256, first + second, dtype=np.uint8).tobytes()
    a, b = data[:first], data[first:]
    combined = tablefile.crc32c_combine(tablefile.crc32c(a), tablefile.crc32c(b), len(b))
    assert combined == tablefile.crc32c(data)


def _bundle(tmp_path) -> fastpath.Bundle:
    rng = np.random.default_rng(2)
    tensors = {
        "big": rng.random((300, 70), dtype=np.float32),  # several pieces below
        "small": rng.random(5).astype(np.float64),
        "step": np.asarray(7, np.int64),
    }
    prefix = str(tmp_path / "source" / "t")
    os.makedirs(os.path.dirname(prefix))
    write_name_based(prefix, tensors)
    return fastpath.read_source(prefix)


def test_checked_copy_in_pieces_reads_back_through_tf(tmp_path, monkeypatch):
    monkeypatch.setattr(fastpath, "_PIECE", 4096)  # the 84 kB tensor: 21 pieces, combined
    monkeypatch.setattr(fastpath, "_BUFFER", 1000)
    source = _bundle(tmp_path)
    parts = [fastpath.copied(f"out/{k}", source, k) for k in sorted(source.entries)]
    parts.append(fastpath.zeros("out/zeros", "float32", (3, 4)))
    out = str(tmp_path / "out" / "t")
    os.makedirs(os.path.dirname(out))
    fastpath.write_bundle(out, parts, source.header, check=True)
    reader = tf.train.load_checkpoint(out)
    original = tf.train.load_checkpoint(source.prefix)
    for key in source.entries:
        assert reader.get_tensor(f"out/{key}").tobytes() == original.get_tensor(key).tobytes()
    assert not reader.get_tensor("out/zeros").any()


def test_checked_copy_names_a_damaged_tensor_and_leaves_no_data_file(tmp_path, monkeypatch):
    monkeypatch.setattr(fastpath, "_PIECE", 4096)
    source = _bundle(tmp_path)
    entry = source.entries["big"]
    path = Path(source.data_file(entry))
    data = bytearray(path.read_bytes())
    data[entry.offset + entry.size - 10] ^= 0x01  # in the last piece
    path.write_bytes(bytes(data))
    parts = [fastpath.copied(k, source, k) for k in sorted(source.entries)]
    out = str(tmp_path / "out" / "t")
    os.makedirs(os.path.dirname(out))
    with pytest.raises(fastpath.BadChecksum, match="big"):
        fastpath.write_bundle(out, parts, source.header, check=True)
    assert os.listdir(os.path.dirname(out)) == []


def test_unverified_conversion_draws_no_initial_values(sources, tmp_path, monkeypatch):
    import tf2_port

    def refuse(*args, **kwargs):
        raise AssertionError("the unverified fast path built a randomly initialised port")

    monkeypatch.setattr(tf2_port, "build", refuse)
    output = str(tmp_path / "out")
    ckpt_v1_to_v2.convert(
        sources("resnet_mnist"), model="resnet_mnist", output=output, verification=False
    )
    model = tf2_port.load("resnet_mnist", output)  # and the output restores
    assert model.weights


def test_timings_file_holds_every_phase(sources, tmp_path):
    timings = tmp_path / "timings.json"
    code = ckpt_v1_to_v2.main(
        [sources("resnet_mnist"), "--output", str(tmp_path / "out"), "--timings", str(timings)]
    )
    assert code == 0
    seconds = json.loads(timings.read_text())["seconds"]
    phases = ("plan", "write", "legacy_build", "legacy_restore", "legacy_forward")
    assert set(phases + ("port_load", "port_forward", "convert")) <= seconds.keys()
    assert all(value >= 0 for value in seconds.values())
    assert seconds["convert"] >= seconds["write"] + seconds["legacy_forward"]


def test_bench_verify_budget_pairs_rounds_and_adds_the_forward_passes():
    from bench.converter_cases import _verify_budget

    samples = {"convert": [20.0, 22.0], "convert_unverified": [14.0, 15.0], "import": [10.0, 11.0]}
    phases = [
        {"legacy_forward": 1.0, "port_forward": 1.0},
        {"legacy_forward": 2.0, "port_forward": 0.0},
    ]
    result = _verify_budget(samples, phases)
    # Round 1: 10 / (4 + 2); round 2: 11 / (4 + 2).
    assert result["details"]["ratio"]["n"] == 2
    assert result["value"] == pytest.approx((10 / 6 + 11 / 6) / 2, rel=1e-3)


def test_bench_load_results_report_both_sides_rss():
    from bench.converter_cases import _load_results
    from bench.processes import ProcessRun

    samples = {"port": [1.0, 3.0], "legacy": [2.0, 2.0]}
    runs = {"port": [ProcessRun(9.0, 1300.0)] * 2, "legacy": [ProcessRun(9.5, 1200.0)] * 2}
    results = _load_results(samples, runs, 600.0)
    assert results["load_ratio_vgg16"]["value"] == pytest.approx(1.0)
    assert results["load_port_peak_rss_mb"]["value"] == 1300.0
    assert results["load_legacy_peak_rss_mb"]["details"]["tf_baseline_mb"] == 600.0
