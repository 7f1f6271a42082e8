"""Set-up checks: what each side does before and around the first step, from its own defaults.

The step checks (parity/checks.py) start both sides from the same converted
weights, feed both the same legacy batches and turn dropout off, so they
cannot see a port that initialises, feeds or configures its training
differently. These checks compare what each side does on its own:

* ``init``: every variable of the port's own build against the legacy
  build's, as distributions (two-sample Kolmogorov-Smirnov) or, for
  constants, values;
* ``config``: every default option (the port's against the legacy Options,
  through the declared option map), the optimizer's constants, the learning
  rate at several steps, the weight-loss coefficient of every variable and
  each dropout's kept fraction and scale (measured, at the default and at a
  probe keep probability);
* ``train_pipeline`` / ``eval_pipeline``: which file images an epoch sees,
  in what order, with which labels, crops, flips, contrast and output
  statistics (parity/pipelines.py), on the same files;
* ``steps_late``: synced steps from optimizer iteration 1000, where a
  schedule or a bias-correction difference shows.

Each check returns a :class:`parity.checks.CheckRow` whose ``max_abs`` is
the worst difference divided by what is allowed (so it passes at <= 1) and
whose message names every difference found.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from parity import stats, tolerances
from parity.checks import CheckRow, Pair, constant_value

# Synced steps compared late in training, and where they start.
LATE_START = 1000
LATE_STEPS = 3
# Learning rates are read at these optimizer iterations.
LR_STEPS = (0, 1, 10, 100, 1000, 10000)
# The dropout form is also probed at this keep probability: 0.5 hides rate/keep_prob swaps.
PROBE_KEEP_PROB = 0.8
# Values compared per variable in the initialisation check (a reproducible subsample).
INIT_SAMPLE = 20000
# Relative tolerance of constants that both sides compute in float32 from the same literal.
CONSTANT_RTOL = 1e-6


@dataclasses.dataclass
class Finding:
    """One compared quantity: its name, both values, and its difference over what is allowed."""

    name: str
    legacy: Any
    port: Any
    ratio: float  # difference / allowed; > 1 is a failure

    @property
    def failed(self) -> bool:
        return not self.ratio <= 1.0  # NaN fails

    def describe(self) -> str:
        return f"{self.name}: legacy {_fmt(self.legacy)}, port {_fmt(self.port)}"


def _fmt(value) -> str:
    if isinstance(value, float | np.floating):
        return f"{value:.6g}"
    return str(value)


def _row(model: str, check: str, findings: list[Finding], tolerance: str) -> CheckRow:
    worst = max((f.ratio for f in findings), default=0.0)
    worst = float("inf") if math.isnan(worst) else worst
    failed = [f for f in findings if f.failed]
    if failed:
        detail = f"{model} {check}: FAIL, {len(failed)} of {len(findings)} differ; " + "; ".join(
            f.describe() for f in failed[:6]
        )
    else:
        detail = f"{model} {check}: ok, {len(findings)} quantities agree ({tolerance})"
    return CheckRow(model, check, worst, tolerance, not failed, detail)


def exact(name: str, legacy, port, rtol: float = CONSTANT_RTOL) -> Finding:
    """Equal values (numbers within ``rtol``; anything else by ==)."""
    if isinstance(legacy, int | float | np.number) and isinstance(port, int | float | np.number):
        allowed = rtol * max(abs(float(legacy)), abs(float(port)), 1e-30)
        return Finding(name, legacy, port, abs(float(legacy) - float(port)) / allowed)
    return Finding(name, legacy, port, 0.0 if legacy == port else math.inf)


def within(name: str, legacy: float, port: float, allowed: float) -> Finding:
    """Numbers that may differ by up to ``allowed`` (a sampling margin)."""
    return Finding(name, legacy, port, abs(legacy - port) / allowed if allowed else math.inf)


def at_least(name: str, legacy: float, port: float, allowed: float) -> Finding:
    """The port's value may exceed the legacy's, and fall short of it by up to ``allowed``."""
    return Finding(f"{name} (port >= legacy)", legacy, port, max(0.0, legacy - port) / allowed)


# How far a sample's extreme may sit inside its distribution's end: for a density that is
# flat near the end (a uniform factor), P(min - a > 14 w / n) <= exp(-14) ~ 1e-6.
EXTREME_MARGIN = 14.0


def same_range(name: str, legacy: np.ndarray, port: np.ndarray, resolution: float = 0.0) -> Finding:
    """Sample minima and maxima that agree within the margin their sample sizes allow.

    A KS test has little power against a narrowed range when the bulk still
    overlaps (a contrast range [0.5, 1.5) for [0.2, 1.8) at 400 images);
    the extremes show it at once.
    """
    legacy, port = np.ravel(legacy), np.ravel(port)
    legacy, port = legacy[np.isfinite(legacy)], port[np.isfinite(port)]
    if len(legacy) == 0 or len(port) == 0:
        return Finding(
            f"{name} range", len(legacy), len(port), 0.0 if len(legacy) == len(port) else math.inf
        )
    width = max(np.ptp(legacy), np.ptp(port))
    # ``resolution``: as in same_distribution, round-off of a constant is no range.
    allowed = max(EXTREME_MARGIN * width / min(len(legacy), len(port)), resolution)
    gap = max(abs(legacy.min() - port.min()), abs(legacy.max() - port.max()))
    shown = [f"[{x.min():.4g}, {x.max():.4g}]" for x in (legacy, port)]
    return Finding(f"{name} range", shown[0], shown[1], gap / allowed if allowed else math.inf)


def same_distribution(
    name: str, legacy: np.ndarray, port: np.ndarray, resolution: float = 0.0
) -> Finding:
    """Two samples from one distribution (KS at stats.ALPHA); summary statistics shown.

    ``resolution`` rounds both samples first, so that float32 round-off in a
    quantity that is constant on both sides is not read as two distributions.
    """
    legacy, port = np.ravel(legacy), np.ravel(port)
    if resolution:
        legacy, port = np.round(legacy / resolution), np.round(port / resolution)
    legacy, port = legacy[np.isfinite(legacy)], port[np.isfinite(port)]
    if len(legacy) == 0 or len(port) == 0:
        return Finding(
            f"{name} (count)", len(legacy), len(port), 0.0 if len(legacy) == len(port) else math.inf
        )
    statistic = stats.ks_statistic(legacy, port)
    critical = stats.ks_critical(len(legacy), len(port))
    return Finding(
        f"{name} (KS {statistic:.3f} vs {critical:.3f})",
        _summary(legacy),
        _summary(port),
        statistic / critical,
    )


def _summary(values: np.ndarray) -> str:
    std = values.std()
    tail = np.abs(values - values.mean()).max() / std if std else 0.0
    return (
        f"mean {values.mean():.4g} std {std:.4g} range [{values.min():.4g}, {values.max():.4g}] "
        f"max|x-mean|/std {tail:.2f}"
    )


# ---- initialisation ---------------------------------------------------------------------


def _model_variable_names(pair: Pair) -> list[str]:
    from converters import maps

    slots = (maps.M_SLOT, maps.V_SLOT)
    return [n for n in pair.state_names if not pair.targets[n].startswith(slots)]


def port_initial_values(name: str, overrides: dict[str, Any], seed: int) -> dict[str, np.ndarray]:
    """The port's own initial variables (its initialisers, Keras seed ``seed``) by path."""
    import keras

    import tf2_port

    keras.utils.set_random_seed(seed)
    model = tf2_port.build(name, **overrides)
    return {v.path: np.asarray(v) for v in model.weights}


