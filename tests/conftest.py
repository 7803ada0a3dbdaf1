"""Shared fixtures: paths, the real AVEC dev data in ../shared, CPU-only and quiet settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
AVEC_DEVEL = SHARED / "avec2019_ces_devel"

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def avec_devel() -> Path:
    """The real official AVEC 2019 CES dev labels + baseline predictions (../shared)."""
    if not (AVEC_DEVEL / "labels_devel").is_dir():
        pytest.skip(f"real AVEC dev data not found at {AVEC_DEVEL} (../shared beside the checkout)")
    return AVEC_DEVEL
