"""``--cap-loops N``: make every ``for ... in range(...)`` statement run at most N times.

The script's AST is rewritten so ``for i in range(3001):`` becomes
``for i in __tf1compat_cap(range(3001), 12):`` (12 is the line number), and the
helper yields at most N items and tells the recorder the loop's length. Only
``for`` statements are capped: comprehensions such as
``[f(i) for i in range(1, 6)]`` build data (seed004's file list) and keep their
full length. The rewritten tree keeps every original line number, so
tracebacks point at the user's lines.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterable, Iterator

from legacy_tf1.shims.report import Recorder

CAP_HELPER_NAME = "__tf1compat_cap"


class _RangeLoopCapper(ast.NodeTransformer):
    """Wraps the iterable of each ``for`` over a direct ``range(...)`` call."""

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
            wrapped = ast.Call(
                func=ast.Name(id=CAP_HELPER_NAME, ctx=ast.Load()),
                args=[call, ast.Constant(node.lineno)],
                keywords=[],
            )
            node.iter = ast.copy_location(wrapped, call)
            ast.fix_missing_locations(node.iter)
        return node


def cap_range_loops(tree: ast.Module, source: str, cap: int, recorder: Recorder) -> ast.Module:
    """Rewrite ``tree`` in place so range loops run at most ``cap`` iterations."""
    if cap < 0:
        raise ValueError(f"--cap-loops must be >= 0; got {cap}")
    return _RangeLoopCapper(source, cap, recorder).visit(tree)


def make_cap_helper(cap: int, recorder: Recorder):
    """The ``__tf1compat_cap(iterable, lineno)`` function the rewritten script calls."""

    def cap_loop(iterable: Iterable, lineno: int) -> Iterator:
        try:
            requested = len(iterable)  # type: ignore[arg-type]
        except TypeError:
            requested = None  # range() shadowed by something without a length
        recorder.loop_entered(lineno, requested)
        return itertools.islice(iterable, cap)

    cap_loop.__name__ = CAP_HELPER_NAME
    return cap_loop


def compile_script(source: str, filename: str, *, cap: int | None, recorder: Recorder) -> object:
    """Compile the script's source as Python would, capping loops when ``cap`` is set.

    The code object carries ``filename`` so tracebacks and ``__file__`` match.
    """
    if cap is None:
        return compile(source, filename, "exec", dont_inherit=True)
    tree = ast.parse(source, filename=filename)
    tree = cap_range_loops(tree, source, cap, recorder)
    return compile(tree, filename, "exec", dont_inherit=True)
