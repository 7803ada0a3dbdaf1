"""The chain in one process tree: ``emofusion fuse`` and the benchmark run the workflow's fusion
rules here, without Snakemake.

:func:`run_chains` computes the same parts (:func:`~emofusion.fusion.fit.part_stage`) and writes the
same chain files and stage folders (:func:`~emofusion.fusion.stage.gather_stage`) as the workflow's
``fuse_part`` and ``fuse_stage`` jobs, scheduled as the workflow's DAG is; no workflow rule runs it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..fusion_spec import FusionSpec
from .chain import PartState
from .fit import Log, part_stage, quiet
from .inputs import fusion_labels, load_runs
from .mlflow_run import log_stage_run
from .protocols import PROTOCOLS, parts
from .stage import gather_stage


def run_chain(labels: Mapping[str, np.ndarray], run_dirs: Mapping[str, Path], chain_dir: str | Path, *,
              protocol: str, stages: int, spec: FusionSpec, test_labels: Mapping[str, np.ndarray] | None = None,
              tracking_uri: str | None = None, experiment_name: str | None = None, run_prefix: str = "",
              n_jobs: int = 1, first_stage: int = 1, log: Log = quiet) -> list[dict]:
    """Stages ``first_stage``..``stages`` of one protocol exactly as the workflow's chain of rules
    computes them (the same part files), into ``chain_dir/stage{n}/``; returns each stage's doc. From
    ``first_stage`` > 1 on, the chain resumes from stage ``first_stage - 1``'s files.

    ``n_jobs`` > 1 runs parts in that many processes (the results do not depend on it)."""
    return run_chains(labels, run_dirs, {protocol: chain_dir}, stages=stages, spec=spec, test_labels=test_labels,
                      tracking_uri=tracking_uri, experiment_name=experiment_name, run_prefix=run_prefix,
                      n_jobs=n_jobs, first_stage=first_stage, log=log)[protocol]


def run_chains(labels: Mapping[str, np.ndarray], run_dirs: Mapping[str, Path], chain_dirs: Mapping[str, str | Path],
               *, stages: int, spec: FusionSpec, test_labels: Mapping[str, np.ndarray] | None = None,
               tracking_uri: str | None = None, experiment_name: str | None = None, run_prefix: str = "",
               n_jobs: int = 1, first_stage: int = 1, log: Log = quiet) -> dict[str, list[dict]]:
    """The chains of several protocols (``chain_dirs``: protocol -> its folder), scheduled as the
    workflow's DAG is: a part of stage n starts as soon as the same part of stage n - 1 is done, in
    ``n_jobs`` processes, and a stage is joined (``gather_stage``, its MLflow run) as soon as all its
    parts are. Returns each protocol's stage docs in stage order."""
    for proto in chain_dirs:
        if proto not in PROTOCOLS:
            raise ValueError(f"protocol must be one of {PROTOCOLS}, got {proto!r}")
    dirs = {proto: Path(d) for proto, d in chain_dirs.items()}
    labels, test_labels = fusion_labels(labels), fusion_labels(test_labels)
    base_dev, base_test, notes = load_runs(labels, run_dirs)
    names = {proto: parts(proto, spec.outer_folds) for proto in dirs}
    docs: dict[str, list[dict]] = {proto: [] for proto in dirs}
    done: dict[tuple[str, int], dict[str, PartState]] = {}
    ready = []  # (stage, protocol, part, previous state)
    for proto in dirs:
        for p in names[proto]:
            prev = None if first_stage == 1 else PartState.load(dirs[proto] / f"stage{first_stage - 1}" / f"{p}.npz")
            ready.append((first_stage, proto, p, prev))

    def finish(s: int, proto: str, p: str, st: PartState, lines: list[str]) -> None:
        for line in lines:
            log(line)
        st.save(dirs[proto] / f"stage{s}" / f"{p}.npz")
        states = done.setdefault((proto, s), {})
        states[p] = st
        if s < stages:
            ready.append((s + 1, proto, p, st))
        if len(states) == len(names[proto]):
            states = {q: states[q] for q in names[proto]}
            sdir = dirs[proto] / f"stage{s}"
            doc = gather_stage(proto, s, states, labels, test_labels, list(run_dirs), sdir, spec,
                               notes["test_cropped"])
            if tracking_uri:
                log_stage_run(tracking_uri, experiment_name or "Default", f"{run_prefix}fusion/{proto}/stage{s}",
                              doc, sdir / "scores.json")
            docs[proto].append(doc)
            del done[(proto, s)]

    def job(item):
        s, proto, p, prev = item
        return (proto, p, s, base_dev, base_test, labels, prev, spec)

    if n_jobs <= 1:
        while ready:
            item = ready.pop(0)
            st = part_stage(*job(item), log=log)  # logs as it goes (in processes: when the part is done)
            finish(item[0], item[1], item[2], st, [])
        return docs
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    with ProcessPoolExecutor(max_workers=n_jobs, mp_context=mp.get_context("fork")) as ex:
        running = {}
        while ready or running:
            ready.sort(key=lambda it: (it[0], it[1] == "in-sample", it[2]))  # earliest stage first
            while ready and len(running) < n_jobs:
                item = ready.pop(0)
                running[ex.submit(_part_job, job(item))] = item
            finished, _ = wait(running, return_when=FIRST_COMPLETED)
            for fut in sorted(finished, key=lambda f: running[f][:3]):
                s, proto, p, _ = running.pop(fut)
                st, lines = fut.result()
                finish(s, proto, p, st, lines)
    return docs


def _part_job(job):
    lines: list[str] = []
    return part_stage(*job, log=lines.append), lines
