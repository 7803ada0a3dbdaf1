"""Shared fixtures: paths, the real AVEC dev data in ../shared, CPU-only and quiet settings."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
AVEC_DEVEL = Path(os.environ.get("EMOFUSION_AVEC_DEVEL") or SHARED / "avec2019_ces_devel")

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


def copy_checkout(dest: Path) -> Path:
    """A fresh copy of the checkout as a clone would have it: the files git tracks (and untracked ones
    it does not ignore), no results/, .venv or .snakemake. Without git: the tree minus those folders."""
    import shutil
    import subprocess

    dest.mkdir(parents=True, exist_ok=True)
    try:
        listed = subprocess.run(["git", "-C", str(REPO), "ls-files", "-z", "-co", "--exclude-standard"],
                                capture_output=True, check=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError):
        shutil.copytree(REPO, dest, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".git", ".venv", "results", ".snakemake", "__pycache__"))
        return dest
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    return dest


@pytest.fixture
def repo_copy(tmp_path) -> Path:
    """A fresh copy of the checkout in a temp dir (see copy_checkout)."""
    return copy_checkout(tmp_path / "checkout")
