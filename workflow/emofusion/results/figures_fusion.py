"""Figures of the fusion: Fig. 3 (CCC vs number of fusion stages), how alike the fused runs are
(correlation of their dev predictions), predicted-vs-gold traces, and DE vs HU (dev CCC per culture
of Table 3's systems). Every value drawn comes from the fusion stages' and runs' scores files or
prediction folders; intervals from :class:`emofusion.results.bootstrap.Scorer`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import SCORE_COLUMNS, TARGETS
from ..formats import read_ranking
from .bootstrap import BOOTSTRAP, Scorer
from .labels import CORPUS_NOTE, PROTOCOL_LABELS
from .plotting import pyplot, save_and_close
from .scores import (
    best_single_run,
    dev_scores,
    fusion_stage_scores,
    held_out_scores,
    multistage_stage,
    pooled,
)


def fig3_series(fusion_root: str | Path, protocols: Sequence[str], stages: Sequence[int],
                scorer: Scorer | None = None) -> list[dict]:
    """The series of Fig. 3: for each protocol and split (devel; test where known), the CCC per
    target over the stages. ``[{"protocol", "split", "label", "stages", "values": {target: [...]}}]``;
    with a :class:`Scorer`, also ``"lo"``/``"hi"`` (same shape): the bootstrap interval per stage."""
    fused = fusion_stage_scores(fusion_root, protocols, stages)
    series = []
    for split in ("devel", "test"):
        for p in protocols:
            ns = sorted(fused[p])
            if split == "test" and any("test" not in fused[p][n] for n in ns):
                continue
            get = dev_scores if split == "devel" else held_out_scores
            vals = {t: [get(fused[p][n])[t] for n in ns] for t in (*TARGETS, "mean")}
            label = f"{PROTOCOL_LABELS[p] if split == 'devel' else p} {'dev' if split == 'devel' else 'test'}"
            row = {"protocol": p, "split": split, "label": label, "stages": ns, "values": vals}
            if scorer is not None and split in scorer.splits:
                iv = [pooled(scorer.intervals(Path(fusion_root) / p / f"stage{n}" / "predictions")[split])
                      for n in ns]
                row["lo"] = {t: [i[t]["lo"] for i in iv] for t in SCORE_COLUMNS}
                row["hi"] = {t: [i[t]["hi"] for i in iv] for t in SCORE_COLUMNS}
            series.append(row)
    return series


def fig3_figure(series: Sequence[dict], *, generated: bool, best: Mapping | None = None):
    """Fig. 3: one panel per target and one for their mean (Table 3's mean column), CCC vs
    number of stages on one shared CCC axis, one line per protocol and split, with the bootstrap
    interval as a band where the series has one. ``best`` (a ranking row: ``run`` and the dev CCC
    per column) adds a horizontal line: the best single run's dev CCC, what fusion must beat."""
    plt = pyplot()
    colours = {"in-sample": "tab:blue", "grouped-cv": "tab:orange"}
    fig, axes = plt.subplots(1, len(SCORE_COLUMNS), figsize=(15, 4.6), sharex=True, sharey=True)
    banded = any("lo" in s for s in series)
    for ax, target in zip(axes, SCORE_COLUMNS, strict=True):
        for s in series:
            colour = colours.get(s["protocol"], "tab:gray")
            (line,) = ax.plot(s["stages"], s["values"][target], marker="o" if s["split"] == "devel" else "s",
                              linestyle="-" if s["split"] == "devel" else "--", color=colour, label=s["label"])
            line.set_gid(f"fig3-{target}-{s['protocol']}-{s['split']}")
            if "lo" in s:
                band = ax.fill_between(s["stages"], s["lo"][target], s["hi"][target], color=colour,
                                       alpha=0.15 if s["split"] == "devel" else 0.08, linewidth=0,
                                       hatch=None if s["split"] == "devel" else "//")
                band.set_gid(f"fig3-band-{target}-{s['protocol']}-{s['split']}")
        if best is not None:
            ref = ax.axhline(best[target], color="tab:green", linewidth=1.2, linestyle="-.",
                             label=f"best single run, dev ({best['run']})")
            ref.set_gid(f"fig3-best-{target}")
        ax.set_title("Mean of the three (as in Table 3)" if target == "mean" else target.capitalize())
        ax.set_xlabel("number of fusion stages")
        ax.set_xticks(series[0]["stages"] if series else [])
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("CCC (DE+HU)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=max(1, min(len(labels), 5)), frameon=False,
               bbox_to_anchor=(0.5, -0.02))
    note = (f"bands: {100 * BOOTSTRAP['level']:g} % recording-bootstrap intervals; " if banded else "")
    fig.suptitle("Fig. 3 (reproduced): CCC vs number of multistage SVR fusion stages\n"
                 f"({note}{CORPUS_NOTE[generated]})", fontsize=11)
    fig.tight_layout(rect=(0, 0.08 if len(labels) <= 5 else 0.12, 1, 1))
    return fig


def write_fig3(fusion_root: str | Path, protocols: Sequence[str], stages: Sequence[int], out_png: str | Path,
               out_svg: str | Path, *, generated: bool, labels_npz: str | Path | None = None,
               ranking_tsv: str | Path | None = None) -> list[dict]:
    """``fig3.png`` and ``fig3.svg`` from the fusion stages' scores files (bands from their
    prediction folders when ``labels_npz`` is given; the best single run's line from the ranking when
    ``ranking_tsv`` is given); returns the series."""
    scorer = Scorer(labels_npz) if labels_npz is not None else None
    series = fig3_series(fusion_root, protocols, stages, scorer)
    best = best_single_run(read_ranking(ranking_tsv)) if ranking_tsv is not None else None
    fig = fig3_figure(series, generated=generated, best=best)
    save_and_close(fig, out_png, out_svg)
    print(f"read {len(protocols) * len(stages)} fusion scores files under {fusion_root}"
          + (f" and their predictions, labels {labels_npz}" if scorer else "")
          + (f"; the best single run ({best['run']}) from {ranking_tsv}" if best else "")
          + f"; wrote {out_png}, {out_svg}")
    return series


# ---------------------------------------------------------------------------------------------
# how alike the fused runs are, traces, DE vs HU


def fused_runs_correlation(ranking: Sequence[dict], runs_root: str | Path, scorer: Scorer) -> dict:
    """Pearson correlation between the fused (selected) runs' dev predictions and the gold labels,
    per target, over all dev frames: ``{"names": [...runs, "gold"], target: (k, k) array}``."""
    runs = [r["run"] for r in sorted(ranking, key=lambda r: r["rank"]) if r["selected"]]
    dev = scorer.labels["devel"]
    order = sorted(dev)
    out: dict[str, Any] = {"names": [*runs, "gold"]}
    preds = [scorer.preds(Path(runs_root) / run / "predictions", "devel") for run in runs]
    for j, t in enumerate(TARGETS):
        cols = [np.concatenate([p[n][:, j] for n in order]) for p in preds]
        cols.append(np.concatenate([dev[n][:, j] for n in order]))
        out[t] = np.corrcoef(np.vstack(cols))
    return out


def correlation_figure(corr: Mapping, *, generated: bool):
    """One heat map per target: correlations among the fused runs' dev predictions and with gold."""
    plt = pyplot()
    names = corr["names"]
    k = len(names)
    fig, axes = plt.subplots(1, len(TARGETS), figsize=(4.4 * len(TARGETS) + 2.5, 0.36 * k + 3.2),
                             layout="constrained")
    for i_ax, (ax, t) in enumerate(zip(axes, TARGETS, strict=True)):
        m = corr[t]
        im = ax.imshow(m, vmin=-1, vmax=1, cmap="RdBu_r")
        im.set_gid(f"corr-{t}")
        ax.set_xticks(range(k), names, rotation=90, fontsize=7)
        ax.set_yticks(range(k), names if i_ax == 0 else [""] * k, fontsize=7)  # the names once, on the left
        if k <= 14:
            for i in range(k):
                for j in range(k):
                    ax.text(j, i, f"{m[i, j]:.2f}", ha="center", va="center", fontsize=5.5,
                            color="white" if abs(m[i, j]) > 0.6 else "black")
        off = m[:-1, :-1][~np.eye(k - 1, dtype=bool)] if k > 2 else m[:1, 1:]
        ax.set_title(f"{t.capitalize()}: mean r between runs {off.mean():.2f}", fontsize=10)
    fig.colorbar(im, ax=axes, shrink=0.7, label="Pearson r (dev frames, DE+HU)")
    fig.suptitle("How alike are the fused runs? Correlation of their dev predictions (last row/column: gold)\n"
                 f"({CORPUS_NOTE[generated]})", fontsize=11)
    return fig


def write_correlation(ranking_tsv: str | Path, runs_root: str | Path, labels_npz: str | Path, out_png: str | Path,
                      out_svg: str | Path, *, generated: bool) -> dict:
    """``fusion_correlation.png`` / ``.svg``: :func:`fused_runs_correlation` drawn."""
    ranking = read_ranking(ranking_tsv)
    scorer = Scorer(labels_npz)
    corr = fused_runs_correlation(ranking, runs_root, scorer)
    save_and_close(correlation_figure(corr, generated=generated), out_png, out_svg)
    print(f"read {ranking_tsv}, the dev predictions of {len(corr['names']) - 1} fused runs under {runs_root}, "
          f"labels {labels_npz}; wrote {out_png}, {out_svg}")
    return corr


def trace_systems(ranking: Sequence[dict], runs_root: str | Path, fusion_root: str | Path,
                  protocols: Sequence[str], stages: Sequence[int]) -> list[tuple[str, Path, dict]]:
    """(label, prediction folder, line style) of the systems drawn in the traces: the best single run,
    fusion stage 1 and the last stage (grouped-cv, else the first protocol), and the last in-sample
    stage."""
    single = best_single_run(ranking)["run"]
    root = Path(fusion_root)
    first, last = min(stages), max(stages)
    p = "grouped-cv" if "grouped-cv" in protocols else protocols[0]
    out = [(f"best single run ({single})", Path(runs_root) / single / "predictions",
            {"color": "tab:green", "linewidth": 1.0}),
           (f"{p} stage {first}", root / p / f"stage{first}" / "predictions",
            {"color": "tab:orange", "linewidth": 1.0, "linestyle": ":"}),
           (f"{p} stage {last}", root / p / f"stage{last}" / "predictions", {"color": "tab:orange", "linewidth": 1.2})]
    if "in-sample" in protocols and p != "in-sample":
        out.append((f"in-sample stage {last} (fitted on these frames)", root / "in-sample" / f"stage{last}" / "predictions",
                    {"color": "tab:blue", "linewidth": 0.9, "linestyle": "--"}))
    return out


def trace_recordings(names: Sequence[str], per_culture: int = 1) -> list[str]:
    """The first ``per_culture`` dev recordings of each culture (sorted names)."""
    from .metrics import culture_of

    out = []
    for c in sorted({culture_of(n) for n in names}):
        out += [n for n in sorted(names) if culture_of(n) == c][:per_culture]
    return out


def traces_figure(labels: Mapping, systems: Sequence[tuple[str, Mapping, dict]], recordings: Sequence[str], *,
                  generated: bool):
    """Predicted vs gold over time: one row per recording, one column per target."""
    plt = pyplot()
    fig, axes = plt.subplots(len(recordings), len(TARGETS), figsize=(5 * len(TARGETS), 2.6 * len(recordings)),
                             squeeze=False)
    for i, name in enumerate(recordings):
        y = labels[name]
        tt = np.arange(len(y)) * 0.1
        for j, t in enumerate(TARGETS):
            ax = axes[i, j]
            ax.plot(tt, y[:, j], color="black", linewidth=1.6, label="gold")
            for label, preds, style in systems:
                (line,) = ax.plot(tt, preds[name][: len(y), j], label=label, **style)
                line.set_gid(f"trace-{name}-{t}-{label.split(' (')[0]}")
            ax.set_title(f"{name}: {t}", fontsize=9)
            ax.grid(True, alpha=0.3)
            if i == len(recordings) - 1:
                ax.set_xlabel("time (s)")
    handles, lbls = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, lbls, loc="lower center", ncol=len(lbls), frameon=False, bbox_to_anchor=(0.5, -0.01),
               fontsize=8)
    fig.suptitle(f"Predicted vs gold on dev recordings ({CORPUS_NOTE[generated]})", fontsize=11)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def write_traces(ranking_tsv: str | Path, runs_root: str | Path, fusion_root: str | Path, labels_npz: str | Path,
                 protocols: Sequence[str], stages: Sequence[int], out_png: str | Path, out_svg: str | Path, *,
                 generated: bool) -> list[str]:
    """``traces.png`` / ``.svg``: one DE and one HU dev recording (:func:`trace_recordings`), gold vs
    :func:`trace_systems`. Returns the recordings drawn."""
    ranking = read_ranking(ranking_tsv)
    scorer = Scorer(labels_npz)
    systems = trace_systems(ranking, runs_root, fusion_root, protocols, stages)
    recs = trace_recordings(list(scorer.labels["devel"]))
    drawn = [(label, scorer.preds(folder, "devel"), style) for label, folder, style in systems]
    save_and_close(traces_figure(scorer.labels["devel"], drawn, recs, generated=generated), out_png, out_svg)
    print(f"read {ranking_tsv}, labels {labels_npz} and the dev predictions of "
          + ", ".join(str(f) for _, f, _ in systems) + f"; drew {', '.join(recs)}; wrote {out_png}, {out_svg}")
    return recs


