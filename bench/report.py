"""Assemble case results into ``bench.json`` and a Markdown table; check them against the goals."""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

# Keys reported per model: results arrive as "KEY.MODEL" and are grouped as {model: value}.
PER_MODEL_KEYS = (
    "train_step_ratio",
    "train_step_ratio_bf16",
    "train_step_ratio_one_call_per_step",
    "bf16_accuracy_delta",
)


@dataclasses.dataclass(frozen=True)
class Goal:
    """``value <= limit`` (``at_most``) or ``value >= limit``; ``stretch`` is informational.

    For a per-model key, ``min_models`` models must meet it (None: every model).
    """

    limit: float
    at_most: bool
    stretch: float | None = None
    min_models: int | None = None

    def met(self, value: float) -> bool:
        return value <= self.limit if self.at_most else value >= self.limit

    def met_by(self, values: list[float]) -> bool:
        """Whether enough of ``values`` (one per model, or a single one) meet the goal."""
        needed = len(values) if self.min_models is None else self.min_models
        return sum(self.met(v) for v in values) >= needed

    def __str__(self) -> str:
        text = f"{'<=' if self.at_most else '>='} {self.limit:g}"
        if self.min_models is not None:
            text += f" for >= {self.min_models} models"
        return f"{text} (stretch {self.stretch:g})" if self.stretch is not None else text


# train_step_ratio's 1.03: a float32 port/legacy ratio moves by a few percent
# from one process to the next (see METHOD), so parity is "within 3 %".
GOALS = {
    "train_step_ratio": Goal(1.03, at_most=True, stretch=0.8),
    "train_step_ratio_bf16": Goal(0.7, at_most=True, min_models=4),
    "bf16_accuracy_delta": Goal(1.0, at_most=True),
    "vgg16_forward_ratio": Goal(1.0, at_most=True),
    "vgg16_forward_ratio_bf16": Goal(0.6, at_most=True),
    "vgg16_fraction_of_matmul_flops": Goal(0.6, at_most=False),
    "input_pipeline_speedup": Goal(2.0, at_most=False),
    "converter_vs_cp_unverified": Goal(0.5, at_most=False),
    "converter_verify_budget": Goal(1.1, at_most=True),
    "converter_extra_rss_over_checkpoint": Goal(1.2, at_most=True),
    "load_ratio_vgg16": Goal(1.0, at_most=True),
    "runner_overhead": Goal(1.05, at_most=True),
}

DESCRIPTIONS = {
    "train_step_ratio": "port / legacy train-step time, same batches",
    "train_step_ratio_bf16": "port in mixed bfloat16 / legacy float32 train-step time",
    "train_step_ratio_one_call_per_step": "the same, the port called once per step",
    "bf16_accuracy_delta": "legacy float32 - port bfloat16 mean test accuracy (points), seed study",
    "vgg16_forward_ratio": "port / legacy VGG16 forward time, batch 8",
    "vgg16_forward_ratio_bf16": "port in mixed bfloat16 / legacy float32 VGG16 forward time",
    "vgg16_fraction_of_matmul_flops": "VGG16 forward FLOP/s / 4096x4096 matmul FLOP/s (port)",
    "input_pipeline_speedup": "tf.data / queue-runner images/s, distorted CIFAR, batch 128",
    "converter_vs_cp": "conversion-phase MB/s / cp MB/s (vgg16 + Adam checkpoint)",
    "converter_vs_cp_unverified": "the same with --no-verify (no logits comparison)",
    "converter_verify_budget": "verified phase / (unverified phase + legacy forward + port forward)",
    "converter_peak_rss_mb": "peak RSS of the converter process (MB)",
    "tf_baseline_rss_mb": "peak RSS of `python -c 'import tensorflow'` (MB)",
    "converter_extra_rss_over_checkpoint": "(converter - baseline RSS) / checkpoint size",
    "tf_import_s": "`python -c 'import tensorflow'` wall time (s)",
    "runner_overhead": "example under legacy_tf1.run / hand-migrated copy, whole process",
    "load_ratio_vgg16": "tf2_port.load / legacy build + Saver restore of the same weights (vgg16)",
    "load_port_peak_rss_mb": "peak RSS of the tf2_port.load process (MB)",
    "load_legacy_peak_rss_mb": "peak RSS of the legacy build + restore process (MB)",
}

