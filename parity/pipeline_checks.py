"""The ``train_pipeline`` and ``eval_pipeline`` set-up checks (see parity/pipelines.py).

Both sides read one data directory with their own default pipelines: the
embedded MNIST sample for the MNIST models, a colour fixture for the
CIFAR-format ones. Two epochs' worth of training output (one pass of the
test split for evaluation) is traced back to the files, and these are
compared:

* coverage: distinct file images in the first epoch's worth / images in the split;
* traced: share of outputs that match a file image (correlation > 0.99 for
  unaugmented pipelines; augmented ones are still > 0.9 after contrast);
* labels: share of outputs whose label is their file image's label;
* order: the mean distance in the files between consecutive outputs, over the
  split's size (a full shuffle ~1/3, file order ~0), and the share of positions
  where epoch 2 repeats epoch 1's image;
* class shares of the first epoch;
* crops (row and column offset ranges and distributions), flip rate, contrast factor;
* per-image output mean and standard deviation (standardisation, scaling).

Margins are sampling margins (5 standard errors, or KS at stats.ALPHA).
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from parity import pipelines
from parity.checks import CheckRow
from parity.pipelines import Stream, Traced
from parity.setup_checks import (
    Finding,
    _row,
    at_least,
    exact,
    same_distribution,
    same_range,
    within,
)

# Outputs matching their traced file image at least this well count as traced.
TRACED_MATCH = 0.9
# Legacy options for the probe: the cifar10 queue's warm-up sized to the fixture.
_LEGACY_PROBE_OPTIONS: dict[str, dict[str, Any]] = {
    "cifar10_cnn": {"queue_examples_per_epoch": 5 * pipelines.FIXTURE_TRAIN_PER_FILE},
    "vgg16": {"image_size": 32, "num_classes": 10, "data_seed": 0},
    "alexnet_cifar10": {"data_seed": 0},
}
_PORT_PROBE_OPTIONS: dict[str, dict[str, Any]] = {"vgg16": {"image_size": 32, "num_classes": 10}}


@dataclasses.dataclass
class Sources:
    """The file images of one split, as uint8 NHWC, with labels (duplicates merged)."""

    images: np.ndarray
    labels: np.ndarray
    canonical: np.ndarray  # file index -> index of its first identical record


def read_sources(kind: str, directory: Path, split: str) -> Sources:
    """Every record of the train (validation prefix included) or test files."""
    from formats import cifar, idx

    if kind == "mnist":
        prefix = "train" if split == "train" else "t10k"
        images = idx.read_idx(_existing(directory, f"{prefix}-images-idx3-ubyte"))[..., None]
        labels = idx.read_idx(_existing(directory, f"{prefix}-labels-idx1-ubyte"))
    else:
        names = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
        parts = []
        for name in names:
            if kind == "cifar-bin":
                parts.append(cifar.read_cifar_bin(directory / f"{name}.bin"))
            else:
                batch = cifar.load_batch(directory / name)
                parts.append((batch["data"].reshape(-1, 3, 32, 32), np.asarray(batch["labels"])))
        images = np.concatenate([p[0] for p in parts]).transpose(0, 2, 3, 1)
        labels = np.concatenate([p[1] for p in parts])
    flat = images.reshape(len(images), -1)
    _, first, inverse = np.unique(flat, axis=0, return_index=True, return_inverse=True)
    return Sources(np.ascontiguousarray(images), labels.astype(np.int64), first[inverse.ravel()])


def _existing(directory: Path, stem: str) -> Path:
    for candidate in (directory / f"{stem}.gz", directory / stem):
        if candidate.exists():
            return candidate
    raise FileNotFoundError(f"{directory}: missing {stem}(.gz)")


# ---- each side's streams ----------------------------------------------------------------


def _ids(labels) -> np.ndarray:
    labels = np.asarray(labels)
    return labels.argmax(axis=1) if labels.ndim == 2 else labels.astype(np.int64)


def legacy_train_stream(name: str, data_dir: str, count: int, seed: int = 0) -> Stream:
    """``count`` training examples from the legacy model's own ``train_source``."""
    from converters import maps
    from legacy_tf1 import api
    from legacy_tf1 import registry as legacy_registry
    from legacy_tf1.core import graph_scope, tf1
    from legacy_tf1.train import queue_runners

    module = legacy_registry.get(name)
    options = api.options_for(name, **_LEGACY_PROBE_OPTIONS.get(name, {}))
    np.random.seed(seed)
    with graph_scope(seed) as graph:
        source = module.train_source(options, data_dir)
    uses_queues = bool(graph.get_collection(tf1.GraphKeys.QUEUE_RUNNERS))
    runners = queue_runners if uses_queues else lambda session: contextlib.nullcontext()
    with tf1.Session(graph=graph) as session, graph.as_default(), runners(session):
        batches = (source.next_batch(session) for _ in itertools.count())
        return _collect(batches, count, maps.get(name).to_port_inputs)