def culture_systems(ranking: Sequence[dict], runs_root: str | Path, fusion_root: str | Path,
                    protocols: Sequence[str], stages: Sequence[int]) -> list[tuple[str, Path]]:
    """The systems of the DE-vs-HU figure, as Table 3 picks them (best unimodal, best bimodal,
    fusion stage 1 and the multistage stage per protocol): (label, prediction folder)."""
    out = []
    for kind in ("unimodal", "bimodal"):
        best = [r for r in sorted(ranking, key=lambda r: r["rank"]) if r["kind"] == kind]
        if best:
            out.append((f"{kind}: {best[0]['run']}", Path(runs_root) / best[0]["run"] / "predictions"))
    fused = fusion_stage_scores(fusion_root, protocols, stages)
    for p in protocols:
        first = min(fused[p])
        n, _ = multistage_stage(p, fused[p])
        out.append((f"{p} stage {first}", Path(fusion_root) / p / f"stage{first}" / "predictions"))
        if n != first:
            out.append((f"{p} stage {n}", Path(fusion_root) / p / f"stage{n}" / "predictions"))
    return out


def cultures_figure(intervals: Sequence[tuple[str, Mapping]], cultures: Sequence[str], *, generated: bool):
    """Grouped bars: dev CCC per culture for each system, with bootstrap intervals; one panel per
    target and the mean, all on one shared CCC axis."""
    plt = pyplot()
    colours = dict(zip(cultures, ("tab:red", "tab:cyan", "tab:olive"), strict=False))
    k = len(intervals)
    width = 0.8 / max(1, len(cultures))
    fig, axes = plt.subplots(1, len(SCORE_COLUMNS), figsize=(4.3 * len(SCORE_COLUMNS), 0.3 * k + 3.4),
                             sharex=True, sharey=True)
    for ax, t in zip(axes, SCORE_COLUMNS, strict=True):
        for ci, c in enumerate(cultures):
            ys = np.arange(k) + (ci - (len(cultures) - 1) / 2) * width
            vals = [iv[c][t] for _, iv in intervals]
            x = np.array([v["ccc"] for v in vals])
            err = np.array([[v["ccc"] - v["lo"] for v in vals], [v["hi"] - v["ccc"] for v in vals]])
            bars = ax.barh(ys, x, height=width, color=colours[c], label=c, xerr=err,
                           error_kw={"elinewidth": 0.8, "capsize": 2})
            for bar, (label, _) in zip(bars, intervals, strict=True):
                bar.set_gid(f"culture-{t}-{c}-{label}")
        ax.set_title(t.capitalize())
        ax.set_xlabel("dev CCC")
        ax.axvline(0, color="black", linewidth=0.6)
        ax.grid(True, axis="x", alpha=0.3)
    axes[0].set_yticks(range(k), [label for label, _ in intervals], fontsize=8)
    axes[0].invert_yaxis()
    handles, lbls = axes[0].get_legend_handles_labels()
    fig.legend(handles, lbls, loc="lower center", ncol=len(lbls), frameon=False, bbox_to_anchor=(0.5, -0.01))
    fig.suptitle(f"DE vs HU: dev CCC per culture, {100 * BOOTSTRAP['level']:g} % recording-bootstrap intervals "
                 f"({CORPUS_NOTE[generated]})", fontsize=11)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def write_cultures(ranking_tsv: str | Path, runs_root: str | Path, fusion_root: str | Path, labels_npz: str | Path,
                   protocols: Sequence[str], stages: Sequence[int], out_png: str | Path, out_svg: str | Path, *,
                   generated: bool) -> list[tuple[str, dict]]:
    """``de_vs_hu.png`` / ``.svg`` (:func:`cultures_figure` of :func:`culture_systems`)."""
    ranking = read_ranking(ranking_tsv)
    scorer = Scorer(labels_npz)
    systems = culture_systems(ranking, runs_root, fusion_root, protocols, stages)
    ivals = [(label, scorer.intervals(folder)["devel"]) for label, folder in systems]
    cultures = [g for g in ivals[0][1] if "+" not in g] or list(ivals[0][1])
    save_and_close(cultures_figure(ivals, cultures, generated=generated), out_png, out_svg)
    print(f"read {ranking_tsv}, labels {labels_npz} and the dev predictions of "
          + ", ".join(str(f) for _, f in systems) + f"; wrote {out_png}, {out_svg}")
    return ivals
