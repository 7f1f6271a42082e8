"""What each side's input pipeline does to the same files, measured from its output alone.

Both sides read the same data directory. Their batches are brought to the
port's layout (``converters.maps``' ``to_port_inputs``), then every output
image is traced back to the file image it came from: the output is compared,
after per-image standardisation, with every source image under every
geometric candidate (each crop offset, with and without a left-right flip;
a resize when the output is larger). The best match gives the source index,
the crop offset and the flip; a least-squares fit of the output against the
matched source crop gives the contrast factor. Nothing inside either
pipeline is instrumented, so a mistake anywhere in it shows.

Contrast, saturation and brightness are invisible on grey images (every
channel is the same), so CIFAR-format pipelines are probed on a colour
fixture (:func:`write_colour_fixture`): random textures whose three
channels have different means.
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

import numpy as np

# Colour fixture sizes: 5 training files of 40 images and 160 test images (a multiple of
# every model's batch size that divides it, so no side drops a remainder on its own).
FIXTURE_TRAIN_PER_FILE = 40
FIXTURE_TEST = 160
NUM_CLASSES = 10


@dataclasses.dataclass
class Stream:
    """One side's output in the port layout: images [N, H, W, C] and class ids [N]."""

    images: np.ndarray
    labels: np.ndarray


@dataclasses.dataclass
class Traced:
    """Where each output image came from, and what was done to it."""

    source: np.ndarray  # index of the file image
    offset_y: np.ndarray
    offset_x: np.ndarray
    flipped: np.ndarray  # bool
    match: np.ndarray  # correlation of the best candidate (1.0 = exact)
    contrast: np.ndarray  # NaN where the source has no colour to measure it by
    labels_agree: np.ndarray  # output label == the source's file label


# ---- the colour fixture ---------------------------------------------------------------


