"""The numpy CCC: formula oracle, edge cases, properties, and the official AVEC 2019 figures."""

from __future__ import annotations

import json

import numpy as np
import pytest
from emofusion.cli import main
from emofusion.data.layout import read_label_dir, read_prediction_dir
from emofusion.results.metrics import ccc, score_recordings
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

# Official DE+HU dev CCCs of the AVEC 2019 CES baselines (arousal, valence, liking),
# as published with the challenge data.
OFFICIAL = {
    "deepspectrum": (0.312, 0.233, 0.142),
    "egemaps-func_STD": (0.371, 0.286, 0.159),
    "egemaps-xbow": (0.398, 0.352, 0.138),
    "mfcc-func_STD": (0.326, 0.187, 0.144),
    "mfcc-xbow": (0.298, 0.134, 0.074),
    "visual-func": (0.531, 0.565, 0.083),
    "visual-resnet": (0.473, 0.487, 0.040),
    "visual-vgg": (0.493, 0.505, 0.037),
    "visual-xbow": (0.467, 0.523, 0.057),
    "svr": (0.614, 0.615, 0.222),
}


def oracle(x, y):
    """Lin's CCC written from the paper's Eq. (1): 2 rho sx sy / (sx^2 + sy^2 + (mx - my)^2)."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    sx, sy = x.std(), y.std()
    rho = np.corrcoef(x, y)[0, 1]
    return 2 * rho * sx * sy / (sx**2 + sy**2 + (x.mean() - y.mean()) ** 2)


def test_matches_formula_oracle():
    rng = np.random.default_rng(0)
    x = rng.normal(size=500)
    y = 0.5 * x + rng.normal(scale=0.7, size=500) + 0.3
    assert ccc(x, y) == pytest.approx(oracle(x, y), abs=1e-12)


def test_known_values():
    assert ccc([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)
    assert ccc([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    # x vs x + 1: cov = var = 2/3, den = 2/3 + 2/3 + 1 -> 2*(2/3)/(7/3) = 4/7
    assert ccc([1, 2, 3], [2, 3, 4]) == pytest.approx(4 / 7)
    # population variance, not sample: [0, 2] vs [0, 1]: cov = 0.5, vx = 1, vy = .25, d = .25
    assert ccc([0, 2], [0, 1]) == pytest.approx(2 * 0.5 / (1 + 0.25 + 0.25))


def test_edge_cases():
    assert np.isnan(ccc([], []))
    assert np.isnan(ccc([1.0], [1.0]))  # n = 1: 0/0
    assert ccc([1.0, 1.0], [2.0, 2.0]) == 0.0  # constant, different means: 0 / d
    assert ccc([1.0, 2.0], [5.0, 5.0]) == 0.0  # one constant: no covariance
    with pytest.raises(ValueError, match="NaN"):
        ccc([1.0, np.nan], [1.0, 2.0])
    with pytest.raises(ValueError, match="shapes"):
        ccc([1.0, 2.0], [1.0])


finite = st.floats(-100, 100, allow_nan=False, width=64)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(3, 60), elements=finite), arrays(np.float64, 60, elements=finite))
def test_properties(x, y_full):
    y = y_full[: x.size]
    if x.std() < 1e-6 or y.std() < 1e-6:
        return
    assert ccc(x, x) == pytest.approx(1.0)
    assert ccc(x, y) == pytest.approx(ccc(y, x))
    assert -1.0 - 1e-12 <= ccc(x, y) <= 1.0 + 1e-12
    assert abs(ccc(x, y)) <= abs(np.corrcoef(x, y)[0, 1]) + 1e-9  # CCC never exceeds |Pearson|
    assert ccc(x, 2.0 * x + 1.0) < 1.0  # a.x + b with (a, b) != (1, 0) is not concordant


def test_official_avec_figures(avec_devel):
    labels = read_label_dir(avec_devel / "labels_devel")
    assert len(labels) == 28
    lengths = {n: len(v) for n, v in labels.items()}
    for key, expected in OFFICIAL.items():
        preds = read_prediction_dir(avec_devel / "baseline_predictions" / f"predictions_{key}", lengths)
        got = score_recordings(labels, preds)["DE+HU"]
        assert [round(got[t], 3) for t in ("arousal", "valence", "liking")] == list(expected), key


def test_concatenation_not_mean_of_recordings(avec_devel):
    labels = read_label_dir(avec_devel / "labels_devel")
    lengths = {n: len(v) for n, v in labels.items()}
    preds = read_prediction_dir(avec_devel / "baseline_predictions" / "predictions_visual-func", lengths)
    pooled = score_recordings(labels, preds)["DE+HU"]["arousal"]
    per_rec = np.mean([ccc(preds[n][:, 0], labels[n][:, 0]) for n in labels])
    assert abs(pooled - per_rec) > 0.01  # the two definitions differ on real data


def test_score_cli_json(avec_devel, capsys):
    folders = [str(avec_devel / "baseline_predictions" / f"predictions_{k}") for k in ("visual-func", "svr")]
    assert main(["score", "--labels", str(avec_devel / "labels_devel"), "--predictions", *folders, "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert list(out) == folders
    assert round(out[folders[1]]["DE+HU"]["valence"], 3) == 0.615
    assert set(out[folders[0]]) == {"DE+HU", "DE", "HU"}


def test_score_cli_short_prediction_is_clear_error(avec_devel, tmp_path, capsys):
    src = avec_devel / "baseline_predictions" / "predictions_visual-func"
    dst = tmp_path / "preds"
    dst.mkdir()
    for f in src.glob("*.csv"):
        lines = f.read_text().splitlines(keepends=True)
        dst.joinpath(f.name).write_text("".join(lines[:100] if f.stem == "Devel_HU_03" else lines))
    assert main(["score", "--labels", str(avec_devel / "labels_devel"), "--predictions", str(dst)]) == 2
    err = capsys.readouterr().err
    assert "Devel_HU_03.csv" in err and "99 prediction rows" in err
