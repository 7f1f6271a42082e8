"""One function per benchmark key; each runs in its own process (see :mod:`bench.__main__`).

``python -m bench.cases KEY --output FILE [--model NAME] [--rounds N] [--warmup N]``
runs one case and writes its result (``{"value": ..., "details": ...}``) to FILE
as JSON. TensorFlow is imported here only, inside the case functions, so the
process measuring subprocesses (runner overhead, the converter) stays light.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.converter_cases import converter, load_restore, write_vgg16_checkpoint
from bench.processes import run_process
from bench.runner import Repeats, compare, interleave, round_sig, summarize, timed

# Quiet TF's C++ banner lines; they are noise in the bench log, not information.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
MIGRATED_SCRIPT = Path(__file__).resolve().parent / "migrated_mnist_tf_layers.py"
EXAMPLE_SCRIPT = ROOT / "legacy_tf1" / "examples" / "mnist_tf_layers.py"
TRAINABLE_MODELS = ("resnet_mnist", "cifar10_cnn", "vgg16", "resnet_mnist_class", "alexnet_cifar10")
FORWARD_BATCH = 8
PIPELINE_BATCH = 128
MATMUL_SIZE = 4096


# Steps per timed trial, so that one trial lasts long enough to time reliably
# (vgg16 at batch 32 and 224x224 takes seconds per step on 2 cores: one step).
# Multiples of the port's steps per call where a trial has more than one step.
STEPS_PER_TRIAL = {
    "resnet_mnist": 20,
    "cifar10_cnn": 10,
    "vgg16": 1,
    "resnet_mnist_class": 10,
    "alexnet_cifar10": 20,
}


# ---- batches -------------------------------------------------------------------------


def _legacy_batches(model, count: int, seed: int = 0) -> list[tuple[Any, Any]]:
    """``count`` random (images, labels) batches in the legacy placeholders' own layout."""
    import numpy as np

    rng = np.random.default_rng(seed)
    batch_size = model.options.batch_size
    image_shape = [batch_size, *model.inputs.shape.as_list()[1:]]
    label_shape = model.labels.shape.as_list()
    batches = []
    for _ in range(count):
        images = rng.standard_normal(image_shape).astype(np.float32)
        classes = rng.integers(0, 10, size=batch_size)
        if len(label_shape) == 2:
            labels = np.eye(label_shape[1], dtype=np.float32)[classes]
        else:
            labels = classes.astype(model.labels.dtype.as_numpy_dtype)
        batches.append((images, labels))
    return batches


def to_port_layout(name: str, images):
    """The same images as the port reads them: NHWC (seed000 is flat, seed004 flat CHW)."""
    if name == "resnet_mnist":
        return images.reshape(-1, 28, 28, 1)
    if name == "alexnet_cifar10":
        return images.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).copy()
    return images


# ---- train_step_ratio ----------------------------------------------------------------


def _legacy_trainer(name: str, batches_count: int):
    """(step function over the i-th batch, batches): the faithful graph in a session."""
    from legacy_tf1 import api
    from legacy_tf1.core import tf1

    model = api.build(name, seed=0)
    batches = _legacy_batches(model, batches_count)
    with model.graph.as_default():
        init = tf1.global_variables_initializer()
    # TF's default session threading (all cores for intra- and inter-op), as the port gets.
    session = tf1.Session(graph=model.graph)
    session.run(init)
    feeds = [model.feed(images, labels, training=True) for images, labels in batches]

    def step(index: int) -> float:
        _, loss = session.run([model.train_op, model.loss], feeds[index % len(feeds)])
        return float(loss)

    return step, batches


def _port_setup(name: str, precision: str = "float32"):
    import tensorflow as tf

    from tf2_port import registry, train

    spec = registry.get(name)
    config = spec.config(**spec.parity_overrides, precision=precision)
    model = spec.build_model(config)
    optimizer = train.make_optimizer(config.learning_rate)
    optimizer.build(model.trainable_variables)
    return spec, config, model, optimizer, tf.distribute.get_strategy()


def _port_trainer(name: str, legacy_batches):
    """A step function over the same batches: one ``make_train_step`` call per step."""
    import tensorflow as tf

    from tf2_port import train

    spec, config, model, optimizer, strategy = _port_setup(name)
    train_step = train.make_train_step(spec, config, model, optimizer, strategy, config.batch_size)
    batches = [
        (tf.constant(to_port_layout(name, images)), tf.constant(labels))
        for images, labels in legacy_batches
    ]

    def step(index: int) -> float:
        loss, _ = train_step(batches[index % len(batches)])
        return float(loss)

    return step


