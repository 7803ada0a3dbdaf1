"""Figures of the runs: the runs overview (every run's dev CCC, coloured by modality, the runs
selected for fusion marked, and on generated data the planted ceiling of each set) and the learning
curves (train loss and dev CCC per epoch from each run's ``history.json``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from .. import SCORE_COLUMNS, TARGETS
from ..errors import DataError
from ..formats import read_json, read_ranking
from .labels import CORPUS_NOTE
from .plotting import pyplot, save_and_close

#: Colours of a run's modality (from the feature-set registry, emofusion.data.feature_sets.modality_of);
#: bimodal pairs of one modality in the lighter shade of it.
MODALITY_COLOURS = {"audio": "tab:blue", "visual": "tab:orange", "audiovisual": "tab:purple", "unknown": "tab:gray"}
MODALITY_LABELS = {"audio": "audio", "visual": "visual", "audiovisual": "audio+visual", "unknown": "other"}
PAIR_ALPHA = 0.5  # a pair of one modality: its colour, lighter


def run_modality(run: str) -> str:
    """``audio``, ``visual``, ``audiovisual`` or ``unknown`` of a run name (its sets joined by '+')."""
    from ..data.feature_sets import modality_of

    return modality_of(run.split("+"))


def modality_style(run: str) -> tuple[str, str, float]:
    """(legend key, colour, alpha) of a run in the runs overview: its modality, and whether it is a
    bimodal pair of one modality (lighter) or a single set."""
    mod = run_modality(run)
    pair = "+" in run
    if mod == "audiovisual":
        return "audio+visual pair", MODALITY_COLOURS[mod], 1.0
    label = MODALITY_LABELS[mod] + (" pair" if pair else "")
    return label, MODALITY_COLOURS[mod], PAIR_ALPHA if pair else 1.0


def read_planted(truth_json: str | Path) -> dict[str, dict[str, float]]:
    """The planted informativeness per set of a generated corpus' ``truth.json``, per target and
    their mean (``{set: {"arousal", "valence", "liking", "mean"}}``): the correlation of the set's
    planted component with each target, a ceiling for any model of that set alone."""
    truth_json = Path(truth_json)
    data = read_json(truth_json, "truth")
    info = data.get("informativeness") if isinstance(data, dict) else None
    if not isinstance(info, dict):
        raise DataError(truth_json, "key 'informativeness': expected a mapping of feature sets")
    out = {}
    for k, row in info.items():
        if not isinstance(row, dict) or not all(isinstance(row.get(t), int | float) for t in TARGETS):
            raise DataError(truth_json, f"key 'informativeness.{k}': expected a number per target")
        out[k] = {t: float(row[t]) for t in TARGETS}
        out[k]["mean"] = float(np.mean([out[k][t] for t in TARGETS]))
    return out


def runs_overview_figure(ranking: Sequence[dict], *, generated: bool, planted: Mapping | None = None,
                         spearman: float | None = None):
    """Horizontal bars of every run's dev CCC, one panel per target and the mean on one shared CCC
    axis, every panel in the ranking's order (by the mean, best at the top), as selection is made;
    coloured by modality (the feature-set registry), the runs selected for fusion outlined and set
    apart by a line. ``planted`` (:func:`read_planted`, generated corpus) marks each unimodal set's
    planted ceiling and names its planted rank; ``spearman`` (unimodal mean dev CCC vs planted mean)
    goes in the title."""
    plt = pyplot()
    from matplotlib.colors import to_rgba

    n = len(ranking)
    rows = sorted(ranking, key=lambda r: -r["rank"])  # best (rank 1) at the top of a barh
    n_sel = sum(r["selected"] for r in ranking)
    styles = {r["run"]: modality_style(r["run"]) for r in ranking}
    planted = {k: v for k, v in (planted or {}).items() if any(r["run"] == k for r in ranking)}
    by_planted = sorted(planted, key=lambda k: (-planted[k]["mean"], k))
    height = max(3.6, 0.26 * n + 2.2)
    fig, axes = plt.subplots(1, len(SCORE_COLUMNS), figsize=(4.2 * len(SCORE_COLUMNS), height),
                             sharex=True, sharey=True)
    for ax, c in zip(axes, SCORE_COLUMNS, strict=True):
        bars = ax.barh(range(n), [r[c] for r in rows], color=[to_rgba(*styles[r["run"]][1:]) for r in rows],
                       edgecolor=["black" if r["selected"] else "none" for r in rows], linewidth=1.2)
        for bar, r in zip(bars, rows, strict=True):
            bar.set_gid(f"runs-{c}-{r['run']}")
        for i, r in enumerate(rows):
            if r["run"] in planted:
                (mark,) = ax.plot([planted[r["run"]][c]], [i], marker="D", markersize=4, color="black",
                                  linestyle="none")
                mark.set_gid(f"planted-{c}-{r['run']}")
        if 0 < n_sel < n:
            ax.axhline(n - n_sel - 0.5, color="black", linewidth=0.8, linestyle="--")
        ax.set_xlabel(f"dev CCC, {c} (DE+HU)")
        ax.set_title(c.capitalize() + (" (ranks and selects)" if c == "mean" else ""))
        ax.axvline(0, color="black", linewidth=0.6)
        ax.grid(True, axis="x", alpha=0.3)

    def tick(r):
        if r["run"] not in planted:
            return f"{r['rank']}. {r['run']}"
        k = r["run"]
        return f"{r['rank']}. {k} " + ("[noise]" if planted[k]["mean"] == 0.0 else f"[planted #{by_planted.index(k) + 1}]")

    axes[0].set_yticks(range(n), [tick(r) for r in rows], fontsize=7)
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    seen = {}
    for key, col, alpha in styles.values():
        seen.setdefault(key, (col, alpha))
    order = ["audio", "audio pair", "visual", "visual pair", "audio+visual pair", "other", "other pair"]
    legend = [Patch(facecolor=to_rgba(*seen[k]), label=k) for k in order if k in seen]
    legend.append(Patch(facecolor="white", edgecolor="black", label=f"selected for fusion (top {n_sel} by mean)"))
    if planted:
        legend.append(Line2D([], [], marker="D", markersize=4, color="black", linestyle="none",
                             label="planted ceiling (truth.json informativeness)"))
    ncol = min(len(legend), 5)
    fig.legend(handles=legend, loc="lower center", ncol=ncol, frameon=False, bbox_to_anchor=(0.5, 0.0))
    title = f"Dev CCC of the {n} runs, ranked and selected by the mean over targets, coloured by modality"
    if planted:
        title += ("\nGenerated data: [planted #k] = the set's rank by planted informativeness, [noise] = no signal"
                  + (f"; Spearman (unimodal mean dev CCC vs planted) {spearman:.2f}" if spearman is not None else ""))
    fig.suptitle(f"{title}\n({CORPUS_NOTE[generated]})", fontsize=11)
    legend_rows = -(-len(legend) // ncol)
    fig.tight_layout(rect=(0, (0.3 * legend_rows + 0.05) / height, 1, 1))  # the legend below, clear of the axes
    return fig


def write_runs_overview(ranking_tsv: str | Path, out_png: str | Path, out_svg: str | Path, *,
                        generated: bool, truth_json: str | Path | None = None) -> list[dict]:
    """``runs_overview.png`` / ``.svg`` from the ranking TSV (and, for generated data, the planted
    truth of ``truth_json``); returns its rows."""
    from .ranking import planted_agreement

    ranking = read_ranking(ranking_tsv)
    planted = spearman = None
    if truth_json is not None:
        planted = read_planted(truth_json)
        if sum(r["run"] in planted for r in ranking) >= 2:
            spearman = planted_agreement(ranking_tsv, truth_json)["spearman"]
    fig = runs_overview_figure(ranking, generated=generated, planted=planted, spearman=spearman)
    save_and_close(fig, out_png, out_svg)
    print(f"read {ranking_tsv} ({len(ranking)} runs)" + (f" and the planted truth {truth_json}" if planted else "")
          + f"; wrote {out_png}, {out_svg}")
    return ranking


# ---------------------------------------------------------------------------------------------
# learning curves


def read_history(path: str | Path) -> list[dict]:
    """The per-epoch rows of a run's ``history.json`` (train loss, dev CCC per target), checked."""
    path = Path(path)
    data = read_json(path, "history")
    epochs = data.get("epochs") if isinstance(data, dict) else None
    if not isinstance(epochs, list) or not epochs:
        raise DataError(path, "key 'epochs': expected a non-empty list")
    for i, row in enumerate(epochs):
        for k in ("epoch", "train_loss", *[f"dev_ccc_{t}" for t in SCORE_COLUMNS]):
            if not isinstance(row, dict) or not isinstance(row.get(k), int | float):
                raise DataError(path, f"key 'epochs[{i}].{k}': expected a number")
    return epochs


