"""Tables and figures people read: the paper's Table 2 (loss ablation), Table 3 (best per method),
Fig. 3 (CCC vs number of fusion stages), the runs overview and the loss-weight search table.

Every number in an output comes from a scores file (docs/contracts.md: ``results/runs/{run}/``,
``results/ablation/{loss_mode}/``, ``results/search/{i}/``, ``results/fusion/{protocol}/stage{n}/``)
or from the ranking TSV built from them. The paper's own figures live in :data:`PAPER_TABLE2` and
:data:`PAPER_TABLE3` and nowhere else; they are printed beside ours, never mixed into them.

Heavy imports (matplotlib) happen inside the figure functions; matplotlib always uses the Agg
backend here (no display needed).
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import SCORE_COLUMNS, TARGETS
from ..errors import DataError
from ..formats import pooled_group, read_json, read_ranking, read_scores, read_weights
from ..io import atomic_path, atomic_write_text

PROTOCOL_LABELS = {"in-sample": "in-sample (paper's protocol)", "grouped-cv": "grouped-cv"}

#: Atmaja & Akagi, ICASSP 2020, Table 2: dev CCC (DE+HU) of the "FAUs" feature set by loss.
#: "weights" is the paper's section 5 choice for MTL2 (alpha, beta, gamma), found by random search.
PAPER_TABLE2: dict[str, Any] = {
    "source": "Atmaja & Akagi (ICASSP 2020), Table 2",
    "feature_set": "FAUs",
    "weights": {"alpha": 0.7, "beta": 0.2, "gamma": 1.0},
    "rows": {
        "stl_arousal": {"label": "STL1 (Aro)", "arousal": 0.511, "valence": 0.235, "liking": 0.107, "mean": 0.284},
        "stl_valence": {"label": "STL2 (Val)", "arousal": 0.255, "valence": 0.558, "liking": 0.077, "mean": 0.297},
        "stl_liking": {"label": "STL3 (Lik)", "arousal": 0.255, "valence": 0.32, "liking": 0.191, "mean": 0.244},
        "mtl1": {"label": "MTL1 [4]", "arousal": 0.476, "valence": 0.524, "liking": 0.009, "mean": 0.336},
        "mtl2": {"label": "MTL2 (ours)", "arousal": 0.522, "valence": 0.578, "liking": 0.194, "mean": 0.431},
    },
}

#: Atmaja & Akagi, ICASSP 2020, Table 3: dev CCC (DE+HU), the best of each method. The paper gives
#: no average column here. "baseline" is the AVEC 2019 baseline system on FAUs [3] (not re-run here).
PAPER_TABLE3: dict[str, Any] = {
    "source": "Atmaja & Akagi (ICASSP 2020), Table 3",
    "rows": {
        "baseline": {"label": "Baseline (FAUs) [3]", "arousal": 0.531, "valence": 0.565, "liking": 0.083},
        "unimodal": {"label": "Unimodal", "arousal": 0.522, "valence": 0.578, "liking": 0.194},
        "bimodal": {"label": "Bimodal early fusion", "arousal": 0.552, "valence": 0.557, "liking": 0.284},
        "late": {"label": "Multimodal late fusion", "arousal": 0.627, "valence": 0.616, "liking": 0.292},
        "multistage": {"label": "Multistage Fusion", "arousal": 0.680, "valence": 0.656, "liking": 0.443},
    },
}

#: Labels of our loss modes (paper Table 2's names where the paper has one).
MODE_LABELS = {"stl_arousal": "STL1 (Aro)", "stl_valence": "STL2 (Val)", "stl_liking": "STL3 (Lik)",
               "mtl_equal": "MTL equal (1, 1, 1)", "mtl1": "MTL1 [4]", "mtl2": "MTL2 (paper's)"}

CORPUS_NOTE = {True: "generated corpus: these numbers demonstrate the machinery, not the paper's claims",
               False: "real AVEC 2019 CES data"}


#: The entries of `snakemake --report`, in reading order: Table 3 and Fig. 3 first. Snakemake sorts
#: the categories by name and a category's entries by their first label, so both carry their place
#: (``1. ...``; ``#`` = ``1.1``); each entry is labelled by what it is, not by its file name.
#: ``{output key: (category, "#", item, what it shows)}``; rules use it through report_item() in
#: workflow/rules/common.smk.
REPORT_ITEMS: dict[str, tuple[str, str, str, str]] = {
    "table3": ("1. Paper results", "1.1", "Table 3", "best of each method, both fusion protocols, 95 % intervals"),
    "fig3": ("1. Paper results", "1.2", "Fig. 3", "CCC vs number of fusion stages, best single run"),
    "comparisons": ("1. Paper results", "1.3", "Paired comparisons", "stage vs stage 1, fusion vs best run"),
    "de_vs_hu": ("1. Paper results", "1.4", "DE vs HU", "dev CCC per culture of Table 3's systems"),
    "runs_overview": ("2. Runs", "2.1", "Runs overview", "every run's dev CCC, by modality, the selected"),
    "learning_curves": ("2. Runs", "2.2", "Learning curves", "train loss and dev CCC per epoch"),
    "ranking_runs": ("2. Runs", "2.3", "Ranking of all runs", "unimodal and bimodal runs, the top fused"),
    "ranking_unimodal": ("2. Runs", "2.4", "Unimodal ranking", "the unimodal runs, the top paired"),
    "fusion_summary": ("3. Fusion", "3.1", "Fusion summary", "every stage, protocol, split and culture"),
    "fusion_correlation": ("3. Fusion", "3.2", "Fused runs' correlation", "how alike the fused runs are"),
    "traces": ("3. Fusion", "3.3", "Traces", "predicted vs gold on one DE and one HU recording"),
    "table2": ("4. Ablation and search", "4.1", "Table 2", "loss ablation (snakemake ablation)"),
    "weight_search": ("4. Ablation and search", "4.2", "Weight search", "loss-weight draws (snakemake search)"),
}


def report_flag(key: str) -> dict:
    """The ``category`` and ``labels`` of one :data:`REPORT_ITEMS` entry, for Snakemake's report()."""
    category, no, item, shows = REPORT_ITEMS[key]
    return {"category": category, "labels": {"#": no, "item": item, "shows": shows}}


