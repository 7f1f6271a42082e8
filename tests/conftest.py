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
