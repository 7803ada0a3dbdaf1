"""Every documented command runs as written, from a fresh copy of the checkout.

The docs (README.md, docs/*.md) mark each runnable shell block with an HTML comment line before it
(invisible when rendered)::

    <!-- runnable[: slow | dry-run][; promises: PATH ...] -->

- ``runnable``: the block runs as written in the default test run;
- ``runnable: slow``: the default run executes it with every ``snakemake`` line as a dry run
  (``snakemake -n``: parses the config and plans the whole DAG, which is where a config that
  names missing inputs fails); ``pytest -m slow`` runs it as written;
- ``runnable: dry-run``: paper- or demo-scale (hours): its ``snakemake`` lines are always dry runs,
  every other line (synth, validate) runs as written; in CI's run (marker ``e2e``), not the default;
- ``promises``: the files the text says come out (relative to the checkout, or ``DIR/...``). After a
  full run each must exist; after a dry run each must exist or be named in the plan.

Each block runs in bash (``-euo pipefail``) in a fresh copy of the checkout (helpers.copy_checkout:
what a clone has, no results/), with the copy's own library on PYTHONPATH. Substitutions, the only
changes to the text:

- ``DIR`` (the word) -> a fresh empty temp path (the block's first command creates it);
- ``/path/to/AVEC2019_CES`` (licensed data we do not have) -> a generated tiny corpus in the AVEC
  layout (``emofusion synth --out X --size tiny``);
- ``--size`` is never changed: the README gives ``--size tiny`` where it means tiny.

Command blocks deliberately not run are listed in NOT_RUN with the reason; a test fails on any
command block that is neither marked nor listed, so a new documented command cannot go untested by
oversight.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from helpers import copy_checkout

REPO = Path(__file__).resolve().parents[1]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
MARKER = re.compile(r"^<!-- runnable(?::\s*(slow|dry-run))?(?:;\s*promises:\s*(.*?))?\s*-->$")
COMMAND = re.compile(r"^(emofusion|snakemake|python3?|pip|pytest|mlflow|\./|bash|createdb|apt-get)\b")
AVEC_PLACEHOLDER = "/path/to/AVEC2019_CES"

# First line of a command block (as written, without its 4-space indent) -> why it is not run.
NOT_RUN = {
    "emofusion predict --system results/system --data-root NEW --out OUT [--stage N]":
        "needs a finished run's results/system; tests/test_workflow.py runs it on the tiny run",
    "emofusion predict --system results/system --data-root NEW --out OUT":
        "needs a finished run's results/system; tests/test_workflow.py runs it on the tiny run",
    "./run.sh     # the whole pipeline on the generated corpus (snakemake --cores 8)":
        "sets up .venv from the network (tools/setup.sh) and runs the full default pipeline; "
        "the pipeline itself is the slow test of tests/test_workflow.py",
    "python3 -m venv .venv && . .venv/bin/activate": "installs packages from the network",
    "emofusion synth --out DIR [--size tiny|demo|full] [--seed N] [--feature-sets K ...] [--complementarity X] "
    "[--cache-only CACHE_DIR]": "a synopsis (options in brackets), not a command",
    "emofusion validate DIR                 # check an AVEC-layout data root; summary table, or one clear error":
        "a synopsis of every subcommand (placeholders A.npz, B ...); each is tested in its own test module",
    "snakemake --report results/report.html                       # default target's tables and figures":
        "needs a finished run; the report is built in tests/test_report.py",
    "mlflow ui --backend-store-uri sqlite:///results/mlflow.db --artifacts-destination results/mlartifacts "
    "--host 127.0.0.1 --port 5000":
        "starts a server; the UI is the `ui` marker's test (tests/test_ui.py)",
    "apt-get install -y chromium chromium-driver   # Debian": "installs system packages",
    "pip install -e \".[cluster]\"    # snakemake-executor-plugin-slurm 2.8.0 (+ its jobstep plugin), psycopg2-binary":
        "installs packages from the network",
    "snakemake --profile workflow/profiles/slurm": "needs a SLURM cluster (the `cluster` marker's tests)",
    "createdb mlflow                                    # on your PostgreSQL server": "needs a PostgreSQL server",
    "snakemake --profile workflow/profiles/gpu --cores 16 --resources gpu=2    # a box with 2 GPUs":
        "needs GPUs (tests/test_devices.py checks the profile)",
    "pip install -e \".[test,cluster]\"": "installs packages from the network",
    "python -m emofusion.bench cache     # CSV parse vs cached load of a 4096-dim set (goal >= 20x)":
        "benchmarks of minutes, some on the licensed AVEC dev data",
    "emofusion validate DIR --sets fau --folders fau=openface_out --formats fau=openface":
        "needs OpenFace output (OpenFace is not on the package registry); tests/test_openface.py runs "
        "these two commands on files it writes in OpenFace's format",
}


@dataclass(frozen=True)
class Block:
    doc: str
    line: int          # 1-based line of the block's first command
    kind: str          # "quick" | "slow" | "dry-run" | "unmarked"
    promises: tuple[str, ...]
    text: str

    @property
    def id(self) -> str:
        return f"{self.doc}:{self.line}"


def doc_blocks(paths=DOCS) -> list[Block]:
    """Every indented code block of the docs, with its marker (if any)."""
    out = []
    for path in paths:
        lines = path.read_text(encoding="utf-8").splitlines()
        i = 0
        while i < len(lines):
            if not (lines[i].startswith("    ") and lines[i].strip() and (i == 0 or not lines[i - 1].strip())):
                i += 1
                continue
            j = i
            body = []
            while j < len(lines) and (lines[j].startswith("    ") or not lines[j].strip()):
                body.append(lines[j][4:])
                j += 1
            k = i - 1
            while k >= 0 and not lines[k].strip():
                k -= 1
            m = MARKER.match(lines[k].strip()) if k >= 0 else None
            kind = "unmarked" if m is None else (m.group(1) or "quick")
            promises = tuple((m.group(2) or "").split()) if m else ()
            out.append(Block(path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else path.name, i + 1, kind, promises, "\n".join(body).strip()))
            i = j
    return out


BLOCKS = doc_blocks()
MARKED = [b for b in BLOCKS if b.kind != "unmarked"]


@pytest.fixture(scope="module")
def avec_tiny(tmp_path_factory) -> Path:
    """Stands in for /path/to/AVEC2019_CES: a tiny generated corpus in the AVEC layout."""
    from emofusion.data.synth import generate_corpus

    root = tmp_path_factory.mktemp("avec") / "AVEC2019_CES"
    generate_corpus(root, seed=0, size="tiny")
    return root


def run_block(block: Block, tmp_path: Path, avec_root: Path | None, *, dry_run: bool) -> None:
    checkout = copy_checkout(tmp_path / "checkout")
    data_dir = tmp_path / "DIR"
    script = re.sub(r"\bDIR\b", str(data_dir), block.text)
    if avec_root is not None:
        script = script.replace(AVEC_PLACEHOLDER, str(avec_root))
    if dry_run:
        script = re.sub(r"^snakemake\b", "snakemake -n", script, flags=re.M)
    env = {**os.environ, "PYTHONPATH": str(checkout / "workflow"), "OMP_NUM_THREADS": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=checkout, env=env,
                          capture_output=True, text=True, timeout=3000)
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"{block.id} failed ({proc.returncode}):\n{script}\n{output[-6000:]}"
    assert "Traceback" not in output, output[-6000:]
    for promised in block.promises:
        path = Path(re.sub(r"^DIR\b", str(data_dir), promised))
        path = path if path.is_absolute() else checkout / path
        if dry_run and not path.exists():
            assert promised in proc.stdout, f"{block.id}: the plan does not name {promised}"
        else:
            assert path.exists(), f"{block.id}: {promised} was not written"


# dry-run blocks (paper or demo scale) are in CI's run (marker e2e), not in the default one
@pytest.mark.parametrize("block", [pytest.param(b, marks=pytest.mark.e2e) if b.kind == "dry-run" else b for b in MARKED],
                         ids=[b.id for b in MARKED])
def test_documented_block(block, tmp_path, request):
    """Default run: quick blocks as written; slow and dry-run blocks with snakemake planning only."""
    avec = request.getfixturevalue("avec_tiny") if AVEC_PLACEHOLDER in block.text else None
    run_block(block, tmp_path, avec, dry_run=block.kind != "quick")


SLOW = [b for b in MARKED if b.kind == "slow"]


@pytest.mark.slow
@pytest.mark.parametrize("block", SLOW, ids=[b.id for b in SLOW])
def test_documented_block_as_written(block, tmp_path, request):
    avec = request.getfixturevalue("avec_tiny") if AVEC_PLACEHOLDER in block.text else None
    run_block(block, tmp_path, avec, dry_run=False)


def test_every_command_block_is_marked_or_excused():
    unlisted = [b.id for b in BLOCKS if b.kind == "unmarked" and COMMAND.match(b.text)
                and b.text.splitlines()[0] not in NOT_RUN]
    assert not unlisted, f"command blocks neither marked runnable nor listed in NOT_RUN: {unlisted}"
    firsts = {b.text.splitlines()[0] for b in BLOCKS if b.text}
    stale = [k for k in NOT_RUN if k not in firsts]
    assert not stale, f"NOT_RUN names blocks the docs no longer have: {stale}"
    assert len(MARKED) >= 4 and SLOW


def test_marker_parser_reads_every_kind(tmp_path):
    doc = tmp_path / "doc.md"
    doc.write_text("Text:\n\n<!-- runnable -->\n\n    emofusion validate DIR\n\nmore\n\n"
                   "<!-- runnable: slow; promises: DIR/a results/b -->\n\n    emofusion synth --out DIR\n"
                   "    snakemake --cores 2   # comment\n\nend\n\n    snakemake --lint\n")
    blocks = doc_blocks([doc])
    assert [(b.kind, b.promises) for b in blocks] == [("quick", ()), ("slow", ("DIR/a", "results/b")),
                                                      ("unmarked", ())]
    assert blocks[1].text == "emofusion synth --out DIR\nsnakemake --cores 2   # comment"
