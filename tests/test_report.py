"""Tables and figures (emofusion.results: tables, figures_fusion, figures_runs, weight_search, markdown,
readme_block) from fake-but-consistent scores files: structure, every number equal to the scores file
it came from, figures valid images holding the expected series."""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import yaml
from emofusion import SCORE_COLUMNS as COLUMNS
from emofusion import TARGETS
from emofusion.errors import DataError
from emofusion.formats import read_ranking
from emofusion.results.figures_fusion import fig3_figure, fig3_series, write_fig3
from emofusion.results.figures_runs import runs_overview_figure, write_runs_overview
from emofusion.results.markdown import tsv_to_html
from emofusion.results.paper import PAPER_TABLE2, PAPER_TABLE3
from emofusion.results.ranking import rank_runs
from emofusion.results.scores import grid_edge_note
from emofusion.results.tables import write_table2, write_table3
from emofusion.results.weight_search import sample_search_weights, write_weight_search

REPO = Path(__file__).resolve().parents[1]
PROTOCOLS = ["in-sample", "grouped-cv"]
STAGES = [1, 2, 3]


def _block(rng) -> dict:
    vals = {t: float(rng.uniform(-0.1, 0.9)) for t in TARGETS}
    vals["mean"] = float(np.mean(list(vals.values())))
    return vals


def fake_scores(path: Path, rng, *, test: bool = True, **extra) -> dict:
    """A scores.json in the docs/contracts.md shape with random (but consistent) numbers."""
    s = {"devel": {g: _block(rng) for g in ("DE+HU", "DE", "HU")}}
    if test:
        s["test"] = {g: _block(rng) for g in ("DE+HU", "DE", "HU")}
    s.update(extra)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(s, indent=2))
    return s


def read_tsv(path: Path) -> list[dict[str, str]]:
    lines = path.read_text().splitlines()
    header = lines[0].split("\t")
    return [dict(zip(header, ln.split("\t"), strict=True)) for ln in lines[1:]]


def html_table_rows(path: Path) -> list[list[str]]:
    """The cells of the (single) table of an HTML page we wrote; the page must be well-formed XML."""
    root = ET.fromstring(path.read_text().replace("<!DOCTYPE html>", "").replace('<meta charset="utf-8">', ""))
    return [["".join(cell.itertext()) for cell in tr] for tr in root.iter("tr")]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def svg_gids_and_text(path: Path) -> tuple[set[str], str]:
    root = ET.parse(path).getroot()  # also proves the SVG is well-formed XML
    ids = {el.get("id") for el in root.iter() if el.get("id")}
    text = " ".join(t.strip() for el in root.iter() if el.tag.endswith("text") for t in el.itertext())
    return ids, text


# ------------------------------------------------------------------------------------------ Table 2


@pytest.mark.parametrize("with_test", [True, False])
def test_table2_numbers_equal_the_scores_files(tmp_path, with_test):
    rng = np.random.default_rng(1)
    modes = ["stl_arousal", "stl_valence", "stl_liking", "mtl_equal", "mtl1", "mtl2"]
    files = {m: tmp_path / "ablation" / m / "scores.json" for m in modes}
    scores = {m: fake_scores(p, rng, test=with_test) for m, p in files.items()}
    md, tsv = tmp_path / "t" / "table2.md", tmp_path / "t" / "table2.tsv"
    html = tmp_path / "t" / "table2.html"
    write_table2(files, "fau_func", md, tsv, generated=True, weights={"alpha": 0.7, "beta": 0.2, "gamma": 1.0},
                 out_html=html)
    rows = read_tsv(tsv)
    assert [r["loss_mode"] for r in rows] == modes
    assert {r["feature_set"] for r in rows} == {"fau_func"}
    header = tsv.read_text().splitlines()[0].split("\t")
    assert ("test_mean" in header) is with_test
    for r in rows:
        s = scores[r["loss_mode"]]
        for c in COLUMNS:
            assert r[f"dev_{c}"] == f"{s['devel']['DE+HU'][c]:.6f}"
            if with_test:
                assert r[f"test_{c}"] == f"{s['test']['DE+HU'][c]:.6f}"
            paper = PAPER_TABLE2["rows"].get(r["loss_mode"])
            assert r[f"paper_{c}"] == ("" if paper is None else f"{paper[c]:.6f}")  # mtl_equal: not in the paper
    text = md.read_text()
    assert "`fau_func`" in text and "FAUs" in text and "generated corpus" in text
    md_rows = [ln for ln in text.splitlines() if ln.startswith("| ") and not ln.startswith("| Loss")]
    assert len(md_rows) == len(modes)
    for ln, m in zip(md_rows, modes, strict=True):
        cells = [c.strip() for c in ln.strip("|").split("|")]
        assert cells[1:5] == [f"{scores[m]['devel']['DE+HU'][c]:.3f}" for c in COLUMNS]
    html_rows = html_table_rows(html)
    assert html_rows[0][0] == "Loss" and len(html_rows) == len(modes) + 1
    assert html_rows[1:] == [[c.strip() for c in ln.strip("|").split("|")] for ln in md_rows]


# ------------------------------------------------------------------------------------ weight search


def test_search_weights_are_seeded_uniform_and_extend():
    a = sample_search_weights(20, 3)
    assert a == sample_search_weights(20, 3)
    assert a[:5] == sample_search_weights(5, 3)
    assert a != sample_search_weights(20, 4)
    vals = [w[k] for w in a for k in ("alpha", "beta", "gamma")]
    assert all(0.0 <= v <= 1.0 for v in vals) and len(set(vals)) > 30
    with pytest.raises(ValueError, match="at least 1"):
        sample_search_weights(0, 0)


