"""tf.distribute: MirroredStrategy over 2 logical CPUs, and two multi-worker processes.

Both run in subprocesses: logical devices must be configured before TensorFlow
initialises its devices, and each worker of a cluster is its own process.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 240

MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, sys, tempfile
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import numpy as np
    from tf2_port import train

    runs = {}
    # The mirrored run takes two steps per tf.function call, the default run one.
    for strategy, per_call in (("default", 1), ("mirrored", 2)):
        settings = train.RunSettings(
            ckpt_dir=tempfile.mkdtemp(dir=sys.argv[2]), steps=4, batch_size=8, seed=7,
            strategy=strategy, deterministic=True, verbose=False, steps_per_call=per_call,
        )
        result = train.train(sys.argv[1], settings)
        runs[strategy] = (result.losses, [v.numpy() for v in result.model.trainable_variables])
    (single_losses, single), (mirrored_losses, mirrored) = runs["default"], runs["mirrored"]
    print(json.dumps({
        "replicas": train.make_strategy("mirrored").num_replicas_in_sync,
        "single_losses": single_losses,
        "mirrored_losses": mirrored_losses,
        "max_weight_diff": max(float(np.abs(a - b).max()) for a, b in zip(single, mirrored)),
    }))
    """
)


def _env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key != "TF_CONFIG"}
    return {**env, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", **extra}


def test_mirrored_strategy_on_two_devices_equals_one_device(tmp_path):
    # cifar10_cnn: no dropout and no batch norm, so the two runs see the same computation;
    # it has weight losses, which must count once per step, not once per replica.
    completed = subprocess.run(
        [sys.executable, "-c", MIRRORED_SCRIPT, "cifar10_cnn", str(tmp_path)],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert report["replicas"] == 2
    assert len(report["mirrored_losses"]) == len(report["single_losses"]) == 4
    # Per-replica gradients are summed in a different order than one device sums them:
    # float32 rounding only. Tolerances: losses 1e-5 relative, weights 1e-5 absolute
    # after 4 Adam steps of size ~1e-3 each (the observed difference is ~2e-7).
    assert report["mirrored_losses"] == pytest.approx(report["single_losses"], rel=1e-5)
    assert report["max_weight_diff"] < 1e-5


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def test_multiworker_training_with_two_local_workers(tmp_path):
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    ckpt, logs = tmp_path / "ckpt", tmp_path / "logs"
    command = [sys.executable, "-m", "tf2_port", "train", "cifar10_cnn", "--steps", "2"]
    command += ["--batch-size", "8", "--seed", "5", "--strategy", "multiworker"]
    command += ["--ckpt-dir", str(ckpt), "--logdir", str(logs)]
    processes = []
    for index in range(2):
        tf_config = {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
        processes.append(
            subprocess.Popen(
                command,
                cwd=ROOT,
                env=_env(TF_CONFIG=json.dumps(tf_config)),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    try:
        outputs = [process.communicate(timeout=TIMEOUT_S)[0] for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    for index, (process, output) in enumerate(zip(processes, outputs, strict=True)):
        assert process.returncode == 0, f"worker {index}:\n{output[-3000:]}"
    # Only the chief (worker 0) writes the checkpoint, its config and the events.
    assert (ckpt / "ckpt-2.index").exists()
    assert json.loads((ckpt / "port_config.json").read_text())["model"] == "cifar10_cnn"
    assert len(list(logs.iterdir())) == 1
    assert "step 2; checkpoint" in outputs[0] and "step 2; checkpoint" not in outputs[1]