METHOD = (
    "How each figure is taken (`bench/cases.py`; every case runs in its own process):",
    "",
    "- train_step_ratio: one process builds the faithful legacy graph (tf.compat.v1 Session,"
    " TF's default threading; one `Session.run` per step, numpy feeds in the original layout)"
    " and the port (parity config, default strategy); both train on the same 4 pre-generated"
    " random batches, default batch sizes; a trial is a fixed number of steps (10 or 20;"
    " vgg16 at batch 32 and 224x224: 1 step). Each model runs in 3 fresh processes of 5"
    " rounds (vgg16: 1 process), and the median is taken over all their rounds: the ratio"
    " moves by a few percent from one process to the next, more than between rounds. The port runs as its training loop"
    " does: `tf2_port.train.make_train_steps`, 10 steps per `tf.function` call (the default"
    " `--steps-per-call`; 1 for vgg16's one-step trial) taking the batches from a `tf.data`"
    " iterator inside the call. train_step_ratio_one_call_per_step times a third side in the"
    " same rounds: `make_train_step` called once per step on tensors already in memory"
    " (not for vgg16, whose loop already calls once per step).",
    "- train_step_ratio_bf16 / vgg16_forward_ratio_bf16: a further port side in the same"
    ' rounds, built with `precision="mixed_bfloat16"` (bfloat16 compute, float32'
    " variables, logits, softmax, batch norm and LRN), against the same float32 legacy"
    " side. Measured only where the CPU reports AVX512_BF16 or AMX-BF16 (the machine"
    " section says which); elsewhere the row says skipped.",
    "- bf16_accuracy_delta: not timed. The seed study's recorded runs"
    " (`python -m parity.seeds run --precision mixed_bfloat16`, docs/parity_seeds.jsonl):"
    " legacy float32 and port bfloat16 each trained alone over the same seeds; the value"
    " is the difference of the mean test accuracies in points, with its 90 % CI and TOST"
    " verdict (margin 1 point, docs/parity.md) in the details.",
    "- vgg16_forward_ratio / fraction: seed002's own forward graph (`predictions` on its"
    " Variable of random images) vs the port's `argmax(model(images))` in a tf.function,"
    " parity config, batch 8; 3 fresh processes of 5 rounds, pooled as for the train steps"
    " (the fraction: the median process's); FLOPs are 2 x multiply-adds of the conv and dense layers,"
    " counted from the layer shapes; the limit is a 4096x4096 float32 tf.matmul timed in"
    " the same rounds.",
    "- input_pipeline_speedup: `tf2_port.data.train_dataset(CIFAR10_DISTORTED)` vs"
    " `legacy_tf1.inputs.distorted_inputs` (16 queue-runner threads) on the embedded"
    " sample, batch 128; each trial is a fresh process running one pipeline alone"
    " (alternating), which discards 10 batches (the queue's 20000-image fill, tf.data's"
    " buffers) and then times 200.",
    "- runner_overhead: `legacy_tf1/examples/mnist_tf_layers.py` under"
    " `python -m legacy_tf1.run --cap-loops 200` vs `bench/migrated_mnist_tf_layers.py 200`,"
    " whole-process wall time, alternating processes.",
    "- converter: `python -m converters.ckpt_v1_to_v2 CKPT --model vgg16` on the legacy"
    " vgg16 checkpoint with Adam slots (the default: the logits are verified against the"
    " legacy graph), and the same with `--no-verify`; conversion phase = its wall time minus"
    " that of `python -c 'import tensorflow'`, paired round by round; `cp` copies the same"
    " files; peak RSS from wait4.",
    "- converter_verify_budget: in the converter case's rounds, the verified run writes"
    " `--timings FILE`; value = verified phase / (unverified phase + legacy_forward +"
    " port_forward), paired per round. The forward passes are timed inside the verified"
    " converter process: one `session.run` of the legacy logits and one call of the port,"
    " on the verification batch of 4 images.",
    "- load_ratio_vgg16: the vgg16 + Adam checkpoint converted with --no-verify; alternating"
    " fresh processes, each timed from just after `import tensorflow` to the end of its work."
    " Port: `import tf2_port; tf2_port.load('vgg16', OUT)` (built unfilled, then restored)."
    " Legacy: `legacy_tf1.api.build('vgg16')` (the faithful graph, training ops included),"
    " then `tf.compat.v1.train.Saver(model variables, not Adam slots).restore`. Peak RSS"
    " from wait4.",
)


