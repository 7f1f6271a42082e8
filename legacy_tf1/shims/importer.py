"""How the script's imports reach the shims.

The script runs with its own ``__builtins__`` whose ``__import__`` is
:meth:`ShimRuntime.import_module`: ``tensorflow[.…]`` gives the recording
proxy, ``cifar10``/``cifar10_input`` the tutorial shims (unless the script's
directory has its own), and anything else the real module. Modules loaded
from the script's directory (the user's helpers) get the same builtins
through :class:`ScriptDirFinder`, so their ``import tensorflow`` is the TF1
proxy too. Library code (TensorFlow, tf_slim, our own modules) keeps the
normal import machinery and sees the real modules.
"""

from __future__ import annotations

import builtins
import contextlib
import importlib.abc
import importlib.machinery
import os
import sys
import types
from typing import Any

from legacy_tf1.shims import bridges
from legacy_tf1.shims.errors import UnsupportedAPIError, UnsupportedImportError
from legacy_tf1.shims.report import Recorder
from legacy_tf1.shims.tf_module import (
    ESTIMATOR_SUGGESTION,
    ModuleNamespace,
    ModuleProxy,
    Resolved,
    TableNamespace,
    build_tensorflow_namespace,
)

# tensorflow.<these> are private packages: imported for real, recorded as private.
PRIVATE_TF_PACKAGES = frozenset({"python", "core", "tools", "compiler", "lite", "dtensor", "tsl"})
TUTORIAL_MODULES = ("cifar10", "cifar10_input")
# Packages that build on TensorFlow; anything else (numpy, the user's helpers) is
# imported without starting TensorFlow, so scripts that never use it start fast.
TF_FAMILY = frozenset(
    {"tf_keras", "keras", "tensorflow_hub", "tensorflow_datasets", "tensorflow_probability"}
)