# ---------------------------------------------------------------------------------------------
# reading scores files


def pooled(block: Mapping) -> dict:
    """The all-cultures (DE+HU) row of a block of scores or intervals (:func:`emofusion.formats.pooled_group`)."""
    return block[pooled_group(block)]


def dev_scores(scores: Mapping) -> dict[str, float]:
    """The DE+HU development CCCs of a (checked) scores mapping."""
    return {c: float(pooled(scores["devel"])[c]) for c in SCORE_COLUMNS}


def held_out_scores(scores: Mapping) -> dict[str, float] | None:
    """The DE+HU test CCCs, or None when the scores file has no test block (no test labels)."""
    if "test" not in scores:
        return None
    return {c: float(pooled(scores["test"])[c]) for c in SCORE_COLUMNS}


def _kc(sel: Mapping) -> str:
    """``arousal k=15 C=0.01, valence ..`` of one {target: {"k", "C"}} selection."""
    return ", ".join(f"{t} k={sel[t]['k']} C={float(sel[t]['C']):g}" for t in TARGETS)


def fusion_choice(scores: Mapping) -> str:
    """The settings a fusion stage records beside its scores, as text: the chosen k and C per
    target (in-sample), or per outer fold (grouped-cv) and for the test model; otherwise any short
    scalar settings found at the top level."""
    sel = scores.get("selected")
    try:
        if isinstance(sel, Mapping) and all(t in sel for t in TARGETS):
            return f"chosen: {_kc(sel)}"
        if isinstance(sel, Mapping) and "outer_folds" in sel:
            parts = [f"fold {i}: {_kc(f)}" for i, f in enumerate(sel["outer_folds"], start=1)]
            if isinstance(sel.get("test"), Mapping):
                parts.append(f"test model: {_kc(sel['test'])}")
            return "chosen per outer fold -- " + "; ".join(parts)
    except (KeyError, TypeError, ValueError):
        pass  # an unknown layout: fall back to the generic form
    skip = {"devel", "test", "sd", "seeds", "protocol", "protocol_description", "stage", "inputs", "selected",
            "outer_folds"}
    parts = []
    for key, val in scores.items():
        if key in skip:
            continue
        if isinstance(val, int | float) and not isinstance(val, bool):
            parts.append(f"{key}={val:g}" if isinstance(val, float) else f"{key}={val}")
        elif isinstance(val, str) and len(val) <= 30:
            parts.append(f"{key}={val}")
    return " ".join(parts)


# ---------------------------------------------------------------------------------------------
# table writing helpers


def _f3(x: float | None) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def _f6(x: float | None) -> str:
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.6f}"


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def _tsv(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    return "\n".join("\t".join(r) for r in [list(header), *rows]) + "\n"


def _inline_html(text: str) -> str:
    import html
    import re

    out = html.escape(text, quote=False)
    out = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", out)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", out)


def _html_table(rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_inline_html(c)}</th>" for c in rows[0])
    def td(c: str) -> str:  # numbers right-aligned, text left
        try:
            float(c)
            return f'<td class="n">{_inline_html(c)}</td>'
        except ValueError:
            return f"<td>{_inline_html(c)}</td>"

    body = "".join("<tr>" + "".join(td(c) for c in r) + "</tr>" for r in rows[1:])
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def md_to_html(text: str) -> str:
    """A standalone HTML page of one of our markdown tables (a '# ' title, paragraphs, one pipe
    table): what `snakemake --report` shows inline."""
    body, table = [], []
    for line in text.splitlines():
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if not all(c and set(c) <= {"-", ":"} for c in cells):
                table.append(cells)
            continue
        if table:
            body.append(_html_table(table))
            table = []
        if line.startswith("# "):
            body.append(f"<h1>{_inline_html(line[2:])}</h1>")
        elif line.strip():
            body.append(f"<p>{_inline_html(line)}</p>")
    if table:
        body.append(_html_table(table))
    style = ("body{font-family:sans-serif;margin:1.5em;font-size:14px}h1{font-size:18px}"
             "table{border-collapse:collapse}td,th{border:1px solid #bbb;padding:3px 7px;text-align:left}"
             "td.n{text-align:right}th{background:#eee}")
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><style>" + style + "</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def _write_md(out_md: str | Path, text: str, out_html: str | Path | None) -> None:
    atomic_write_text(out_md, text)
    if out_html is not None:
        atomic_write_text(out_html, md_to_html(text))


# ---------------------------------------------------------------------------------------------
# Table 2: the loss ablation


def table2_rows(mode_scores: Mapping[str, str | Path]) -> list[dict]:
    """One row per loss mode (in the order given): our dev (and test) CCCs and the paper's row."""
    rows = []
    for mode, path in mode_scores.items():
        s = read_scores(path)
        paper = PAPER_TABLE2["rows"].get(mode)
        rows.append({"mode": mode, "label": MODE_LABELS.get(mode, mode), "source": str(path),
                     "dev": dev_scores(s), "test": held_out_scores(s),
                     "paper": None if paper is None else {c: paper[c] for c in SCORE_COLUMNS}})
    return rows


