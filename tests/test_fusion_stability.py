"""The fusion's (k, C) choice and figures do not move with solver noise: the tie rule, and the same
fusion at another solver tolerance, on inputs one float32 step away, and on another BLAS thread count."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from emofusion import TARGETS
from emofusion.data.layout import read_label_dir
from emofusion.fusion.chain import PartState
from emofusion.fusion.protocols import PROTOCOLS
from emofusion.fusion.scheduler import run_chains
from emofusion.fusion.selection import TIE_MARGIN, choose, score_noise, simplicity_order
from emofusion.fusion_spec import FusionSpec
from helpers import corpus

T = len(TARGETS)


def _scores(per_target: list[list[float]]) -> np.ndarray:
    """Grid scores config-major (targets within) from one list per target."""
    return np.array(per_target, dtype=float).T.reshape(-1)


def _never(_cols, _level):
    raise AssertionError("nothing should need a re-solve")


def test_ties_go_to_the_simpler_model_whatever_the_grid_order():
    configs = [(3, 1.0), (1, 0.1), (1, 0.01), (3, 0.01)]
    assert simplicity_order(configs) == [2, 1, 3, 0]
    # per target: best 0.6 at (3, 1.0); (1, 0.1) within the margin; (1, 0.01) just outside it
    s = _scores([[0.6, 0.6 - TIE_MARGIN / 2, 0.6 - 2 * TIE_MARGIN, 0.3]] * T)
    cols, info = choose(s, configs, [0.0], _never)
    assert [c // T for c in cols] == [1, 1, 1] and [c % T for c in cols] == [0, 1, 2]
    assert info["arousal"]["best_score"] == 0.6 and info["arousal"]["resolved"] == 0


def test_undecided_points_are_re_solved_and_decided_on_the_tight_scores():
    configs = [(1, 0.1), (1, 1.0), (3, 0.1)]
    noise = 0.01
    # (1, 0.1) scores 0.595 at the working gap: it may or may not be within the margin of the best
    # (0.6, also uncertain); the tight re-solve says 0.58 vs 0.6, so the choice is the best, (1, 1.0)
    s = _scores([[0.595, 0.6, 0.2]] * T)
    tight = {0: 0.58, 1: 0.6}
    asked = []

    def rescore(cols, level):
        assert level == 1
        asked.append(cols)
        return np.array([tight[c // T] for c in cols])

    cols, info = choose(s, configs, [noise, 1e-5], rescore)
    assert [c // T for c in cols] == [1, 1, 1]
    # only the undecided point and the possible bests are re-solved, never the far worse (3, 0.1)
    assert all(c // T in (0, 1) for a in asked for c in a)
    assert info["valence"]["score"] == 0.6 and info["valence"]["resolved"] == 2
    # the same scores re-solved to a tie: the simpler model wins
    tight[0] = 0.6 - TIE_MARGIN / 3
    cols, _ = choose(s, configs, [noise, 1e-5], rescore)
    assert [c // T for c in cols] == [0, 0, 0]


def test_a_decision_tightens_one_level_at_a_time_and_only_the_points_it_needs():
    """A candidate still undecided after the first re-solve level goes to the next; grid points that
    could not beat it by the margin are never re-solved, however close to the top they score."""
    configs = [(1, 0.1), (1, 1.0), (3, 0.1), (3, 1.0), (5, 0.1)]
    noises = [3e-3, 1e-3, 1e-4]
    # working scores: (1, 0.1) .5990 is undecided against the best (3, 1.0) .6000; (1, 1.0) .5995,
    # (3, 0.1) .5985 and (5, 0.1) .5900 also near the top
    s = _scores([[0.5990, 0.5995, 0.5985, 0.6000, 0.5900]] * T)
    exact = [0.59905, 0.5995, 0.5985, 0.60012, 0.5900]  # (1, 0.1) is 1.07e-3 below the best: out
    asked = []

    def rescore(cols, level):
        asked.append((level, sorted(c // T for c in cols if c % T == 0)))
        return np.array([exact[c // T] for c in cols])

    cols, info = choose(s, configs, noises, rescore)
    assert [c // T for c in cols] == [1, 1, 1]  # (1, 1.0): within the margin of the best
    first = [a for a in asked if a[1]]
    assert first[0] == (1, [0, 3])  # the candidate and the point with the highest upper bound
    assert any(lv == 2 for lv, _ in first)  # .59905 vs .60012 is undecided at 1e-3: the next level
    assert all(4 not in c for _, c in first)  # (5, 0.1) .590 can never matter
    assert info["arousal"]["resolved"] < len(configs)


def test_score_noise_shrinks_with_the_gap():
    assert score_noise(1e-3) > score_noise(1e-5) > 0
    assert score_noise(1e-5) < TIE_MARGIN  # a re-solved score is resolved finer than a tie


def _run(labels, runs, out: Path, spec: FusionSpec, stages: int, threads: int | None = None) -> dict:
    from threadpoolctl import threadpool_limits

    dirs = {p: out / p for p in PROTOCOLS}
    if threads is None:
        run_chains(labels, runs, dirs, stages=stages, spec=spec, n_jobs=1)
    else:
        with threadpool_limits(threads):
            run_chains(labels, runs, dirs, stages=stages, spec=spec, n_jobs=1)
    out_doc = {}
    for p in PROTOCOLS:
        for s in range(1, stages + 1):
            sdir = out / p / f"stage{s}"
            doc = json.loads((sdir / "scores.json").read_text())
            chosen = {f.stem: {t: (v["k"], v["C"]) for t, v in PartState.load(f).report["selected"].items()}
                      for f in sorted(sdir.glob("*.npz"))}
            out_doc[p, s] = (chosen, doc["devel"]["DE+HU"])
    return out_doc


def _one_float32_step(labels: dict, seed: int = 0) -> dict:
    """Every label value moved to a neighbouring float32 (up or down at random): input noise at the
    level of the workflow's float32 caches."""
    rng = np.random.default_rng(seed)
    out = {}
    for n, v in labels.items():
        v32 = np.asarray(v, dtype=np.float32)
        up = rng.random(v32.shape) < 0.5
        out[n] = np.where(up, np.nextafter(v32, np.float32(np.inf)), np.nextafter(v32, np.float32(-np.inf)))
    return out


