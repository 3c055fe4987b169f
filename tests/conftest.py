"""Shared test fixtures: where shared/ lives (spec vectors, KZG parameters)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _shared_dir() -> Path:
    env = os.environ.get("FARMKIT_SHARED")
    if env:
        return Path(env)
    return REPO.parent / "shared"


SHARED = _shared_dir()


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"shared/ not found at {SHARED} (set FARMKIT_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def vectors(shared_dir):
    def load(name: str):
        return json.loads((shared_dir / "vectors" / name).read_text())

    return load


def opencl_available() -> bool:
    from farmkit.kernels.backends import probe

    return probe("opencl").available


def cuda_available() -> bool:
    from farmkit.kernels.backends import probe

    return probe("cuda").available
