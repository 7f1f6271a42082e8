"""One declarative table per model: TF1 checkpoint names to the port's variables.

A table is an ordered tuple of :class:`Row` ``(tf1_regex, target, transform)``,
matched with ``re.fullmatch``; the first matching row wins and its target may
use the regex's groups (``\\1``). Rows are emitted by small per-layer helpers
(:func:`port_conv2d`, :func:`port_dense`, ...), each of which also emits the
rows of the variable's TF1 Adam slots.

Targets name the port's variables by their Keras path (``layer/kernel``), the
Adam slots ``adam/m/<path>`` and ``adam/v/<path>``, the beta powers
``adam/beta1_power`` / ``adam/beta2_power`` (they become the optimizer's
``iterations``) and ``step`` (``global_step``).

Coverage is strict (:func:`plan`): every checkpoint key is mapped or matches
an :class:`Ignore` with its reason, every port variable is assigned exactly
once, and shapes agree; otherwise :class:`~converters.bundle.MappingError`
lists missing and unexpected names side by side.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Callable

import numpy as np

from converters.bundle import MappingError

M_SLOT, V_SLOT = "adam/m/", "adam/v/"
BETA1_POWER, BETA2_POWER, STEP = "adam/beta1_power", "adam/beta2_power", "step"
# TF1 AdamOptimizer's defaults, which the ports' make_optimizer also uses.
ADAM_BETA1, ADAM_BETA2 = 0.9, 0.999


@dataclasses.dataclass(frozen=True)
class Row:
    """``tf1`` (regex, fullmatch) maps to ``target`` (a ``re`` template) via ``transform``."""

    tf1: str
    target: str
    transform: str = "identity"


@dataclasses.dataclass(frozen=True)
class Ignore:
    """Checkpoint keys matching ``tf1`` are not converted, for ``reason``."""

    tf1: str
    reason: str


# Named transforms, each with its inverse (TF2 -> TF1). The ports keep TF1's
# layouts (HWIO kernels, [in, out] dense kernels, NHWC flatten order), so every
# row of the built-in tables is the identity; the names keep the tables explicit.
def _no_inverse(name: str) -> Callable:
    def inverse(x):
        raise MappingError(f"transform {name!r} has no inverse (it forgets the kernel's window)")

    return inverse


TRANSFORMS: dict[str, tuple[Callable, Callable]] = {
    "identity": (lambda x: x, lambda x: x),
    # slim's fc layers are convolutions (fc6: 7x7 VALID over the 7x7 map, fc7/fc8: 1x1):
    # HWIO [h, w, in, out] flattened row-major is the Dense kernel of NHWC Flatten.
    "conv_as_dense": (lambda x: x.reshape(-1, x.shape[-1]), _no_inverse("conv_as_dense")),
}
# How each transform changes a shape (identity when absent), for the shape checks.
TRANSFORM_SHAPES: dict[str, Callable[[tuple[int, ...]], tuple[int, ...]]] = {
    "conv_as_dense": lambda shape: (math.prod(shape[:-1]), shape[-1]) if shape else shape,
}
# What each transform needs of its input shape (anything when absent), in words for errors.
TRANSFORM_NEEDS: dict[str, tuple[Callable[[tuple[int, ...]], bool], str]] = {
    "conv_as_dense": (lambda shape: len(shape) >= 2, "a kernel of 2 or more dimensions"),
}


def transform_misfit(transform: str, shape: tuple[int, ...]) -> str | None:
    """Why ``transform`` cannot take a tensor of ``shape``, or None when it can."""
    fits, needs = TRANSFORM_NEEDS.get(transform, (lambda shape: True, ""))
    return None if fits(tuple(shape)) else f"{transform!r} needs {needs}, got shape {list(shape)}"


# TF1 optimizers' slot names (``VAR/<slot>``) and non-slot variables, as they
# name them by default: what a checkpoint from elsewhere holds besides weights.
OPTIMIZER_SLOT = re.compile(
    r"(?P<var>.+)/(?P<slot>(?:Adam|Momentum|RMSProp|Adagrad|AdagradDA|Adadelta|Ftrl|"
    r"ProximalAdagrad|LazyAdam|Nadam|AdaMax|AMSGrad)(?:_\d+)?)"
)
OPTIMIZER_GLOBAL = re.compile(r"(?:.+/)?(?:beta[12]_power|AdagradDA/global_step)")


def optimizer_slots(keys) -> dict[str, str]:
    """Keys that are TF1 optimizer state -> the variable they belong to ("" for non-slot ones).

    A ``VAR/Adam``-style key counts only when ``VAR`` itself is in ``keys``, so a
    layer that happens to be called "Momentum" is not mistaken for a slot.
    """
    keys = set(keys)
    found = {}
    for key in keys:
        slot = OPTIMIZER_SLOT.fullmatch(key)
        if slot and slot.group("var") in keys:
            found[key] = slot.group("var")
        elif OPTIMIZER_GLOBAL.fullmatch(key):
            found[key] = ""
    return found


def transformed_shapes(
    model_map: ModelMap, shapes: dict[str, tuple[int, ...]]
) -> dict[str, tuple[int, ...]]:
    """Checkpoint shapes as their rows' transforms will deliver them."""
    result = {}
    for key, shape in shapes.items():
        found = match(model_map, key)
        transform = found[1] if isinstance(found, tuple) else "identity"
        result[key] = tuple(TRANSFORM_SHAPES.get(transform, lambda s: s)(tuple(shape)))
    return result


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """Allowed logits difference: ``|port - legacy| <= atol + rtol * |legacy|``.

    float32 forward passes of the same weights in two graphs differ by a few
    ULPs of reordered sums; the TF guide's numerical-equivalence recipe uses
    rtol 1e-6 / atol 1e-5, our default.
    """

    rtol: float = 1e-6
    atol: float = 1e-5

    def exceeded(self, port: np.ndarray, legacy: np.ndarray) -> bool:
        """True when any element differs by more than allowed, or either side is not finite.

        NaN compares false with everything, so it is checked explicitly: a checkpoint
        whose logits are NaN on both sides must not pass as "no difference".
        """
        if not (np.all(np.isfinite(port)) and np.all(np.isfinite(legacy))):
            return True
        return bool(np.any(np.abs(port - legacy) > self.atol + self.rtol * np.abs(legacy)))


