"""Shared fixtures: every test session builds the embedded sample in its own directory."""

from __future__ import annotations

import os

import pytest


@pytest.fixture(scope="session", autouse=True)
def sample_env(tmp_path_factory) -> dict[str, str]:
    """Point the sample cache at a per-session directory, never the user's cache.

    Returns the environment entries, for tests that start subprocesses.
    """
    env = {"TF1TK_SAMPLE_DIR": str(tmp_path_factory.mktemp("sample-cache"))}
    previous = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    yield env
    for key, value in previous.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="module")
def legacy_checkpoints(tmp_path_factory):
    """``make(steps, options)``: a lazy model -> legacy Saver checkpoint directory map.

    Each module's ``sources`` fixture calls it once with its own per-model
    ``steps`` and ``options``, so every model is trained at most once per module.
    """
    root = tmp_path_factory.mktemp("legacy")
    return lambda steps, options: lazy_legacy_checkpoints(root, steps, options)


def lazy_legacy_checkpoints(root, steps: dict[str, int], options: dict[str, dict]):
    """A function model -> directory of a legacy Saver checkpoint (seed 1), trained on demand."""
    from legacy_tf1.train import TrainConfig, train

    made: dict[str, str] = {}

    def get(model: str) -> str:
        if model not in made:
            directory = str(root / model)
            config = TrainConfig(
                model, directory, steps=steps[model], seed=1, options=options.get(model, {})
            )
            train(config)
            made[model] = directory
        return made[model]

    return get