def write_table2(mode_scores: Mapping[str, str | Path], feature_set: str, out_md: str | Path,
                 out_tsv: str | Path, *, generated: bool, weights: Mapping | None = None,
                 out_html: str | Path | None = None) -> list[dict]:
    """Paper Table 2 from the ablation runs' scores files: ``table2.md`` and ``table2.tsv``."""
    rows = table2_rows(mode_scores)
    has_test = any(r["test"] for r in rows)
    cols_ours = [f"dev_{c}" for c in SCORE_COLUMNS] + ([f"test_{c}" for c in SCORE_COLUMNS] if has_test else [])
    header = ["loss_mode", "label", "feature_set", *cols_ours, *[f"paper_{c}" for c in SCORE_COLUMNS]]
    tsv_rows, md_rows = [], []
    for r in rows:
        ours = [r["dev"][c] for c in SCORE_COLUMNS] + ([(r["test"] or {}).get(c) for c in SCORE_COLUMNS] if has_test else [])
        paper = [(r["paper"] or {}).get(c) for c in SCORE_COLUMNS]
        tsv_rows.append([r["mode"], r["label"], feature_set, *map(_f6, ours), *map(_f6, paper)])
        md_rows.append([r["label"], *map(_f3, ours), *map(_f3, paper)])
    atomic_write_text(out_tsv, _tsv(header, tsv_rows))
    md_header = ["Loss", *[f"{c.capitalize()} (dev)" for c in SCORE_COLUMNS]]
    if has_test:
        md_header += [f"{c.capitalize()} (test)" for c in SCORE_COLUMNS]
    md_header += [f"Paper {c}" for c in SCORE_COLUMNS]
    w = ""
    if weights:
        w = (f" MTL2 weights: alpha={weights['alpha']:g}, beta={weights['beta']:g}, gamma={weights['gamma']:g}"
             f" (the paper's: {PAPER_TABLE2['weights']['alpha']:g}, {PAPER_TABLE2['weights']['beta']:g}, "
             f"{PAPER_TABLE2['weights']['gamma']:g}).")
    text = (f"# Table 2: loss ablation, dev CCC (DE+HU), feature set `{feature_set}`\n\n"
            f"Ours: one multitask LSTM per loss mode on `{feature_set}` (the paper says \"FAUs\"; we use the "
            f"FAU set named here), scored on the development partition"
            f"{' and on the test partition (its labels are known)' if has_test else ''}. "
            f"\"Paper\" columns: {PAPER_TABLE2['source']}, copied, not recomputed.{w}\n"
            f"Data: {CORPUS_NOTE[generated]}.\n\n" + _md_table(md_header, md_rows))
    _write_md(out_md, text, out_html)
    return rows


# ---------------------------------------------------------------------------------------------
# loss-weight random search (paper section 5)


def sample_search_weights(n: int, seed: int) -> list[dict[str, float]]:
    """``n`` seeded draws of (alpha, beta, gamma), each uniform in [0, 1], rounded to 3 decimals
    (the rounded values are the ones trained). Same (n, seed), same list; a larger n extends it."""
    if n < 1:
        raise ValueError(f"search.n: expected at least 1 draw, got {n}")
    rng = random.Random(seed)
    return [{k: round(rng.uniform(0.0, 1.0), 3) for k in ("alpha", "beta", "gamma")} for _ in range(n)]


def weight_search_rows(score_files: Sequence[str | Path], weight_files: Sequence[str | Path]) -> list[dict]:
    """The search runs, sorted by mean dev CCC (best first; ties by run index)."""
    if len(score_files) != len(weight_files):
        raise ValueError("one weights file per scores file is needed")
    rows = []
    for sp, wp in zip(score_files, weight_files, strict=True):
        s = read_scores(sp)
        weights = read_weights(wp)
        rows.append({"search": Path(sp).parent.name, "source": str(sp), "weights": weights,
                     "dev": dev_scores(s), "test": held_out_scores(s)})
    rows.sort(key=lambda r: (-r["dev"]["mean"], int(r["search"]) if r["search"].isdigit() else r["search"]))
    return rows