def test_weight_search_sorted_and_winner_labelled_dev_selected(tmp_path):
    rng = np.random.default_rng(2)
    weights = sample_search_weights(6, 0)
    score_files, weight_files, scores = [], [], {}
    for i, w in enumerate(weights):
        d = tmp_path / "search" / str(i)
        scores[str(i)] = fake_scores(d / "scores.json", rng)
        (d / "weights.json").write_text(json.dumps(w))
        score_files.append(d / "scores.json")
        weight_files.append(d / "weights.json")
    tsv, md = tmp_path / "weight_search.tsv", tmp_path / "weight_search.md"
    html = tmp_path / "weight_search.html"
    write_weight_search(score_files, weight_files, tsv, md, feature_set="fau_func", generated=True, out_html=html)
    rows = read_tsv(tsv)
    means = [float(r["dev_mean"]) for r in rows]
    assert means == sorted(means, reverse=True)
    assert [r["rank"] for r in rows] == [str(i) for i in range(1, 7)]
    assert rows[0]["label"].startswith("dev-selected") and "same dev frames" in rows[0]["label"]
    assert all(r["label"] == "" for r in rows[1:])
    best = max(scores, key=lambda k: scores[k]["devel"]["DE+HU"]["mean"])
    assert rows[0]["search"] == best
    for r in rows:
        s, w = scores[r["search"]], weights[int(r["search"])]
        assert [float(r[k]) for k in ("alpha", "beta", "gamma")] == [w["alpha"], w["beta"], w["gamma"]]
        for c in COLUMNS:
            assert r[f"dev_{c}"] == f"{s['devel']['DE+HU'][c]:.6f}"
            assert r[f"test_{c}"] == f"{s['test']['DE+HU'][c]:.6f}"
    assert "dev-selected" in md.read_text() and "optimistic" in md.read_text()
    cells = html_table_rows(html)
    assert cells[1][-1] == "dev-selected" and all(c[-1] == "" for c in cells[2:])
    (tmp_path / "search" / "2" / "weights.json").write_text("{}")
    with pytest.raises(DataError, match=r"search/2/weights\.json"):
        write_weight_search(score_files, weight_files, tsv, md, feature_set="fau_func", generated=True)


# ------------------------------------------------------------------------------------------ Table 3


@pytest.fixture
def results(tmp_path):
    """A fake results/ tree: 4 unimodal + 3 bimodal runs ranked by the real rank_runs, and fusion
    stages for both protocols (with the chosen k and C beside the scores)."""
    rng = np.random.default_rng(3)
    root = tmp_path / "results"
    runs = ["fau_func", "egemaps_func", "boaw_egemaps", "mfcc", "boaw_egemaps+egemaps_func",
            "boaw_egemaps+fau_func", "egemaps_func+fau_func"]
    run_scores = {r: fake_scores(root / "runs" / r / "scores.json", rng) for r in runs}
    rank_runs({r: root / "runs" / r / "scores.json" for r in runs}, 4, root / "ranking" / "runs.tsv")
    fusion = {p: {n: fake_scores(root / "fusion" / p / f"stage{n}" / "scores.json", rng, k=3, C=0.01)
                  for n in STAGES} for p in PROTOCOLS}
    return root, run_scores, fusion


def test_table3_rows_come_from_the_right_scores_files(tmp_path, results):
    root, run_scores, fusion = results
    md, tsv = tmp_path / "table3.md", tmp_path / "table3.tsv"
    html = tmp_path / "table3.html"
    write_table3(root / "ranking" / "runs.tsv", root / "runs", root / "fusion", PROTOCOLS, STAGES, md, tsv,
                 generated=True, out_html=html)
    rows = read_tsv(tsv)
    assert [(r["method"], r["protocol"]) for r in rows] == [
        ("baseline", ""), ("unimodal", ""), ("bimodal", ""), ("late", "in-sample"), ("late", "grouped-cv"),
        ("multistage", "in-sample"), ("multistage", "grouped-cv")]

    def dev_mean(s):
        return s["devel"]["DE+HU"]["mean"]

    best_uni = max((r for r in run_scores if "+" not in r), key=lambda r: dev_mean(run_scores[r]))
    best_bi = max((r for r in run_scores if "+" in r), key=lambda r: dev_mean(run_scores[r]))
    expect = {("unimodal", ""): run_scores[best_uni], ("bimodal", ""): run_scores[best_bi]}
    for p in PROTOCOLS:
        expect[("late", p)] = fusion[p][1]
        # in-sample: the paper's choice (best dev mean); grouped-cv: the configured last stage, never
        # chosen with the held-out labels
        n_best = max(STAGES, key=lambda n: dev_mean(fusion[p][n])) if p == "in-sample" else STAGES[-1]
        expect[("multistage", p)] = fusion[p][n_best]
        ms = next(r for r in rows if r["method"] == "multistage" and r["protocol"] == p)
        how = "best dev mean: the paper's choice" if p == "in-sample" else "the configured last stage"
        assert ms["choice"].startswith(f"stage {n_best} of 3 ({how}") and ms["settings"] == "k=3 C=0.01"
        assert ms["source"].endswith(f"{p}/stage{n_best}/scores.json")
    assert rows[1]["choice"] == best_uni and rows[2]["choice"] == best_bi
    for r in rows:
        paper = PAPER_TABLE3["rows"][r["method"]]
        assert [r[f"paper_{t}"] for t in TARGETS] == [f"{paper[t]:.6f}" for t in TARGETS]
        assert r["label"] == paper["label"]
        if r["method"] == "baseline":
            assert all(r[f"dev_{c}"] == "" for c in COLUMNS)
            continue
        s = expect[(r["method"], r["protocol"])]
        for c in COLUMNS:
            assert r[f"dev_{c}"] == f"{s['devel']['DE+HU'][c]:.6f}"
            assert r[f"test_{c}"] == f"{s['test']['DE+HU'][c]:.6f}"
    text = md.read_text()
    assert text.count("in-sample (paper's protocol)") == 2 and text.count("| grouped-cv |") == 2
    cells = html_table_rows(html)
    assert len(cells) == len(rows) + 1 and cells[0][:3] == ["Method", "Fusion protocol", "Chosen"]
    for r, c in zip(rows[1:], cells[2:], strict=True):  # dev mean (3 decimals) of each of our rows
        assert c[6] == f"{float(r['dev_mean']):.3f}"
    assert "<b>in-sample</b>" in html.read_text()


