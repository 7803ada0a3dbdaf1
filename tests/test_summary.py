"""The end-of-run summary and the planted-ranking check, on a hand-made results folder."""

from __future__ import annotations

import json

import pytest
from emofusion.formats import write_ranking, write_tracking
from emofusion.results.summary import (
    planted_check,
    print_summary,
    run_summary,
    runs_view_url,
    write_planted_check,
)
from emofusion.tracking import WORKFLOW_TYPE as WORKFLOW_TYPE_PARAM

PLANTED = {"a_func": 0.6, "b_func": 0.4, "c_func": 0.2, "noise_func": 0.0}


def _truth(path, planted=PLANTED):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"informativeness": {s: {"arousal": v, "valence": v, "liking": v}
                                                    for s, v in planted.items()}}))


def _ranking(path, measured):
    path.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"run": s, "kind": "unimodal", "dev": {"arousal": m, "valence": m, "liking": m, "mean": m},
             "mean_sd": 0.0, "seeds": 1, "selected": True}
            for s, m in sorted(measured.items(), key=lambda kv: -kv[1])]
    write_ranking(path, rows)


TABLE3 = ("method\tlabel\tprotocol\tchoice\tdev_arousal\tdev_valence\tdev_liking\tdev_mean\ttest_mean\tsettings\tsource\n"
          "baseline\tAVEC 2019 baseline\t\tnot re-run (AVEC 2019 baseline)\t\t\t\t\t\t\t\n"
          "unimodal\tUnimodal (best)\t\ta_func\t0.500000\t0.400000\t0.300000\t0.400000\t0.390000\t\tx\n"
          "multistage\tMultistage fusion\tin-sample\tstage 2 of 2 (best dev mean)\t0.610000\t0.520000\t0.330000"
          "\t0.486667\t0.450000\tk=5 C=1\ty\n")


@pytest.fixture
def results(tmp_path):
    root = tmp_path / "results"
    _truth(root / "corpus" / "truth.json")
    _ranking(root / "ranking" / "unimodal.tsv", {"a_func": 0.5, "b_func": 0.3, "c_func": 0.35, "noise_func": 0.01})
    (root / "tables").mkdir()
    (root / "tables" / "table3.tsv").write_text(TABLE3)
    (root / "tables" / "table3.md").write_text("# Table 3\n")
    (root / "figures").mkdir()
    (root / "figures" / "fig3.png").write_bytes(b"png")
    (root / "mlflow.db").write_bytes(b"")
    write_tracking(root / "tracking.json", f"sqlite:///{root / 'mlflow.db'}", "emofusion", "7",
                   "/#/experiments/7/runs?viewStateShareKey=ccc")
    return root


def test_planted_check_spearman(tmp_path):
    _truth(tmp_path / "truth.json")
    _ranking(tmp_path / "same.tsv", {"a_func": 0.5, "b_func": 0.3, "c_func": 0.1, "noise_func": 0.0})
    c = planted_check(tmp_path / "same.tsv", tmp_path / "truth.json")
    assert c["spearman"] == pytest.approx(1.0) and c["n_sets"] == 4 and c["best"] == "a_func"
    assert c["noise_sets"] == ["noise_func"]
    _ranking(tmp_path / "rev.tsv", {"a_func": 0.0, "b_func": 0.1, "c_func": 0.3, "noise_func": 0.5})
    c = planted_check(tmp_path / "rev.tsv", tmp_path / "truth.json")
    assert c["spearman"] == pytest.approx(-1.0) and c["best"] == "noise_func"


def test_write_planted_check_files(results):
    out = results / "ranking"
    c = write_planted_check(out / "unimodal.tsv", results / "corpus" / "truth.json", out / "planted_check.json",
                            out / "planted_check.txt")
    assert json.loads((out / "planted_check.json").read_text())["spearman"] == pytest.approx(c["spearman"])
    assert c["spearman"] == pytest.approx(0.8)  # b and c swapped: 1 - 6*2/(4*15)
    txt = (out / "planted_check.txt").read_text()
    assert "Spearman 0.800 over 4 sets" in txt and "not the paper's claims" in txt
    lines = txt.splitlines()
    assert lines[-4].split()[0] == "a_func" and lines[-1].split() == ["noise_func", "0.010", "0.000"]


def test_runs_view_url_opens_the_training_runs():
    url = runs_view_url({"experiment_id": "3", "runs_view": "/#/experiments/3/runs?viewStateShareKey=ccc"})
    assert url == f"http://127.0.0.1:5000/#/experiments/3/runs?viewStateShareKey=ccc&{WORKFLOW_TYPE_PARAM}"
    assert WORKFLOW_TYPE_PARAM == "workflowType=machine_learning"
    assert runs_view_url({"experiment_id": "3"}).endswith("/#/experiments/3/runs?workflowType=machine_learning")


def test_summary_of_a_run(results):
    out = results / "ranking"
    write_planted_check(out / "unimodal.tsv", results / "corpus" / "truth.json", out / "planted_check.json",
                        out / "planted_check.txt")
    text = run_summary(results)
    assert "generated corpus: the numbers demonstrate the machinery, not the paper's claims" in text
    assert "chosen on dev" in text
    rows = [ln.split() for ln in text.splitlines()]
    uni = next(r for r in rows if r[:2] == ["Unimodal", "(best)"])
    assert uni[-5:] == ["0.500", "0.400", "0.300", "0.400", "0.390"]
    multi = next(r for r in rows if r[:2] == ["Multistage", "fusion"])
    assert "in-sample" in multi and multi[-2:] == ["0.487", "0.450"]
    assert not any(r and r[0] == "AVEC" for r in rows)  # the baseline row has no numbers of ours
    assert "Planted-ranking check: Spearman 0.800 over 4 sets" in text
    assert f"{'Table 3':<14} {results / 'tables' / 'table3.md'}" in text
    assert f"{'Fig. 3':<14} {results / 'figures' / 'fig3.png'}" in text
    assert "runs overview" not in text  # not made: not listed
    assert f"snakemake --report {results / 'report.html'}" in text
    assert (f"mlflow ui --backend-store-uri sqlite:///{results / 'mlflow.db'} --artifacts-destination "
            f"{results / 'mlartifacts'} --host 127.0.0.1 --port 5000") in text
    assert "http://127.0.0.1:5000/#/experiments/7/runs?viewStateShareKey=ccc&workflowType=machine_learning" in text


def test_summary_of_real_data_and_a_built_report(results):
    (results / "corpus" / "truth.json").unlink()
    (results / "report.html").write_text("<html>")
    text = run_summary(results)
    assert "real AVEC 2019 CES data" in text and "Planted" not in text
    assert "snakemake --report" not in text and f"{'report':<14} {results / 'report.html'}" in text


def test_summary_never_fails_the_run(results, capsys):
    (results / "tracking.json").write_text("{not json")
    text = run_summary(results)  # a damaged tracking file: one line in the summary, the rest still there
    assert "MLflow: " in text and "tracking.json" in text and "Table 3" in text
    (results / "tables" / "table3.tsv").write_text("method\tlabel\tprotocol\tchoice\tdev_arousal\tdev_mean\n"
                                                   "unimodal\tU\t\tx\tnot-a-number\t0.1\n")
    print_summary(results)
    err = capsys.readouterr().err
    assert err.startswith("emofusion: no end-of-run summary (") and err.count("\n") == 1
