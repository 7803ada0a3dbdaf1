"""Tables and figures people read: the paper's Table 2 (loss ablation), Table 3 (best per method),
Fig. 3 (CCC vs number of fusion stages), the runs overview and the loss-weight search table.

Every number in an output comes from a scores file (DESIGN.md section 7: ``results/runs/{run}/``,
``results/ablation/{loss_mode}/``, ``results/search/{i}/``, ``results/fusion/{protocol}/stage{n}/``)
or from the ranking TSV built from them. The paper's own figures live in :data:`PAPER_TABLE2` and
:data:`PAPER_TABLE3` and nowhere else; they are printed beside ours, never mixed into them.

Heavy imports (matplotlib) happen inside the figure functions; matplotlib always uses the Agg
backend here (no display needed).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from . import TARGETS
from .errors import DataError
from .io import atomic_write_json, atomic_write_text

COLUMNS = (*TARGETS, "mean")
GROUP = "DE+HU"  # the paper reports the bilingual (DE+HU) development CCC
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


# ---------------------------------------------------------------------------------------------
# reading scores files


def read_scores(path: str | Path) -> dict:
    """A scores.json (DESIGN.md section 7), checked: ``devel`` with the DE+HU block and the four
    numbers; ``test`` (when present) the same. A bad file is a DataError naming it (and the line)."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise DataError(path, f"cannot read scores file: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataError(path, f"not valid JSON: {exc.msg}", line=exc.lineno) from None
    if not isinstance(data, dict):
        raise DataError(path, "expected a JSON object with a 'devel' key")
    for split in ("devel", "test"):
        if split not in data:
            if split == "devel":
                raise DataError(path, "key 'devel' is missing")
            continue
        block = data[split]
        if not isinstance(block, dict) or GROUP not in block or not isinstance(block[GROUP], dict):
            raise DataError(path, f"key '{split}.{GROUP}' is missing")
        for c in COLUMNS:
            v = block[GROUP].get(c)
            if isinstance(v, bool) or not isinstance(v, int | float):
                raise DataError(path, f"key '{split}.{GROUP}.{c}': expected a number, got {v!r}")
    return data


def dev_scores(scores: Mapping) -> dict[str, float]:
    """The DE+HU development CCCs of a (checked) scores mapping."""
    return {c: float(scores["devel"][GROUP][c]) for c in COLUMNS}


def held_out_scores(scores: Mapping) -> dict[str, float] | None:
    """The DE+HU test CCCs, or None when the scores file has no test block (no test labels)."""
    if "test" not in scores:
        return None
    return {c: float(scores["test"][GROUP][c]) for c in COLUMNS}


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


def read_ranking(tsv: str | Path) -> list[dict]:
    """Rows of a ranking TSV (results/ranking/runs.tsv) as dicts, numbers parsed; checked."""
    tsv = Path(tsv)
    try:
        lines = tsv.read_text().splitlines()
    except OSError as exc:
        raise DataError(tsv, f"cannot read ranking: {exc.strerror or exc}") from None
    if not lines:
        raise DataError(tsv, "empty ranking file")
    header = lines[0].split("\t")
    need = ("rank", "run", "kind", *COLUMNS, "selected")
    missing = [c for c in need if c not in header]
    if missing:
        raise DataError(tsv, f"header lacks column {missing[0]!r}", line=1)
    rows = []
    for i, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != len(header):
            raise DataError(tsv, f"expected {len(header)} tab-separated fields, got {len(fields)}", line=i)
        row: dict[str, Any] = dict(zip(header, fields, strict=True))
        for c in (*COLUMNS, "mean_sd"):
            if c in row:
                try:
                    row[c] = float(row[c])
                except ValueError:
                    raise DataError(tsv, f"not a number: {row[c]!r}", line=i, column=c) from None
        row["rank"] = int(row["rank"])
        row["selected"] = row["selected"] == "1"
        rows.append(row)
    if not rows:
        raise DataError(tsv, "no runs in the ranking")
    return sorted(rows, key=lambda r: r["rank"])


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
                     "paper": None if paper is None else {c: paper[c] for c in COLUMNS}})
    return rows


