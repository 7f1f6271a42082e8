"""Plan stage: which checkpoint key goes to which variable, as one :class:`maps.Plan`.

Three sources give the same plan object: a registry table (here, with
``--model NAME|auto``), a rules file (converters/rules.py) and the ``--target``
proposal from creation order and shapes (converters/target.py).
"""

from __future__ import annotations

from typing import Any

from converters import maps
from converters.bundle import MappingError
from converters.port import port_overrides, port_shapes


def dtype_problems(plan: maps.Plan, state, dtypes: dict[str, str]) -> list[str]:
    """Assignments whose stored dtype is not the target variable's (float16, int64, string...).

    ``state`` is a PortState or a PortShapes (anything with ``target_dtype``).
    """
    problems = []
    for assignment in plan.assignments:
        try:
            expected = (
                "float32"
                if assignment.transform == "beta_power"
                else state.target_dtype(assignment.target)
            )
        except (KeyError, ValueError):
            continue  # an unknown target is already reported as unexpected
        actual = dtypes.get(assignment.source, expected)
        if actual != expected:
            problems.append(
                f"{assignment.source} is {actual} -> {assignment.target} is {expected}: "
                "dtypes differ"
            )
    return problems


def plan_for(
    name: str,
    shapes: dict[str, tuple[int, ...]],
    *,
    optimizer: bool = True,
    dtypes: dict[str, str] | None = None,
    options: dict[str, Any] | None = None,
):
    """(plan, port shapes) of converting a checkpoint with ``shapes`` into model ``name``.

    The port is described (:func:`port_shapes`), not built: planning, and so
    ``--model auto`` trying several models, allocates no full-size variables.
    With ``dtypes`` (stored dtype names) a dtype that differs from the target's
    is a plan problem: assigning it would fail deep inside TF, or silently cast.
    ``options`` (legacy names, ``--option``) are applied over what the shapes imply.
    """
    overrides = port_overrides(name, shapes, options)
    try:
        port = port_shapes(name, overrides)
    except (ValueError, TypeError) as error:
        raise MappingError(f"{name}: cannot build the port with {overrides} ({error})") from None
    plan = maps.plan(
        maps.for_overrides(maps.get(name), overrides),
        shapes,
        port.shapes,
        set(port.trainable_paths),
        optimizer=optimizer,
    )
    plan.problems.extend(dtype_problems(plan, port, dtypes or {}))
    return plan, port


def _name_errors(name: str, shapes: dict[str, tuple[int, ...]]) -> int:
    """Keys the table (or its best variant) neither maps nor ignores: a cheap first filter."""
    return maps.unmatched(maps.fit(maps.get(name), shapes)[0], shapes)


# Rows every table has (Adam powers, global_step): matching them says nothing about the model.
_SHARED_TARGETS = frozenset(row.target for row in maps.ADAM_POWERS + maps.GLOBAL_STEP)


def _own_keys(name: str, shapes: dict[str, tuple[int, ...]]) -> int:
    """Keys matched by a row of the model's own (not the rows every table shares)."""
    table = maps.fit(maps.get(name), shapes)[0]
    return sum(
        isinstance(found, tuple) and found[0] not in _SHARED_TARGETS
        for found in (maps.match(table, key) for key in shapes)
    )


def _shape_overlap(plan: maps.Plan) -> int:
    """Model-specific assignments whose shapes agree: how close a failed plan really is."""
    differing = {p.split(" ", 1)[0] for p in plan.problems}
    return sum(
        a.target not in _SHARED_TARGETS and a.source not in differing for a in plan.assignments
    )


def _try_plan(name: str, shapes: dict[str, tuple[int, ...]]) -> maps.Plan | None:
    """The plan into ``name``, or None when the shapes do not even configure its port."""
    try:
        return plan_for(name, shapes)[0]
    except MappingError:
        return None


def detect_model(shapes: dict[str, tuple[int, ...]], source: str) -> str:
    """The registry model whose table and port shapes fit the checkpoint exactly.

    Candidates are ranked by unmatched names; the best ones are then planned
    against their port. No exact fit raises MappingError that says what the
    checkpoint holds and how to convert it with a rules file; it names the
    closest model only when that model shares some correctly shaped keys.
    """
    ranked = sorted(maps.MAPS, key=lambda name: _name_errors(name, shapes))
    best_errors = _name_errors(ranked[0], shapes)
    closest = None
    for name in ranked:
        if _name_errors(name, shapes) > best_errors or not _own_keys(name, shapes):
            continue
        candidate = _try_plan(name, shapes)
        if candidate is None:
            continue
        if candidate.ok:
            return name
        if closest is None or candidate.error_count() < closest.error_count():
            closest = candidate
    raise MappingError(no_model_message(shapes, source, closest))


def no_model_message(shapes, source: str, closest: maps.Plan | None) -> str:
    """The refusal of ``--model auto``: what the checkpoint holds and the way forward."""
    from converters import rules

    lines = [f"{source}: matches no registry model ({', '.join(maps.MAPS)})."]
    lines += rules.holdings(shapes)
    if closest is not None and _shape_overlap(closest):
        lines.append(f"The closest is {closest.model!r}:")
        lines += closest.report().splitlines()[:20]
    lines += [
        "To convert it anyway, write a rules file (one rule per variable, Keras names) and edit it:",
        f"  python -m converters.rules init {source} --output rules.json",
        f"  python -m converters.ckpt_v1_to_v2 {source} --rules rules.json --output DIR",
    ]
    return "\n".join(lines)
