"""The loss-weight random search (paper section 5): the seeded draws of (alpha, beta, gamma) the
workflow trains, read when it is parsed (:func:`sample_search_weights`), and the table of the
search runs, best first, with the dev-selection caveat (:func:`write_weight_search`). Each run's
weights file is :func:`emofusion.formats.write_weights` / :func:`~emofusion.formats.read_weights`.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from .. import SCORE_COLUMNS
from ..formats import read_scores, read_weights
from ..io import atomic_write_text
from .labels import CORPUS_NOTE
from .markdown import fmt3, fmt6, md_table, tsv_text, write_md
from .paper import PAPER_TABLE2
from .scores import dev_scores, held_out_scores


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
        tsv_rows.append([str(i), r["search"], *w, *map(fmt6, nums), label])
        md_rows.append([str(i), r["search"], *w, *map(fmt3, nums), "**dev-selected**" if i == 1 else ""])
    atomic_write_text(out_tsv, tsv_text(header, tsv_rows))
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
            + md_table(md_header, md_rows))
    write_md(out_md, text, out_html)
    return rows