def write_table2(mode_scores: Mapping[str, str | Path], feature_set: str, out_md: str | Path,
                 out_tsv: str | Path, *, generated: bool, weights: Mapping | None = None,
                 out_html: str | Path | None = None) -> list[dict]:
    """Paper Table 2 from the ablation runs' scores files: ``table2.md`` and ``table2.tsv``."""
    rows = table2_rows(mode_scores)
    has_test = any(r["test"] for r in rows)
    cols_ours = [f"dev_{c}" for c in COLUMNS] + ([f"test_{c}" for c in COLUMNS] if has_test else [])
    header = ["loss_mode", "label", "feature_set", *cols_ours, *[f"paper_{c}" for c in COLUMNS]]
    tsv_rows, md_rows = [], []
    for r in rows:
        ours = [r["dev"][c] for c in COLUMNS] + ([(r["test"] or {}).get(c) for c in COLUMNS] if has_test else [])
        paper = [(r["paper"] or {}).get(c) for c in COLUMNS]
        tsv_rows.append([r["mode"], r["label"], feature_set, *map(_f6, ours), *map(_f6, paper)])
        md_rows.append([r["label"], *map(_f3, ours), *map(_f3, paper)])
    atomic_write_text(out_tsv, _tsv(header, tsv_rows))
    md_header = ["Loss", *[f"{c.capitalize()} (dev)" for c in COLUMNS]]
    if has_test:
        md_header += [f"{c.capitalize()} (test)" for c in COLUMNS]
    md_header += [f"Paper {c}" for c in COLUMNS]
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
        try:
            w = json.loads(Path(wp).read_text())
            weights = {k: float(w[k]) for k in ("alpha", "beta", "gamma")}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise DataError(wp, f"expected {{alpha, beta, gamma}} numbers: {exc}") from None
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
    header = ["rank", "search", "alpha", "beta", "gamma", *[f"dev_{c}" for c in COLUMNS],
              *([f"test_{c}" for c in COLUMNS] if has_test else []), "label"]
    tsv_rows, md_rows = [], []
    for i, r in enumerate(rows, start=1):
        label = "dev-selected (chosen and scored on the same dev frames)" if i == 1 else ""
        nums = [r["dev"][c] for c in COLUMNS] + ([(r["test"] or {}).get(c) for c in COLUMNS] if has_test else [])
        w = [f"{r['weights'][k]:g}" for k in ("alpha", "beta", "gamma")]
        tsv_rows.append([str(i), r["search"], *w, *map(_f6, nums), label])
        md_rows.append([str(i), r["search"], *w, *map(_f3, nums), "**dev-selected**" if i == 1 else ""])
    atomic_write_text(out_tsv, _tsv(header, tsv_rows))
    md_header = ["Rank", "Run", "alpha", "beta", "gamma", *[f"{c.capitalize()} (dev)" for c in COLUMNS],
                 *([f"{c.capitalize()} (test)" for c in COLUMNS] if has_test else []), ""]
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
# fusion stages (Table 3 rows, Fig. 3)


def fusion_stage_scores(fusion_root: str | Path, protocols: Sequence[str],
                        stages: Sequence[int]) -> dict[str, dict[int, dict]]:
    """``{protocol: {stage: scores}}`` read from results/fusion/{protocol}/stage{n}/scores.json."""
    root = Path(fusion_root)
    return {p: {int(n): read_scores(root / p / f"stage{n}" / "scores.json") for n in stages} for p in protocols}


def best_stage(stage_scores: Mapping[int, Mapping]) -> int:
    """The stage with the highest mean dev CCC (ties: the fewer stages)."""
    return max(sorted(stage_scores), key=lambda n: (dev_scores(stage_scores[n])["mean"], -n))


def table3_rows(ranking_tsv: str | Path, runs_root: str | Path, fusion_root: str | Path,
                protocols: Sequence[str], stages: Sequence[int]) -> list[dict]:
    """Paper Table 3: the best unimodal and bimodal runs (by mean dev CCC, from the ranking, numbers
    from their scores files), fusion stage 1 and the best stage, each fusion row per protocol."""
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
            n = min(fused[p]) if method == "late" else best_stage(fused[p])
            s = fused[p][n]
            choice = f"stage {n}" if method == "late" else f"stage {n} of {max(fused[p])} (best dev mean)"
            rows.append({"method": method, "protocol": p,
                         "source": str(Path(fusion_root) / p / f"stage{n}" / "scores.json"),
                         "choice": choice, "settings": fusion_choice(s),
                         "dev": dev_scores(s), "test": held_out_scores(s)})
    for r in rows:
        paper = PAPER_TABLE3["rows"][r["method"]]
        r["label"] = paper["label"]
        r["paper"] = {c: paper[c] for c in TARGETS}
    return rows