def write_weight_search(score_files: Sequence[str | Path], weight_files: Sequence[str | Path],
                        out_tsv: str | Path, out_md: str | Path, *, feature_set: str, generated: bool,
                        out_html: str | Path | None = None) -> list[dict]:
    """``weight_search.tsv`` (sorted by mean dev CCC; the winner labelled dev-selected) and a
    ``weight_search.md`` with the caveat spelled out."""
    rows = weight_search_rows(score_files, weight_files)
    has_test = any(r["test"] for r in rows)
    header = ["rank", "search", "alpha", "beta", "gamma", *[f"dev_{c}" for c in SCORE_COLUMNS],
              *([f"test_{c}" for c in SCORE_COLUMNS] if has_test else []), "label"]
    tsv_rows, md_rows = [], []
    for i, r in enumerate(rows, start=1):
        label = "dev-selected (chosen and scored on the same dev frames)" if i == 1 else ""
        nums = [r["dev"][c] for c in SCORE_COLUMNS] + ([(r["test"] or {}).get(c) for c in SCORE_COLUMNS] if has_test else [])
        w = [f"{r['weights'][k]:g}" for k in ("alpha", "beta", "gamma")]
        tsv_rows.append([str(i), r["search"], *w, *map(_f6, nums), label])
        md_rows.append([str(i), r["search"], *w, *map(_f3, nums), "**dev-selected**" if i == 1 else ""])
    atomic_write_text(out_tsv, _tsv(header, tsv_rows))
    md_header = ["Rank", "Run", "alpha", "beta", "gamma", *[f"{c.capitalize()} (dev)" for c in SCORE_COLUMNS],
                 *([f"{c.capitalize()} (test)" for c in SCORE_COLUMNS] if has_test else []), ""]
    caveat = ("The winner is **dev-selected**: its weights were chosen on the same development frames "
              "that score it, so its dev CCC is optimistic")
    caveat += (" -- its test CCC (test labels known on the generated corpus) is the honest figure.\n"
               if has_test else "; no held-out score exists for it here.\n")
    text = (f"# Loss-weight random search (paper section 5), MTL2 on `{feature_set}`\n\n"
            f"{len(rows)} draws of alpha, beta, gamma, each uniform in [0, 1] (seeded), one run each, "
            f"sorted by mean dev CCC (DE+HU). {caveat}"
            f"The paper's choice: alpha={PAPER_TABLE2['weights']['alpha']:g}, "
            f"beta={PAPER_TABLE2['weights']['beta']:g}, gamma={PAPER_TABLE2['weights']['gamma']:g} "
            f"(Atmaja & Akagi, ICASSP 2020, section 5).\nData: {CORPUS_NOTE[generated]}.\n\n"
            + _md_table(md_header, md_rows))
    _write_md(out_md, text, out_html)
    return rows


# ---------------------------------------------------------------------------------------------
# uncertainty: recording-level bootstrap of prediction folders (emofusion.results.metrics)

#: Bootstrap settings of every interval in the tables and figures: resamples of recordings
#: (stratified by culture), seed, and the interval's level.
BOOTSTRAP: dict[str, Any] = {"n_boot": 1000, "seed": 0, "level": 0.95}
SPLITS = ("devel", "test")


class Scorer:
    """Dev (and, where known, test) labels of one label cache, and bootstrap intervals of prediction
    folders against them. ``folder`` is any AVEC-format prediction folder (a run's or a fusion
    stage's ``predictions/``); results are cached per folder."""

    def __init__(self, labels_npz: str | Path):
        from ..data.features import load_label_cache

        cache = load_label_cache(labels_npz)
        self.path = str(labels_npz)
        self.labels: dict[str, dict] = {"devel": {n: cache.get(n) for n in cache.names if n.startswith("Devel_")}}
        if cache.test is not None and cache.test.names:
            self.labels["test"] = {n: cache.test.get(n) for n in cache.test.names}
        self._preds: dict[tuple[str, str], dict] = {}
        self._ivals: dict[str, dict] = {}

    @property
    def splits(self) -> list[str]:
        return [s for s in SPLITS if s in self.labels]

    def preds(self, folder: str | Path, split: str) -> dict:
        from ..data.layout import read_prediction_dir

        key = (str(folder), split)
        if key not in self._preds:
            lengths = {n: len(v) for n, v in self.labels[split].items()}
            self._preds[key] = read_prediction_dir(folder, lengths)
        return self._preds[key]

    def intervals(self, folder: str | Path) -> dict:
        """``{split: {group: {target: {"ccc", "lo", "hi"}}}}`` (:func:`emofusion.results.metrics.bootstrap_ccc`)."""
        from .metrics import bootstrap_ccc

        key = str(folder)
        if key not in self._ivals:
            self._ivals[key] = {sp: bootstrap_ccc(self.labels[sp], self.preds(folder, sp), **BOOTSTRAP)
                                for sp in self.splits}
        return self._ivals[key]

    def paired(self, folder_a: str | Path, folder_b: str | Path) -> dict:
        """``{split: {group: {target: {"a", "b", "diff", "lo", "hi", "p_gt0"}}}}``: b against a."""
        from .metrics import paired_bootstrap

        return {sp: paired_bootstrap(self.labels[sp], self.preds(folder_a, sp), self.preds(folder_b, sp),
                                     **BOOTSTRAP) for sp in self.splits}