def port_train_stream(name: str, data_dir: str, count: int, seed: int = 0) -> Stream:
    """``count`` training examples from the port's own ``tf2_port.data.train_dataset``."""
    from tf2_port import data, registry

    spec = registry.get(name)
    config = spec.config(**_PORT_PROBE_OPTIONS.get(name, {}))
    dataset = data.train_dataset(
        spec.pipeline,
        batch_size=config.batch_size,
        data_dir=data_dir,
        seed=seed,
        image_size=getattr(config, "image_size", None),
    )
    return _collect(dataset, count)


def _collect(batches, count: int | None, to_port=np.asarray) -> Stream:
    """The first ``count`` examples (all when None) of ``batches``, images in the port layout."""
    images, labels = [], []
    for batch_images, batch_labels in batches:
        images.append(to_port(np.asarray(batch_images)))
        labels.append(_ids(batch_labels))
        if count is not None and sum(len(x) for x in labels) >= count:
            break
    images_all, labels_all = np.concatenate(images), np.concatenate(labels)
    return Stream(images_all[:count], labels_all[:count])


def legacy_eval_stream(name: str, data_dir: str, count: int) -> Stream:
    """The legacy model's own ``test_batches``, its first ``count`` examples."""
    from converters import maps
    from legacy_tf1 import api
    from legacy_tf1 import registry as legacy_registry

    options = api.options_for(name, **_LEGACY_PROBE_OPTIONS.get(name, {}))
    batches = legacy_registry.get(name).test_batches(options, data_dir)
    return _collect(batches, count, maps.get(name).to_port_inputs)


def port_eval_stream(name: str, data_dir: str) -> Stream:
    """One pass of the port's ``tf2_port.data.eval_dataset``."""
    from tf2_port import data, registry

    spec = registry.get(name)
    config = spec.config(**_PORT_PROBE_OPTIONS.get(name, {}))
    dataset = data.eval_dataset(
        spec.pipeline,
        batch_size=config.batch_size,
        data_dir=data_dir,
        image_size=getattr(config, "image_size", None),
    )
    return _collect(dataset, None)


# ---- facts from a traced stream ---------------------------------------------------------


def _traced(stream: Stream, sources: Sources) -> Traced:
    traced = pipelines.trace(stream, sources.images, sources.labels)
    traced.source = sources.canonical[traced.source]
    return traced


def stream_facts(traced: Traced, stream: Stream, epoch: int, distinct: int) -> dict[str, Any]:
    """Scalar facts and samples of one side's traced output (see the module doc)."""
    first = slice(0, epoch)
    flat = stream.images.reshape(len(stream.images), -1).astype(np.float64)
    facts = {
        "coverage": len(np.unique(traced.source[first])) / distinct,
        "traced": float(np.mean(traced.match > TRACED_MATCH)),
        "labels": float(np.mean(traced.labels_agree)),
        "jump": float(np.mean(np.abs(np.diff(traced.source[first])))) / distinct,
        "flip_rate": float(np.mean(traced.flipped)),
        "shares": np.bincount(stream.labels[first], minlength=10) / epoch,
        "offset_y": traced.offset_y,
        "offset_x": traced.offset_x,
        "contrast": traced.contrast,
        "image_mean": flat.mean(axis=1),
        "image_std": flat.std(axis=1),
    }
    if len(traced.source) >= 2 * epoch:
        facts["epoch_repeat"] = float(
            np.mean(traced.source[:epoch] == traced.source[epoch : 2 * epoch])
        )
    return facts