GRID = {"ks": [1, 3, 5], "Cs": [0.001, 0.01, 0.1, 1.0]}


def _selected(k, C):
    return {t: {"k": k, "C": C} for t in TARGETS}


def test_grid_edge_note_names_the_edge_choices():
    corner = {"selected": _selected(5, 1.0)}
    assert grid_edge_note(corner, GRID) == ("k=5 (largest of 1..5) for 3/3 choices; "
                                            "C=1 (largest of 0.001..1) for 3/3 choices")
    assert grid_edge_note({"selected": _selected(3, 0.01)}, GRID) == ""
    folds = {"selected": {"outer_folds": [_selected(3, 0.1), _selected(1, 0.1)], "test": _selected(3, 0.001)}}
    assert grid_edge_note(folds, GRID) == ("k=1 (smallest of 1..5) for 3/9 choices; "
                                           "C=0.001 (smallest of 0.001..1) for 3/9 choices")
    assert grid_edge_note(corner, None) == ""
    assert grid_edge_note(corner, {"ks": [5], "Cs": [1.0]}) == ""  # a single candidate is no choice


def test_table3_marks_grid_edge_choices_and_the_dev_chosen_rows(tmp_path, results):
    root, _, _ = results
    for n in STAGES:  # in-sample picks the corner of the grid, grouped-cv an inner point
        f = root / "fusion" / "in-sample" / f"stage{n}" / "scores.json"
        f.write_text(json.dumps({**json.loads(f.read_text()), "selected": _selected(5, 1.0)}))
        f = root / "fusion" / "grouped-cv" / f"stage{n}" / "scores.json"
        f.write_text(json.dumps({**json.loads(f.read_text()), "selected": {"outer_folds": [_selected(3, 0.1)] * 2}}))
    md, tsv = tmp_path / "table3.md", tmp_path / "table3.tsv"
    write_table3(root / "ranking" / "runs.tsv", root / "runs", root / "fusion", PROTOCOLS, STAGES, md, tsv,
                 generated=True, grid=GRID)
    rows = read_tsv(tsv)
    edge = {(r["method"], r["protocol"]): r["grid_edge"] for r in rows}
    assert edge[("late", "in-sample")] == edge[("multistage", "in-sample")] == grid_edge_note(
        {"selected": _selected(5, 1.0)}, GRID) != ""
    assert edge[("late", "grouped-cv")] == edge[("multistage", "grouped-cv")] == ""
    assert edge[("unimodal", "")] == edge[("bimodal", "")] == ""
    text = md.read_text()
    marked = [ln for ln in text.splitlines() if ln.startswith("| ") and " †" in ln]
    assert len(marked) == 2 and all("in-sample" in ln for ln in marked)
    assert "**† At the edge of the grid** (k in {1, 3, 5}, C in {0.001, 0.01, 0.1, 1})" in text
    assert "**Chosen on dev.** The unimodal and bimodal rows" in text and "every fused run" in text
    write_table3(root / "ranking" / "runs.tsv", root / "runs", root / "fusion", PROTOCOLS, STAGES, md, tsv,
                 generated=True)  # no grid given: no mark, the dev-chosen note still
    assert " †" not in md.read_text() and "Chosen on dev" in md.read_text()


def test_ranking_html_says_na_for_one_seed(tmp_path):
    tsv = tmp_path / "r.tsv"
    tsv.write_text("rank\trun\tkind\tarousal\tvalence\tliking\tmean\tmean_sd\tseeds\tselected\n"
                   "1\ta\tunimodal\t0.5\t0.5\t0.5\t0.5\t0.000000\t1\t1\n"
                   "2\tb\tunimodal\t0.4\t0.4\t0.4\t0.4\t0.012000\t3\t0\n")
    tsv_to_html(tsv, "Ranking", "note.", tmp_path / "r.html")
    cells = html_table_rows(tmp_path / "r.html")
    assert cells[1][7] == "n/a (1 seed)" and cells[2][7] == "0.012000"
    assert "0.000000" in tsv.read_text()  # the TSV itself keeps its number


def test_table3_without_test_labels_has_no_test_columns(tmp_path, results):
    root, _, _ = results
    for p in (root / "runs").glob("*/scores.json"):
        s = json.loads(p.read_text())
        s.pop("test")
        p.write_text(json.dumps(s))
    for p in (root / "fusion").glob("*/stage*/scores.json"):
        s = json.loads(p.read_text())
        s.pop("test")
        p.write_text(json.dumps(s))
    tsv = tmp_path / "table3.tsv"
    write_table3(root / "ranking" / "runs.tsv", root / "runs", root / "fusion", PROTOCOLS, STAGES,
                 tmp_path / "table3.md", tsv, generated=False)
    assert not any(h.startswith("test_") for h in tsv.read_text().splitlines()[0].split("\t"))
    assert "real AVEC 2019 CES data" in (tmp_path / "table3.md").read_text()


# ------------------------------------------------------------------------------------------ figures


def test_fig3_series_values_and_image_files(tmp_path, results):
    root, _, fusion = results
    series = fig3_series(root / "fusion", PROTOCOLS, STAGES)
    assert [(s["protocol"], s["split"]) for s in series] == [
        ("in-sample", "devel"), ("grouped-cv", "devel"), ("in-sample", "test"), ("grouped-cv", "test")]
    for s in series:
        split = s["split"]
        for t in TARGETS:
            assert s["values"][t] == [fusion[s["protocol"]][n][split]["DE+HU"][t] for n in STAGES]
    fig = fig3_figure(series, generated=True)
    try:
        assert len(fig.axes) == 4  # the three targets and their mean
        for ax, t in zip(fig.axes[:3], TARGETS, strict=True):
            assert ax.get_xlabel() == "number of fusion stages" and ax.get_title() == t.capitalize()
            lines = {ln.get_gid(): ln for ln in ax.get_lines()}
            for s in series:
                ln = lines[f"fig3-{t}-{s['protocol']}-{s['split']}"]
                assert list(ln.get_xdata()) == STAGES and list(ln.get_ydata()) == s["values"][t]
        assert fig.axes[0].get_ylabel() == "CCC (DE+HU)"
        assert "CCC vs number of multistage SVR fusion stages" in fig._suptitle.get_text()
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)
    png, svg = tmp_path / "fig" / "fig3.png", tmp_path / "fig" / "fig3.svg"
    write_fig3(root / "fusion", PROTOCOLS, STAGES, png, svg, generated=True)
    w, h = png_size(png)
    assert w > 800 and h > 300
    ids, text = svg_gids_and_text(svg)
    for t in TARGETS:
        for s in series:
            assert f"fig3-{t}-{s['protocol']}-{s['split']}" in ids
    for label in ("in-sample (paper's protocol) dev", "grouped-cv dev", "in-sample test", "grouped-cv test",
                  "number of fusion stages", "Arousal", "Valence", "Liking"):
        assert label in text
    assert not list(png.parent.glob(".*")), "no temp files left behind"