def _ci(x: float | None, lo: float | None, hi: float | None) -> str:
    """``0.531 [0.452, 0.604]`` (or just the number when no interval)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return _f3(x)
    return f"{x:.3f} [{lo:.2f}, {hi:.2f}]"


def bootstrap_note() -> str:
    return (f"Intervals: {100 * BOOTSTRAP['level']:g} % percentile intervals of a recording-level bootstrap "
            f"({BOOTSTRAP['n_boot']} resamples of the scored recordings, drawn with replacement within each "
            f"culture, seed {BOOTSTRAP['seed']}; CCC recomputed on each resample's concatenated frames).")


# ---------------------------------------------------------------------------------------------
# fusion stages (Table 3 rows, Fig. 3)


def fusion_stage_scores(fusion_root: str | Path, protocols: Sequence[str],
                        stages: Sequence[int]) -> dict[str, dict[int, dict]]:
    """``{protocol: {stage: scores}}`` read from results/fusion/{protocol}/stage{n}/scores.json."""
    root = Path(fusion_root)
    return {p: {int(n): read_scores(root / p / f"stage{n}" / "scores.json") for n in stages} for p in protocols}


def best_stage(stage_scores: Mapping[int, Mapping]) -> int:
    """The stage with the highest mean dev CCC (ties: the fewer stages)."""
    return max(sorted(stage_scores), key=lambda n: (dev_scores(stage_scores[n])["mean"], -n))


def multistage_stage(protocol: str, stage_scores: Mapping[int, Mapping]) -> tuple[int, str]:
    """The stage Table 3's "multistage" row reports, and how it was chosen. In-sample keeps the
    paper's choice (the stage with the best mean dev CCC, chosen on the scored frames); grouped-cv
    reports the configured last stage, so no held-out label picks it."""
    last = max(stage_scores)
    if protocol == "in-sample":
        n = best_stage(stage_scores)
        return n, f"stage {n} of {last} (best dev mean: the paper's choice, on the scored frames)"
    return last, f"stage {last} of {last} (the configured last stage; not chosen on dev)"


def chosen_settings(scores: Mapping) -> list[tuple[str, int, float]]:
    """Every (where, k, C) a fusion stage chose: per target (in-sample), per outer fold and target and
    for the test model (grouped-cv); a stage that records neither gives ``[]``."""
    sel = scores.get("selected")
    out: list[tuple[str, int, float]] = []
    try:
        if isinstance(sel, Mapping) and all(t in sel for t in TARGETS):
            out = [(t, int(sel[t]["k"]), float(sel[t]["C"])) for t in TARGETS]
        elif isinstance(sel, Mapping) and "outer_folds" in sel:
            for i, f in enumerate(sel["outer_folds"], start=1):
                out += [(f"fold {i} {t}", int(f[t]["k"]), float(f[t]["C"])) for t in TARGETS]
            if isinstance(sel.get("test"), Mapping):
                out += [(f"test model {t}", int(sel["test"][t]["k"]), float(sel["test"][t]["C"])) for t in TARGETS]
    except (KeyError, TypeError, ValueError):
        return []
    return out


def grid_edge_note(scores: Mapping, grid: Mapping | None) -> str:
    """Which of a stage's chosen k and C sit at the edge of the searched grid (``grid``: ``{"ks",
    "Cs"}``), e.g. ``"k=5 (largest of 1..5) for 3/3 choices; C=1 (largest of 0.001..1) for 3/3"``;
    ``""`` when none does, the grid is unknown or a value had a single candidate (no choice made)."""
    if not grid:
        return ""
    chosen = chosen_settings(scores)
    if not chosen:
        return ""
    parts = []
    for name, values, idx in (("k", sorted(int(k) for k in grid.get("ks", ())), 1),
                              ("C", sorted(float(c) for c in grid.get("Cs", ())), 2)):
        if len(values) < 2:
            continue
        span = f"{values[0]:g}..{values[-1]:g}"
        for edge, word in ((values[0], "smallest"), (values[-1], "largest")):
            hits = sum(1 for c in chosen if c[idx] == edge)
            if hits:
                parts.append(f"{name}={edge:g} ({word} of {span}) for {hits}/{len(chosen)} choices")
    return "; ".join(parts)


def best_single_run(ranking: Sequence[dict]) -> dict:
    """The single (unimodal or bimodal) run ranked first by mean dev CCC."""
    return min(ranking, key=lambda r: r["rank"])


def table3_rows(ranking_tsv: str | Path, runs_root: str | Path, fusion_root: str | Path,
                protocols: Sequence[str], stages: Sequence[int], scorer: Scorer | None = None) -> list[dict]:
    """Paper Table 3: the best unimodal and bimodal runs (by mean dev CCC, from the ranking, numbers
    from their scores files), fusion stage 1 and the multistage row (:func:`multistage_stage`), each
    fusion row per protocol. With a :class:`Scorer`, each row also carries bootstrap intervals of its
    prediction folder (``"ci"``: ``{split: {target: (lo, hi)}}``, DE+HU)."""
    ranking = read_ranking(ranking_tsv)
    rows = []
    rows.append({"method": "baseline", "protocol": "", "source": "", "choice": "not re-run (AVEC 2019 baseline)",
                 "settings": "", "dev": None, "test": None})
    for method in ("unimodal", "bimodal"):
        best = [r for r in ranking if r["kind"] == method]
        if not best:
            continue
        path = Path(runs_root) / best[0]["run"] / "scores.json"
        s = read_scores(path)
        rows.append({"method": method, "protocol": "", "source": str(path), "choice": best[0]["run"],
                     "settings": "", "dev": dev_scores(s), "test": held_out_scores(s)})
    fused = fusion_stage_scores(fusion_root, protocols, stages)
    for method in ("late", "multistage"):
        for p in protocols:
            if method == "late":
                n = min(fused[p])
                choice = f"stage {n}"
            else:
                n, choice = multistage_stage(p, fused[p])
            s = fused[p][n]
            rows.append({"method": method, "protocol": p, "stage": n,
                         "source": str(Path(fusion_root) / p / f"stage{n}" / "scores.json"),
                         "choice": choice, "settings": fusion_choice(s),
                         "dev": dev_scores(s), "test": held_out_scores(s)})
    for r in rows:
        paper = PAPER_TABLE3["rows"][r["method"]]
        r["label"] = paper["label"]
        r["paper"] = {c: paper[c] for c in TARGETS}
        r["ci"] = {}
        if scorer is not None and r["source"]:
            iv = scorer.intervals(Path(r["source"]).parent / "predictions")
            r["ci"] = {sp: {c: (pooled(iv[sp])[c]["lo"], pooled(iv[sp])[c]["hi"]) for c in SCORE_COLUMNS} for sp in iv}
    return rows


def write_table3(ranking_tsv: str | Path, runs_root: str | Path, fusion_root: str | Path,
                 protocols: Sequence[str], stages: Sequence[int], out_md: str | Path, out_tsv: str | Path,
                 *, generated: bool, out_html: str | Path | None = None,
                 labels_npz: str | Path | None = None, grid: Mapping | None = None) -> list[dict]:
    """``table3.md`` and ``table3.tsv`` (see :func:`table3_rows`); with ``labels_npz``, every CCC
    carries its bootstrap interval (TSV columns ``dev_<target>_lo``/``_hi``, likewise ``test_``).
    With ``grid`` (the fusion's ``{"ks", "Cs"}``), a fused row whose chosen k or C sits at the edge
    of the grid is marked † in the markdown and described in the TSV's ``grid_edge`` column."""
    scorer = Scorer(labels_npz) if labels_npz is not None else None
    rows = table3_rows(ranking_tsv, runs_root, fusion_root, protocols, stages, scorer)
    for r in rows:
        r["grid_edge"] = grid_edge_note(read_scores(Path(r["source"])), grid) if r["protocol"] else ""
    has_test = any(r["test"] for r in rows)
    splits = [("dev", "devel")] + ([("test", "test")] if has_test else [])
    cols = [(pre, sp, c) for pre, sp in splits for c in SCORE_COLUMNS]
    header = ["method", "label", "protocol", "choice",
              *[h for pre, _, c in cols for h in ((f"{pre}_{c}", f"{pre}_{c}_lo", f"{pre}_{c}_hi") if scorer
                                                   else (f"{pre}_{c}",))],
              *[f"paper_{c}" for c in TARGETS], "settings", "source", "grid_edge"]
    tsv_rows, md_rows = [], []
    for r in rows:
        nums, md_cells = [], []
        for pre, sp, c in cols:
            x = (r[pre] or {}).get(c)
            lo, hi = r["ci"].get(sp, {}).get(c, (None, None))
            nums += [x, lo, hi] if scorer else [x]
            md_cells.append(_ci(x, lo, hi) if r["dev"] else "—")
        paper = [r["paper"][c] for c in TARGETS]
        tsv_rows.append([r["method"], r["label"], r["protocol"], r["choice"], *map(_f6, nums), *map(_f6, paper),
                         r["settings"], r["source"], r["grid_edge"]])
        md_rows.append([r["label"], PROTOCOL_LABELS.get(r["protocol"], "—"),
                        r["choice"] + (" †" if r["grid_edge"] else ""), *md_cells, *map(_f3, paper)])
    edges = [r for r in rows if r["grid_edge"]]
    notes = ["**Chosen on dev.** The unimodal and bimodal rows are the best runs of their kind by mean dev "
             "CCC, and every fused run fuses the runs ranked best on dev (the top of results/ranking/runs.tsv): "
             "their dev columns are optimistic under both protocols; only the test columns (where known) "
             "are free of that choice."]
    if edges:
        ks = ", ".join(f"{k:g}" for k in (grid or {}).get("ks", ()))
        cs = ", ".join(f"{c:g}" for c in (grid or {}).get("Cs", ()))
        notes.append(f"**† At the edge of the grid** (k in {{{ks}}}, C in {{{cs}}}): the best setting may lie "
                     "outside the grid searched. "
                     + " ".join(f"{r['label']} ({r['protocol']}): {r['grid_edge']}." for r in edges))
    atomic_write_text(out_tsv, _tsv(header, tsv_rows))
    md_header = ["Method", "Fusion protocol", "Chosen", *[f"{c.capitalize()} ({pre})" for pre, _, c in cols],
                 *[f"Paper {c}" for c in TARGETS]]
    text = ("# Table 3: best per method, CCC (DE+HU)\n\n"
            "Unimodal / bimodal: the run with the highest mean dev CCC of its kind (results/ranking/runs.tsv). "
            "Late fusion: fusion stage 1. Multistage: under **in-sample**, the stage with the highest mean dev "
            "CCC (the paper's choice, made on the scored frames); under **grouped-cv**, the configured last "
            "stage (no held-out label chooses it). "
            "Each fusion row is given under both protocols: **in-sample** (the paper's: the SVR is fitted, "
            "its k and C chosen and its stages picked on the same dev frames that are scored -- optimistic) "
            "and **grouped-cv** (each dev recording is predicted by a model that never saw its labels)."
            + (" Test columns: the test partition, whose labels the generated corpus knows -- never used "
               "for any choice." if has_test else "")
            + (f" {bootstrap_note()} An interval describes the prediction folder scored (with several "
               "seeds, a run's folder is their frame-wise mean)." if scorer else "")
            + f" \"Paper\" columns: {PAPER_TABLE3['source']}, copied, not recomputed (the paper gives no mean "
            f"here). The fusion's chosen k and C: the `settings` column of table3.tsv."
            f"\nData: {CORPUS_NOTE[generated]}.\n\n" + _md_table(md_header, md_rows)
            + "\n\n" + "\n\n".join(notes))
    _write_md(out_md, text, out_html)
    print(f"read {ranking_tsv}, {len(rows) - 1} scores files"
          + (f" and their prediction folders, labels {labels_npz}" if scorer else "")
          + f"; wrote {out_md}, {out_tsv}" + (f", {out_html}" if out_html else ""))
    return rows


def comparison_rows(ranking_tsv: str | Path, runs_root: str | Path, fusion_root: str | Path,
                    protocols: Sequence[str], stages: Sequence[int], scorer: Scorer) -> list[dict]:
    """The paired bootstrap comparisons: each stage vs stage 1 (per protocol), Table 3's multistage
    row vs the best single run (per protocol), and grouped-cv vs in-sample at each stage. Each is
    ``{"comparison", "a", "b", "result": {split: {group: {target: {...}}}}}`` with b against a."""
    ranking = read_ranking(ranking_tsv)
    fused = fusion_stage_scores(fusion_root, protocols, stages)
    root = Path(fusion_root)

    def stage_dir(p, n):
        return root / p / f"stage{n}" / "predictions"

    out = []
    for p in protocols:
        first = min(fused[p])
        for n in sorted(fused[p]):
            if n != first:
                out.append({"comparison": f"{p}: stage {n} vs stage {first}", "a": f"{p}/stage{first}",
                            "b": f"{p}/stage{n}", "result": scorer.paired(stage_dir(p, first), stage_dir(p, n))})
    single = best_single_run(ranking)["run"]
    for p in protocols:
        n, _ = multistage_stage(p, fused[p])
        out.append({"comparison": f"{p}: multistage (stage {n}, as in Table 3) vs best single run ({single})",
                    "a": single, "b": f"{p}/stage{n}",
                    "result": scorer.paired(Path(runs_root) / single / "predictions", stage_dir(p, n))})
    if "in-sample" in protocols and "grouped-cv" in protocols:
        for n in sorted(set(fused["in-sample"]) & set(fused["grouped-cv"])):
            out.append({"comparison": f"stage {n}: grouped-cv vs in-sample", "a": f"in-sample/stage{n}",
                        "b": f"grouped-cv/stage{n}",
                        "result": scorer.paired(stage_dir("in-sample", n), stage_dir("grouped-cv", n))})
    return out


def write_comparisons(ranking_tsv: str | Path, runs_root: str | Path, fusion_root: str | Path,
                      labels_npz: str | Path, protocols: Sequence[str], stages: Sequence[int],
                      out_md: str | Path, out_tsv: str | Path, *, generated: bool,
                      out_html: str | Path | None = None) -> list[dict]:
    """``comparisons.tsv`` (every split, culture group and target) and ``comparisons.md`` (DE+HU):
    the paired bootstrap differences of :func:`comparison_rows`."""
    scorer = Scorer(labels_npz)
    comps = comparison_rows(ranking_tsv, runs_root, fusion_root, protocols, stages, scorer)
    header = ["comparison", "a", "b", "split", "group", "target", "ccc_a", "ccc_b", "diff", "lo", "hi", "p_gt0"]
    tsv_rows, md_rows = [], []
    for comp in comps:
        for sp, groups in comp["result"].items():
            for g, block in groups.items():
                for t, r in block.items():
                    tsv_rows.append([comp["comparison"], comp["a"], comp["b"], sp, g, t,
                                     *map(_f6, (r["a"], r["b"], r["diff"], r["lo"], r["hi"], r["p_gt0"]))])
            block = pooled(groups)
            md_rows.append([comp["comparison"], sp,
                            *[f"{block[c]['diff']:+.3f} [{block[c]['lo']:+.2f}, {block[c]['hi']:+.2f}] "
                              f"P>0 {block[c]['p_gt0']:.2f}" for c in SCORE_COLUMNS]])
    atomic_write_text(out_tsv, _tsv(header, tsv_rows))
    text = ("# Paired comparisons: CCC(B) - CCC(A), DE+HU\n\n"
            "Each cell: the difference of B over A, its interval, and P>0, the share of bootstrap resamples in "
            "which B beats A. A and B are scored on the same resampled recordings, so the interval is that "
            f"of the difference itself. {bootstrap_note()} "
            "In-sample figures are fitted, tuned and scored on the same dev frames: a dev gain of an in-sample "
            "stage is not evidence that it generalises (compare its test row, where test labels are known). "
            "Per culture (DE, HU) and every target: comparisons.tsv."
            f"\nData: {CORPUS_NOTE[generated]}.\n\n"
            + _md_table(["Comparison (B vs A)", "Split", *[c.capitalize() for c in SCORE_COLUMNS]], md_rows))
    _write_md(out_md, text, out_html)
    print(f"read {ranking_tsv}, {len(scorer._preds)} prediction folder/split pairs, labels {labels_npz}; "
          f"{len(comps)} comparisons; wrote {out_md}, {out_tsv}" + (f", {out_html}" if out_html else ""))
    return comps


# ---------------------------------------------------------------------------------------------
# figures


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save_and_close(fig, out_png: str | Path, out_svg: str | Path) -> None:
    """Save a figure as PNG and SVG (text kept as text in the SVG), atomically; then close it."""
    try:
        _save(fig, out_png, out_svg)
    finally:
        _pyplot().close(fig)


def _save(fig, out_png: str | Path, out_svg: str | Path) -> None:
    import matplotlib

    for out, kw in ((Path(out_png), {"dpi": 150}), (Path(out_svg), {})):
        with atomic_path(out) as tmp, matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "emofusion"}):
            fig.savefig(tmp, format=out.suffix.lstrip("."), bbox_inches="tight",
                        metadata={"Date": None} if out.suffix == ".svg" else None, **kw)


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
    plt = _pyplot()
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
    _save_and_close(fig, out_png, out_svg)
    print(f"read {len(protocols) * len(stages)} fusion scores files under {fusion_root}"
          + (f" and their predictions, labels {labels_npz}" if scorer else "")
          + (f"; the best single run ({best['run']}) from {ranking_tsv}" if best else "")
          + f"; wrote {out_png}, {out_svg}")
    return series


