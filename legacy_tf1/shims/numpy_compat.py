"""numpy 1 idioms in TF1-era scripts, bridged on numpy 2 for the script's run only.

The script (and the modules in its directory) get a :class:`NumpyProxy` for
``import numpy``: every attribute comes from the real numpy, except the
names numpy removed, which are served with their numpy 1 meaning and
recorded ("removed in numpy X, bridged"). Library code keeps the real module.
A name is bridged only if the installed numpy really lacks it: ``np.bool``
(back in numpy 2.0 as ``np.bool_``) and ``np.long`` (back in 2.0 as the C
``long``) are not touched. ``np.load`` is the real one: ``allow_pickle``
keeps numpy's default (False).
"""

from __future__ import annotations

import builtins
import dataclasses
import functools
import types
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from legacy_tf1.shims.report import Recorder


@dataclasses.dataclass(frozen=True)
class RemovedName:
    """A numpy 1 name: when numpy removed it, what it meant, and its numpy 2 spelling."""

    removed_in: str
    make: Callable[[], Any]
    tf2: str


def _asscalar(array):
    """``np.asscalar(a)``: ``a.item()`` (removed in numpy 1.23)."""
    return array.item()


def _alias(name: str) -> Callable[[], Any]:
    return lambda: getattr(np, name)


REMOVED: dict[str, RemovedName] = {
    # The builtin aliases (deprecated in 1.20): they always meant the Python type.
    "float": RemovedName("1.24", lambda: builtins.float, "`float` or `np.float64`"),
    "int": RemovedName("1.24", lambda: builtins.int, "`int` or `np.int64`"),
    "bool": RemovedName("1.24", lambda: builtins.bool, "`bool` or `np.bool_`"),
    "object": RemovedName("1.24", lambda: builtins.object, "`object` or `np.object_`"),
    "complex": RemovedName("1.24", lambda: builtins.complex, "`complex` or `np.complex128`"),
    "str": RemovedName("1.24", lambda: builtins.str, "`str` or `np.str_`"),
    "long": RemovedName("1.24", lambda: builtins.int, "`int` or `np.int64`"),
    "unicode": RemovedName("2.0", lambda: builtins.str, "`str` or `np.str_`"),
    "asscalar": RemovedName("1.23", lambda: _asscalar, "`a.item()`"),
    "alltrue": RemovedName("2.0", _alias("all"), "`np.all`"),
    "sometrue": RemovedName("2.0", _alias("any"), "`np.any`"),
    "product": RemovedName("2.0", _alias("prod"), "`np.prod`"),
    "cumproduct": RemovedName("2.0", _alias("cumprod"), "`np.cumprod`"),
    "round_": RemovedName("2.0", _alias("round"), "`np.round`"),
    "float_": RemovedName("2.0", _alias("float64"), "`np.float64`"),
    "complex_": RemovedName("2.0", _alias("complex128"), "`np.complex128`"),
    "string_": RemovedName("2.0", _alias("bytes_"), "`np.bytes_`"),
    "unicode_": RemovedName("2.0", _alias("str_"), "`np.str_`"),
    "NaN": RemovedName("2.0", _alias("nan"), "`np.nan`"),
    "NAN": RemovedName("2.0", _alias("nan"), "`np.nan`"),
    "Inf": RemovedName("2.0", _alias("inf"), "`np.inf`"),
    "infty": RemovedName("2.0", _alias("inf"), "`np.inf`"),
    "msort": RemovedName("2.0", lambda: lambda a: np.sort(a, axis=0), "`np.sort(a, axis=0)`"),
    "in1d": RemovedName(
        "2.4", lambda: lambda *a, **k: np.isin(*a, **k).ravel(), "`np.isin(...).ravel()`"
    ),
    "trapz": RemovedName("2.4", _alias("trapezoid"), "`np.trapezoid`"),
}
RESHAPE_NEWSHAPE = "np.reshape(..., newshape=...)"
NEWSHAPE_REMOVED_IN = "2.4"


def removed_names() -> dict[str, RemovedName]:
    """The entries of REMOVED that the installed numpy really lacks."""
    return {name: entry for name, entry in REMOVED.items() if not _numpy_has(name)}


def _numpy_has(name: str) -> bool:
    # numpy warns about its future scalar names (np.object, np.str) on the probe.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        try:
            getattr(np, name)
        except AttributeError:
            return False
    return True


def _reshape_takes_newshape() -> bool:
    try:
        np.reshape(np.zeros(1), newshape=(1,))
    except TypeError:
        return False
    return True


def _reshape_bridge(recorder: Recorder) -> Callable[..., Any]:
    real = np.reshape

    @functools.wraps(real)
    def reshape(a, *args, newshape=None, **kwargs):
        if newshape is not None:
            recorder.numpy_bridge(RESHAPE_NEWSHAPE, NEWSHAPE_REMOVED_IN, "`np.reshape(a, shape)`")
            args = (newshape, *args)
        return real(a, *args, **kwargs)

    return reshape


class NumpyProxy(types.ModuleType):
    """``numpy`` as the script sees it: the real module plus the bridged numpy 1 names."""

    def __init__(self, recorder: Recorder) -> None:
        super().__init__("numpy", np.__doc__)
        overrides: dict[str, Any] = {}
        if not _reshape_takes_newshape():
            overrides["reshape"] = _reshape_bridge(recorder)
        self.__dict__.update(
            _tf1compat_recorder=recorder,
            _tf1compat_removed=removed_names(),
            _tf1compat_overrides=overrides,
            __file__=np.__file__,
            __path__=list(np.__path__),
            __version__=np.__version__,
        )

    def __getattr__(self, name: str) -> Any:
        overrides = self.__dict__["_tf1compat_overrides"]
        if name in overrides:
            return overrides[name]
        entry = self.__dict__["_tf1compat_removed"].get(name)
        if entry is None:
            return getattr(np, name)
        self.__dict__["_tf1compat_recorder"].numpy_bridge(f"np.{name}", entry.removed_in, entry.tf2)
        return entry.make()

    def __dir__(self) -> list[str]:
        return sorted(set(dir(np)) | set(self.__dict__["_tf1compat_removed"]))

    def __repr__(self) -> str:
        return f"<legacy_tf1.run numpy proxy {np.__version__}>"