def port_steps_per_call(name: str) -> int:
    """The port's steps per call in the bench: the training loop's default, within a trial."""
    from tf2_port import train

    return min(train.RunSettings.steps_per_call, STEPS_PER_TRIAL[name])


def _port_loop(name: str, legacy_batches, precision: str = "float32"):
    """(run ``count`` steps, steps per call): the port's training loop on the same batches.

    As ``tf2_port.train.train`` runs it: ``make_train_steps`` calls taking
    their batches from a distributed ``tf.data`` iterator (here over the 4
    batches, repeated) and returning every step's loss.
    """
    import numpy as np
    import tensorflow as tf

    from tf2_port import train

    spec, config, model, optimizer, strategy = _port_setup(name, precision)
    per_call = port_steps_per_call(name)
    images = np.stack([to_port_layout(name, images) for images, _ in legacy_batches])
    labels = np.stack([labels for _, labels in legacy_batches])
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).repeat()
    iterator = iter(train._distribute(dataset, strategy))
    train_steps = train.make_train_steps(
        spec, config, model, optimizer, strategy, config.batch_size, per_call
    )

    def run(count: int) -> None:
        for _ in range(count // per_call):
            losses, _ = train_steps(iterator)
            losses.numpy()

    return run, per_call


def _steps(step: Callable[[int], float], count: int) -> Callable[[], None]:
    def run() -> None:
        for index in range(count):
            step(index)

    return run


def skipped_without_bf16(key: str) -> dict[str, dict[str, Any]]:
    """``{key: skipped}``, for a machine without bfloat16 hardware.

    Emulated bfloat16 is slower than float32: timing it would say nothing about
    what the option buys, so no figure is reported.
    """
    from tf2_port import precision

    reason = f"no bfloat16 hardware: this CPU reports none of {list(precision.BF16_CPU_FLAGS)}"
    return {key: {"value": None, "details": {"skipped": reason}}}


def _bf16_hardware() -> str | None:
    """This machine's bfloat16 hardware (see tf2_port.precision.bf16_hardware), or None."""
    from tf2_port import precision

    return precision.bf16_hardware()


def train_step_ratio(name: str, repeats: Repeats) -> dict[str, dict[str, Any]]:
    """port/legacy seconds per training step on the same batches, interleaved in one process.

    Three port sides: its training loop (``steps_per_call`` steps per
    ``tf.function`` call, the headline), the same loop in mixed bfloat16 (where
    the CPU has bfloat16 hardware), and one ``make_train_step`` call per step,
    as the legacy graph has one ``Session.run`` per step.
    """
    legacy_step, batches = _legacy_trainer(name, batches_count=4)
    port_loop, per_call = _port_loop(name, batches)
    per_trial = STEPS_PER_TRIAL[name]
    trials = {
        "port": timed(lambda: port_loop(per_trial)),
        "legacy": timed(_steps(legacy_step, per_trial)),
    }
    hardware = _bf16_hardware()
    if hardware:
        bf16_loop, _ = _port_loop(name, batches, "mixed_bfloat16")
        trials["port_bf16"] = timed(lambda: bf16_loop(per_trial))
    if per_call > 1:  # else the loop already calls once per step (vgg16's one-step trial)
        trials["port_one_call_per_step"] = timed(_steps(_port_trainer(name, batches), per_trial))
    samples = interleave(trials, rounds=repeats.rounds, warmup=repeats.warmup)
    per_step = {side: [s / per_trial for s in values] for side, values in samples.items()}
    shared = dict(batch_size=len(batches[0][0]), steps_per_trial=per_trial, unit="s/step")
    loop = compare(per_step, "port", "legacy")
    loop.update(shared, steps_per_call=per_call)
    results = {f"train_step_ratio.{name}": {"value": loop["ratio"]["median"], "details": loop}}
    if hardware:
        bf16 = compare(per_step, "port_bf16", "legacy")
        bf16.update(shared, steps_per_call=per_call, precision="mixed_bfloat16", hardware=hardware)
        results[f"train_step_ratio_bf16.{name}"] = {
            "value": bf16["ratio"]["median"],
            "details": bf16,
        }
    else:
        results.update(skipped_without_bf16(f"train_step_ratio_bf16.{name}"))
    if "port_one_call_per_step" in per_step:
        single = compare(per_step, "port_one_call_per_step", "legacy")
        single.update(shared, steps_per_call=1)
        results[f"train_step_ratio_one_call_per_step.{name}"] = {
            "value": single["ratio"]["median"],
            "details": single,
        }
    return results


# ---- vgg16 forward and FLOPs ---------------------------------------------------------


def vgg16_forward_flops(config, batch_size: int) -> int:
    """2 * multiply-adds of the VGG16 forward pass (convolutions and dense layers only).

    Bias adds, ReLUs, pools and the softmax are left out: they are under 0.1 %
    of the total and are not matmul-like work.
    """
    from tf2_port import vgg16

    size, channels, macs = config.image_size, 3, 0
    for block in vgg16.conv_blocks(config):
        for filters in block:
            macs += size * size * 3 * 3 * channels * filters
            channels = filters
        size = -(-size // 2)  # 2x2/2 SAME pooling rounds up
    features = size * size * channels
    for units in (4096, 4096, config.num_classes):
        macs += features * units
        features = units
    return 2 * macs * batch_size


def _legacy_forward(batch_size: int):
    """seed002's own forward benchmark graph: predictions on a Variable of random images."""
    from legacy_tf1 import vgg16
    from legacy_tf1.api import options_for
    from legacy_tf1.core import graph_scope, tf1

    options = options_for("vgg16", batch_size=batch_size)
    with graph_scope(0) as graph:
        _images, keep_prob, predictions, _grads = vgg16.bench_graph(options)
        init = tf1.global_variables_initializer()
    session = tf1.Session(graph=graph)
    session.run(init)
    return lambda: session.run(predictions, {keep_prob: 1.0})


def _port_forward(batch_size: int, precision: str = "float32"):
    """The port (parity config) on a batch of random images already held as a tensor."""
    import tensorflow as tf

    from tf2_port import registry

    spec = registry.get("vgg16")
    config = spec.config(**spec.parity_overrides, precision=precision)
    model = spec.build_model(config)
    images = tf.random.normal([batch_size, config.image_size, config.image_size, 3], stddev=0.1)

    @tf.function(jit_compile=False)
    def predictions():
        return tf.argmax(model(images, training=False), axis=1)

    return (lambda: predictions().numpy()), config


def _matmul(size: int):
    import tensorflow as tf

    a = tf.random.normal([size, size])
    b = tf.random.normal([size, size])

    @tf.function
    def product():
        return tf.reduce_sum(tf.matmul(a, b))

    return lambda: product().numpy()


def vgg16_forward(repeats: Repeats) -> dict[str, Any]:
    """port/legacy forward time at batch 8, and the port's FLOP/s over a big matmul's."""
    legacy = _legacy_forward(FORWARD_BATCH)
    port, config = _port_forward(FORWARD_BATCH)
    matmul = _matmul(MATMUL_SIZE)
    trials = {"port": timed(port), "legacy": timed(legacy), "matmul": timed(matmul)}
    hardware = _bf16_hardware()
    if hardware:
        trials["port_bf16"] = timed(_port_forward(FORWARD_BATCH, "mixed_bfloat16")[0])
    samples = interleave(trials, rounds=repeats.rounds, warmup=repeats.warmup)
    flops = vgg16_forward_flops(config, FORWARD_BATCH)
    matmul_flops = 2 * MATMUL_SIZE**3
    fractions = {
        side: [
            (flops / seconds) / (matmul_flops / matmul_s)
            for seconds, matmul_s in zip(samples[side], samples["matmul"], strict=True)
        ]
        for side in ("port", "legacy")
    }
    forward = compare(samples, "port", "legacy")
    forward.update(batch_size=FORWARD_BATCH, unit="s/batch", config=dataclasses.asdict(config))
    matmul_gflops = summarize([matmul_flops / s / 1e9 for s in samples["matmul"]])
    fraction = {
        "port": summarize(fractions["port"]).to_json(),
        "legacy": summarize(fractions["legacy"]).to_json(),
        "forward_gflop": round_sig(flops / 1e9),
        "matmul": f"float32 tf.matmul {MATMUL_SIZE}x{MATMUL_SIZE}",
        "matmul_gflops": matmul_gflops.to_json(),
    }
    results = {
        "vgg16_forward_ratio": {"value": forward["ratio"]["median"], "details": forward},
        "vgg16_fraction_of_matmul_flops": {
            "value": fraction["port"]["median"],
            "details": fraction,
        },
    }
    if hardware:
        bf16 = compare(samples, "port_bf16", "legacy")
        bf16.update(batch_size=FORWARD_BATCH, unit="s/batch", hardware=hardware)
        results["vgg16_forward_ratio_bf16"] = {"value": bf16["ratio"]["median"], "details": bf16}
    else:
        results.update(skipped_without_bf16("vgg16_forward_ratio_bf16"))
    return results


# ---- accuracy in bfloat16 --------------------------------------------------------------


def _shown(path: str | os.PathLike[str]) -> str:
    """``path`` relative to the repository when inside it (the reports are committed)."""
    return os.path.relpath(path, ROOT) if Path(path).resolve().is_relative_to(ROOT) else str(path)


def bf16_accuracy_delta(study_file: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Legacy float32 mean accuracy - port bfloat16 mean, in points, per trained model.

    Read from the seed study (``python -m parity.seeds run --precision
    mixed_bfloat16``): each side trained alone over the study's seeds, judged
    by the equivalence criterion (TOST, margin 1 point). Training the runs
    here would take an hour per model, so the figure comes from the recorded
    runs; a model without runs is reported as skipped, never estimated.
    """
    from parity import seeds

    results = {}
    found = {r.model: r for r in seeds.study_results(str(study_file), precision="mixed_bfloat16")}
    for model in seeds.TRAINED:
        key = f"bf16_accuracy_delta.{model}"
        tost = found.get(model)
        if tost is None:
            reason = f"no runs: fewer than 2 per side in {_shown(study_file)}"
            results[key] = {"value": None, "details": {"skipped": reason}}
            continue
        details = {
            "k_legacy_float32": tost.n_legacy,
            "k_port_bf16": tost.n_port,
            "legacy_mean": round_sig(tost.mean_legacy),
            "port_bf16_mean": round_sig(tost.mean_port),
            "ci90": [round_sig(tost.low), round_sig(tost.high)],
            "tost_verdict": tost.verdict,
            "study_file": _shown(study_file),
        }
        results[key] = {"value": round_sig(tost.difference), "details": details}
    return results


# ---- input pipelines -----------------------------------------------------------------


def _queue_pipeline():
    """cifar10_input.distorted_inputs with its queue runners started: (next batch, stop)."""
    from formats import sample
    from legacy_tf1 import inputs
    from legacy_tf1.core import graph_scope, tf1

    data_dir = sample.resolve_data_dir("cifar-bin")
    with graph_scope(0) as graph:
        images, labels = inputs.distorted_inputs(data_dir, PIPELINE_BATCH)
    session = tf1.Session(graph=graph)
    coordinator = tf1.train.Coordinator()
    with graph.as_default():  # queue runners refuse to start under eager execution
        threads = tf1.train.start_queue_runners(session, coordinator)

    def stop() -> None:
        coordinator.request_stop()
        session.close()
        coordinator.join(threads, stop_grace_period_secs=5, ignore_live_threads=True)

    return (lambda: session.run([images, labels])), stop


def _tf_data_pipeline():
    from tf2_port import data

    dataset = data.train_dataset(data.CIFAR10_DISTORTED, batch_size=PIPELINE_BATCH, seed=0)
    iterator = iter(dataset)
    return (lambda: next(iterator)), (lambda: None)


PIPELINES = {"queue": _queue_pipeline, "tf_data": _tf_data_pipeline}


def pipeline_rate(side: str, warm: int = 10, batches: int = 200) -> dict[str, float]:
    """Steady-state images/s of one pipeline, alone in this process.

    The first ``warm`` batches are not timed (the queue's 20000-image fill, the
    tf.data buffers); ``batches`` is long enough that what a prefetch buffer
    held before the clock started is a few percent of the window.
    """
    next_batch, stop = PIPELINES[side]()
    try:
        start = time.perf_counter()
        for _ in range(warm):
            next_batch()
        warm_s = time.perf_counter() - start
        start = time.perf_counter()
        for _ in range(batches):
            next_batch()
        seconds = time.perf_counter() - start
    finally:
        stop()
    return {"images_per_s": batches * PIPELINE_BATCH / seconds, "warm_s": warm_s}


def input_pipeline_speedup(repeats: Repeats) -> dict[str, Any]:
    """images/s of tf2_port.data's distorted CIFAR stream over the queue runners'.

    Each trial is a fresh process running one pipeline alone (A B A B ...):
    measured in one process, each side's background threads would keep
    filling its buffers, and competing for the 2 cores, while the other is timed.
    """
    warm_times: dict[str, list[float]] = {"tf_data": [], "queue": []}

    def trial(side: str) -> Callable[[], float]:
        def run() -> float:
            with tempfile.TemporaryDirectory(prefix="bench-pipeline-") as work:
                output = Path(work) / "rate.json"
                command = [sys.executable, "-m", "bench.cases", "pipeline-rate"]
                run_process([*command, "--side", side, "--output", str(output)])
                measured = json.loads(output.read_text())
            warm_times[side].append(measured["warm_s"])
            return measured["images_per_s"]

        return run

    samples = interleave(
        {side: trial(side) for side in ("tf_data", "queue")},
        rounds=repeats.rounds,
        warmup=repeats.warmup,
    )
    details = compare(samples, "tf_data", "queue")
    details.update(
        batch_size=PIPELINE_BATCH,
        untimed_batches=10,
        timed_batches=200,
        unit="images/s",
        warm_up_s={side: summarize(times).to_json() for side, times in warm_times.items()},
        queue_threads=16,
        data="embedded sample (cifar-10-batches-bin layout)",
        isolation="one fresh process per trial",
    )
    return {"value": details["ratio"]["median"], "details": details}


def runner_overhead(repeats: Repeats, steps: int = 200) -> dict[str, Any]:
    """Whole wall time of the example under ``legacy_tf1.run`` over its hand-migrated copy."""
    from formats import sample

    work = Path(tempfile.mkdtemp(prefix="bench-runner-"))
    try:
        directories = {side: work / side for side in ("runner", "migrated")}
        for directory in directories.values():
            sample.write_sample("mnist", directory / "MNIST_data")
        shutil.copy(EXAMPLE_SCRIPT, directories["runner"] / EXAMPLE_SCRIPT.name)
        runner_command = [
            sys.executable,
            "-m",
            "legacy_tf1.run",
            "--cap-loops",
            str(steps),
            EXAMPLE_SCRIPT.name,
        ]
        migrated_command = [sys.executable, str(MIGRATED_SCRIPT), str(steps)]
        samples = interleave(
            {
                "runner": lambda: run_process(runner_command, directories["runner"]).seconds,
                "migrated": lambda: run_process(migrated_command, directories["migrated"]).seconds,
            },
            rounds=repeats.rounds,
            warmup=repeats.warmup,
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
    details = compare(samples, "runner", "migrated")
    details.update(
        script="legacy_tf1/examples/mnist_tf_layers.py",
        baseline="bench/migrated_mnist_tf_layers.py",
        steps=steps,
        unit="s/process",
    )
    return {"value": details["ratio"]["median"], "details": details}


# ---- CLI -----------------------------------------------------------------------------

CASES = (
    "train_step",
    "vgg16_forward",
    "input_pipeline",
    "runner_overhead",
    "converter",
    "load",
    "bf16_accuracy",
)
STUDY_FILE = ROOT / "docs" / "parity_seeds.jsonl"


def run_case(case: str, repeats: Repeats, model: str | None = None) -> dict[str, Any]:
    """Run one case in this process; keyed results (``{key: {"value", "details"}}``)."""
    if case == "train_step":
        if model not in TRAINABLE_MODELS:
            raise ValueError(f"train_step needs --model, one of {list(TRAINABLE_MODELS)}")
        return train_step_ratio(model, repeats)
    if case == "vgg16_forward":
        return vgg16_forward(repeats)
    if case == "input_pipeline":
        return {"input_pipeline_speedup": input_pipeline_speedup(repeats)}
    if case == "runner_overhead":
        return {"runner_overhead": runner_overhead(repeats)}
    if case == "converter":
        return converter(repeats)
    if case == "load":
        return load_restore(repeats)
    if case == "bf16_accuracy":
        return bf16_accuracy_delta(STUDY_FILE)
    raise ValueError(f"unknown case {case!r}; expected one of {list(CASES)}")


def main(argv: list[str] | None = None) -> int:
    """Run one case and write its JSON result to ``--output``."""
    parser = argparse.ArgumentParser(prog="python -m bench.cases", description=main.__doc__)
    parser.add_argument("case", choices=(*CASES, "make-vgg16-checkpoint", "pipeline-rate"))
    parser.add_argument("--output", required=True, help="result JSON (or checkpoint prefix)")
    parser.add_argument("--model", choices=TRAINABLE_MODELS)
    parser.add_argument("--side", choices=tuple(PIPELINES), help="pipeline-rate: which one")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args(argv)
    if args.case == "make-vgg16-checkpoint":
        write_vgg16_checkpoint(args.output)
        return 0
    if args.case == "pipeline-rate":
        if args.side is None:
            parser.error("pipeline-rate needs --side")
        result = pipeline_rate(args.side)
    else:
        result = run_case(args.case, Repeats(args.rounds, args.warmup), args.model)
    output = Path(args.output)
    handle, tmp = tempfile.mkstemp(prefix=f".{output.name}.", dir=output.parent)
    with os.fdopen(handle, "w") as stream:
        json.dump(result, stream, indent=1)
    os.replace(tmp, output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