def _assert_same(ref: dict, other: dict, what: str) -> None:
    for key, (chosen, dev) in ref.items():
        ochosen, odev = other[key]
        assert ochosen == chosen, (what, key, chosen, ochosen)
        for t in (*TARGETS, "mean"):
            assert abs(odev[t] - dev[t]) <= 1e-3, (what, key, t, dev[t], odev[t])


def _variants(labels, runs, tmp_path: Path, spec: FusionSpec, stages: int, tight_tol: float) -> None:
    ref = _run(labels, runs, tmp_path / "ref", spec, stages)
    _assert_same(ref, _run(labels, runs, tmp_path / "tight", FusionSpec(**{**spec.__dict__, "tol": tight_tol}),
                           stages), f"tol {spec.tol:g} vs {tight_tol:g}")
    _assert_same(ref, _run(_one_float32_step(labels), runs, tmp_path / "f32", spec, stages), "float32 step")
    _assert_same(ref, _run(labels, runs, tmp_path / "thr2", spec, stages, threads=2), "2 BLAS threads")


def test_choice_and_figures_are_stable_on_a_small_case(tmp_path):
    """Near-tied grid points (two runs that say nearly the same): tol 1e-3 vs 1e-5, inputs one float32
    step away, 1 vs 2 BLAS threads: the same (k, C) in every part of every stage, CCC within 1e-3
    (its grid points lie within 1e-3 of each other: most choices need re-solves)."""
    labels, runs = corpus(tmp_path / "src", n_per_culture=3, n_frames=70, n_runs=3, seed=3)
    spec = FusionSpec(ks=(1, 2), Cs=(0.1, 1.0), tol=1e-3, outer_folds=2, inner_folds=2)
    _variants(labels, runs, tmp_path, spec, stages=2, tight_tol=1e-5)