#: Colours of a run's modality (from the feature-set registry, emofusion.data.features.modality_of);
#: bimodal pairs of one modality in the lighter shade of it.
MODALITY_COLOURS = {"audio": "tab:blue", "visual": "tab:orange", "audiovisual": "tab:purple", "unknown": "tab:gray"}
MODALITY_LABELS = {"audio": "audio", "visual": "visual", "audiovisual": "audio+visual", "unknown": "other"}
PAIR_ALPHA = 0.5  # a pair of one modality: its colour, lighter


def run_modality(run: str) -> str:
    """``audio``, ``visual``, ``audiovisual`` or ``unknown`` of a run name (its sets joined by '+')."""
    from ..data.features import modality_of

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
    plt = _pyplot()
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
    _save_and_close(fig, out_png, out_svg)
    print(f"read {ranking_tsv} ({len(ranking)} runs)" + (f" and the planted truth {truth_json}" if planted else "")
          + f"; wrote {out_png}, {out_svg}")
    return ranking


# ---------------------------------------------------------------------------------------------
# figures a researcher looks for: learning curves, how alike the fused runs are, traces, DE vs HU


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
    plt = _pyplot()
    tab20 = plt.get_cmap("tab20").colors
    base = [*tab20[0::2], *tab20[1::2]]
    return [base[i % len(base)] for i in range(n)]


