"""Helpers the test modules share (one module: no test module imports from another).

- the checkout: ``REPO``, ``copy_checkout`` (a fresh copy as a clone has it);
- the workflow: ``SNAKEMAKE``, ``base_config``, ``tiny_config``, ``smk``, ``write_config``;
- tiny AVEC-format data roots: ``SETS``, ``feature_text``, ``make_root``, ``edit_line``;
- planted training caches: ``TINY``, ``write_planted_caches``;
- a fusion corpus: ``SMALL``, ``corpus``;
- local servers: ``free_port``, ``wait_http``, ``stop_server``.

Fixtures built on them live in conftest.py.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import yaml
from emofusion.data.cache import FeatureCache, LabelCache, save_feature_cache, save_label_cache
from emofusion.data.layout import format_avec_csv, read_label_dir, write_avec_csv
from emofusion.fusion_spec import FusionSpec

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------------------------------------
# the checkout


def copy_checkout(dest: Path) -> Path:
    """A fresh copy of the checkout as a clone would have it: the files git tracks (and untracked ones
    it does not ignore), no results/, .venv or .snakemake. Without git: the tree minus those folders."""
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


# ---------------------------------------------------------------------------------------------
# the workflow: real Snakemake calls on configs in a temp dir


SNAKEMAKE = [sys.executable, "-m", "snakemake"]
ALL_SETS = yaml.safe_load((REPO / "config.yaml").read_text())["feature_sets"]
NOISE_SET = "mfcc"  # the generated corpus' noise-only set (informativeness 0; truth.json says so)


def base_config() -> dict:
    return yaml.safe_load((REPO / "config.yaml").read_text())


def tiny_config() -> dict:
    """4 sets (one noise-only), top 3 -> 3 pairs, 2 small fusion stages: minutes on 2 cores."""
    c = base_config()
    c["corpus"]["size"] = "demo"  # tiny is for wiring only: its CCCs are mostly chance
    c["feature_sets"] = {k: dict(ALL_SETS[k]) for k in ("fau_func", "egemaps_func", "boaw_egemaps", NOISE_SET)}
    c["train"].update(hidden=[32, 16], epochs=12, batch_size=8)
    c["selection"].update(top_unimodal=3, top_fusion=4)
    c["fusion"].update(stages=2, ks=[1, 3], Cs=[0.01, 1.0], outer_folds=2, inner_folds=2)
    c["tracking"]["experiment"] = "emofusion-test"
    return c


def smk(workdir: Path, *args: str, timeout: int = 900, check: bool = True) -> subprocess.CompletedProcess:
    cmd = [*SNAKEMAKE, "-s", str(REPO / "Snakefile"), "-d", str(workdir),
           "--configfile", str(workdir / "config.yaml"), *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env)
    if check and proc.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n"
                             f"{proc.stderr[-6000:]}")
    return proc


def write_config(workdir: Path, config: dict) -> None:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


# ---------------------------------------------------------------------------------------------
# tiny AVEC-format data roots (hand-written files)


RECS = {"Train_DE_01": 30, "Train_HU_01": 25, "Devel_DE_01": 20, "Devel_HU_01": 22}
TEST_RECS = {"Test_DE_01": 18}
# set key -> (folder, dim, native step s, separator, header, quoted names)
SETS = {
    "egemaps_func": ("audio_features_egemaps_functionals", 4, 0.1, ";", True, True),
    "boaw_egemaps": ("audio_features_egemaps_xbow", 5, 0.1, ",", False, False),
    "egemaps": ("audio_features_egemaps", 3, 0.01, ";", True, True),
    "fau": ("visual_features", 2, 1 / 30, ",", True, False),
}


def feature_text(name: str, times: np.ndarray, X: np.ndarray, sep: str = ";", header: bool = True,
                 quoted: bool = True) -> str:
    q = f"'{name}'" if quoted else name
    lines = []
    if header:
        lines.append(sep.join(["name", "frameTime"] + [f"f{j}" for j in range(X.shape[1])]))
    for t, row in zip(times, X, strict=True):
        lines.append(sep.join([q, f"{t:.6f}"] + [f"{v:.6f}" for v in row]))
    return "\n".join(lines) + "\n"


def write_set(root: Path, key: str, recs: dict[str, int], rng: np.random.Generator) -> None:
    folder, dim, step, sep, header, quoted = SETS[key]
    for name, n_labels in recs.items():
        n_native = int(round(n_labels * 0.1 / step))
        times = np.arange(n_native) * step
        X = rng.normal(size=(n_native, dim))
        path = root / folder / f"{name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(feature_text(name, times, X, sep, header, quoted))


def make_root(root: Path, sets=tuple(SETS), recs=None, test=True, seed=0) -> Path:
    rng = np.random.default_rng(seed)
    recs = dict(RECS if recs is None else recs)
    for name, n in recs.items():
        path = root / "labels" / f"{name}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(format_avec_csv(name, rng.uniform(-0.9, 0.9, size=(n, 3))))
    if test:
        recs.update(TEST_RECS)
    for key in sets:
        write_set(root, key, recs, rng)
    return root


def edit_line(path: Path, lineno: int, fn) -> None:
    """Replace 1-based line ``lineno`` of ``path`` by ``fn(line)``."""
    lines = path.read_text().split("\n")
    lines[lineno - 1] = fn(lines[lineno - 1])
    path.write_text("\n".join(lines))


# ---------------------------------------------------------------------------------------------
# planted training caches (the features contract)


TINY = {"hidden": [16, 8], "dropout": 0.1, "epochs": 2, "batch_size": 4}


def _offsets(lengths):
    off = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=off[1:])
    return off


def write_planted_caches(folder: Path, *, seed: int = 0, n: tuple[int, int, int] = (6, 3, 2),
                         frames: tuple[int, int] = (40, 70), dims: dict[str, int] | None = None,
                         signal: tuple[str, ...] = ("fau_func",), delay: int = 1) -> dict[str, Path]:
    """Caches in the features contract: per recording a smooth latent (T, 3) is the label; a set in
    ``signal`` carries it linearly (features at frame k carry labels of frame k + delay), the other
    sets are noise only. ``n`` = recordings per culture in Train, Devel, Test (test labels kept
    apart, as on the generated corpus). Returns ``{key or "labels": path}``."""
    dims = dims or {"fau_func": 6, "mfcc": 5}
    rng = np.random.default_rng(seed)
    names = sorted(f"{p}_{c}_{i:02d}" for p, k in zip(("Train", "Devel", "Test"), n, strict=True)
                   for c in ("DE", "HU") for i in range(1, k + 1))
    lengths = np.array([rng.integers(*frames) for _ in names], dtype=np.int64)
    latent = {}
    for name, t in zip(names, lengths, strict=True):
        z = np.cumsum(rng.normal(size=(t + delay, 3)), axis=0)
        z = np.convolve(np.ones(5) / 5, z[:, 0], "same")[:, None] * [1, 0, 0] + z * [0, 1, 1]
        latent[name] = (0.5 * np.tanh(0.3 * (z - z.mean(0)))).astype(np.float32)
    paths = {}
    for key, d in dims.items():
        X = []
        for name, t in zip(names, lengths, strict=True):
            x = rng.normal(size=(t, d))
            if key in signal:
                mix = np.random.default_rng(99).normal(size=(3, d))
                x += 4.0 * latent[name][delay:] @ mix
            X.append(x)
        X = np.concatenate(X).astype(np.float32)
        X = (X - X.mean(0)) / X.std(0)
        paths[key] = folder / f"{key}.npz"
        save_feature_cache(paths[key], FeatureCache(key, key, names, lengths, _offsets(lengths), X,
                                                    np.zeros(d), np.ones(d), 10.0))

    def block(sel):
        ll = np.array([lengths[names.index(s)] for s in sel], dtype=np.int64)
        return LabelCache(sel, ll, _offsets(ll), np.concatenate([latent[s][: len(latent[s]) - delay] for s in sel]))

    lab = block([s for s in names if not s.startswith("Test")])
    lab.test = block([s for s in names if s.startswith("Test")])
    paths["labels"] = folder / "labels.npz"
    save_label_cache(paths["labels"], lab)
    return paths


# ---------------------------------------------------------------------------------------------
# a fusion corpus: labels and runs' predictions in AVEC folders


SMALL = FusionSpec(ks=(1, 2), Cs=(0.1, 1.0), tol=1e-3, outer_folds=2, inner_folds=2)


def corpus(root: Path, n_per_culture: int = 4, n_frames: int = 80, n_runs: int = 2, seed: int = 0,
           test: int = 0) -> tuple[dict, dict]:
    """Labels = smooth random walks; run r predicts a noisy linear mix of them. Writes AVEC folders."""
    rng = np.random.default_rng(seed)
    labels = {}
    for cult in ("DE", "HU"):
        for i in range(1, n_per_culture + 1):
            n = n_frames + int(rng.integers(0, 20))
            labels[f"Devel_{cult}_{i:02d}"] = np.cumsum(rng.normal(0, 0.05, (n, 3)), axis=0)
    runs = {}
    for r in range(n_runs):
        d = root / f"run{r}"
        mix = rng.normal(0, 0.5, (3, 3)) + np.eye(3)
        for name, y in labels.items():
            pad = rng.normal(0, 0.1, (5, 3))  # files longer than labels, like the official ones
            write_avec_csv(d / f"{name}.csv", name, np.concatenate([y @ mix + rng.normal(0, 0.1, y.shape), pad]))
        for i in range(1, test + 1):
            name = f"Test_DE_{i:02d}"
            write_avec_csv(d / f"{name}.csv", name, rng.normal(0, 0.1, (50 + r, 3)))
        runs[f"run{r}"] = d
    for name, y in labels.items():
        write_avec_csv(root / "labels" / f"{name}.csv", name, y)
    return read_label_dir(root / "labels"), runs


# ---------------------------------------------------------------------------------------------
# local servers, stopped by PID


def free_port() -> int:
    """A loopback TCP port free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    """Wait until ``url`` answers 200 (an `mlflow ui` we started); fail with its log if it exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"mlflow ui exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"mlflow ui did not answer on {url} within {timeout} s:\n{log.read_text()[-3000:]}")


def stop_server(proc: subprocess.Popen) -> None:
    """Stop a server we started (``start_new_session=True``): its own process group, by its PID
    (mlflow forks workers)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