def compare_streams(legacy: dict[str, Any], port: dict[str, Any], epoch: int) -> list[Finding]:
    """The findings of one pipeline: scalar facts with sampling margins, samples by KS."""
    margin = 5.0 / np.sqrt(epoch)
    findings = [
        # One-sided: a queue's window shuffle (seed001) covers and mixes an epoch less
        # than a per-epoch permutation; a port may shuffle better, never worse.
        at_least("coverage of the split", legacy["coverage"], port["coverage"], margin),
        within("outputs traced to a file image", legacy["traced"], port["traced"], margin),
        within("labels equal their file image's", legacy["labels"], port["labels"], margin),
        # A full shuffle jumps N/3 file records between outputs on average (s.d. ~0.24 N).
        at_least(
            "mean jump between consecutive outputs / N", legacy["jump"], port["jump"], 0.3 * margin
        ),
        within("flip rate", legacy["flip_rate"], port["flip_rate"], margin),
        within(
            "largest class-share difference",
            0.0,
            float(np.max(np.abs(legacy["shares"] - port["shares"]))),
            margin,
        ),
    ]
    if "epoch_repeat" in legacy or "epoch_repeat" in port:
        findings.append(
            at_least(
                "epoch 2 differs from epoch 1's order",
                1.0 - legacy.get("epoch_repeat", np.nan),
                1.0 - port.get("epoch_repeat", np.nan),
                margin,
            )
        )
    for key in ("offset_y", "offset_x"):
        findings.append(exact(f"{key} range", _range(legacy[key]), _range(port[key])))
        findings.append(same_distribution(key, legacy[key], port[key]))
    # Resolutions far below any augmentation's spread, far above float32 round-off.
    for key, label, resolution in (
        ("contrast", "contrast factor", 1e-3),
        ("image_mean", "per-image mean", 1e-4),
        ("image_std", "per-image std", 1e-4),
    ):
        findings.append(same_distribution(label, legacy[key], port[key], resolution))
    findings.append(same_range("contrast factor", legacy["contrast"], port["contrast"], 1e-3))
    return findings


def _range(values: np.ndarray) -> tuple[int, int]:
    return (int(values.min()), int(values.max())) if len(values) else (0, 0)


# ---- the checks ---------------------------------------------------------------------------


def probe_dir(name: str, scratch: str) -> tuple[str, str]:
    """(data kind, directory) that both sides read: the MNIST sample, or a colour fixture."""
    from legacy_tf1 import registry as legacy_registry

    kind = legacy_registry.get(name).DATA_KIND
    if kind == "mnist":
        from formats import sample

        return kind, str(sample.sample_dir(kind))
    directory = Path(scratch) / kind
    if not directory.exists():
        pipelines.write_colour_fixture(kind, directory)
    return kind, str(directory)


def check_train_pipeline(name: str, scratch: str) -> CheckRow:
    """Two epochs' worth of each side's training stream, traced to the training files."""
    kind, directory = probe_dir(name, scratch)
    sources = read_sources(kind, Path(directory), "train")
    epoch = _epoch_size(name, directory)
    distinct = len(np.unique(sources.canonical[-epoch:]))
    legacy = legacy_train_stream(name, directory, 2 * epoch)
    port = port_train_stream(name, directory, 2 * epoch)
    facts = [stream_facts(_traced(s, sources), s, epoch, distinct) for s in (legacy, port)]
    findings = compare_streams(*facts, epoch)
    return _row(name, "train_pipeline", findings, "5 s.e. margins; KS alpha 1e-6")


def _epoch_size(name: str, directory: str) -> int:
    """Training examples per epoch as the legacy side reads them (after any validation split)."""
    from legacy_tf1 import api
    from legacy_tf1 import registry as legacy_registry
    from legacy_tf1.core import graph_scope

    module = legacy_registry.get(name)
    options = api.options_for(name, **_LEGACY_PROBE_OPTIONS.get(name, {}))
    with graph_scope(0):
        source = module.train_source(options, directory)
    if module.DATA_KIND == "mnist":
        return int(source.num_examples)
    return 5 * pipelines.FIXTURE_TRAIN_PER_FILE


def check_eval_pipeline(name: str, scratch: str) -> CheckRow:
    """Each side's evaluation stream over the test files, traced to them."""
    kind, directory = probe_dir(name, scratch)
    sources = read_sources(kind, Path(directory), "test")
    port = port_eval_stream(name, directory)
    legacy = legacy_eval_stream(name, directory, len(port.labels))
    size = min(len(legacy.labels), len(port.labels))
    distinct = len(np.unique(sources.canonical))
    facts = [stream_facts(_traced(s, sources), s, size, distinct) for s in (legacy, port)]
    findings = compare_streams(*facts, size)
    return _row(name, "eval_pipeline", findings, "5 s.e. margins; KS alpha 1e-6")


def run(name: str, workdir: str) -> Iterator[CheckRow]:
    """Both pipeline checks of ``name``."""
    Path(workdir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="pipeline_", dir=workdir) as scratch:
        yield check_train_pipeline(name, scratch)
        yield check_eval_pipeline(name, scratch)