CURVES = ("train_loss", *[f"dev_ccc_{t}" for t in SCORE_COLUMNS])


def history_run(key: str) -> str:
    """The run of a learning-curves key: ``run`` or ``run (seedN)`` (:func:`write_learning_curves`)."""
    return key.split(" (seed", 1)[0]


def selected_palette(n: int) -> list:
    """``n`` distinguishable colours for the selected runs' curves: tab10, then tab20's light shades."""
    plt = pyplot()
    tab20 = plt.get_cmap("tab20").colors
    base = [*tab20[0::2], *tab20[1::2]]
    return [base[i % len(base)] for i in range(n)]


def learning_curves_figure(histories: Mapping[str, list[dict]], ranking: Sequence[dict], *, generated: bool):
    """One panel per curve (top: train loss, dev CCC mean and the legend; bottom: dev CCC per
    target; the dev CCC panels on one shared axis), one line per run over epochs: each run selected
    for fusion in its own colour and labelled in the legend by rank (solid: unimodal, dashed:
    bimodal), the others light grey."""
    plt = pyplot()
    info = {r["run"]: r for r in ranking}
    selected = [r["run"] for r in sorted(ranking, key=lambda r: r["rank"]) if r["selected"]]
    colour = dict(zip(selected, selected_palette(len(selected)), strict=True))
    fig, grid = plt.subplots(2, 3, figsize=(14, 7.6))
    # top: train loss, dev CCC mean (what selects), the legend; bottom: dev CCC per target
    panels = {"train_loss": grid[0, 0], "dev_ccc_mean": grid[0, 1],
              **{f"dev_ccc_{t}": ax for t, ax in zip(TARGETS, grid[1], strict=True)}}
    axes = [panels[key] for key in CURVES]
    for key in CURVES[1:]:
        if panels[key] is not panels["dev_ccc_mean"]:
            panels[key].sharey(panels["dev_ccc_mean"])
    grid[0, 2].axis("off")
    is_sel = {key: history_run(key) in colour for key in histories}
    order = sorted(histories, key=lambda key: (is_sel[key], -info.get(history_run(key), {}).get("rank", 0)))
    labelled = set()  # one legend entry per run (several seeds share it)
    for ax, key in zip(axes, CURVES, strict=True):
        for name in order:  # grey first, then the selected, the best drawn last (on top)
            run = history_run(name)
            r = info.get(run, {"kind": "", "rank": 0})
            rows = histories[name]
            style = ({"color": colour[run], "linewidth": 1.6, "alpha": 0.95,
                      "linestyle": "--" if r["kind"] == "bimodal" else "-"}
                     if is_sel[name] else {"color": "0.78", "linewidth": 0.8, "alpha": 0.8})
            label = None
            if is_sel[name] and ax is axes[0] and run not in labelled:
                label = f"{r['rank']}. {run}"
                labelled.add(run)
            (line,) = ax.plot([h["epoch"] for h in rows], [h[key] for h in rows], label=label, **style)
            line.set_gid(f"curve-{key}-{name}")
        ax.set_title("train loss (weighted 1 - CCC)" if key == "train_loss" else key.replace("dev_ccc_", "dev CCC, "))
        ax.set_xlabel("epoch")
        ax.grid(True, alpha=0.3)
    from matplotlib.lines import Line2D

    handles, labels = axes[0].get_legend_handles_labels()
    ranks = [int(lb.split(".", 1)[0]) for lb in labels]
    pairs_ = sorted(zip(ranks, handles, labels, strict=True))
    handles, labels = [h for _, h, _ in pairs_], [lb for _, _, lb in pairs_]
    n_grey = sum(not v for v in is_sel.values())
    if n_grey:
        handles.append(Line2D([], [], color="0.78", linewidth=0.8))
        labels.append(f"not selected ({n_grey})")
    grid[0, 2].legend(handles, labels, loc="center", frameon=False, fontsize=8,
                      title="selected for fusion, by rank\n(solid: unimodal, dashed: bimodal)", title_fontsize=8)
    fig.suptitle(f"Learning curves of the {len(histories)} runs (dev CCC: DE+HU, per epoch) "
                 f"({CORPUS_NOTE[generated]})", fontsize=11)
    fig.tight_layout()
    return fig


def write_learning_curves(ranking_tsv: str | Path, history_files: Sequence[str | Path], out_png: str | Path,
                          out_svg: str | Path, *, generated: bool) -> dict[str, list[dict]]:
    """``learning_curves.png`` / ``.svg`` from the runs' ``history.json`` files (a run's folder is
    ``results/runs/{run}/seed{N}/``; with several seeds each seed is drawn)."""
    ranking = read_ranking(ranking_tsv)
    histories = {}
    for f in history_files:
        f = Path(f)
        run = f.parent.parent.name if f.parent.name.startswith("seed") else f.parent.name
        key = run if run not in histories else f"{run} ({f.parent.name})"
        histories[key] = read_history(f)
    fig = learning_curves_figure(histories, ranking, generated=generated)
    save_and_close(fig, out_png, out_svg)
    print(f"read {ranking_tsv} and {len(history_files)} history files; wrote {out_png}, {out_svg}")
    return histories