def colour_images(count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``count`` uint8 [N, 32, 32, 3] textures with distinct channel means, balanced labels."""
    rng = np.random.default_rng(seed)
    means = rng.uniform(50, 205, size=(count, 1, 1, 3))
    spread = rng.uniform(20, 45, size=(count, 1, 1, 1))
    # Smooth-ish texture: noise at 8x8 upsampled plus fine noise, so crops are unambiguous.
    coarse = np.repeat(np.repeat(rng.normal(size=(count, 8, 8, 3)), 4, axis=1), 4, axis=2)
    fine = rng.normal(size=(count, 32, 32, 3))
    images = means + spread * (0.7 * coarse + 0.5 * fine)
    labels = np.arange(count) % NUM_CLASSES
    rng.shuffle(labels)
    return np.clip(np.rint(images), 0, 255).astype(np.uint8), labels.astype(np.int64)


def write_colour_fixture(kind: str, directory: str | Path, seed: int = 0) -> Path:
    """A CIFAR-10 directory (``cifar-bin`` or ``cifar-py``) of colour textures."""
    from formats import cifar

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    train_count = 5 * FIXTURE_TRAIN_PER_FILE
    images, labels = colour_images(train_count + FIXTURE_TEST, seed)
    chw = images.transpose(0, 3, 1, 2)
    parts = [
        (f"data_batch_{i + 1}", slice(i * FIXTURE_TRAIN_PER_FILE, (i + 1) * FIXTURE_TRAIN_PER_FILE))
        for i in range(5)
    ] + [("test_batch", slice(train_count, None))]
    for name, part in parts:
        if kind == "cifar-bin":
            cifar.write_cifar_bin(directory / f"{name}.bin", chw[part], labels[part])
        else:
            names = [f"fixture_{i:04d}.png" for i in range(len(labels[part]))]
            cifar.write_batch(
                directory / name, chw[part], labels[part], batch_label=name, filenames=names
            )
    if kind == "cifar-bin":
        (directory / "batches.meta.txt").write_text("".join(f"c{i}\n" for i in range(10)))
    else:
        cifar.write_meta(
            directory / "batches.meta",
            [f"c{i}" for i in range(10)],
            num_cases_per_batch=FIXTURE_TRAIN_PER_FILE,
        )
    return directory


# ---- tracing outputs back to their sources ------------------------------------------


def _standardise(images: np.ndarray) -> np.ndarray:
    """Unit vectors of each image's deviations from its own channel means.

    Removing each channel's mean makes the match blind to brightness, contrast
    and scaling, which all act around the channel means; only the texture,
    and so the crop and the flip, decides.
    """
    pixels = images.reshape(len(images), -1, images.shape[-1]).astype(np.float64)
    flat = (pixels - pixels.mean(axis=1, keepdims=True)).reshape(len(images), -1)
    norm = np.linalg.norm(flat, axis=1, keepdims=True)
    return (flat / np.maximum(norm, 1e-12)).astype(np.float32)


def _candidates(sources: np.ndarray, height: int, width: int):
    """(standardised candidate vectors, (source, dy, dx, flip) per row)."""
    import tensorflow as tf

    size_y, size_x = sources.shape[1:3]
    vectors, keys = [], []
    for flip in (False, True):
        images = sources[:, :, ::-1] if flip else sources
        if height > size_y or width > size_x:
            resized = tf.image.resize(images.astype(np.float32), [height, width]).numpy()
            vectors.append(_standardise(resized))
            keys += [(i, 0, 0, flip) for i in range(len(images))]
            continue
        for dy, dx in itertools.product(range(size_y - height + 1), range(size_x - width + 1)):
            crop = images[:, dy : dy + height, dx : dx + width].astype(np.float32)
            vectors.append(_standardise(crop))
            # A flipped image's crop at column dx is the original's crop at size_x-width-dx.
            keys += [(i, dy, size_x - width - dx if flip else dx, flip) for i in range(len(images))]
    return np.concatenate(vectors), np.array(keys, dtype=np.int64)


def trace(stream: Stream, sources: np.ndarray, source_labels: np.ndarray) -> Traced:
    """Match every output image to its source image, crop offset and flip."""
    height, width = stream.images.shape[1:3]
    candidates, keys = _candidates(sources.astype(np.float32), height, width)
    outputs = _standardise(stream.images)
    best = np.empty(len(outputs), np.int64)
    score = np.empty(len(outputs), np.float32)
    for start in range(0, len(outputs), 256):
        scores = outputs[start : start + 256] @ candidates.T
        best[start : start + 256] = scores.argmax(axis=1)
        score[start : start + 256] = scores.max(axis=1)
    source, dy, dx, flip = keys[best].T
    contrast = _contrast(stream.images, sources, source, dy, dx, flip.astype(bool))
    return Traced(
        source,
        dy,
        dx,
        flip.astype(bool),
        score,
        contrast,
        np.asarray(stream.labels) == np.asarray(source_labels)[source],
    )


def _contrast(outputs, sources, index, dy, dx, flip) -> np.ndarray:
    """The contrast factor f in out_c = a * (mean_c + f * (src_c - mean_c)) + b, per image.

    Fit out_c = alpha * dev_c + beta_c (dev_c: the source crop's deviation from
    its channel mean; one alpha for all channels). The spread of beta across
    channels is a times the spread of the source's channel means, so
    f = alpha / a. Undefined (NaN) for grey sources, whose channel means agree.
    """
    height, width, channels = outputs.shape[1:]
    factors = np.full(len(outputs), np.nan)
    if channels < 3 or height > sources.shape[1]:
        return factors
    for k, out in enumerate(outputs.astype(np.float64)):
        src = sources[index[k]].astype(np.float64)[dy[k] : dy[k] + height, dx[k] : dx[k] + width]
        if flip[k]:
            src = src[:, ::-1]
        channel_means = src.mean(axis=(0, 1))
        spread = channel_means - channel_means.mean()
        if np.linalg.norm(spread) < 5.0:
            continue
        deviation = src - channel_means
        alpha = np.sum(out * deviation) / np.sum(deviation * deviation)
        beta = out.mean(axis=(0, 1))
        scale = np.dot(beta - beta.mean(), spread) / np.dot(spread, spread)
        factors[k] = alpha / scale if scale else np.nan
    return factors