class ShimRuntime:
    """Per-run state of the shims: the recorder, the lazily built modules, TF1 mode."""

    def __init__(
        self,
        recorder: Recorder,
        script_dir: str,
        *,
        cap_loops: int | None = None,
        offline: Any = None,
    ) -> None:
        self.recorder = recorder
        self.cap_loops = cap_loops
        self.offline = offline  # offline.OfflineNetwork under --sample-data
        self.script_dir = os.path.abspath(script_dir)
        self._real_import = builtins.__import__
        self._tf: types.ModuleType | None = None
        self._tf_proxy: ModuleProxy | None = None
        self._tf_slim: types.ModuleType | None = None
        self._tutorial: dict[str, ModuleProxy] = {}
        self._numpy: types.ModuleType | None = None
        self.builtins = dict(vars(builtins))
        self.builtins["__import__"] = self.import_module

    # ---------------------------------------------------------------- state

    def activate_tf1(self) -> types.ModuleType:
        """TensorFlow in TF1 mode (imported on first need, so plain scripts start fast)."""
        if self._tf is None:
            self._tf = bridges.activate_tf1()
            bridges.enable_soft_placement(self.recorder)
            bridges.record_dataset_iterators(self.recorder)
            if self.cap_loops is not None:
                bridges.bound_stop_at_step_hook(self.cap_loops, self.recorder)
            if self.offline is not None:
                self.offline.patch_tf_keras()
            self.recorder.tf1_mode = True
        return self._tf

    def tf_slim(self) -> types.ModuleType:
        """tf_slim with its TF 2.21 bridges installed."""
        if self._tf_slim is None:
            self.activate_tf1()
            self._tf_slim = bridges.install_tf_slim_bridges(self.recorder)
        return self._tf_slim

    def tensorflow_proxy(self) -> ModuleProxy:
        """The module ``import tensorflow as tf`` gives the script."""
        if self._tf_proxy is None:
            tf = self.activate_tf1()
            extra = {
                "contrib": self._contrib,
                "examples": self._examples,
                "compat": self._compat,
                "python": lambda: Resolved(
                    self._real_import("tensorflow.python").python, "tensorflow.python (private)"
                ),
            }
            namespace = build_tensorflow_namespace(tf, extra=extra)
            self._tf_proxy = ModuleProxy("tensorflow", namespace, self.recorder)
        return self._tf_proxy

    def _contrib(self) -> Resolved:
        from legacy_tf1.shims.contrib import build_contrib_namespace

        tf_slim = self.tf_slim()
        return Resolved(build_contrib_namespace(self.activate_tf1(), tf_slim), "tf_slim / TF")

    def _examples(self) -> Resolved:
        from legacy_tf1.shims.examples_mnist import build_input_data_module

        def missing(path: str) -> UnsupportedAPIError:
            return UnsupportedAPIError(
                path, "only tensorflow.examples.tutorials.mnist.input_data is served"
            )

        input_data = ModuleNamespace(
            build_input_data_module(self.recorder),
            "tf.examples.tutorials.mnist.input_data",
            "legacy_tf1.shims.examples_mnist",
            missing=missing,
        )
        mnist = TableNamespace(
            "tf.examples.tutorials.mnist",
            {"input_data": lambda: Resolved(input_data, "legacy_tf1.shims.examples_mnist")},
            missing,
        )
        tutorials = TableNamespace(
            "tf.examples.tutorials", {"mnist": lambda: Resolved(mnist, "-")}, missing
        )
        return Resolved(
            TableNamespace("tf.examples", {"tutorials": lambda: Resolved(tutorials, "-")}, missing),
            "legacy_tf1.shims.examples_mnist",
        )

    def _compat(self) -> Resolved:
        tf = self.activate_tf1()
        proxy = self.tensorflow_proxy()

        def missing(path: str) -> UnsupportedAPIError:
            return UnsupportedAPIError(path, "tf.compat has no such name")

        namespace = ModuleNamespace(
            tf.compat,
            "tf.compat",
            "tf.compat",
            # compat.v1 is the proxy itself: `import tensorflow.compat.v1 as tf` works.
            overrides={"v1": lambda: Resolved(proxy, "tf.compat.v1")},
            missing=missing,
        )
        return Resolved(namespace, "tf.compat")

    def tutorial_module(self, name: str) -> ModuleProxy:
        """The recording proxy for ``cifar10`` or ``cifar10_input``."""
        if not self._tutorial:
            from legacy_tf1.shims import cifar10_tutorial

            tf = self.activate_tf1()
            cifar10_input = cifar10_tutorial.build_cifar10_input_module()
            cifar10 = cifar10_tutorial.build_cifar10_module(tf, cifar10_input, self.recorder)
            for module, served_by in (
                (cifar10, "legacy_tf1.shims.cifar10_tutorial"),
                (cifar10_input, "legacy_tf1.inputs"),
            ):
                namespace = ModuleNamespace(
                    module,
                    module.__name__,
                    served_by,
                    missing=_tutorial_missing,
                )
                proxy = ModuleProxy(module.__name__, namespace, self.recorder)
                self._tutorial[module.__name__] = proxy
                sys.modules[module.__name__] = proxy
        return self._tutorial[name]

    def numpy_proxy(self) -> types.ModuleType:
        """The ``numpy`` the script sees: the real one plus the names numpy 2 removed."""
        if self._numpy is None:
            from legacy_tf1.shims.numpy_compat import NumpyProxy

            self._numpy = NumpyProxy(self.recorder)
        return self._numpy

    def _from_numpy(self, fromlist: tuple | list) -> Any:
        # `from numpy import float`: the proxy answers names numpy removed; the rest
        # (sub-modules such as numpy.random) come from the real package.
        real = self._real_import("numpy", None, None, fromlist, 0)
        proxy = self.numpy_proxy()
        view = types.ModuleType("numpy")
        view.__dict__.update(vars(real))
        for item in fromlist:
            # A name neither has stays unset: the import statement raises its ImportError.
            with contextlib.suppress(AttributeError):
                setattr(view, item, getattr(proxy, item))
        return view

    def script_provides(self, name: str) -> bool:
        """Whether the script's directory has its own module ``name``."""
        spec = importlib.machinery.PathFinder.find_spec(name, [self.script_dir])
        return spec is not None

    # --------------------------------------------------------------- import

    def import_module(
        self,
        name: str,
        globals: dict | None = None,
        locals: Any = None,
        fromlist: tuple | list | None = (),
        level: int = 0,
    ) -> Any:
        """The script's ``__import__``."""
        if level == 0:
            top = name.partition(".")[0]
            if top == "tensorflow":
                return self._import_tensorflow(name, fromlist)
            if top == "tensorflow_estimator":
                raise UnsupportedImportError(name, ESTIMATOR_SUGGESTION)
            if top in TUTORIAL_MODULES and not self.script_provides(top):
                return self._import_tutorial(name, fromlist)
            if name == "numpy" and not fromlist:
                return self.numpy_proxy()  # `import numpy as np`: numpy 1 names bridged
            if name == "numpy" and "*" not in fromlist:
                return self._from_numpy(fromlist)
            if top == "tf_slim":
                self.tf_slim()
            elif top in TF_FAMILY:
                # They import TensorFlow themselves: switch to TF1 mode first.
                self.activate_tf1()
        return self._real_import(name, globals, locals, fromlist, level)

    def _import_tensorflow(self, name: str, fromlist: tuple | list | None) -> Any:
        proxy = self.tensorflow_proxy()
        parts = name.split(".")[1:]
        if parts and parts[0] in PRIVATE_TF_PACKAGES:
            module = self._real_import(name, None, None, fromlist, 0)
            self.recorder.use(f"tf.{'.'.join(parts)}", f"{name} (private TensorFlow API)")
            return module if fromlist else proxy
        target: Any = proxy
        for index, part in enumerate(parts):
            try:
                target = getattr(target, part)
            except AttributeError as error:
                raise _import_error(name, parts[: index + 1], error) from None
        if not isinstance(target, types.ModuleType):
            raise ModuleNotFoundError(f"No module named {name!r} ({name} is not a module)")
        if fromlist:
            # Resolve now so an unbridged name raises our error, not a bare ImportError.
            for item in fromlist:
                if item != "*":
                    try:
                        getattr(target, item)
                    except AttributeError as error:
                        raise _import_error(f"{name}.{item}", [*parts, item], error) from None
            return target
        return proxy

    def _import_tutorial(self, name: str, fromlist: tuple | list | None) -> Any:
        if name not in TUTORIAL_MODULES:
            raise ModuleNotFoundError(f"No module named {name!r}")
        module = self.tutorial_module(name)
        for item in fromlist or ():
            if item != "*":
                getattr(module, item)
        return module


