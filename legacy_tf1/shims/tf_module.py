"""The ``tensorflow`` module a script sees under the runner: TF1's API, recorded.

:class:`ModuleProxy` is a module whose attributes come from a *namespace*
(something with ``resolve(name)``). Each non-module attribute the script
reads is recorded once with the shim that served it; each sub-module comes
back as another proxy, so ``tf.train.AdamOptimizer`` is recorded under its
full legacy path. Names no namespace serves raise
:class:`~legacy_tf1.shims.errors.UnsupportedAPIError` naming the path.

Only the script (and modules in its directory) get proxies: TensorFlow,
tf_slim and our own code import the real modules, so their internal
attribute reads neither go through nor pollute the report.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Callable
from typing import Any

from legacy_tf1.shims.errors import UnsupportedAPIError
from legacy_tf1.shims.report import ABSENT, CHANGED, SAME, Recorder


@dataclasses.dataclass(frozen=True)
class Resolved:
    """What a namespace hands out for one name."""

    value: Any
    served_by: str
    tf2: str = ABSENT  # SAME / CHANGED / ABSENT: TF2's object at the same path


class ModuleProxy(types.ModuleType):
    """A module that resolves attributes through a namespace and records their use."""

    def __init__(self, module_name: str, namespace: Any, recorder: Recorder) -> None:
        super().__init__(module_name)
        # Stored in __dict__ under odd names: ordinary lookups then skip __getattr__.
        self.__dict__["_tf1compat_namespace"] = namespace
        self.__dict__["_tf1compat_recorder"] = recorder

    def __getattr__(self, name: str) -> Any:
        namespace = self.__dict__["_tf1compat_namespace"]
        if name.startswith("__") and name.endswith("__"):
            return namespace.dunder(name)
        try:
            resolved = namespace.resolve(name)
        except UnsupportedAPIError as error:
            self.__dict__["_tf1compat_recorder"].refuse(error.path, error.suggestion)
            raise
        value = self._wrap(name, resolved)
        self.__dict__[name] = value  # later reads are plain attribute reads
        return value

    def _wrap(self, name: str, resolved: Resolved) -> Any:
        recorder = self.__dict__["_tf1compat_recorder"]
        value = resolved.value
        if isinstance(value, ModuleProxy):
            return value
        child_name = f"{self.__name__}.{name}"
        if isinstance(value, Namespace):
            return ModuleProxy(child_name, value, recorder)
        if isinstance(value, types.ModuleType):
            parent = self.__dict__["_tf1compat_namespace"]
            child = ModuleNamespace(value, f"{parent.path}.{name}", resolved.served_by)
            return ModuleProxy(child_name, child, recorder)
        recorder.use(
            f"{self.__dict__['_tf1compat_namespace'].path}.{name}",
            resolved.served_by,
            tf2=resolved.tf2,
        )
        return value

    def __dir__(self) -> list[str]:
        return sorted(set(self.__dict__["_tf1compat_namespace"].names()) | set(self.__dict__))

    def __repr__(self) -> str:
        namespace = self.__dict__["_tf1compat_namespace"]
        return f"<legacy_tf1.run module {namespace.path!r}>"


class Namespace:
    """Base class: a legacy path (``tf.contrib``) and how its names resolve."""

    path: str

    def resolve(self, name: str) -> Resolved:
        raise NotImplementedError

    def names(self) -> list[str]:
        return []

    def dunder(self, name: str) -> Any:
        raise AttributeError(f"module {self.path!r} has no attribute {name!r}")


class ModuleNamespace(Namespace):
    """Serves the attributes of a real module (``tf.compat.v1.train``, ``tf_slim``).

    ``overrides`` maps names to zero-argument factories returning a
    :class:`Resolved`; they take precedence over the module's own attributes.
    ``tf2_lookup`` tells whether TF2 has the very same object at the same
    path, so the report can list such names as unchanged.
    """

    def __init__(
        self,
        module: types.ModuleType,
        path: str,
        served_prefix: str,
        *,
        overrides: dict[str, Callable[[], Resolved]] | None = None,
        missing: Callable[[str], UnsupportedAPIError] | None = None,
        tf2_lookup: Callable[[str], Any] | None = None,
    ) -> None:
        self.module = module
        self.path = path
        self.served_prefix = served_prefix
        self.overrides = overrides or {}
        self.missing = missing
        self.tf2_lookup = tf2_lookup

    def resolve(self, name: str) -> Resolved:
        if name in self.overrides:
            return self.overrides[name]()
        full_path = f"{self.path}.{name}"
        try:
            value = getattr(self.module, name)
        except AttributeError:
            if self.missing is not None:
                raise self.missing(full_path) from None
            raise UnsupportedAPIError(
                full_path, f"{self.served_prefix} has no attribute {name!r}"
            ) from None
        served_by = f"{self.served_prefix}.{name}"
        if isinstance(value, types.ModuleType):
            return Resolved(value, served_by)
        return Resolved(value, served_by, self._tf2_status(full_path, value))

    def _tf2_status(self, full_path: str, value: Any) -> str:
        if self.tf2_lookup is None:
            return ABSENT
        tf2_value = self.tf2_lookup(full_path)
        if tf2_value is None:
            return ABSENT
        return SAME if tf2_value is value else CHANGED

    def names(self) -> list[str]:
        return sorted(set(dir(self.module)) | set(self.overrides))

    def dunder(self, name: str) -> Any:
        return getattr(self.module, name)


class TableNamespace(Namespace):
    """Serves a fixed table of names; anything else raises with a suggestion."""

    def __init__(
        self,
        path: str,
        table: dict[str, Callable[[], Resolved]],
        missing: Callable[[str], UnsupportedAPIError],
    ) -> None:
        self.path = path
        self.table = table
        self.missing = missing

    def resolve(self, name: str) -> Resolved:
        factory = self.table.get(name)
        if factory is None:
            raise self.missing(f"{self.path}.{name}")
        return factory()

    def names(self) -> list[str]:
        return sorted(self.table)


def tf2_lookup_for(tf2_module: types.ModuleType) -> Callable[[str], Any]:
    """A function mapping ``tf.a.b`` to TF2's object at ``a.b`` (or None)."""

    def lookup(path: str) -> Any:
        parts = path.split(".")[1:]
        value: Any = tf2_module
        for part in parts:
            try:
                value = getattr(value, part)
            except Exception:  # lazy loaders may raise anything on a bad name
                return None
        return value

    return lookup