@dataclasses.dataclass(frozen=True)
class Variant:
    """The table of legacy options that change the variables (``overrides`` -> ``rows``).

    Both ``legacy_tf1`` Options and the port config have fields of those names.
    """

    overrides: dict
    rows: tuple[Row, ...]


@dataclasses.dataclass(frozen=True)
class ModelMap:
    """Everything the converters know about one model."""

    name: str
    rows: tuple[Row, ...]
    ignore: tuple[Ignore, ...] = ()
    # Port config overrides implied by the checkpoint's shapes (vgg16: image size, typo).
    infer_overrides: Callable[[dict[str, tuple[int, ...]]], dict] = lambda shapes: {}
    # Original-layout input shape (without batch) for the verification batch.
    legacy_input_shape: Callable[[dict], tuple[int, ...]] = lambda overrides: ()
    # Original layout -> the port's NHWC images.
    to_port_inputs: Callable[[np.ndarray], np.ndarray] = lambda images: images
    tolerance: Tolerance = Tolerance()
    # Tables of legacy options that add, remove or rename variables, detected from the keys.
    variants: tuple[Variant, ...] = ()
    # Port config overrides that shrink tensors but keep every variable (same objects,
    # same checkpoint keys): the fast path's skeleton port (converters/fastpath.py).
    skeleton_overrides: dict = dataclasses.field(default_factory=dict)


def unmatched(model_map: ModelMap, keys) -> int:
    """How many ``keys`` the table neither maps nor ignores."""
    return sum(match(model_map, key) is None for key in keys)


def for_overrides(model_map: ModelMap, overrides: dict) -> ModelMap:
    """The table for a port config: the variant whose options ``overrides`` sets, else the base.

    When several variants match (``{a}``, ``{b}`` and ``{a, b}`` all match a config
    setting both), the one that sets the most options is the config's own.
    """
    matching = [
        variant
        for variant in model_map.variants
        if all(overrides.get(k) == v for k, v in variant.overrides.items())
    ]
    if not matching:
        return model_map
    variant = max(matching, key=lambda v: len(v.overrides))
    return dataclasses.replace(model_map, rows=variant.rows, variants=())