def compare_initial(name: str, legacy: np.ndarray, port: np.ndarray) -> Finding:
    """One variable: shapes, then constant value or distribution."""
    if legacy.size != port.size:
        return Finding(f"{name} size", legacy.shape, port.shape, math.inf)
    if legacy.size and legacy.min() == legacy.max():
        value = float(legacy.flat[0])
        worst = float(np.max(np.abs(port - value))) if port.size else 0.0
        allowed = CONSTANT_RTOL * max(abs(value), 1e-30)
        shown = port.flat[0] if port.min() == port.max() else _summary(np.ravel(port))
        return Finding(f"{name} constant", value, shown, worst / allowed)
    return same_distribution(
        f"{name} {list(legacy.shape)}",
        stats.subsample(legacy, INIT_SAMPLE),
        stats.subsample(port, INIT_SAMPLE, seed=1),
    )


def check_init(pair: Pair, seed: int = 0) -> CheckRow:
    """Every model variable: the port's own initialisation vs the legacy graph's."""
    pair.reset()
    names = _model_variable_names(pair)
    legacy = pair.legacy.values(names)
    port = port_initial_values(pair.name, pair.port_overrides, seed)
    findings = [compare_initial(n, np.asarray(legacy[n]), port[pair.targets[n]]) for n in names]
    return _row(
        pair.name, "init", findings, f"KS alpha {stats.ALPHA:g} per variable; constants exact"
    )


