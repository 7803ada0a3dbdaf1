"""The paper's tables from our scores: Table 2 (the loss ablation), Table 3 (best per method, both
fusion protocols, with bootstrap intervals) and the paired bootstrap comparisons.

Every number in an output comes from a scores file (docs/contracts.md: ``results/runs/{run}/``,
``results/ablation/{loss_mode}/``, ``results/fusion/{protocol}/stage{n}/``), from the ranking TSV
built from them or from the prediction folders beside them. The paper's own figures
(:mod:`emofusion.results.paper`) are printed beside ours, never mixed into them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from .. import SCORE_COLUMNS, TARGETS
from ..formats import read_ranking, read_scores
from ..io import atomic_write_text
from .bootstrap import Scorer, bootstrap_note
from .labels import CORPUS_NOTE, MODE_LABELS, PROTOCOL_LABELS
from .markdown import fmt3, fmt6, md_table, tsv_text, write_md
from .paper import PAPER_TABLE2, PAPER_TABLE3
from .scores import (
    best_single_run,
    dev_scores,
    fusion_choice,
    fusion_stage_scores,
    grid_edge_note,
    held_out_scores,
    multistage_stage,
    pooled,
)

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
        tsv_rows.append([r["mode"], r["label"], feature_set, *map(fmt6, ours), *map(fmt6, paper)])
        md_rows.append([r["label"], *map(fmt3, ours), *map(fmt3, paper)])
    atomic_write_text(out_tsv, tsv_text(header, tsv_rows))
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
            f"Data: {CORPUS_NOTE[generated]}.\n\n" + md_table(md_header, md_rows))
    write_md(out_md, text, out_html)
    return rows


# ---------------------------------------------------------------------------------------------
# Table 3: best per method, and the paired comparisons


def _ci(x: float | None, lo: float | None, hi: float | None) -> str:
    """``0.531 [0.452, 0.604]`` (or just the number when no interval)."""
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "—"
    if lo is None or hi is None or math.isnan(lo) or math.isnan(hi):
        return fmt3(x)
    return f"{x:.3f} [{lo:.2f}, {hi:.2f}]"


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
        tsv_rows.append([r["method"], r["label"], r["protocol"], r["choice"], *map(fmt6, nums), *map(fmt6, paper),
                         r["settings"], r["source"], r["grid_edge"]])
        md_rows.append([r["label"], PROTOCOL_LABELS.get(r["protocol"], "—"),
                        r["choice"] + (" †" if r["grid_edge"] else ""), *md_cells, *map(fmt3, paper)])
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
    atomic_write_text(out_tsv, tsv_text(header, tsv_rows))
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
            f"\nData: {CORPUS_NOTE[generated]}.\n\n" + md_table(md_header, md_rows)
            + "\n\n" + "\n\n".join(notes))
    write_md(out_md, text, out_html)
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
                                     *map(fmt6, (r["a"], r["b"], r["diff"], r["lo"], r["hi"], r["p_gt0"]))])
            block = pooled(groups)
            md_rows.append([comp["comparison"], sp,
                            *[f"{block[c]['diff']:+.3f} [{block[c]['lo']:+.2f}, {block[c]['hi']:+.2f}] "
                              f"P>0 {block[c]['p_gt0']:.2f}" for c in SCORE_COLUMNS]])
    atomic_write_text(out_tsv, tsv_text(header, tsv_rows))
    text = ("# Paired comparisons: CCC(B) - CCC(A), DE+HU\n\n"
            "Each cell: the difference of B over A, its interval, and P>0, the share of bootstrap resamples in "
            "which B beats A. A and B are scored on the same resampled recordings, so the interval is that "
            f"of the difference itself. {bootstrap_note()} "
            "In-sample figures are fitted, tuned and scored on the same dev frames: a dev gain of an in-sample "
            "stage is not evidence that it generalises (compare its test row, where test labels are known). "
            "Per culture (DE, HU) and every target: comparisons.tsv."
            f"\nData: {CORPUS_NOTE[generated]}.\n\n"
            + md_table(["Comparison (B vs A)", "Split", *[c.capitalize() for c in SCORE_COLUMNS]], md_rows))
    write_md(out_md, text, out_html)
    print(f"read {ranking_tsv}, {scorer.loaded} prediction folder/split pairs, labels {labels_npz}; "
          f"{len(comps)} comparisons; wrote {out_md}, {out_tsv}" + (f", {out_html}" if out_html else ""))
    return comps
