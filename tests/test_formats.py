"""The exchanged files (emofusion.formats): each written, read and checked by one function; a bad
file is one DataError naming it, the line and the key; what is written reads back the same."""

from __future__ import annotations

import json

import pytest
from emofusion import SCORE_COLUMNS
from emofusion.errors import DataError
from emofusion.formats import (
    RANKING_COLUMNS,
    pooled_group,
    read_ranking,
    read_scores,
    read_selected,
    read_tracking,
    write_ranking,
    write_scores,
    write_tracking,
)


def _row(x: float) -> dict:
    return {c: x for c in SCORE_COLUMNS}


def test_read_scores_names_the_bad_file_and_key(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"devel":\n  {"DE+HU": }\n}')
    with pytest.raises(DataError, match=r"bad\.json:2: not valid JSON"):
        read_scores(bad)
    bad.write_text(json.dumps({"test": {}}))
    with pytest.raises(DataError, match="key 'devel' is missing"):
        read_scores(bad)
    bad.write_text(json.dumps({"devel": {"DE+HU": {"arousal": 0.1, "valence": "x", "liking": 0, "mean": 0}}}))
    with pytest.raises(DataError, match=r"devel\.DE\+HU\.valence': expected a number"):
        read_scores(bad)
    with pytest.raises(DataError, match="cannot read scores file"):
        read_scores(tmp_path / "missing.json")


def test_read_ranking_rejects_a_short_row(tmp_path):
    tsv = tmp_path / "runs.tsv"
    tsv.write_text("rank\trun\tkind\tarousal\tvalence\tliking\tmean\tmean_sd\tseeds\tselected\n"
                   "1\ta\tunimodal\t0.1\t0.2\t0.3\t0.2\t0\t1\t1\n2\tb\tunimodal\t0.1\n")
    with pytest.raises(DataError, match=r"runs\.tsv:3: expected 10 tab-separated fields"):
        read_ranking(tsv)


def test_scores_round_trip_and_every_group_checked(tmp_path):
    doc = {"devel": {"DE+HU": _row(0.5), "DE": _row(0.4), "HU": _row(0.6)}, "stage": 2}
    write_scores(tmp_path / "scores.json", doc)
    assert (tmp_path / "scores.json").read_text() == json.dumps(doc, indent=2) + "\n"
    got = read_scores(tmp_path / "scores.json")
    assert got == doc and pooled_group(got["devel"]) == "DE+HU"
    del doc["devel"]["HU"]["liking"]
    write_scores(tmp_path / "scores.json", doc)
    with pytest.raises(DataError, match=r"devel\.HU\.liking': expected a number, got None"):
        read_scores(tmp_path / "scores.json")


def test_ranking_round_trip(tmp_path):
    rows = [{"run": "b", "kind": "unimodal", "dev": _row(0.5), "mean_sd": 0.01, "seeds": 2, "selected": True},
            {"run": "a+b", "kind": "bimodal", "dev": _row(0.25), "mean_sd": 0.0, "seeds": 2, "selected": False}]
    write_ranking(tmp_path / "runs.tsv", rows)
    lines = (tmp_path / "runs.tsv").read_text().splitlines()
    assert lines[0].split("\t") == list(RANKING_COLUMNS)
    assert lines[1] == "1\tb\tunimodal\t0.500000\t0.500000\t0.500000\t0.500000\t0.010000\t2\t1"
    got = read_ranking(tmp_path / "runs.tsv")
    assert [(r["rank"], r["run"], r["mean"], r["selected"]) for r in got] == [(1, "b", 0.5, True),
                                                                              (2, "a+b", 0.25, False)]
    assert read_selected(tmp_path / "runs.tsv") == ["b"]


def test_tracking_round_trip_and_check(tmp_path):
    path = tmp_path / "tracking.json"
    write_tracking(path, "sqlite:///x.db", "emofusion", "1", "/#/experiments/1")
    assert read_tracking(path)["experiment_id"] == "1"
    path.write_text(json.dumps({"tracking_uri": "sqlite:///x.db"}))
    with pytest.raises(DataError, match=r"tracking\.json: not a tracking file \(no 'experiment_name'"):
        read_tracking(path)
