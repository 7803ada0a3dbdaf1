"""The recording-level bootstrap (emofusion.results.metrics): point estimates equal the AVEC scoring, each
resample equals a CCC computed the long way, stratification, seeding, paired differences."""

from __future__ import annotations

import json

import numpy as np
import pytest
from emofusion import TARGETS
from emofusion.results.metrics import (
    bootstrap_ccc,
    ccc,
    culture_of,
    paired_bootstrap,
    resample_counts,
    score_recordings,
)


def _corpus(seed=0, n_de=5, n_hu=4, noise=1.0):
    rng = np.random.default_rng(seed)
    labels, preds = {}, {}
    for c, n in (("DE", n_de), ("HU", n_hu)):
        for i in range(1, n + 1):
            name = f"Devel_{c}_{i:02d}"
            t = int(rng.integers(20, 60))
            y = rng.normal(size=(t, 3)) + (0.3 if c == "HU" else 0.0)
            labels[name] = y
            preds[name] = np.vstack([0.7 * y + noise * rng.normal(size=(t, 3)), rng.normal(size=(4, 3))])  # longer
    return labels, preds


def test_point_estimate_is_the_avec_score():
    labels, preds = _corpus()
    got = bootstrap_ccc(labels, preds, n_boot=50)
    want = score_recordings(labels, preds)
    assert list(got) == list(want) == ["DE+HU", "DE", "HU"]
    for g in want:
        for t in (*TARGETS, "mean"):
            assert got[g][t]["ccc"] == pytest.approx(want[g][t], abs=1e-12)
            assert got[g][t]["lo"] <= got[g][t]["ccc"] + 0.2 and got[g][t]["lo"] <= got[g][t]["hi"]


def test_each_resample_equals_the_long_way():
    """The percentile interval from the fast path equals one computed by concatenating the drawn
    recordings' frames and calling ccc() on each resample."""
    labels, preds = _corpus(seed=1)
    names = sorted(labels)
    n_boot, seed = 40, 7
    counts = resample_counts(names, n_boot, seed)
    slow = []
    for row in counts:
        drawn = [n for n, k in zip(names, row, strict=True) for _ in range(k)]
        y = np.concatenate([labels[n] for n in drawn])
        p = np.concatenate([preds[n][: len(labels[n])] for n in drawn])
        slow.append(ccc(p[:, 1], y[:, 1]))
    lo, hi = np.percentile(slow, [2.5, 97.5])
    got = bootstrap_ccc(labels, preds, n_boot=n_boot, seed=seed)["DE+HU"]["valence"]
    assert (got["lo"], got["hi"]) == pytest.approx((lo, hi), abs=1e-10)


def test_resamples_are_stratified_and_seeded():
    names = sorted(_corpus()[0])
    counts = resample_counts(names, 200, 3)
    de = np.array([culture_of(n) == "DE" for n in names])
    assert (counts[:, de].sum(1) == de.sum()).all() and (counts[:, ~de].sum(1) == (~de).sum()).all()
    assert (counts == resample_counts(names, 200, 3)).all()
    assert not (counts == resample_counts(names, 200, 4)).all()


def test_interval_narrows_with_more_recordings():
    few = bootstrap_ccc(*_corpus(n_de=4, n_hu=4), n_boot=300)["DE+HU"]["arousal"]
    many = bootstrap_ccc(*_corpus(n_de=40, n_hu=40), n_boot=300)["DE+HU"]["arousal"]
    assert many["hi"] - many["lo"] < few["hi"] - few["lo"]


def test_paired_differences():
    labels, noisy = _corpus(noise=1.0)
    _, good = _corpus(noise=0.1)
    same = paired_bootstrap(labels, noisy, noisy, n_boot=100)["DE+HU"]["mean"]
    assert same["diff"] == 0.0 and same["lo"] == same["hi"] == 0.0 and same["p_gt0"] == 0.0
    better = paired_bootstrap(labels, noisy, good, n_boot=100)
    for g in better:
        r = better[g]["mean"]
        assert r["diff"] == pytest.approx(r["b"] - r["a"]) and r["diff"] > 0
        assert 0 < r["lo"] <= r["diff"] <= r["hi"] and r["p_gt0"] == 1.0
    worse = paired_bootstrap(labels, good, noisy, n_boot=100)["DE+HU"]["arousal"]
    assert worse["p_gt0"] == 0.0 and worse["hi"] < 0


def test_bad_input_is_a_clear_error():
    labels, preds = _corpus()
    short = dict(preds, Devel_DE_01=preds["Devel_DE_01"][:3])
    with pytest.raises(ValueError, match="Devel_DE_01 has 3 frames"):
        bootstrap_ccc(labels, short, n_boot=10)
    with pytest.raises(ValueError, match="no prediction for recording"):
        paired_bootstrap(labels, preds, {k: v for k, v in preds.items() if k != "Devel_HU_02"}, n_boot=10)
    with pytest.raises(ValueError, match="n_boot"):
        bootstrap_ccc(labels, preds, n_boot=0)


def test_compare_cli_on_official_baselines(avec_devel, capsys):
    """visual-func vs the official SVR fusion: the differences of the official figures, each with an
    interval, in the table and in --json."""
    from emofusion.cli import main

    base = avec_devel / "baseline_predictions"
    a, b = str(base / "predictions_visual-func"), str(base / "predictions_svr")
    labels = str(avec_devel / "labels_devel")
    assert main(["compare", "--labels", labels, a, b, "--n-boot", "300"]) == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("DE+HU  arousal"))
    assert "0.531" in line and "0.614" in line and "+0.083" in line and "[" in line
    assert main(["compare", "--labels", labels, a, b, "--n-boot", "300", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)["comparisons"][b]
    assert set(res) == {"DE+HU", "DE", "HU"}
    r = res["DE+HU"]["valence"]
    assert (round(r["a"], 3), round(r["b"], 3)) == (0.565, 0.615)
    assert r["lo"] < r["diff"] < r["hi"] and 0.5 < r["p_gt0"] <= 1.0


def test_compare_cli_bad_input_is_one_line(avec_devel, tmp_path, capsys):
    from emofusion.cli import main

    a = str(avec_devel / "baseline_predictions" / "predictions_visual-func")
    assert main(["compare", "--labels", str(avec_devel / "labels_devel"), a, str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "nope: predictions folder not found" in err[0]