# ---- configuration ----------------------------------------------------------------------


def _legacy_adam_ops(graph) -> list:
    return [op for op in graph.get_operations() if op.type in ("ApplyAdam", "ResourceApplyAdam")]


def legacy_optimizer_facts(pair: Pair, batch) -> dict[str, Any]:
    """Optimizer kind, constants and learning rate at :data:`LR_STEPS`, read from the graph."""
    from legacy_tf1.core import tf1

    graph, session = pair.legacy.model.graph, pair.legacy.session
    ops = _legacy_adam_ops(graph)
    if not ops:
        kinds = sorted({op.type for op in graph.get_operations() if op.type.startswith("Apply")})
        return {"optimizer": ",".join(kinds) or "none"}
    # ApplyAdam(var, m, v, beta1_power, beta2_power, lr, beta1, beta2, epsilon, grad)
    lr, beta1, beta2, epsilon = ops[0].inputs[5:9]
    facts = {"optimizer": "Adam"}

    def value(tensor) -> float:
        static = constant_value(tensor)
        if static is not None:
            return float(static)
        # A computed value (a schedule) may sit behind control dependencies on the feeds.
        return float(session.run(tensor, pair.legacy.run_feed(batch)))

    facts.update(
        zip(("beta1", "beta2", "epsilon"), map(value, (beta1, beta2, epsilon)), strict=True)
    )
    facts["decoupled_weight_decay"] = 0.0
    with graph.as_default():
        step = tf1.train.get_global_step(graph)
        for number in LR_STEPS:
            if step is not None:
                step.load(number, session)
            facts[f"learning_rate@{number}"] = value(lr)
    return facts


def port_optimizer_facts(pair: Pair) -> dict[str, Any]:
    """The same facts from the optimizer that tf2_port.train builds for the default config."""
    from tf2_port import train

    config = pair.port.spec.config(**pair.port_overrides)
    optimizer = train.make_optimizer(config.learning_rate)
    optimizer.build(pair.port.model.trainable_variables)
    kind = "Adam" if "adam" in type(optimizer).__name__.lower() else type(optimizer).__name__
    facts = {
        "optimizer": kind,
        "beta1": float(optimizer.beta_1),
        "beta2": float(optimizer.beta_2),
        "epsilon": float(optimizer.epsilon),
        "decoupled_weight_decay": float(optimizer.weight_decay or 0.0),
    }
    for number in LR_STEPS:
        optimizer.iterations.assign(number)
        facts[f"learning_rate@{number}"] = float(np.asarray(optimizer.learning_rate))
    return facts


def legacy_weight_loss_facts(pair: Pair) -> dict[str, float]:
    """Per variable: c in (its weight-loss term) = c * sum(w^2), from the graph's loss terms."""
    from parity.checks import REG_LOSS_MARKER

    graph = pair.legacy.model.graph
    from legacy_tf1.core import tf1

    terms = [t for t in graph.get_collection("losses") if REG_LOSS_MARKER in t.op.name]
    terms += graph.get_collection(tf1.GraphKeys.REGULARIZATION_LOSSES)
    variables = {v.op.name: v for v in pair.legacy.variables}
    facts = {}
    for term in terms:
        name = _variable_feeding(term, variables)
        value, weights = pair.legacy.session.run([term, variables[name]])
        squares = float(np.sum(np.square(weights, dtype=np.float64)))
        coefficient = float(value) / squares if squares else 0.0
        if coefficient:  # a zero-weighted term (seed001's convolutions) is no term
            facts[f"weight_loss/{name}"] = coefficient
    return facts


