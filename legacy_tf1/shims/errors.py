"""The error the compat runner raises for legacy APIs it does not bridge."""

from __future__ import annotations


class UnsupportedAPIError(AttributeError):
    """A legacy TF1 name the runner does not serve.

    It is an ``AttributeError`` so ``hasattr``/``getattr(..., default)`` probes
    in user code keep working, but its message names the full legacy path
    (``tf.contrib.learn``) and suggests what to use instead, instead of a bare
    AttributeError from deep inside TensorFlow.
    """

    def __init__(self, path: str, suggestion: str) -> None:
        self.path = path
        self.suggestion = suggestion
        super().__init__(f"{path} is not bridged by legacy_tf1.run; {suggestion}")

    def __reduce__(self):
        return (type(self), (self.path, self.suggestion))


class UnsupportedImportError(ModuleNotFoundError):
    """``import`` of a legacy module path the runner does not serve."""

    def __init__(self, path: str, suggestion: str) -> None:
        self.path = path
        self.suggestion = suggestion
        super().__init__(f"No module named {path!r} (not bridged by legacy_tf1.run; {suggestion})")

    def __reduce__(self):
        return (type(self), (self.path, self.suggestion))
