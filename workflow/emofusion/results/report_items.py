"""The entries of `snakemake --report`: which output appears where in the HTML report, labelled by
what it shows (:data:`REPORT_ITEMS`, read when the workflow is parsed, through :func:`report_flag`
and ``report_item()`` in workflow/rules/common.smk). No rule's script imports this module, so
reordering the report re-runs no job.
"""

from __future__ import annotations

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