def fit(model_map: ModelMap, keys) -> tuple[ModelMap, dict]:
    """(table, option overrides) of the base table or variant that fits ``keys`` best.

    Best: fewest keys unmatched, then fewest weight rows that no key matches.
    The second count is what tells an option that only *removes* variables
    (``drop_final_bias``) from the base: the base's rows match every key of such
    a checkpoint too, but some of them match nothing.
    """
    keys = list(keys)
    best, best_overrides = model_map, {}
    if not model_map.variants:
        return best, best_overrides
    best_score = _fit_score(model_map, keys)
    for variant in model_map.variants:
        candidate = dataclasses.replace(model_map, rows=variant.rows, variants=())
        score = _fit_score(candidate, keys)
        if score < best_score:
            best, best_overrides, best_score = candidate, dict(variant.overrides), score
    return best, best_overrides


def _fit_score(model_map: ModelMap, keys: list[str]) -> tuple[int, int]:
    """(keys the table does not match, weight rows that match no key); lower fits better.

    Only weight rows count as unused: a checkpoint may hold no Adam state or no
    global_step, and that says nothing about which variant wrote it.
    """
    weight_rows = [
        row for row in model_map.rows if not _is_optimizer_target(row.target) and row.target != STEP
    ]
    unused = sum(not any(re.fullmatch(row.tf1, key) for key in keys) for row in weight_rows)
    return unmatched(model_map, keys), unused


# ---- per-layer row helpers -------------------------------------------------------------


def port_variable(tf1: str, target: str, *, trainable: bool = True) -> tuple[Row, ...]:
    """Rows for one variable and, when trainable, its TF1 Adam slots (``/Adam`` = m, ``/Adam_1`` = v)."""
    rows = (Row(tf1, target),)
    if trainable:
        rows += (Row(tf1 + "/Adam", M_SLOT + target), Row(tf1 + "/Adam_1", V_SLOT + target))
    return rows


def port_conv2d(kernel: str, bias: str | None, layer: str) -> tuple[Row, ...]:
    """A Keras Conv2D ``layer`` from TF1 kernel (HWIO) and optional bias names."""
    rows = port_variable(kernel, f"{layer}/kernel")
    return rows + (port_variable(bias, f"{layer}/bias") if bias else ())


def port_dense(kernel: str, bias: str | None, layer: str) -> tuple[Row, ...]:
    """A Keras Dense ``layer``; TF1's ``[in, out]`` matmul weight is Keras' kernel."""
    rows = port_variable(kernel, f"{layer}/kernel")
    return rows + (port_variable(bias, f"{layer}/bias") if bias else ())


def port_bias(bias: str, layer: str) -> tuple[Row, ...]:
    """A port ``BiasAdd`` layer holding a bias the original added by hand."""
    return port_variable(bias, f"{layer}/bias")


def port_batch_norm(scope: str, layer: str) -> tuple[Row, ...]:
    """``tf.layers.batch_normalization`` (gamma/beta/moving stats) into TF1BatchNormalization."""
    return (
        port_variable(f"{scope}/gamma", f"{layer}/gamma")
        + port_variable(f"{scope}/beta", f"{layer}/beta")
        + port_variable(f"{scope}/moving_mean", f"{layer}/moving_mean", trainable=False)
        + port_variable(f"{scope}/moving_variance", f"{layer}/moving_variance", trainable=False)
    )


def port_batch_normal(scale: str, shift: str, moments: str, layer: str) -> tuple[Row, ...]:
    """seed004's hand-written batch norm: scale/shift plus its EMA shadow variables.

    ``ExponentialMovingAverage.apply([mean, var])`` names the shadows after the
    ``tf.nn.moments`` outputs: ``moments/Squeeze`` (mean), ``moments/Squeeze_1`` (variance).
    """
    ema = "ExponentialMovingAverage"
    return (
        port_variable(scale, f"{layer}/scale")
        + port_variable(shift, f"{layer}/shift")
        + port_variable(f"{moments}/Squeeze/{ema}", f"{layer}/moving_mean", trainable=False)
        + port_variable(f"{moments}/Squeeze_1/{ema}", f"{layer}/moving_variance", trainable=False)
    )


# TF1's AdamOptimizer creates the powers at the root (or under the name scope
# where minimize() was called, seed004: train_op/).
ADAM_POWERS = (
    Row(r"(?:[\w.-]+/)*beta1_power", BETA1_POWER, "beta_power"),
    Row(r"(?:[\w.-]+/)*beta2_power", BETA2_POWER, "beta_power"),
)
GLOBAL_STEP = (Row(r"global_step", STEP),)


