"""``--cap-loops N``: make every ``for ... in range(...)`` and ``while`` statement run at most N times.

The script's AST is rewritten:

* ``for i in range(3001):`` becomes ``for i in _tf1compat_cap(range(3001), 12):``
  (12 is the line number); the helper yields at most N items and tells the
  recorder the loop's length;
* ``while not sess.should_stop():`` gets a statement before it that resets the
  loop's counter (``_tf1compat_enter(20)``), its test becomes
  ``_tf1compat_more(20) and (not sess.should_stop())`` and its body starts
  with ``_tf1compat_step(20)`` (counting iterations): after N iterations the
  loop ends as if its condition were false. This bounds the usual
  session-driven loops (``MonitoredTrainingSession``, ``Supervisor``,
  ``Coordinator.should_stop()``) as well as ``while True`` loops.

Only statements are capped: comprehensions such as ``[f(i) for i in
range(1, 6)]`` build data (seed004's file list) and keep their full length.
The injected names have one leading underscore, so Python's name mangling
of ``__names`` inside class bodies leaves them alone (a capped loop in a
method works). The rewritten tree keeps every original line number, so
tracebacks point at the user's lines.
"""

from __future__ import annotations

import ast
import itertools
import threading
from collections.abc import Iterable, Iterator

from legacy_tf1.shims.report import Recorder

CAP_HELPER_NAME = "_tf1compat_cap"
WHILE_ENTER_NAME = "_tf1compat_enter"
WHILE_MORE_NAME = "_tf1compat_more"
WHILE_STEP_NAME = "_tf1compat_step"


def _call(name: str, *args: ast.expr) -> ast.Call:
    return ast.Call(func=ast.Name(id=name, ctx=ast.Load()), args=list(args), keywords=[])


class _LoopCapper(ast.NodeTransformer):
    """Wraps ``for`` loops over a direct ``range(...)`` call and bounds ``while`` loops."""

    def __init__(self, source: str, cap: int, recorder: Recorder) -> None:
        self.source = source
        self.cap = cap
        self.recorder = recorder

    def visit_For(self, node: ast.For) -> ast.For:
        self.generic_visit(node)
        call = node.iter
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Name)
            and call.func.id == "range"
        ):
            header = ast.get_source_segment(self.source, call) or "range(...)"
            target = ast.get_source_segment(self.source, node.target) or "_"
            self.recorder.register_loop(node.lineno, f"for {target} in {header}", self.cap)
            wrapped = _call(CAP_HELPER_NAME, call, ast.Constant(node.lineno))
            node.iter = ast.copy_location(wrapped, call)
            ast.fix_missing_locations(node.iter)
        return node

    def visit_While(self, node: ast.While) -> list[ast.stmt]:
        self.generic_visit(node)
        test = ast.get_source_segment(self.source, node.test) or "..."
        self.recorder.register_loop(node.lineno, f"while {test}", self.cap)
        line = ast.Constant(node.lineno)
        bounded = ast.BoolOp(op=ast.And(), values=[_call(WHILE_MORE_NAME, line), node.test])
        node.test = ast.copy_location(bounded, node.test)
        enter = ast.copy_location(ast.Expr(_call(WHILE_ENTER_NAME, line)), node)
        step = ast.copy_location(ast.Expr(_call(WHILE_STEP_NAME, line)), node.body[0])
        node.body.insert(0, step)
        for new in (node.test, enter, step):
            ast.fix_missing_locations(new)
        return [enter, node]


def cap_loops(tree: ast.Module, source: str, cap: int, recorder: Recorder) -> ast.Module:
    """Rewrite ``tree`` in place so range and while loops run at most ``cap`` iterations."""
    if cap < 0:
        raise ValueError(f"--cap-loops must be >= 0; got {cap}")
    return _LoopCapper(source, cap, recorder).visit(tree)


def make_cap_helper(cap: int, recorder: Recorder):
    """The ``_tf1compat_cap(iterable, lineno)`` function the rewritten script calls."""

    def cap_loop(iterable: Iterable, lineno: int) -> Iterator:
        try:
            requested = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            requested = None  # range() shadowed by something without a length
        recorder.loop_entered(lineno, requested)
        return itertools.islice(iterable, cap)

    cap_loop.__name__ = CAP_HELPER_NAME
    return cap_loop


class WhileCaps:
    """Per-loop iteration counters behind ``_tf1compat_enter`` / ``_tf1compat_tick``."""

    def __init__(self, cap: int, recorder: Recorder) -> None:
        self.cap = cap
        self.recorder = recorder
        self._counts: dict[int, int] = {}
        self._lock = threading.Lock()

    def enter(self, lineno: int) -> None:
        """The loop at ``lineno`` is about to start: reset its counter."""
        with self._lock:
            self._counts[lineno] = 0
        self.recorder.loop_entered(lineno, None)

    def more(self, lineno: int) -> bool:
        """Before each test of the loop's condition: False once it has run ``cap`` times."""
        with self._lock:
            count = self._counts.get(lineno, 0)
        if count >= self.cap:
            self.recorder.loop_ran(lineno, count, stopped=True)
            return False
        return True

    def step(self, lineno: int) -> None:
        """At the top of each iteration: count it."""
        with self._lock:
            count = self._counts[lineno] = self._counts.get(lineno, 0) + 1
        self.recorder.loop_ran(lineno, count, stopped=False)


def cap_helpers(cap: int, recorder: Recorder) -> dict[str, object]:
    """The names the rewritten script needs in its globals."""
    caps = WhileCaps(cap, recorder)
    return {
        CAP_HELPER_NAME: make_cap_helper(cap, recorder),
        WHILE_ENTER_NAME: caps.enter,
        WHILE_MORE_NAME: caps.more,
        WHILE_STEP_NAME: caps.step,
    }


def compile_script(source: str, filename: str, *, cap: int | None, recorder: Recorder) -> object:
    """Compile the script's source as Python would, capping loops when ``cap`` is set.

    The code object carries ``filename`` so tracebacks and ``__file__`` match.
    """
    if cap is None:
        return compile(source, filename, "exec", dont_inherit=True)
    tree = ast.parse(source, filename=filename)
    tree = cap_loops(tree, source, cap, recorder)
    return compile(tree, filename, "exec", dont_inherit=True)
