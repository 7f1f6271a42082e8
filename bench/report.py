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
PER_MODEL_KEYS = ("train_step_ratio", "train_step_ratio_one_call_per_step")


@dataclasses.dataclass(frozen=True)
class Goal:
    """``value <= limit`` (``at_most``) or ``value >= limit``; ``stretch`` is informational."""

    limit: float
    at_most: bool
    stretch: float | None = None

    def met(self, value: float) -> bool:
        return value <= self.limit if self.at_most else value >= self.limit

    def __str__(self) -> str:
        text = f"{'<=' if self.at_most else '>='} {self.limit:g}"
        return f"{text} (stretch {self.stretch:g})" if self.stretch is not None else text


GOALS = {
    "train_step_ratio": Goal(1.0, at_most=True, stretch=0.8),
    "vgg16_forward_ratio": Goal(1.0, at_most=True),
    "vgg16_fraction_of_matmul_flops": Goal(0.6, at_most=False),
    "input_pipeline_speedup": Goal(2.0, at_most=False),
    "converter_vs_cp": Goal(0.5, at_most=False),
    "converter_extra_rss_over_checkpoint": Goal(1.2, at_most=True),
    "runner_overhead": Goal(1.05, at_most=True),
}

DESCRIPTIONS = {
    "train_step_ratio": "port / legacy train-step time, same batches",
    "train_step_ratio_one_call_per_step": "the same, the port called once per step",
    "vgg16_forward_ratio": "port / legacy VGG16 forward time, batch 8",
    "vgg16_fraction_of_matmul_flops": "VGG16 forward FLOP/s / 4096x4096 matmul FLOP/s (port)",
    "input_pipeline_speedup": "tf.data / queue-runner images/s, distorted CIFAR, batch 128",
    "converter_vs_cp": "conversion-phase MB/s / cp MB/s (vgg16 + Adam checkpoint)",
    "converter_vs_cp_unverified": "the same with --no-verify (no logits comparison)",
    "converter_peak_rss_mb": "peak RSS of the converter process (MB)",
    "tf_baseline_rss_mb": "peak RSS of `python -c 'import tensorflow'` (MB)",
    "converter_extra_rss_over_checkpoint": "(converter - baseline RSS) / checkpoint size",
    "tf_import_s": "`python -c 'import tensorflow'` wall time (s)",
    "runner_overhead": "example under legacy_tf1.run / hand-migrated copy, whole process",
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
        values = value.values() if isinstance(value, Mapping) else [value]
        verdicts[key] = {"goal": str(goal), "met": all(goal.met(v) for v in values)}
    return verdicts


def _format(value: float) -> str:
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
        met = "" if not goal else ("yes" if GOALS[key].met(value) else "**no**")
        detail_key = f"{key}.{model}" if model else key
        label = f"{key} [{model}]" if model else key
        lines.append(
            f"| {label} | {DESCRIPTIONS.get(key, '')} | {_format(value)} | "
            f"{_spread(details.get(detail_key, {}))} | {goal.get('goal', '')} | {met} |"
        )
    lines += ["", *METHOD, "", "Machine:", ""]
    lines += [f"- {name}: {value}" for name, value in document.get("machine", {}).items()]
    if "load_average" in document:
        lines.append(f"- load average (1, 5, 15 min) before/after: {document['load_average']}")
    return "\n".join(lines) + "\n"


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