def _variable_feeding(tensor, variables: dict[str, Any]) -> str:
    """The one variable a loss term reads (walking its inputs)."""
    seen, stack = set(), [tensor.op]
    while stack:
        op = stack.pop()
        if op.name in variables:
            return op.name
        if op.name in seen:
            continue
        seen.add(op.name)
        stack.extend(t.op for t in op.inputs)
    raise ValueError(f"{tensor.name}: reads no model variable")


def port_weight_loss_facts(pair: Pair) -> dict[str, float]:
    """Per variable: c in (its layer's weight loss) = c * sum(w^2), from the port's own build."""
    import keras

    import tf2_port

    model = tf2_port.build(pair.name, **pair.port_overrides)
    by_path = {t: n for n, t in pair.targets.items()}
    facts = {}
    for layer in model.layers:
        losses = layer.losses
        if not losses:
            continue
        kernel = next(w for w in layer.weights if w.path in by_path and "kernel" in w.path)
        squares = float(np.sum(np.square(np.asarray(kernel), dtype=np.float64)))
        total = float(keras.ops.convert_to_numpy(sum(losses)))
        facts[f"weight_loss/{by_path[kernel.path]}"] = total / squares if squares else 0.0
    return facts


def _dropout_pairs(pair: Pair) -> list[tuple[str, str, str, str]]:
    """(legacy input, legacy output, port input, port output) of every dropout end point."""
    spec = tolerances.get(pair.name)
    points = spec.end_points
    found = []
    for (legacy_in, port_in), (legacy_out, port_out) in zip(points, points[1:], strict=False):
        if "drop" in legacy_out:
            found.append((legacy_in, legacy_out, port_in, port_out))
    return found


def _kept_and_scale(before: np.ndarray, after: np.ndarray) -> tuple[float, float]:
    live = before != 0
    kept = after[live] != 0
    if not kept.any():
        return 0.0, 0.0
    return float(kept.mean()), float(np.median(after[live][kept] / before[live][kept]))


def dropout_facts(pair: Pair, batch, keep_prob: float | None = None) -> tuple[dict, dict]:
    """Each dropout's kept fraction and scale in training mode, legacy and port.

    Both sides at their default keep probability, or both at ``keep_prob``
    (set through each side's own option of that name).
    """
    from legacy_tf1 import api

    drops = _dropout_pairs(pair)
    if not drops:
        return {}, {}
    legacy_opts = dict(pair.legacy_options)
    port_opts = dict(pair.port_overrides)
    for opts in (legacy_opts, port_opts):
        opts.pop("keep_prob", None)
        if keep_prob is not None:
            opts["keep_prob"] = keep_prob
    suffix = "" if keep_prob is None else f"@keep_prob={keep_prob}"
    legacy_model = api.build(pair.name, seed=0, **legacy_opts)
    port_model = _port_model_with_pair_weights(pair, port_opts)
    legacy_facts, port_facts = {}, {}
    with legacy_model.graph.as_default():
        from legacy_tf1.core import tf1

        saver = tf1.train.Saver(max_to_keep=None)
        with tf1.Session(graph=legacy_model.graph) as session:
            saver.restore(session, pair.legacy_prefix)
            feed = legacy_model.feed(batch.legacy_images, batch.legacy_labels, training=True)
            names = [n for d in drops for n in d[:2]]
            values = session.run({n: legacy_model.end_points[n] for n in names}, feed)
    probe = _port_probe(port_model, [n for d in drops for n in d[2:]])
    port_values = [np.asarray(x) for x in probe(batch.port_images, training=True)]
    for index, (legacy_in, legacy_out, _, _) in enumerate(drops):
        kept, scale = _kept_and_scale(values[legacy_in], values[legacy_out])
        legacy_facts[f"dropout/{legacy_out}/kept{suffix}"] = kept
        legacy_facts[f"dropout/{legacy_out}/scale{suffix}"] = scale
        kept, scale = _kept_and_scale(port_values[2 * index], port_values[2 * index + 1])
        port_facts[f"dropout/{legacy_out}/kept{suffix}"] = kept
        port_facts[f"dropout/{legacy_out}/scale{suffix}"] = scale
    return legacy_facts, port_facts