def test_fig3_without_test_has_only_dev_lines(tmp_path, results):
    root, _, _ = results
    p = root / "fusion" / "grouped-cv" / "stage2" / "scores.json"
    s = json.loads(p.read_text())
    s.pop("test")
    p.write_text(json.dumps(s))
    series = fig3_series(root / "fusion", PROTOCOLS, STAGES)
    assert [(s["protocol"], s["split"]) for s in series] == [
        ("in-sample", "devel"), ("grouped-cv", "devel"), ("in-sample", "test")]


def test_runs_overview_bars_equal_the_ranking(tmp_path, results):
    root, run_scores, _ = results
    ranking = read_ranking(root / "ranking" / "runs.tsv")
    fig = runs_overview_figure(ranking, generated=True)
    try:
        assert len(fig.axes) == 4
        labels = [t.get_text().split(". ", 1)[1] for t in fig.axes[0].get_yticklabels()]
        # every panel in the ranking's order (by the mean, best at the top): selection is by the mean
        assert labels == [r["run"] for r in sorted(ranking, key=lambda r: -r["rank"])]
        for ax, c in zip(fig.axes, COLUMNS, strict=True):
            widths = [p.get_width() for p in ax.patches]
            assert len(widths) == len(run_scores) == len(labels)
            if c == "mean":
                assert widths == sorted(widths)
            for run, width, patch in zip(labels, widths, ax.patches, strict=True):
                assert width == pytest.approx(run_scores[run]["devel"]["DE+HU"][c], abs=1e-6)
                selected = next(r["selected"] for r in ranking if r["run"] == run)
                assert (patch.get_linewidth() > 0 and patch.get_edgecolor()[3] > 0) == selected
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)
    png, svg = tmp_path / "runs_overview.png", tmp_path / "runs_overview.svg"
    write_runs_overview(root / "ranking" / "runs.tsv", png, svg, generated=True)
    w, h = png_size(png)
    assert w > 1000 and h > 300
    ids, text = svg_gids_and_text(svg)
    assert {f"runs-{c}-{r}" for c in COLUMNS for r in run_scores} <= ids
    assert "selected for fusion" in text and "boaw_egemaps+fau_func" in text


def test_fig3_shares_its_ccc_axis_and_has_a_mean_panel_and_the_best_single_run(tmp_path, results):
    root, run_scores, _ = results
    ranking = read_ranking(root / "ranking" / "runs.tsv")
    best = ranking[0]
    series = fig3_series(root / "fusion", PROTOCOLS, STAGES)
    fig = fig3_figure(series, generated=True, best=best)
    try:
        assert len(fig.axes) == len(COLUMNS) == 4  # arousal, valence, liking and their mean
        first = fig.axes[0]
        for ax in fig.axes[1:]:
            assert first.get_shared_y_axes().joined(first, ax)  # one CCC scale: panels compare
        assert fig.axes[3].get_title().startswith("Mean")
        for ax, c in zip(fig.axes, COLUMNS, strict=True):
            lines = {ln.get_gid(): ln for ln in ax.get_lines()}
            for s in series:
                assert list(lines[f"fig3-{c}-{s['protocol']}-{s['split']}"].get_ydata()) == s["values"][c]
            ref = lines[f"fig3-best-{c}"]  # horizontal: the rank-1 run's dev CCC of this column
            want = run_scores[best["run"]]["devel"]["DE+HU"][c]
            assert list(ref.get_ydata()) == [pytest.approx(want, abs=1e-6)] * 2
        labels = fig.axes[0].get_legend_handles_labels()[1]
        assert f"best single run, dev ({best['run']})" in labels
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)
    png, svg = tmp_path / "fig3.png", tmp_path / "fig3.svg"
    write_fig3(root / "fusion", PROTOCOLS, STAGES, png, svg, generated=True, ranking_tsv=root / "ranking" / "runs.tsv")
    ids, text = svg_gids_and_text(svg)
    assert {f"fig3-best-{c}" for c in COLUMNS} <= ids and "best single run" in text and "Mean of the three" in text


def _planted_truth(path: Path, sets) -> dict:
    """A truth.json like the generator's: informativeness per set and target, the last set noise-only."""
    info = {k: {t: round(0.6 - 0.1 * i - 0.05 * j, 3) for j, t in enumerate(TARGETS)} for i, k in enumerate(sets)}
    info[sets[-1]] = {t: 0.0 for t in TARGETS}
    path.write_text(json.dumps({"generator": "emofusion.synth", "informativeness": info}))
    return info


