"""Shared fixtures: paths, the real AVEC dev data in ../shared, CPU-only and quiet settings; the
helpers they use (and every test module shares) are in helpers.py."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before helpers.py imports numpy
os.environ.setdefault("MKL_NUM_THREADS", "1")

import pytest
from helpers import REPO, base_config, copy_checkout, write_planted_caches

SHARED = REPO.parent / "shared"
AVEC_DEVEL = Path(os.environ.get("EMOFUSION_AVEC_DEVEL") or SHARED / "avec2019_ces_devel")


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture(scope="session")
def avec_devel() -> Path:
    """The real official AVEC 2019 CES dev labels + baseline predictions (../shared)."""
    if not (AVEC_DEVEL / "labels_devel").is_dir():
        pytest.skip(f"real AVEC dev data not found at {AVEC_DEVEL} (../shared beside the checkout)")
    return AVEC_DEVEL


@pytest.fixture
def config() -> dict:
    """The shipped config.yaml, a fresh dict for each test to edit."""
    return base_config()


@pytest.fixture
def repo_copy(tmp_path) -> Path:
    """A fresh copy of the checkout in a temp dir (see helpers.copy_checkout)."""
    return copy_checkout(tmp_path / "checkout")


@pytest.fixture(scope="session")
def caches(tmp_path_factory) -> dict[str, Path]:
    """Planted training caches (helpers.write_planted_caches, its defaults), written once and only read."""
    return write_planted_caches(tmp_path_factory.mktemp("caches"))
