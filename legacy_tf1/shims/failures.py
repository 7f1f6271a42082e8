"""Classifying a failed script and printing its traceback without the runner's frames.

A failure is one of:

* **unbridged API**: our :class:`UnsupportedAPIError` /
  :class:`UnsupportedImportError` anywhere in the exception chain, or an
  ``AttributeError`` on a TensorFlow module (proxy or real);
* **script bug**: raised in the script's own code (its file or a module in
  its directory) and not the above, e.g. seed003's
  ``AttributeError: 'Net' object has no attribute 'acc'``;
* **missing module**: an ``import`` of a module that is not installed (in the
  script's line or inside a library it imports);
* **network access**: ``--sample-data`` refused a download it cannot serve;
* **other**: raised inside TensorFlow or another library (a data problem, a
  shape error, a TF2 behaviour difference ...).

Whatever the kind, the location given is the script's own innermost frame
(the line of the script that called into the library or did the import);
where the error came from inside a library, the explanation says where.
The import hook's frames and Python's ``<frozen importlib...>`` frames are
dropped from the printed traceback, as Python drops its own.
"""

from __future__ import annotations

import os
import traceback
import types
from collections.abc import Iterator

from legacy_tf1.shims.errors import UnsupportedAPIError, UnsupportedImportError
from legacy_tf1.shims.offline import OfflineError
from legacy_tf1.shims.report import (
    MISSING_MODULE,
    NETWORK,
    OTHER,
    SCRIPT_BUG,
    UNBRIDGED_API,
    Failure,
)
from legacy_tf1.shims.tf_module import ModuleProxy

_RUNNER_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_RUNNER_FILES = (os.path.join(_RUNNER_DIR, "run.py"), os.path.join(_RUNNER_DIR, "shims") + os.sep)
_TF_PREFIXES = ("tensorflow", "tf_slim", "tf_keras", "keras")
_IMPORTER = os.path.join(_RUNNER_DIR, "shims", "importer.py")


class ScriptFiles:
    """Which source files count as the script's own code."""

    def __init__(self, script: str, script_dir: str) -> None:
        self.script = os.path.abspath(script)
        self.script_dir = os.path.abspath(script_dir)

    def __contains__(self, filename: str) -> bool:
        path = os.path.abspath(filename)
        if path == self.script:
            return True
        inside = path.startswith(self.script_dir + os.sep)
        return inside and os.sep + "site-packages" + os.sep not in path and not _is_runner(path)


def _is_runner(path: str) -> bool:
    return path == _RUNNER_FILES[0] or path.startswith(_RUNNER_FILES[1])


def _frames(tb: types.TracebackType | None) -> Iterator[types.TracebackType]:
    while tb is not None:
        yield tb
        tb = tb.tb_next


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def trim_traceback(error: BaseException, files: ScriptFiles) -> types.TracebackType | None:
    """The traceback from the script's first frame on, without our trailing shim frames.

    Leading frames (the runner's ``exec``) are dropped. Trailing frames in
    the runner's own shim modules are dropped only for our Unsupported*
    errors, whose raise site inside the proxy says nothing to the user.
    """
    frames = list(_frames(error.__traceback__))
    if isinstance(error, SyntaxError) and error.filename and error.filename in files:
        return None  # as Python prints it: the offending line, no frames
    start = next((i for i, tb in enumerate(frames) if tb.tb_frame.f_code.co_filename in files), 0)
    frames = [tb for tb in frames[start:] if not _is_import_machinery(tb)] or frames[start:]
    if isinstance(error, UnsupportedAPIError | UnsupportedImportError):
        while len(frames) > 1 and _is_runner(
            os.path.abspath(frames[-1].tb_frame.f_code.co_filename)
        ):
            frames.pop()
    if not frames:
        return None
    for current, following in zip(frames, [*frames[1:], None], strict=True):
        current.tb_next = following
    return frames[0]


def _is_import_machinery(tb: types.TracebackType) -> bool:
    filename = tb.tb_frame.f_code.co_filename
    return filename.startswith("<frozen importlib") or os.path.abspath(filename) == _IMPORTER


def print_script_traceback(error: BaseException, files: ScriptFiles, stream) -> None:
    """Print ``error`` as Python would for the script run directly."""
    error.__traceback__ = trim_traceback(error, files)
    traceback.print_exception(type(error), error, error.__traceback__, file=stream)


def _location(error: BaseException, files: ScriptFiles | None = None) -> str:
    """``file:line`` of the script's innermost frame (else of the innermost frame)."""
    frames = list(_frames(error.__traceback__))
    if files is not None:
        own = [tb for tb in frames if tb.tb_frame.f_code.co_filename in files]
        frames = own or frames
    if not frames:
        return "?"
    last = frames[-1]
    return f"{last.tb_frame.f_code.co_filename}:{last.tb_lineno}"