def test_runs_overview_colours_modality_shares_axes_and_marks_the_planted_truth(tmp_path, results):
    from emofusion.results.figures_runs import MODALITY_COLOURS, PAIR_ALPHA, read_planted
    from matplotlib.colors import to_rgba

    root, _, _ = results
    ranking = read_ranking(root / "ranking" / "runs.tsv")
    # planted order fau_func > egemaps_func > boaw_egemaps > mfcc (noise); not the measured one
    truth = _planted_truth(tmp_path / "truth.json", ["fau_func", "egemaps_func", "boaw_egemaps", "mfcc"])
    planted = read_planted(tmp_path / "truth.json")
    assert planted["fau_func"]["mean"] == pytest.approx(np.mean(list(truth["fau_func"].values())))
    fig = runs_overview_figure(ranking, generated=True, planted=planted, spearman=0.5)
    try:
        first = fig.axes[0]
        for ax in fig.axes[1:]:
            assert first.get_shared_x_axes().joined(first, ax) and first.get_shared_y_axes().joined(first, ax)
        rows = sorted(ranking, key=lambda r: -r["rank"])
        want = {"fau_func": to_rgba(MODALITY_COLOURS["visual"]),  # modality from the feature-set registry
                "egemaps_func": to_rgba(MODALITY_COLOURS["audio"]), "mfcc": to_rgba(MODALITY_COLOURS["audio"]),
                "boaw_egemaps+egemaps_func": to_rgba(MODALITY_COLOURS["audio"], PAIR_ALPHA),
                "boaw_egemaps+fau_func": to_rgba(MODALITY_COLOURS["audiovisual"]),
                "egemaps_func+fau_func": to_rgba(MODALITY_COLOURS["audiovisual"])}
        for ax in fig.axes:
            for r, patch in zip(rows, ax.patches, strict=True):
                assert patch.get_gid().endswith(r["run"])
                if r["run"] in want:
                    assert patch.get_facecolor() == pytest.approx(want[r["run"]]), r["run"]
                assert (patch.get_linewidth() > 0 and patch.get_edgecolor()[3] > 0) == r["selected"]
        ticks = {t.get_text().split(". ", 1)[1].split(" [")[0]: t.get_text() for t in first.get_yticklabels()}
        assert ticks["fau_func"].endswith("[planted #1]") and ticks["boaw_egemaps"].endswith("[planted #3]")
        assert ticks["mfcc"].endswith("[noise]") and "[" not in ticks["boaw_egemaps+fau_func"]
        for ax, c in zip(fig.axes, COLUMNS, strict=True):
            marks = {ln.get_gid(): ln for ln in ax.get_lines() if (ln.get_gid() or "").startswith("planted-")}
            assert set(marks) == {f"planted-{c}-{k}" for k in truth}  # unimodal sets only
            i = [r["run"] for r in rows].index("egemaps_func")
            m = marks[f"planted-{c}-egemaps_func"]
            assert list(m.get_xdata()) == [pytest.approx(planted["egemaps_func"][c])] and list(m.get_ydata()) == [i]
        title = fig._suptitle.get_text()
        assert "Generated data" in title and "Spearman" in title and "0.50" in title
        legend = [t.get_text() for t in fig.legends[0].get_texts()]
        assert legend[:4] == ["audio", "audio pair", "visual", "audio+visual pair"]
        assert "planted ceiling (truth.json informativeness)" in legend
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)
    png, svg = tmp_path / "ro.png", tmp_path / "ro.svg"
    write_runs_overview(root / "ranking" / "runs.tsv", png, svg, generated=True, truth_json=tmp_path / "truth.json")
    ids, text = svg_gids_and_text(svg)
    assert {f"planted-mean-{k}" for k in truth} <= ids and "planted #1" in text and "Spearman" in text
    (tmp_path / "bad.json").write_text(json.dumps({"informativeness": {"fau": {"arousal": "x"}}}))
    with pytest.raises(DataError, match=r"bad\.json.*informativeness\.fau"):
        read_planted(tmp_path / "bad.json")


def test_run_modality_comes_from_the_feature_set_registry():
    from emofusion.data.feature_sets import FEATURE_SETS, modality_of
    from emofusion.results.figures_runs import run_modality
    from emofusion.training.trainer import modality_of as trainer_modality

    assert {run_modality(k) for k in FEATURE_SETS} == {"audio", "visual"}
    assert all(run_modality(k) == fs.modality for k, fs in FEATURE_SETS.items())
    assert run_modality("egemaps_func+fau_func") == "audiovisual" == trainer_modality(["egemaps_func", "fau_func"])
    assert run_modality("boaw_egemaps+mfcc") == "audio" and modality_of(["nope"]) == "unknown"


# ------------------------------------------------------------------------------------------ workflow


def test_ablation_and_search_targets_plan_their_runs(tmp_path):
    """Dry-run of the two extra targets: one training job per loss mode and per search draw."""
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    config["ablation"]["modes"] = ["stl_arousal", "mtl1", "mtl2"]
    config["search"]["n"] = 4
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
           "ablation", "search", "--configfile", str(tmp_path / "config.yaml"), "-n", "--quiet", "rules"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", proc.stdout, re.M))
    assert counts["ablation_train"] == "3" and counts["search_train"] == "4"
    assert counts["table2"] == "1" and counts["weight_search_table"] == "1"
    assert counts["cache_features"] == "1"  # only the ablation/search set is cached


def _report_outputs(workdir: Path) -> list[tuple[str, str, object]]:
    """(rule, output, ReportObject) of every output the workflow marks for `snakemake --report`, read
    from the parsed workflow (Snakemake's API; ``_workflow`` is where it keeps the rules)."""
    from snakemake.api import SnakemakeApi
    from snakemake.io import get_flag_value, is_flagged
    from snakemake.settings.types import ConfigSettings, OutputSettings, ResourceSettings

    (workdir / "config.yaml").write_text((REPO / "config.yaml").read_text())
    with SnakemakeApi(OutputSettings()) as api:
        wf = api.workflow(resource_settings=ResourceSettings(), config_settings=ConfigSettings(),
                          snakefile=REPO / "Snakefile", workdir=workdir)
        return [(r.name, str(o), get_flag_value(o, "report")) for r in wf._workflow.rules for o in r.output
                if is_flagged(o, "report")]