def _table(*groups: tuple[Row, ...]) -> tuple[Row, ...]:
    return tuple(row for group in groups for row in group) + ADAM_POWERS + GLOBAL_STEP


# ---- the five models ----------------------------------------------------------------------


def _resnet_mnist_rows(extra_bias: bool = False) -> tuple[Row, ...]:
    # Each block's unnamed tf.Variables restart at Variable inside res2X/.
    def block(name: str, projection: bool) -> tuple[Row, ...]:
        scope = f"res2{name}"
        rows = (
            port_conv2d(f"{scope}/Variable", f"{scope}/Variable_1", f"{scope}_conv1")
            + port_conv2d(f"{scope}/Variable_2", f"{scope}/Variable_3", f"{scope}_conv2")
            + port_conv2d(f"{scope}/Variable_4", f"{scope}/Variable_5", f"{scope}_conv3")
        )
        # The projection shortcut is created after the main path and has no bias.
        if projection:
            rows += port_conv2d(f"{scope}/Variable_6", None, f"{scope}_shortcut")
        if extra_bias:
            # extra_bias: b_conv_fin is created after `add`, i.e. after the shortcut.
            index = 7 if projection else 6
            rows += port_bias(f"{scope}/Variable_{index}", f"{scope}_final_bias")
        return rows

    return _table(
        port_conv2d("Variable", "Variable_1", "conv1"),
        block("a", projection=True),
        block("b", projection=False),
        block("c", projection=False),
        port_dense("Variable_2", "Variable_3", "fc1"),
        port_dense("Variable_4", "Variable_5", "logits"),
    )


def _cifar10_cnn_rows() -> tuple[Row, ...]:
    return _table(
        port_conv2d("Variable", "Variable_1", "conv1"),
        port_conv2d("Variable_2", "Variable_3", "conv2"),
        port_dense("Variable_4", "Variable_5", "local3"),
        port_dense("Variable_6", "Variable_7", "local4"),
        port_dense("Variable_8", "Variable_9", "logits"),
    )


def _vgg16_rows() -> tuple[Row, ...]:
    return _table(
        # conv{b}_{i}/w,b -> block{b}_conv{i}: one regex row per variable kind.
        port_variable(r"conv(\d)_(\d)/w", r"block\1_conv\2/kernel"),
        port_variable(r"conv(\d)_(\d)/b", r"block\1_conv\2/bias"),
        port_dense("fc6/w", "fc6/b", "fc1"),
        port_dense("fc7/w", "fc7/b", "fc2"),
        port_dense("fc8/w", "fc8/b", "predictions"),
    )


# seed003's blocks 1-4 are identity blocks, block 5 (URt) the projection block.
_RESNET_MNIST_CLASS_PROJECTION_BLOCK = 5


def _resnet_mnist_class_rows(
    *, separate_shortcut_weights: bool = False, drop_final_bias: bool = False
) -> tuple[Row, ...]:
    # Net() creates conv1 (Variable, _1) and the FC layers (Variable_2.._5) before
    # any block; each block then creates, in order: conv1 w/b, conv2 w/b, conv3 w,
    # conv3's bias and the final bias b_conv_fin (absent with drop_final_bias, so
    # every later block starts one name earlier). The projection block reuses conv3's
    # kernel for its shortcut; separate_shortcut_weights creates its own kernel after
    # the block's other variables, and it is the last block, so no name shifts.
    per_block = 6 if drop_final_bias else 7

    def block(index: int) -> tuple[Row, ...]:
        first = 6 + per_block * (index - 1)
        name = [f"Variable_{first + k}" for k in range(per_block + 1)]
        layer = f"block{index}"
        rows = (
            port_conv2d(name[0], name[1], f"{layer}_conv1")
            + port_conv2d(name[2], name[3], f"{layer}_conv2")
            + port_conv2d(name[4], None, f"{layer}_conv3")
            + port_bias(name[5], f"{layer}_conv3_bias")
        )
        if not drop_final_bias:
            rows += port_bias(name[6], f"{layer}_final_bias")
        if separate_shortcut_weights and index == _RESNET_MNIST_CLASS_PROJECTION_BLOCK:
            rows += port_conv2d(name[per_block], None, f"{layer}_shortcut")
        return rows

    return _table(
        port_conv2d("Variable", "Variable_1", "conv1"),
        port_dense("Variable_2", "Variable_3", "fc1"),
        port_dense("Variable_4", "Variable_5", "logits"),
        *(block(index) for index in range(1, 6)),
    )