def _port_model_with_pair_weights(pair: Pair, overrides: dict[str, Any]):
    import tf2_port

    model = tf2_port.build(pair.name, **overrides)
    model.set_weights(pair.port.model.get_weights())
    return model


def _port_probe(model, layer_names):
    import keras

    outputs = [model.get_layer(n).output for n in layer_names]
    return keras.Model(model.inputs[0], outputs)


def option_facts(name: str) -> list[Finding]:
    """Every default option: port (with its parity overrides) against legacy, by the option map."""
    from legacy_tf1 import registry as legacy_registry
    from tf2_port import registry as port_registry

    spec = tolerances.get(name)
    legacy = dataclasses.asdict(legacy_registry.get(name).Options())
    port_spec = port_registry.get(name)
    port = dataclasses.asdict(port_spec.config(**port_spec.parity_overrides))
    findings = []
    for field, value in legacy.items():
        mapping = spec.option_map.get(field, field)
        if isinstance(mapping, tolerances.LegacyOnly):
            continue
        port_field, convert = mapping if isinstance(mapping, tuple) else (mapping, None)
        if port_field not in port:
            findings.append(Finding(f"option {field}", value, "missing", math.inf))
            continue
        expected = convert(value) if convert else value
        findings.append(exact(f"option {field}->{port_field}", expected, port[port_field]))
    mapped = {m[0] if isinstance(m, tuple) else m for m in spec.option_map.values()}
    for field, value in port.items():
        if field not in legacy and field not in mapped and field not in spec.port_only_options:
            findings.append(Finding(f"option {field}", "missing", value, math.inf))
    return findings


def _compare_facts(
    legacy: dict[str, Any], port: dict[str, Any], margins: dict[str, float]
) -> list[Finding]:
    findings = []
    for key in sorted(set(legacy) | set(port)):
        if key not in legacy or key not in port:
            findings.append(
                Finding(key, legacy.get(key, "absent"), port.get(key, "absent"), math.inf)
            )
        elif key in margins:
            findings.append(within(key, legacy[key], port[key], margins[key]))
        else:
            findings.append(exact(key, legacy[key], port[key]))
    return findings


def check_config(pair: Pair, batch) -> CheckRow:
    """Options, optimizer, learning-rate schedule, weight losses and dropout form."""
    findings = option_facts(pair.name)
    findings += _compare_facts(legacy_optimizer_facts(pair, batch), port_optimizer_facts(pair), {})
    findings += _compare_facts(legacy_weight_loss_facts(pair), port_weight_loss_facts(pair), {})
    for keep_prob in (None, PROBE_KEEP_PROB):
        legacy, port = dropout_facts(pair, batch, keep_prob)
        margins = {k: _kept_margin(pair, batch, legacy[k]) for k in legacy if "/kept" in k}
        findings += _compare_facts(legacy, port, margins)
    return _row(pair.name, "config", findings, "constants exact; kept fractions 5 s.e.")


def _kept_margin(pair: Pair, batch, kept: float) -> float:
    """Two kept fractions over ~units x batch Bernoulli draws differ by < 5 s.e. of their difference."""
    units = max(len(batch.port_images), 1) * 64  # a lower bound on live units per dropout
    return stats.binomial_margin(kept, units) * math.sqrt(2)


# ---- synced steps late in the schedule ------------------------------------------------------


def check_steps_late(pair: Pair, batches) -> CheckRow:
    """Synced steps from optimizer iteration :data:`LATE_START` (bias correction, schedules)."""
    from parity.checks import check_steps_synced, row

    comparison = check_steps_synced(pair, batches[:LATE_STEPS], start=LATE_START)
    check = f"steps_late ({LATE_STEPS} from {LATE_START})"
    comparison = dataclasses.replace(comparison, label=f"{pair.name} {check}")
    return row(pair.name, check, comparison)


# ---- input pipelines ------------------------------------------------------------------------


def run_setup(pair: Pair, batches, workdir: str) -> Iterator[CheckRow]:
    """Every set-up check of one model, as report rows."""
    from parity import pipeline_checks

    yield check_init(pair)
    yield check_config(pair, batches[0])
    yield check_steps_late(pair, batches)
    yield from pipeline_checks.run(pair.name, workdir)