def learning_curves_figure(histories: Mapping[str, list[dict]], ranking: Sequence[dict], *, generated: bool):
    """One panel per curve (top: train loss, dev CCC mean and the legend; bottom: dev CCC per
    target; the dev CCC panels on one shared axis), one line per run over epochs: each run selected
    for fusion in its own colour and labelled in the legend by rank (solid: unimodal, dashed:
    bimodal), the others light grey."""
    plt = _pyplot()
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
    _save_and_close(fig, out_png, out_svg)
    print(f"read {ranking_tsv} and {len(history_files)} history files; wrote {out_png}, {out_svg}")
    return histories


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
    plt = _pyplot()
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
    _save_and_close(correlation_figure(corr, generated=generated), out_png, out_svg)
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
    plt = _pyplot()
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
    _save_and_close(traces_figure(scorer.labels["devel"], drawn, recs, generated=generated), out_png, out_svg)
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
    plt = _pyplot()
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
    _save_and_close(cultures_figure(ivals, cultures, generated=generated), out_png, out_svg)
    print(f"read {ranking_tsv}, labels {labels_npz} and the dev predictions of "
          + ", ".join(str(f) for _, f in systems) + f"; wrote {out_png}, {out_svg}")
    return ivals


def tsv_to_html(tsv: str | Path, title: str, note: str, out_html: str | Path) -> None:
    """A TSV (a ranking, the fusion summary) as a standalone HTML table for `snakemake --report`."""
    tsv = Path(tsv)
    try:
        lines = [ln.split("\t") for ln in tsv.read_text().splitlines() if ln.strip()]
    except OSError as exc:
        raise DataError(tsv, f"cannot read: {exc.strerror or exc}") from None
    if not lines:
        raise DataError(tsv, "empty file")
    head = lines[0]
    if "mean_sd" in head and "seeds" in head:  # one seed has no sd: say so, not 0.000000
        i, j = head.index("mean_sd"), head.index("seeds")
        for row in lines[1:]:
            if len(row) == len(head) and row[j].strip() == "1":
                row[i] = "n/a (1 seed)"
    text = f"# {title}\n\n{note} Source: `{tsv}`.\n\n" + _md_table(lines[0], lines[1:])
    atomic_write_text(out_html, md_to_html(text))
    print(f"read {tsv} ({len(lines) - 1} rows); wrote {out_html}")