def _resnet_mnist_class_variants() -> tuple[Variant, ...]:
    """Each option alone and both together (the most specific match wins in for_overrides)."""
    options = (
        {"separate_shortcut_weights": True},
        {"drop_final_bias": True},
        {"separate_shortcut_weights": True, "drop_final_bias": True},
    )
    return tuple(Variant(o, _resnet_mnist_class_rows(**o)) for o in options)


def _alexnet_cifar10_rows(*, drop_bias_before_bn: bool = False) -> tuple[Row, ...]:
    # drop_bias_before_bn: conv2, dense and dense_1 (each right before a batch norm)
    # have no bias; conv1, conv3-5 and dense_2 keep theirs.
    conv_bias = r"conv([1345])/bias" if drop_bias_before_bn else r"conv(\d)/bias"

    def bias(name: str) -> str | None:
        return None if drop_bias_before_bn else name

    return _table(
        port_variable(r"conv(\d)/kernel", r"conv\1/kernel"),
        port_variable(conv_bias, r"conv\1/bias"),
        port_batch_norm("batch_normalization", "conv2_bn"),
        port_batch_norm("batch_normalization_1", "conv5_bn"),
        port_dense("dense/kernel", bias("dense/bias"), "fc1"),
        port_batch_normal("Variable", "Variable_1", "moments", "fc1_bn"),
        port_dense("dense_1/kernel", bias("dense_1/bias"), "fc2"),
        port_batch_normal("Variable_2", "Variable_3", "moments_1", "fc2_bn"),
        port_dense("dense_2/kernel", "dense_2/bias", "logits"),
    )


def _dim(shapes: dict[str, tuple[int, ...]], key: str, rank: int, axis: int) -> int | None:
    """``shapes[key][axis]`` when ``key`` is there with ``rank`` dims and that dim is > 0, else None.

    Checkpoints from elsewhere hold keys of the same names with other shapes
    (a scalar ``Variable`` is the usual global step): never index unchecked.
    """
    shape = tuple(shapes.get(key, ()))
    if key not in shapes or len(shape) != rank or int(shape[axis]) <= 0:
        return None
    return int(shape[axis])