ESTIMATOR_SUGGESTION = (
    "tf.estimator was removed in TensorFlow 2.16 (tf.compat.v1 lost it too), so "
    "Estimator scripts cannot run on TF 2.21. Way forward: rewrite model_fn as a Keras model "
    "and train with `model.compile(...)` + `model.fit(dataset)` / `model.evaluate` "
    "(input_fn becomes a tf.data.Dataset; hooks become Keras callbacks), or start from this "
    "project's Keras ports (`python -m tf2_port train MODEL`, docs/tf2_port.md); "
    "pin TensorFlow <= 2.15 to keep running the Estimator as it is"
)


def _missing_tf(path: str) -> UnsupportedAPIError:
    if path == "tf.estimator" or path.startswith("tf.estimator."):
        return UnsupportedAPIError(path, ESTIMATOR_SUGGESTION)
    return UnsupportedAPIError(
        path,
        "TensorFlow 2.21's tf.compat.v1 has no such name: it was removed before TF 1.15 "
        "(e.g. `tf.mul`, `tf.scalar_summary`) or lived in tf.contrib; use the TF2 API",
    )


def build_tensorflow_namespace(
    tf_module: types.ModuleType,
    *,
    extra: dict[str, Callable[[], Resolved]],
) -> ModuleNamespace:
    """The namespace behind ``import tensorflow as tf``: tf.compat.v1 plus ``extra``.

    ``extra`` holds the runner's own sub-namespaces (``contrib``, ``examples``,
    ``compat``), which take precedence over compat.v1's attributes.
    """
    lookup = tf2_lookup_for(tf_module)
    return _CompatV1Namespace(
        tf_module.compat.v1,
        "tf",
        "tf.compat.v1",
        overrides=extra,
        missing=_missing_tf,
        tf2_lookup=lookup,
    )


class _CompatV1Namespace(ModuleNamespace):
    """compat.v1 sub-modules stay compat namespaces, with the same TF2 lookup and errors."""

    def resolve(self, name: str) -> Resolved:
        resolved = super().resolve(name)
        if isinstance(resolved.value, types.ModuleType) and name not in self.overrides:
            child = _CompatV1Namespace(
                resolved.value,
                f"{self.path}.{name}",
                resolved.served_by,
                missing=_missing_tf,
                tf2_lookup=self.tf2_lookup,
            )
            return Resolved(child, resolved.served_by)
        return resolved