def test_report_entries_are_labelled_and_in_reading_order(tmp_path):
    from emofusion.results.report_items import REPORT_ITEMS

    cwd = os.getcwd()
    try:
        outs = _report_outputs(tmp_path)
    finally:
        os.chdir(cwd)  # the API changes into the workdir
    keys = [Path(o).stem for _, o, _ in outs]
    assert sorted(keys) == sorted(REPORT_ITEMS)  # every report entry is listed, once
    for (_, out, flag), key in zip(outs, keys, strict=True):
        category, no, item, shows = REPORT_ITEMS[key]
        assert flag.category == category and flag.labels == {"#": no, "item": item, "shows": shows}, out
        assert Path(flag.caption).is_file() and Path(flag.caption).suffix == ".rst", out  # a caption each
        assert no.split(".")[0] == category.split(".")[0]
    # Snakemake's report lists categories by name and a category's entries by their first label
    shown = sorted(keys, key=lambda k: (REPORT_ITEMS[k][0], REPORT_ITEMS[k][1]))
    assert shown == list(REPORT_ITEMS)
    assert shown[:2] == ["table3", "fig3"]
    assert [REPORT_ITEMS[k][2] for k in shown[:2]] == ["Table 3", "Fig. 3"]


def test_fusion_choice_reads_the_fusion_selection_layouts():
    from emofusion.results.scores import fusion_choice

    one = {t: {"k": 15, "C": 0.01} for t in TARGETS}
    assert fusion_choice({"selected": one, "protocol": "in-sample", "stage": 2}) == (
        "chosen: arousal k=15 C=0.01, valence k=15 C=0.01, liking k=15 C=0.01")
    cv = fusion_choice({"selected": {"outer_folds": [one, {t: {"k": 3, "C": 1.0} for t in TARGETS}], "test": one}})
    assert cv.startswith("chosen per outer fold -- fold 1: arousal k=15") and "fold 2: arousal k=3 C=1" in cv
    assert cv.endswith("test model: arousal k=15 C=0.01, valence k=15 C=0.01, liking k=15 C=0.01")
    assert fusion_choice({"selected": {"outer_folds": [{"x": 1}]}, "k": 5}) == "k=5"  # unknown layout: generic


def test_default_target_writes_table3_fig3_and_the_runs_overview(tmp_path):
    config = yaml.safe_load((REPO / "config.yaml").read_text())
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    cmd = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
           "--configfile", str(tmp_path / "config.yaml"), "-n"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", proc.stdout, re.M))
    figures = ("fig3", "runs_overview", "learning_curves", "fusion_correlation", "traces", "de_vs_hu")
    assert all(counts[r] == "1" for r in ("table3", "comparisons", "report_tables", *figures))
    outs = [f"results/tables/{t}.{e}" for t in ("table3", "comparisons") for e in ("md", "tsv", "html")]
    outs += [f"results/tables/{t}.html" for t in ("ranking_unimodal", "ranking_runs", "fusion_summary")]
    outs += [f"results/figures/{f}.{e}" for f in figures for e in ("png", "svg")]  # >= 5 figures
    for out in outs:
        assert out in proc.stdout


# ------------------------------------------------------------------------------------------ intervals and
# the figures read from prediction folders


@pytest.fixture
def predicted(tmp_path):
    """A results/ tree whose scores files are the scores of its prediction folders: labels.npz (dev
    and test labels, 3 DE + 3 HU recordings each), 4 runs, and fusion stages whose noise shrinks with
    the stage (in-sample) or is smallest at stage 2 (grouped-cv)."""
    from emofusion.data.cache import LabelCache, offsets_of, save_label_cache
    from emofusion.data.layout import write_prediction_dir
    from emofusion.results.metrics import score_recordings

    rng = np.random.default_rng(5)
    root = tmp_path / "results"

    def part(prefix):
        names = [f"{prefix}_{c}_{i:02d}" for c in ("DE", "HU") for i in (1, 2, 3)]
        ys = [np.cumsum(rng.normal(scale=0.1, size=(int(rng.integers(40, 70)), 3)), axis=0) for _ in names]
        lengths = np.array([len(y) for y in ys])
        return LabelCache(names, lengths, offsets_of(lengths), np.concatenate(ys)), dict(zip(names, ys, strict=True))

    dev_cache, dev = part("Devel")
    test_cache, test = part("Test")
    dev_cache.test = test_cache
    save_label_cache(root / "features" / "labels.npz", dev_cache)

    def system(folder: Path, noise: float) -> dict:
        preds = {n: y + rng.normal(scale=noise, size=y.shape) for n, y in {**dev, **test}.items()}
        preds = {n: np.vstack([p, np.zeros((3, 3))]) for n, p in preds.items()}  # longer than labels
        write_prediction_dir(folder / "predictions", preds)
        s = {"devel": score_recordings(dev, preds), "test": score_recordings(test, preds)}
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "scores.json").write_text(json.dumps(s))
        return s

    runs = {"fau_func": 0.3, "egemaps_func": 0.5, "mfcc": 2.0, "egemaps_func+fau_func": 0.25}
    run_scores = {r: system(root / "runs" / r, noise) for r, noise in runs.items()}
    for r in runs:
        (root / "runs" / r / "seed0").mkdir(parents=True)
        hist = [{"epoch": e, "train_loss": 2.0 / e, **{f"dev_ccc_{c}": 0.1 * e for c in COLUMNS}, "seconds": 0.1}
                for e in (1, 2, 3)]
        (root / "runs" / r / "seed0" / "history.json").write_text(json.dumps({"run_name": r, "epochs": hist}))
    rank_runs({r: root / "runs" / r / "scores.json" for r in runs}, 3, root / "ranking" / "runs.tsv")
    noise = {"in-sample": {1: 0.2, 2: 0.15, 3: 0.1}, "grouped-cv": {1: 0.2, 2: 0.12, 3: 0.3}}
    fusion = {p: {n: system(root / "fusion" / p / f"stage{n}", noise[p][n]) for n in STAGES} for p in PROTOCOLS}
    return root, run_scores, fusion, dev