# ---------------------------------------------------------------------------------------------
# the README's results block, regenerated from a run's files

README_START = "<!-- results-block:start (generated by `emofusion results-block`; do not edit by hand) -->"
README_END = "<!-- results-block:end -->"


def results_block(results_dir: str | Path) -> str:
    """Markdown quoting a finished run's files only: the planted-truth agreement of the unimodal
    ranking (generated corpus), Table 3 with intervals and the paired comparisons (DE+HU)."""
    from .ranking import planted_agreement

    root = Path(results_dir)
    parts = []
    truth = root / "corpus" / "truth.json"
    uni = root / "ranking" / "unimodal.tsv"
    if truth.is_file() and uni.is_file():
        a = planted_agreement(uni, truth)
        noise = ", ".join(f"`{s}` {v:.3f}" for s, v in a["noise_mean"].items()) or "none"
        parts.append(f"Unimodal ranking against the planted truth (`{uni}` vs `{truth}`): Spearman "
                     f"{a['spearman']:.3f} over {a['n_sets']} sets between each set's mean dev CCC and its planted "
                     f"mean informativeness; best set `{a['best']}` {a['best_mean']:.3f}; noise-only: {noise}.")
    for name in ("table3.md", "comparisons.md"):
        f = root / "tables" / name
        try:
            text = f.read_text()
        except OSError as exc:
            raise DataError(f, f"cannot read: {exc.strerror or exc}") from None
        lines = text.splitlines()
        if lines and lines[0].startswith("# "):
            lines[0] = "**" + lines[0][2:] + "**"
        parts.append("\n".join(lines).strip())
    return f"{README_START}\n\n" + "\n\n".join(parts) + f"\n\n{README_END}\n"


def update_readme(readme: str | Path, block: str) -> None:
    """Replace the text between :data:`README_START` and :data:`README_END` (markers included)."""
    readme = Path(readme)
    text = readme.read_text()
    i, j = text.find(README_START), text.find(README_END)
    if i < 0 or j < i:
        raise DataError(readme, f"no results block: expected a line {README_START!r} and, after it, {README_END!r}")
    atomic_write_text(readme, text[:i] + block + text[j + len(README_END) + 1:])