def write_table3(ranking_tsv: str | Path, runs_root: str | Path, fusion_root: str | Path,
                 protocols: Sequence[str], stages: Sequence[int], out_md: str | Path, out_tsv: str | Path,
                 *, generated: bool, out_html: str | Path | None = None) -> list[dict]:
    """``table3.md`` and ``table3.tsv`` (see :func:`table3_rows`)."""
    rows = table3_rows(ranking_tsv, runs_root, fusion_root, protocols, stages)
    has_test = any(r["test"] for r in rows)
    header = ["method", "label", "protocol", "choice", *[f"dev_{c}" for c in COLUMNS],
              *([f"test_{c}" for c in COLUMNS] if has_test else []), *[f"paper_{c}" for c in TARGETS], "settings",
              "source"]
    tsv_rows, md_rows = [], []
    for r in rows:
        nums = [(r["dev"] or {}).get(c) for c in COLUMNS]
        if has_test:
            nums += [(r["test"] or {}).get(c) for c in COLUMNS]
        paper = [r["paper"][c] for c in TARGETS]
        tsv_rows.append([r["method"], r["label"], r["protocol"], r["choice"], *map(_f6, nums), *map(_f6, paper),
                         r["settings"], r["source"]])
        ours = [_f3(x) if r["dev"] else "—" for x in nums]
        md_rows.append([r["label"], PROTOCOL_LABELS.get(r["protocol"], "—"), r["choice"], *ours,
                        *map(_f3, paper)])
    atomic_write_text(out_tsv, _tsv(header, tsv_rows))
    md_header = ["Method", "Fusion protocol", "Chosen", *[f"{c.capitalize()} (dev)" for c in COLUMNS],
                 *([f"{c.capitalize()} (test)" for c in COLUMNS] if has_test else []),
                 *[f"Paper {c}" for c in TARGETS]]
    text = ("# Table 3: best per method, CCC (DE+HU)\n\n"
            "Unimodal / bimodal: the run with the highest mean dev CCC of its kind (results/ranking/runs.tsv). "
            "Late fusion: fusion stage 1; multistage: the stage with the highest mean dev CCC. "
            "Each fusion row is given under both protocols: **in-sample** (the paper's: the SVR is fitted, "
            "its k and C chosen and its stages picked on the same dev frames that are scored -- optimistic) "
            "and **grouped-cv** (each dev recording is predicted by a model that never saw its labels)."
            + (" Test columns: the test partition, whose labels the generated corpus knows -- never used "
               "for any choice." if has_test else "")
            + f" \"Paper\" columns: {PAPER_TABLE3['source']}, copied, not recomputed (the paper gives no mean "
            f"here). The fusion's chosen k and C: the `settings` column of table3.tsv."
            f"\nData: {CORPUS_NOTE[generated]}.\n\n" + _md_table(md_header, md_rows))
    _write_md(out_md, text, out_html)
    return rows


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
    import os
    import tempfile

    import matplotlib

    for out, kw in ((Path(out_png), {"dpi": 150}), (Path(out_svg), {})):
        out.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.", suffix=out.suffix)
        os.close(fd)
        try:
            with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "emofusion"}):
                fig.savefig(tmp, format=out.suffix.lstrip("."), bbox_inches="tight",
                            metadata={"Date": None} if out.suffix == ".svg" else None, **kw)
            os.chmod(tmp, 0o644)  # mkstemp makes 0600; a figure is for reading
            os.replace(tmp, out)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def fig3_series(fusion_root: str | Path, protocols: Sequence[str], stages: Sequence[int]) -> list[dict]:
    """The series of Fig. 3: for each protocol and split (devel; test where known), the CCC per
    target over the stages. ``[{"protocol", "split", "label", "stages", "values": {target: [...]}}]``."""
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
            series.append({"protocol": p, "split": split, "label": label, "stages": ns, "values": vals})
    return series