def test_table3_carries_bootstrap_intervals(tmp_path, predicted):
    root, _, fusion, _ = predicted
    md, tsv = tmp_path / "table3.md", tmp_path / "table3.tsv"
    write_table3(root / "ranking" / "runs.tsv", root / "runs", root / "fusion", PROTOCOLS, STAGES, md, tsv,
                 generated=True, labels_npz=root / "features" / "labels.npz")
    rows = read_tsv(tsv)
    for r in rows[1:]:
        for pre in ("dev", "test"):
            for c in COLUMNS:
                lo, x, hi = (float(r[f"{pre}_{c}{s}"]) for s in ("_lo", "", "_hi"))
                assert lo <= hi and lo - 0.05 <= x <= hi + 0.05, (r["method"], pre, c)
    # grouped-cv's multistage row: the configured last stage, although stage 2 scores best on dev
    gcv = next(r for r in rows if r["method"] == "multistage" and r["protocol"] == "grouped-cv")
    assert max(STAGES, key=lambda n: fusion["grouped-cv"][n]["devel"]["DE+HU"]["mean"]) == 2
    assert gcv["source"].endswith("grouped-cv/stage3/scores.json") and "configured last stage" in gcv["choice"]
    text = md.read_text()
    assert "recording-level bootstrap" in text and re.search(r"\d\.\d{3} \[-?\d\.\d\d, -?\d\.\d\d\]", text)


def test_comparisons_file(tmp_path, predicted):
    from emofusion.results.tables import write_comparisons

    root, run_scores, fusion, _ = predicted
    md, tsv, html = tmp_path / "comparisons.md", tmp_path / "comparisons.tsv", tmp_path / "comparisons.html"
    comps = write_comparisons(root / "ranking" / "runs.tsv", root / "runs", root / "fusion",
                              root / "features" / "labels.npz", PROTOCOLS, STAGES, md, tsv, generated=True,
                              out_html=html)
    names = [c["comparison"] for c in comps]
    assert names[:2] == ["in-sample: stage 2 vs stage 1", "in-sample: stage 3 vs stage 1"]
    assert any(n.startswith("grouped-cv: multistage (stage 3") and "egemaps_func+fau_func" in n for n in names)
    assert "stage 3: grouped-cv vs in-sample" in names and len(names) == 2 * 2 + 2 + 3
    rows = read_tsv(tsv)
    assert len(rows) == len(names) * 2 * 3 * 4  # splits x groups x targets
    r = next(r for r in rows if r["comparison"] == "in-sample: stage 3 vs stage 1" and r["split"] == "devel"
             and r["group"] == "DE+HU" and r["target"] == "mean")
    want = fusion["in-sample"][3]["devel"]["DE+HU"]["mean"] - fusion["in-sample"][1]["devel"]["DE+HU"]["mean"]
    assert float(r["diff"]) == pytest.approx(want, abs=1e-5) and 0.0 <= float(r["p_gt0"]) <= 1.0
    assert float(r["lo"]) <= float(r["diff"]) <= float(r["hi"])
    assert len(html_table_rows(html)) == 1 + len(names) * 2
    assert "P>0" in md.read_text()


def test_fig3_bands_are_the_bootstrap_intervals(tmp_path, predicted):
    from emofusion.results.bootstrap import Scorer

    root, _, _, _ = predicted
    scorer = Scorer(root / "features" / "labels.npz")
    series = fig3_series(root / "fusion", PROTOCOLS, STAGES, scorer)
    iv = scorer.intervals(root / "fusion" / "grouped-cv" / "stage2" / "predictions")
    s = next(s for s in series if s["protocol"] == "grouped-cv" and s["split"] == "test")
    assert s["lo"]["valence"][1] == iv["test"]["DE+HU"]["valence"]["lo"]
    png, svg = tmp_path / "fig3.png", tmp_path / "fig3.svg"
    write_fig3(root / "fusion", PROTOCOLS, STAGES, png, svg, generated=True, labels_npz=root / "features" / "labels.npz")
    ids, text = svg_gids_and_text(svg)
    assert {f"fig3-band-{t}-{p}-{sp}" for t in TARGETS for p in PROTOCOLS for sp in ("devel", "test")} <= ids
    assert "recording-bootstrap intervals" in text


def test_learning_curves_correlation_traces_and_cultures(tmp_path, predicted):
    from emofusion.results.bootstrap import Scorer
    from emofusion.results.figures_fusion import (
        fused_runs_correlation,
        write_correlation,
        write_cultures,
        write_traces,
    )
    from emofusion.results.figures_runs import write_learning_curves

    root, run_scores, _, dev = predicted
    ranking_tsv, labels = root / "ranking" / "runs.tsv", root / "features" / "labels.npz"
    hist = sorted((root / "runs").glob("*/seed0/history.json"))
    out = tmp_path / "fig"
    write_learning_curves(ranking_tsv, hist, out / "lc.png", out / "lc.svg", generated=True)
    ids, text = svg_gids_and_text(out / "lc.svg")
    assert {f"curve-{k}-{r}" for k in ("train_loss", "dev_ccc_mean") for r in run_scores} <= ids
    assert "epoch" in text

    corr = fused_runs_correlation(read_ranking(ranking_tsv), root / "runs", Scorer(labels))
    selected = [r["run"] for r in read_ranking(ranking_tsv) if r["selected"]]
    assert corr["names"] == [*selected, "gold"]
    order = sorted(dev)
    gold = np.concatenate([dev[n][:, 1] for n in order])
    from emofusion.data.layout import read_prediction_dir

    p0 = read_prediction_dir(root / "runs" / selected[0] / "predictions", {n: len(dev[n]) for n in order})
    x0 = np.concatenate([p0[n][:, 1] for n in order])
    assert corr["valence"][0, -1] == pytest.approx(np.corrcoef(x0, gold)[0, 1])
    write_correlation(ranking_tsv, root / "runs", labels, out / "c.png", out / "c.svg", generated=True)
    ids, text = svg_gids_and_text(out / "c.svg")
    assert {f"corr-{t}" for t in TARGETS} <= ids and "gold" in text

    recs = write_traces(ranking_tsv, root / "runs", root / "fusion", labels, PROTOCOLS, STAGES, out / "t.png",
                        out / "t.svg", generated=True)
    assert recs == ["Devel_DE_01", "Devel_HU_01"]
    ids, text = svg_gids_and_text(out / "t.svg")
    assert "trace-Devel_HU_01-liking-grouped-cv stage 3" in ids and "best single run (egemaps_func+fau_func)" in text

    ivals = write_cultures(ranking_tsv, root / "runs", root / "fusion", labels, PROTOCOLS, STAGES, out / "d.png",
                           out / "d.svg", generated=True)
    assert [label for label, _ in ivals][:2] == ["unimodal: fau_func", "bimodal: egemaps_func+fau_func"]
    assert ivals[0][1]["HU"]["mean"]["ccc"] == pytest.approx(run_scores["fau_func"]["devel"]["HU"]["mean"])
    ids, _ = svg_gids_and_text(out / "d.svg")
    assert "culture-mean-DE-unimodal: fau_func" in ids
    for name in ("lc", "c", "t", "d"):
        assert png_size(out / f"{name}.png")[0] > 600


