"""A stage: its parts joined into the stage's ``predictions/`` and ``scores.json``.

:func:`gather_stage` joins the parts of one protocol's stage (their chain files,
:class:`~emofusion.fusion.chain.PartState`): dev predictions from the outer folds (grouped-cv) or the
one part (in-sample), test predictions from part ``all``, scored per culture group, with the chosen
(k, C) of every part and the solver's figures over all of them (:func:`stage_solver_report`).
:func:`format_stage_table` is the stage x target table the fusion jobs and ``emofusion fuse`` print.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .. import SCORE_COLUMNS
from ..data.layout import write_prediction_dir
from ..errors import DataError
from ..formats import read_selected, read_tracking, write_scores
from ..fusion_spec import FusionSpec
from ..results.metrics import score_recordings
from .chain import PartState
from .inputs import labels_from_cache
from .protocols import GROUPED_LABEL, IN_SAMPLE_LABEL, grouped_folds


def stage_predictions(protocol: str, states: Mapping[str, PartState]) -> tuple[dict, dict]:
    """(dev, test) predictions of a stage from its parts."""
    if protocol == "in-sample":
        pred = states["all"].pred
        return ({n: v for n, v in pred.items() if not n.startswith("Test_")},
                {n: v for n, v in pred.items() if n.startswith("Test_")})
    dev: dict[str, np.ndarray] = {}
    for part, st in states.items():
        if part != "all":
            dev.update(st.pred)
    return dev, dict(states["all"].pred) if "all" in states else {}


def stage_solver_report(states: Mapping[str, PartState]) -> dict:
    """The solver figures of a stage: the largest gap over every fit of every part (None where the
    faithful mode's liblinear gives none), fits that stopped above tol, the parts' real start and end."""
    reps = [s.report for s in states.values() if s.report.get("fits")]
    gaps = [r["max_gap"] for r in reps]
    return {"tol": next((r["tol"] for r in reps), None),
            "max_gap": None if any(g is None for g in gaps) else max(gaps, default=0.0),
            "fits": sum(r["fits"] for r in reps), "unconverged_fits": sum(r["unconverged_fits"] for r in reps),
            **({"select_tols": reps[0]["select_tols"], "report_tol": reps[0]["report_tol"],
                "tie_margin": reps[0]["tie_margin"],
                "tight_fits": sum(r["tight_fits"] for r in reps)} if reps and "select_tols" in reps[0] else {}),
            "converged": all(r["unconverged_fits"] == 0 for r in reps),
            "start_time": min(s.report["start_time"] for s in states.values()),
            "end_time": max(s.report["end_time"] for s in states.values())}


def gather_stage(protocol: str, stage: int, states: Mapping[str, PartState], labels: Mapping[str, np.ndarray],
                 test_labels: Mapping[str, np.ndarray] | None, inputs: Sequence[str], out_dir: str | Path,
                 spec: FusionSpec, test_cropped: Mapping[str, int] | None = None) -> dict:
    """Write ``out_dir/predictions/`` and ``out_dir/scores.json`` (last) of one stage; return the doc."""
    out_dir = Path(out_dir)
    dev, test = stage_predictions(protocol, states)
    scores = {"devel": score_recordings(labels, dev)}
    if test_labels:
        have = {n: v for n, v in test_labels.items() if n in test}
        for n, v in have.items():
            if len(test[n]) < len(v):
                raise DataError(None, f"test recording {n}: {len(v)} label frames, but the shortest run's "
                                      f"prediction file has only {len(test[n])} rows")
        if have:
            scores["test"] = score_recordings(have, test)
    if protocol == "in-sample":
        selected = states["all"].report["selected"]
        layout = {}
    else:
        folds = sorted((p for p in states if p != "all"), key=lambda p: int(p[4:]))
        selected = {"outer_folds": [states[p].report["selected"] for p in folds]}
        if test:
            selected["test"] = states["all"].report["selected"]
        layout = {"outer_folds": grouped_folds(sorted(labels), spec.outer_folds, spec.seed)}
    solver = stage_solver_report(states)
    doc = {**scores, "protocol": protocol,
           "protocol_description": IN_SAMPLE_LABEL if protocol == "in-sample" else GROUPED_LABEL,
           "stage": stage, "inputs": sorted(inputs) + ([f"stage{stage - 1}"] if stage > 1 else []),
           "method": spec.method, "selected": selected, "solver": solver, **layout}
    if test_cropped:
        doc["test_cropped_to_shortest_run"] = dict(test_cropped)
    write_prediction_dir(out_dir / "predictions", {**dev, **test})
    write_scores(out_dir / "scores.json", doc)
    return doc


def format_stage_table(protocol: str, docs: Sequence[dict]) -> str:
    """Stage x target CCC (devel, the pooled culture group) of one protocol, with the protocol named
    and the solver's largest gap."""
    from ..formats import pooled_group

    title = IN_SAMPLE_LABEL if protocol == "in-sample" else GROUPED_LABEL
    lines = [f"fusion {title}",
             f"{'stage':<7}" + "".join(f"{t:>9}" for t in SCORE_COLUMNS) + f"{'max gap':>10}"]
    for doc in docs:
        row = doc["devel"][pooled_group(doc["devel"])]
        flag = "" if doc["solver"]["converged"] else "  NOT CONVERGED"
        lines.append(f"{doc['stage']:<7}" + "".join(f"{row[t]:>9.3f}" for t in SCORE_COLUMNS)
                     + (f"{doc['solver']['max_gap']:>10.1e}" if doc["solver"]["max_gap"] is not None else f"{'-':>10}")
                     + flag)
    return "\n".join(lines)


def fuse_stage_job(ranking_tsv: str | Path, labels_cache: str | Path, tracking_json: str | Path,
                   part_states: Sequence[str | Path], out_scores: str | Path, *, protocol: str, stage: int,
                   settings: Mapping) -> None:
    """The workflow's ``fuse_stage`` job: a stage's parts joined into predictions/ and scores.json,
    and the stage's MLflow run (:mod:`emofusion.fusion.mlflow_run`)."""
    import os

    from .mlflow_run import log_stage_run

    spec = FusionSpec.from_settings(settings)
    devel, test = labels_from_cache(labels_cache)
    states = {Path(p).stem: PartState.load(p) for p in part_states}
    print(f"read: parts {', '.join(str(p) for p in part_states)}", flush=True)
    doc = gather_stage(protocol, int(stage), states, devel, test, read_selected(ranking_tsv),
                       Path(out_scores).parent, spec, states[next(iter(states))].report.get("test_cropped"))
    print(format_stage_table(protocol, [doc]), flush=True)
    tracking = read_tracking(tracking_json)
    if tracking["tracking_uri"]:
        log_stage_run(tracking["tracking_uri"], tracking["experiment_name"], f"fusion/{protocol}/stage{stage}", doc,
                      Path(out_scores), workdir=os.getcwd())
    print(f"wrote: {Path(out_scores).parent / 'predictions'}/, {out_scores}", flush=True)