def fig3_figure(series: Sequence[dict], *, generated: bool):
    """Fig. 3: one panel per target, CCC vs number of stages, one line per protocol and split."""
    plt = _pyplot()
    colours = {"in-sample": "tab:blue", "grouped-cv": "tab:orange"}
    fig, axes = plt.subplots(1, len(TARGETS), figsize=(12, 4.2), sharex=True)
    for ax, target in zip(axes, TARGETS, strict=True):
        for s in series:
            (line,) = ax.plot(s["stages"], s["values"][target], marker="o" if s["split"] == "devel" else "s",
                              linestyle="-" if s["split"] == "devel" else "--",
                              color=colours.get(s["protocol"], "tab:gray"), label=s["label"])
            line.set_gid(f"fig3-{target}-{s['protocol']}-{s['split']}")
        ax.set_title(target.capitalize())
        ax.set_xlabel("number of fusion stages")
        ax.set_xticks(series[0]["stages"] if series else [])
        ax.grid(True, alpha=0.3)
    axes[0].set_ylabel("CCC (DE+HU)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=max(1, len(labels)), frameon=False,
               bbox_to_anchor=(0.5, -0.02))
    fig.suptitle("Fig. 3 (reproduced): CCC vs number of multistage SVR fusion stages\n"
                 f"({CORPUS_NOTE[generated]})", fontsize=11)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def write_fig3(fusion_root: str | Path, protocols: Sequence[str], stages: Sequence[int], out_png: str | Path,
               out_svg: str | Path, *, generated: bool) -> list[dict]:
    """``fig3.png`` and ``fig3.svg`` from the fusion stages' scores files; returns the series."""
    series = fig3_series(fusion_root, protocols, stages)
    fig = fig3_figure(series, generated=generated)
    _save_and_close(fig, out_png, out_svg)
    return series


def runs_overview_figure(ranking: Sequence[dict], *, generated: bool):
    """Ranked horizontal bars of every run's dev CCC, one panel per target and the mean; bars
    coloured by kind, the runs selected for fusion outlined."""
    plt = _pyplot()
    colours = {"unimodal": "tab:green", "bimodal": "tab:purple"}
    n = len(ranking)
    fig, axes = plt.subplots(1, len(COLUMNS), figsize=(4.2 * len(COLUMNS), max(3.0, 0.26 * n + 1.6)))
    for ax, c in zip(axes, COLUMNS, strict=True):
        rows = sorted(ranking, key=lambda r: (r[c], r["run"]))  # best at the top of a barh
        bars = ax.barh(range(n), [r[c] for r in rows], color=[colours.get(r["kind"], "tab:gray") for r in rows],
                       edgecolor=["black" if r["selected"] else "none" for r in rows], linewidth=1.2)
        for bar, r in zip(bars, rows, strict=True):
            bar.set_gid(f"runs-{c}-{r['run']}")
        ax.set_yticks(range(n), [r["run"] for r in rows], fontsize=7)
        ax.set_xlabel(f"dev CCC, {c} (DE+HU)")
        ax.set_title(c.capitalize())
        ax.axvline(0, color="black", linewidth=0.6)
        ax.grid(True, axis="x", alpha=0.3)
    from matplotlib.patches import Patch

    legend = [Patch(color=col, label=k) for k, col in colours.items() if any(r["kind"] == k for r in ranking)]
    legend.append(Patch(facecolor="white", edgecolor="black", label="selected for fusion"))
    fig.legend(handles=legend, loc="lower center", ncol=len(legend), frameon=False, bbox_to_anchor=(0.5, -0.01))
    fig.suptitle(f"Dev CCC of the {n} runs, ranked per target ({CORPUS_NOTE[generated]})", fontsize=11)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    return fig


def write_runs_overview(ranking_tsv: str | Path, out_png: str | Path, out_svg: str | Path, *,
                        generated: bool) -> list[dict]:
    """``runs_overview.png`` / ``.svg`` from the ranking TSV; returns its rows."""
    ranking = read_ranking(ranking_tsv)
    fig = runs_overview_figure(ranking, generated=generated)
    _save_and_close(fig, out_png, out_svg)
    return ranking


def write_weights(out_json: str | Path, weights: Mapping[str, float]) -> None:
    """The weights a search run was trained with, beside its scores (read by the search table)."""
    atomic_write_json(out_json, {k: float(weights[k]) for k in ("alpha", "beta", "gamma")})