def _raised_in(error: BaseException, files: ScriptFiles) -> str:
    """Where a library raised ``error``, or "" when the script's own line did."""
    frames = [tb for tb in _frames(error.__traceback__) if not _is_import_machinery(tb)]
    if not frames or frames[-1].tb_frame.f_code.co_filename in files:
        return ""
    return _location(error)


def _innermost_in_script(error: BaseException, files: ScriptFiles) -> bool:
    frames = list(_frames(error.__traceback__))
    return bool(frames) and frames[-1].tb_frame.f_code.co_filename in files


def _is_tf_module(obj: object) -> bool:
    if isinstance(obj, ModuleProxy):
        return True
    return isinstance(obj, types.ModuleType) and obj.__name__.split(".")[0] in _TF_PREFIXES


def _defined_in_script(obj: object, files: ScriptFiles) -> bool:
    """Whether ``obj``'s class comes from the script (``__main__`` or a method in its files)."""
    cls = obj if isinstance(obj, type) else type(obj)
    if getattr(cls, "__module__", "") == "__main__":
        return True
    for klass in getattr(cls, "__mro__", (cls,)):
        for member in vars(klass).values():
            code = getattr(member, "__code__", None)
            if code is not None and code.co_filename in files:
                return True
    return False


def classify(error: BaseException, files: ScriptFiles) -> Failure:
    """Why the script failed (see the module docstring)."""
    text = "".join(traceback.format_exception_only(type(error), error)).strip()
    location = _location(error, files)
    for link in _chain(error):
        if isinstance(link, OfflineError):
            return Failure(
                NETWORK,
                text,
                location,
                f"the script (or a module it imports) fetched `{link.url}`; --sample-data serves "
                "only the MNIST and CIFAR-10 downloads offline: put the file in place beforehand",
            )
        if isinstance(link, UnsupportedAPIError | UnsupportedImportError):
            return Failure(
                UNBRIDGED_API,
                text,
                location,
                f"the script uses `{link.path}`, which legacy_tf1.run does not bridge; "
                f"{link.suggestion}",
            )
    if isinstance(error, SyntaxError) and error.filename and error.filename in files:
        return Failure(
            SCRIPT_BUG,
            text,
            f"{error.filename}:{error.lineno}",
            "the script is not valid Python 3 (Python 2 syntax such as `print x`?)",
        )
    obj = getattr(error, "obj", None) if isinstance(error, AttributeError) else None
    if obj is not None and _is_tf_module(obj):
        return Failure(
            UNBRIDGED_API,
            text,
            location,
            f"`{getattr(obj, '__name__', '?')}.{error.name}` does not exist under TF1 mode on "
            "TensorFlow 2.21 and the runner has no shim for it",
        )
    if isinstance(error, ModuleNotFoundError) and error.name:
        return _missing_module(error, files, text, location)
    if _innermost_in_script(error, files):
        return _script_failure(error, obj, files, text, location)
    return Failure(
        OTHER,
        text,
        location,
        f"raised inside TensorFlow or another library (at `{_raised_in(error, files)}`), "
        "called from the script's line above: check the data, shapes and the TF1-vs-TF2 "
        "behaviour notes",
    )


def _missing_module(
    error: ModuleNotFoundError, files: ScriptFiles, text: str, location: str
) -> Failure:
    top = error.name.partition(".")[0]
    inside = _raised_in(error, files)
    via = f" (imported by a library, at `{inside}`)" if inside else ""
    return Failure(
        MISSING_MODULE,
        text,
        location,
        f"module `{error.name}`{via} is not installed in this environment: install the "
        f"package that provides `{top}` (e.g. `pip install {top}`); not a runner or script bug",
    )


def _script_failure(
    error: BaseException, obj: object, files: ScriptFiles, text: str, location: str
) -> Failure:
    if isinstance(error, AttributeError) and obj is not None and not _defined_in_script(obj, files):
        return Failure(
            OTHER,
            text,
            location,
            f"the script's own line reads an attribute of a `{type(obj).__name__}` object that "
            "does not have it: a script bug or a TF1/TF2 behaviour difference",
        )
    if isinstance(error, AttributeError) and obj is not None:
        explanation = (
            f"the script reads `{error.name}` from its own `{type(obj).__name__}` object, "
            "which never defines it: a bug in the script, not in the runner"
        )
    elif isinstance(error, NameError):
        explanation = "the script uses a name it never defines: a bug in the script"
    else:
        explanation = "raised by the script's own code (not by TensorFlow or the runner)"
    return Failure(SCRIPT_BUG, text, location, explanation)