def test_learning_curves_label_the_selected_runs_and_share_the_ccc_axis(predicted):
    from emofusion.results.figures_runs import learning_curves_figure, read_history
    from matplotlib.colors import to_rgba

    root, _, _, _ = predicted
    ranking = read_ranking(root / "ranking" / "runs.tsv")
    histories = {r: read_history(root / "runs" / r / "seed0" / "history.json") for r in
                 sorted(p.parent.parent.name for p in (root / "runs").glob("*/seed0/history.json"))}
    selected = [r for r in ranking if r["selected"]]
    histories[f"{selected[0]['run']} (seed1)"] = histories[selected[0]["run"]]  # a second seed of rank 1
    fig = learning_curves_figure(histories, ranking, generated=True)
    try:
        panels = {ax.get_title(): ax for ax in fig.axes if ax.get_title()}
        loss, mean = panels["train loss (weighted 1 - CCC)"], panels["dev CCC, mean"]
        for t in TARGETS:
            assert mean.get_shared_y_axes().joined(mean, panels[f"dev CCC, {t}"])
        assert not mean.get_shared_y_axes().joined(mean, loss)  # the loss has its own scale
        legend = next(ax.get_legend() for ax in fig.axes if ax.get_legend() is not None)
        texts = [t.get_text() for t in legend.get_texts()]
        n_grey = len(histories) - len(selected) - 1
        assert texts == [f"{r['rank']}. {r['run']}" for r in selected] + [f"not selected ({n_grey})"]
        lines = {ln.get_gid(): ln for ln in mean.get_lines()}
        colours = {r["run"]: to_rgba(lines[f"curve-dev_ccc_mean-{r['run']}"].get_color()) for r in selected}
        assert len(set(colours.values())) == len(selected)  # each selected run its own colour
        for r in ranking:
            c = to_rgba(lines[f"curve-dev_ccc_mean-{r['run']}"].get_color())
            assert (c == to_rgba("0.78")) != r["selected"], r["run"]
            assert lines[f"curve-dev_ccc_mean-{r['run']}"].get_linestyle() == ("--" if r["kind"] == "bimodal"
                                                                                and r["selected"] else "-")
        seed1 = lines[f"curve-dev_ccc_mean-{selected[0]['run']} (seed1)"]  # a further seed: its run's colour
        assert to_rgba(seed1.get_color()) == colours[selected[0]["run"]]
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_de_vs_hu_panels_share_both_axes(tmp_path, predicted):
    from emofusion.results.bootstrap import Scorer
    from emofusion.results.figures_fusion import culture_systems, cultures_figure

    root, _, _, _ = predicted
    scorer = Scorer(root / "features" / "labels.npz")
    systems = culture_systems(read_ranking(root / "ranking" / "runs.tsv"), root / "runs", root / "fusion",
                              PROTOCOLS, STAGES)
    ivals = [(label, scorer.intervals(folder)["devel"]) for label, folder in systems]
    fig = cultures_figure(ivals, ["DE", "HU"], generated=True)
    try:
        first = fig.axes[0]
        assert len(fig.axes) == 4
        for ax in fig.axes[1:]:
            assert first.get_shared_x_axes().joined(first, ax) and first.get_shared_y_axes().joined(first, ax)
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)


def test_history_and_ranking_html_errors_name_the_file(tmp_path):
    from emofusion.results.figures_runs import read_history
    from emofusion.results.markdown import tsv_to_html

    bad = tmp_path / "history.json"
    bad.write_text(json.dumps({"epochs": [{"epoch": 1, "train_loss": "x"}]}))
    with pytest.raises(DataError, match=r"history.json: key 'epochs\[0\].train_loss'"):
        read_history(bad)
    with pytest.raises(DataError, match="missing.tsv: cannot read"):
        tsv_to_html(tmp_path / "missing.tsv", "t", "n", tmp_path / "o.html")


def test_results_block_quotes_the_run_files_and_replaces_the_readme_block(tmp_path, predicted):
    from emofusion.cli import main
    from emofusion.results.readme_block import README_END, README_START
    from emofusion.results.tables import write_comparisons

    root, _, _, _ = predicted
    args = (root / "ranking" / "runs.tsv", root / "runs", root / "fusion")
    labels = root / "features" / "labels.npz"
    write_table3(*args, PROTOCOLS, STAGES, root / "tables" / "table3.md", root / "tables" / "table3.tsv",
                 generated=True, labels_npz=labels)
    write_comparisons(*args, labels, PROTOCOLS, STAGES, root / "tables" / "comparisons.md",
                      root / "tables" / "comparisons.tsv", generated=True)
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n\n{README_START}\nold numbers 0.999\n{README_END}\n\nafter\n")
    assert main(["results-block", "--results", str(root), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert text.startswith("# x\n\nbefore\n\n" + README_START) and text.endswith(README_END + "\n\nafter\n")
    assert "0.999" not in text and "**Table 3: best per method" in text and "**Paired comparisons" in text
    table3_row = next(ln for ln in (root / "tables" / "table3.md").read_text().splitlines() if ln.startswith("| Unimodal"))
    assert table3_row in text  # quoted, not recomputed
    bad = tmp_path / "NO_MARKERS.md"
    bad.write_text("nothing\n")
    assert main(["results-block", "--results", str(root), "--readme", str(bad)]) == 2