def assemble(case_results: Mapping[str, Mapping[str, Any]], meta: Mapping[str, Any]) -> dict:
    """The bench.json document: headline values at the top level, then details and goals.

    ``case_results`` maps keys (``KEY.MODEL`` for the :data:`PER_MODEL_KEYS`)
    to ``{"value": float, "details": dict}``.
    """
    document: dict[str, Any] = dict(meta)
    details: dict[str, Any] = {}
    for key, result in case_results.items():
        details[key] = result["details"]
        prefix, _, model = key.partition(".")
        if prefix in PER_MODEL_KEYS and model:
            document.setdefault(prefix, {})[model] = result["value"]
        else:
            document[key] = result["value"]
    document["goals"] = check_goals(document)
    document["details"] = details
    return document


def check_goals(document: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """``{key: {"goal": text, "met": bool}}`` for each goal whose key is in ``document``."""
    verdicts = {}
    for key, goal in GOALS.items():
        if key not in document:
            continue
        value = document[key]
        values = list(value.values()) if isinstance(value, Mapping) else [value]
        measured = [v for v in values if v is not None]
        if not measured:  # skipped, e.g. no bfloat16 hardware: neither met nor failed
            verdicts[key] = {"goal": str(goal), "met": None}
            continue
        verdicts[key] = {"goal": str(goal), "met": goal.met_by(measured)}
    return verdicts


def _format(value: float | None) -> str:
    if value is None:
        return "skipped"
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _spread(details: Mapping[str, Any]) -> str:
    summary = details.get("ratio") or details
    if not isinstance(summary, Mapping) or "q1" not in summary:
        return ""
    return f"{_format(summary['q1'])} .. {_format(summary['q3'])} (n={summary['n']})"


def render_markdown(document: Mapping[str, Any]) -> str:
    """A table of every headline figure with its IQR and goal, then the machine."""
    goals = document.get("goals", {})
    details = document.get("details", {})
    lines = [
        "# Benchmarks",
        "",
        f"Command: `{document.get('command', '?')}`",
        "",
        "Medians over interleaved rounds (A B A B ...) after warm-up; spread = interquartile range"
        " of the per-round values.",
        "",
        "| key | what | median | IQR | goal | met |",
        "|---|---|---|---|---|---|",
    ]
    for key, model, value in _rows(document):
        goal = goals.get(key, {})
        detail_key = f"{key}.{model}" if model else key
        row_details = details.get(detail_key, {})
        label = f"{key} [{model}]" if model else key
        lines.append(
            f"| {label} | {DESCRIPTIONS.get(key, '')} | {_format(value)} | "
            f"{_spread(row_details) or row_details.get('skipped', '')} | {goal.get('goal', '')} "
            f"| {_met(key, value, goal)} |"
        )
    summary = [f"- {key}: {_verdict_text(key, v)}" for key, v in goals.items()]
    lines += ["", "Goals over all models (a per-model goal says how many must meet it):", ""]
    lines += summary
    lines += ["", *METHOD, "", "Machine:", ""]
    lines += [f"- {name}: {value}" for name, value in document.get("machine", {}).items()]
    if "load_average" in document:
        lines.append(f"- load average (1, 5, 15 min) before/after: {document['load_average']}")
    return "\n".join(lines) + "\n"


def _met(key: str, value: float | None, goal: Mapping[str, Any]) -> str:
    if not goal:
        return ""
    if value is None:
        return "n/a"
    return "yes" if GOALS[key].met(value) else "**no**"


def _verdict_text(key: str, verdict: Mapping[str, Any]) -> str:
    met = verdict.get("met")
    state = "not measured" if met is None else ("met" if met else "**not met**")
    return f"{verdict['goal']}: {state}"


def _rows(document: Mapping[str, Any]):
    for key in PER_MODEL_KEYS:
        for model, value in document.get(key, {}).items():
            yield key, model, value
    for key in DESCRIPTIONS:
        if key not in PER_MODEL_KEYS and key in document:
            yield key, None, document[key]


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_reports(document: Mapping[str, Any], directory: Path, stem: str) -> list[Path]:
    """``directory/stem.json`` and ``directory/stem.md``; returns both paths."""
    json_path, md_path = directory / f"{stem}.json", directory / f"{stem}.md"
    write_atomic(json_path, json.dumps(document, indent=1) + "\n")
    write_atomic(md_path, render_markdown(document))
    return [json_path, md_path]