def _vgg16_overrides(shapes: dict[str, tuple[int, ...]]) -> dict:
    """Port config implied by a legacy vgg16 checkpoint.

    The checkpoint cannot say whether fc8 was ReLU'd; the legacy default
    (faithful, ReLU'd) is assumed, as in ``tf2_port`` ``PARITY_OVERRIDES``.
    Shapes that do not look like vgg16's imply nothing (planning reports them).
    """
    overrides: dict = {"fix_fc8_relu": False}
    filters = _dim(shapes, "conv4_3/w", 4, -1)
    if filters:
        overrides["conv4_3_filters"] = filters
    fc6_inputs = _dim(shapes, "fc6/w", 2, 0)
    if fc6_inputs:
        # Five SAME 2x2/2 pools: fc6 reads ceil(size / 32)^2 * 512 values.
        side = math.isqrt(fc6_inputs // 512)
        if side and side * side * 512 == fc6_inputs:
            overrides["image_size"] = 32 * side
    classes = _dim(shapes, "fc8/w", 2, -1)
    if classes:
        overrides["num_classes"] = classes
    batch = _dim(shapes, "Variable", 4, 0)
    if batch:
        # The random image batch fixes the legacy graph's batch size; verification
        # rebuilds that graph and must restore the variable with its saved shape.
        overrides["batch_size"] = batch
    return overrides


def _chw_to_nhwc(images: np.ndarray) -> np.ndarray:
    # seed004 feeds flat CIFAR python rows (CHW) and transposes inside the graph.
    return images.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


MAPS: dict[str, ModelMap] = {
    m.name: m
    for m in (
        ModelMap(
            "resnet_mnist",
            _resnet_mnist_rows(),
            variants=(Variant({"extra_bias": True}, _resnet_mnist_rows(extra_bias=True)),),
            legacy_input_shape=lambda overrides: (784,),
            to_port_inputs=lambda images: images.reshape(-1, 28, 28, 1),
        ),
        ModelMap(
            "cifar10_cnn",
            _cifar10_cnn_rows(),
            legacy_input_shape=lambda overrides: (24, 24, 3),
        ),
        ModelMap(
            "vgg16",
            _vgg16_rows(),
            ignore=(
                Ignore(
                    r"Variable(?:/Adam(?:_1)?)?",
                    "seed002's random benchmark image batch (tf.Variable of "
                    "[batch, size, size, 3]); not a weight, the port takes images as input",
                ),
            ),
            infer_overrides=_vgg16_overrides,
            legacy_input_shape=lambda overrides: (overrides["image_size"],) * 2 + (3,),
            # fc1's rows follow the image size, conv4_3/conv5_1 the typo'd width,
            # predictions the classes; fc2 (4096 x 4096) cannot shrink.
            skeleton_overrides={"image_size": 32, "conv4_3_filters": 8, "num_classes": 10},
        ),
        ModelMap(
            "resnet_mnist_class",
            _resnet_mnist_class_rows(),
            variants=_resnet_mnist_class_variants(),
            legacy_input_shape=lambda overrides: (28, 28, 1),
        ),
        ModelMap(
            "alexnet_cifar10",
            _alexnet_cifar10_rows(),
            variants=(
                Variant(
                    {"drop_bias_before_bn": True},
                    _alexnet_cifar10_rows(drop_bias_before_bn=True),
                ),
            ),
            legacy_input_shape=lambda overrides: (3072,),
            to_port_inputs=_chw_to_nhwc,
            # Faithful seed004 normalises fc1/fc2 with *batch* statistics even at
            # inference; over a 4-image batch 1/sqrt(var + 1e-3) amplifies the
            # last-bit differences between tf.nn.moments and the port's moments.
            # Observed: 2-3e-5 on logits of magnitude 2-3.
            tolerance=Tolerance(rtol=1e-5, atol=1e-4),
        ),
    )
}


def get(name: str) -> ModelMap:
    """The map of model ``name``; MappingError lists the known names."""
    try:
        return MAPS[name]
    except KeyError:
        raise MappingError(
            f"no checkpoint map for model {name!r}; expected one of {list(MAPS)}"
        ) from None


# ---- planning a conversion ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Assignment:
    """Checkpoint key ``source`` goes to port variable ``target`` through ``transform``."""

    source: str
    target: str
    transform: str


@dataclasses.dataclass
class Plan:
    """The outcome of matching checkpoint keys against a table and the port's variables."""

    model: str
    assignments: list[Assignment]
    ignored: dict[str, str]
    missing: list[str]
    unexpected: list[str]
    problems: list[str]

    @property
    def ok(self) -> bool:
        return not (self.missing or self.unexpected or self.problems)

    def error_count(self) -> int:
        return len(self.missing) + len(self.unexpected) + len(self.problems)

    def report(self) -> str:
        """Missing (port variables nobody fills) and unexpected (unmapped keys), side by side."""
        width = max([len("missing (port)")] + [len(m) for m in self.missing])
        lines = [f"{'missing (port)':<{width}}  | unexpected (checkpoint)"]
        for index in range(max(len(self.missing), len(self.unexpected))):
            left = self.missing[index] if index < len(self.missing) else ""
            right = self.unexpected[index] if index < len(self.unexpected) else ""
            lines.append(f"{left:<{width}}  | {right}")
        lines += [f"problem: {problem}" for problem in self.problems]
        return "\n".join(lines)


def match(model_map: ModelMap, key: str) -> tuple[str, str] | str | None:
    """(target, transform) of the first matching row, the ignore reason (str), or None."""
    for row in model_map.rows:
        found = re.fullmatch(row.tf1, key)
        if found:
            return found.expand(row.target), row.transform
    for rule in model_map.ignore:
        if re.fullmatch(rule.tf1, key):
            return rule.reason
    return None


def plan(
    model_map: ModelMap,
    checkpoint_shapes: dict[str, tuple[int, ...]],
    port_shapes: dict[str, tuple[int, ...]],
    trainable: set[str],
    *,
    optimizer: bool = True,
) -> Plan:
    """Match every checkpoint key; check coverage, uniqueness and shapes.

    ``port_shapes`` are the port model's variables by path, ``trainable`` the
    paths that have Adam slots. With ``optimizer`` False the Adam keys are
    ignored (reason: --no-optimizer) and no slot is required.
    """
    result = Plan(model_map.name, [], {}, [], [], [])
    seen: dict[str, str] = {}
    for key in sorted(checkpoint_shapes):
        found = match(model_map, key)
        if found is None:
            result.unexpected.append(key)
            continue
        if isinstance(found, str):
            result.ignored[key] = found
            continue
        target, transform = found
        if not optimizer and _is_optimizer_target(target):
            result.ignored[key] = "optimizer state not converted (--no-optimizer)"
            continue
        if target in seen:
            result.problems.append(f"{target} assigned twice: from {seen[target]} and {key}")
            continue
        seen[target] = key
        result.assignments.append(Assignment(key, target, transform))
    wanted = _wanted_targets(port_shapes, trainable, seen, optimizer)
    result.missing = sorted(wanted - set(seen))
    for assignment in result.assignments:
        expected = _target_shape(assignment.target, port_shapes)
        if expected is _UNKNOWN:
            result.unexpected.append(
                f"{assignment.source} -> {assignment.target} (no such port variable)"
            )
        elif expected is not None and tuple(checkpoint_shapes[assignment.source]) != tuple(
            expected
        ):
            result.problems.append(
                f"{assignment.source} {list(checkpoint_shapes[assignment.source])} -> "
                f"{assignment.target} {list(expected)}: shapes differ"
            )
    return result


_UNKNOWN = object()


def _is_optimizer_target(target: str) -> bool:
    return target.startswith("adam/")


def _target_shape(target: str, port_shapes: dict[str, tuple[int, ...]]):
    if target in (BETA1_POWER, BETA2_POWER, STEP):
        return ()
    for prefix in (M_SLOT, V_SLOT):
        if target.startswith(prefix):
            return port_shapes.get(target[len(prefix) :], _UNKNOWN)
    return port_shapes.get(target, _UNKNOWN)


def _wanted_targets(port_shapes, trainable, seen, optimizer) -> set[str]:
    """Every port variable; with optimizer state in the checkpoint, every slot and power too."""
    wanted = set(port_shapes)
    has_optimizer = optimizer and any(_is_optimizer_target(t) for t in seen)
    if has_optimizer:
        wanted |= {M_SLOT + path for path in trainable} | {V_SLOT + path for path in trainable}
        wanted |= {BETA1_POWER, BETA2_POWER}
    return wanted


def iterations_from_beta_powers(beta1_power: float, beta2_power: float) -> int:
    """Completed Adam steps from TF1's ``beta1_power``/``beta2_power``.

    TF1 creates the powers at beta (0.9, 0.999) and multiplies them after each
    step, so after ``t`` steps ``beta1_power = 0.9 ** (t + 1)``; Keras 3 Adam
    uses ``beta ** (iterations + 1)``, hence ``iterations = t``. beta1 gives the
    exact count while 0.9**(t+1) is a normal float32 (t < ~830); beyond that
    only beta2 is usable. Inconsistent powers raise MappingError.
    """
    estimates = {}
    for label, value, beta in (
        ("beta1_power", beta1_power, ADAM_BETA1),
        ("beta2_power", beta2_power, ADAM_BETA2),
    ):
        if (
            value <= 0
            or value > 1
            or (label == "beta1_power" and value < np.finfo(np.float32).tiny)
        ):
            continue
        estimates[label] = math.log(float(value)) / math.log(beta) - 1
    if not estimates:
        raise MappingError(
            f"beta1_power={beta1_power}, beta2_power={beta2_power}: cannot derive Adam's step count"
        )
    steps = {label: round(value) for label, value in estimates.items()}
    if "beta1_power" in steps and abs(estimates["beta1_power"] - steps["beta1_power"]) > 1e-3:
        raise MappingError(f"beta1_power={beta1_power} is not a power of {ADAM_BETA1}")
    if len(set(steps.values())) > 1:
        raise MappingError(
            f"inconsistent Adam powers: beta1_power={beta1_power} says {steps['beta1_power']} steps, "
            f"beta2_power={beta2_power} says {steps['beta2_power']}"
        )
    return int(next(iter(steps.values())))