def _official(avec_devel):
    labels = read_label_dir(avec_devel / "labels_devel")
    runs = {p.name: p for p in sorted((avec_devel / "baseline_predictions").iterdir())
            if p.is_dir() and p.name != "predictions_svr"}
    return labels, runs


@pytest.mark.slow
def test_choice_and_figures_are_stable_on_the_official_runs(avec_devel, tmp_path):
    """The 9 official AVEC 2019 runs, stages 1-3 of both protocols, the demo's grid (ks 1 3 5): inputs
    one float32 step away and 2 BLAS threads give the same (k, C) everywhere and CCC within 1e-3."""
    labels, runs = _official(avec_devel)
    spec = FusionSpec(ks=(1, 3, 5))
    ref = _run(labels, runs, tmp_path / "ref", spec, 3)
    _assert_same(ref, _run(_one_float32_step(labels), runs, tmp_path / "f32", spec, 3), "float32 step")
    _assert_same(ref, _run(labels, runs, tmp_path / "thr2", spec, 3, threads=2), "2 BLAS threads")


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="known limit (issue 25): at tol 1e-3 vs 1e-5, 3 of 45 grouped-cv choices of "
                   "stages 1-3 differ (all in outer fold 2) and a dev CCC moves by up to .0036: re-solves to 1e-4 pin a "
                   "score to about 4e-4, not finer than every near-margin decision needs")
def test_choice_and_figures_are_stable_across_tolerances_on_the_official_runs(avec_devel, tmp_path):
    labels, runs = _official(avec_devel)
    ref = _run(labels, runs, tmp_path / "ref", FusionSpec(ks=(1, 3, 5)), 3)
    _assert_same(ref, _run(labels, runs, tmp_path / "tight", FusionSpec(ks=(1, 3, 5), tol=1e-5), 3), "tol 1e-3 vs 1e-5")


def _devel_docs(out: Path, stages: int) -> dict:
    return {(p, s): json.loads((out / p / f"stage{s}" / "scores.json").read_text())
            for p in PROTOCOLS for s in range(1, stages + 1)}


def test_every_printed_digit_is_certified_on_a_small_case(tmp_path):
    """The chosen models are solved to REPORT_TOL, so a figure moves by at most score_noise(REPORT_TOL)
    with the solver's stopping point, below half a unit of the third decimal the tables print: the
    same fusion at tol 1e-3 and 1e-7 prints the same three decimals for every culture group, target,
    stage and protocol (and the same stage tables)."""
    from emofusion.fusion.selection import REPORT_TOL
    from emofusion.fusion.stage import format_stage_table

    assert score_noise(REPORT_TOL) < 5e-4
    labels, runs = corpus(tmp_path / "src", n_per_culture=3, n_frames=70, n_runs=3, seed=3)
    spec = FusionSpec(ks=(1, 2), Cs=(0.1, 1.0), tol=1e-3, outer_folds=2, inner_folds=2)
    _run(labels, runs, tmp_path / "loose", spec, 2)
    _run(labels, runs, tmp_path / "exact", FusionSpec(**{**spec.__dict__, "tol": 1e-7}), 2)
    loose, exact = _devel_docs(tmp_path / "loose", 2), _devel_docs(tmp_path / "exact", 2)
    for key, doc in loose.items():
        assert doc["solver"]["report_tol"] == REPORT_TOL
        for group, row in doc["devel"].items():
            for t in (*TARGETS, "mean"):
                other = exact[key]["devel"][group][t]
                assert abs(row[t] - other) <= score_noise(REPORT_TOL) + score_noise(1e-7), (key, group, t)
                assert f"{row[t]:.3f}" == f"{other:.3f}", (key, group, t, row[t], other)

    def no_gap(doc: dict) -> dict:  # the largest gap differs by design (1e-3 vs 1e-7)
        return {**doc, "solver": {**doc["solver"], "max_gap": None}}

    for p in PROTOCOLS:
        assert (format_stage_table(p, [no_gap(loose[p, s]) for s in (1, 2)])
                == format_stage_table(p, [no_gap(exact[p, s]) for s in (1, 2)]))
