"""What the tables and figures read from scores files (docs/contracts.md): the DE+HU CCCs of a
scores mapping, a fusion stage's chosen settings, and which stage or run each table row and figure
line reports (:func:`multistage_stage`, :func:`best_single_run`). Files are read and checked by
:mod:`emofusion.formats`; nothing here writes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from .. import SCORE_COLUMNS, TARGETS
from ..formats import pooled_group, read_scores


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
# fusion stages (Table 3 rows, Fig. 3, the DE-vs-HU figure)


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
