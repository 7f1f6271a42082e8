"""Float32 or mixed-bfloat16 computation for the ports.

``precision="mixed_bfloat16"`` builds a model under Keras' ``mixed_bfloat16``
dtype policy: variables stay float32 (so checkpoints are interchangeable with
float32 runs), while convolutions, matmuls, ReLUs and pools compute in
bfloat16. bfloat16 has float32's exponent range, so gradients neither
overflow nor underflow where float32's would not, and no loss scaling is
needed (float16 would need it).

Some layers compute in float32 whatever the policy; the model modules pass
``dtype=FLOAT32_LAYER`` to them, which under the default float32 policy
changes nothing:

* the logits layer: the loss and softmax read its outputs, and an 8-bit
  mantissa would round logits that differ by less than 0.4 % of their size
  to the same value (the layer is a fraction of a percent of the FLOPs);
* ``Softmax``: its exponentials and normalising sum, read by the loss;
* batch norms: a batch variance computed in bfloat16 loses most of its
  digits to cancellation (mean of squares minus square of the mean), and
  the moving averages add updates of 1 % (momentum 0.99) that bfloat16
  would round away;
* LRN: its sum of squares over 9-11 channels raised to the power -0.75
  (and TensorFlow has no bfloat16 LRN kernel for the CPU).

See docs/performance.md for the speed this buys and docs/parity.md for how
bf16 runs are judged.
"""

from __future__ import annotations

import contextlib
import functools
import platform
from collections.abc import Iterator
from pathlib import Path

FLOAT32 = "float32"
MIXED_BFLOAT16 = "mixed_bfloat16"
PRECISIONS = (FLOAT32, MIXED_BFLOAT16)
# The dtype of the layers listed in the module docstring, under every policy.
FLOAT32_LAYER = "float32"

# CPU flags of bfloat16 arithmetic in hardware (Linux /proc/cpuinfo names).
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")


def check(precision: str) -> str:
    """``precision`` if it is one of :data:`PRECISIONS`; else a ValueError listing them."""
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {list(PRECISIONS)}")
    return precision


@contextlib.contextmanager
def policy(precision: str) -> Iterator[None]:
    """Layers created inside take the dtype policy ``precision``; the previous one comes back after."""
    import keras

    check(precision)
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(precision)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


@functools.cache
def cpu_bf16_flags() -> tuple[str, ...]:
    """Which of :data:`BF16_CPU_FLAGS` this CPU reports (empty off Linux or without them)."""
    if platform.system() != "Linux":
        return ()
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ()
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            return tuple(flag for flag in BF16_CPU_FLAGS if flag in flags)
    return ()


def bf16_hardware() -> str | None:
    """A short description of this machine's bfloat16 hardware, or None when it has none.

    Without it TensorFlow still runs bfloat16, emulated and slower than float32.
    """
    flags = cpu_bf16_flags()
    return "CPU " + " + ".join(flags) if flags else None