def _tutorial_missing(path: str) -> UnsupportedAPIError:
    from legacy_tf1.shims.cifar10_tutorial import NOT_SERVED

    name = path.rpartition(".")[2]
    hint = NOT_SERVED.get(name, "the runner serves the tutorial's input functions only")
    return UnsupportedAPIError(path, f"{hint}; or put the tutorial's own module beside the script")


def _import_error(name: str, parts: list[str], error: AttributeError) -> ImportError:
    suggestion = getattr(error, "suggestion", None) or str(error)
    return UnsupportedImportError(name, suggestion)


class _ScriptDirLoader(importlib.machinery.SourceFileLoader):
    """Loads a user module so it runs with the script's builtins (TF1 imports)."""

    def __init__(self, fullname: str, path: str, script_builtins: dict) -> None:
        super().__init__(fullname, path)
        self.script_builtins = script_builtins

    def exec_module(self, module: types.ModuleType) -> None:
        module.__dict__["__builtins__"] = self.script_builtins
        super().exec_module(module)


class ScriptDirFinder(importlib.abc.MetaPathFinder):
    """Finds modules in the script's directory and loads them with the script's builtins."""

    def __init__(self, script_dir: str, script_builtins: dict) -> None:
        self.script_dir = os.path.abspath(script_dir)
        self.script_builtins = script_builtins

    def find_spec(self, fullname: str, path: Any = None, target: Any = None):
        if fullname in sys.builtin_module_names:
            return None  # as in plain Python, built-in modules win over the script dir
        search = [self.script_dir] if path is None else list(path)
        if not all(self._inside(entry) for entry in search):
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, search)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return None
        spec.loader = _ScriptDirLoader(fullname, spec.origin, self.script_builtins)
        return spec

    def _inside(self, entry: str) -> bool:
        absolute = os.path.abspath(entry)
        return absolute == self.script_dir or absolute.startswith(self.script_dir + os.sep)
