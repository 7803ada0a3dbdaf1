"""What a finished run found, in a few lines: the end-of-run summary (Snakemake ``onsuccess``) and the
planted-ranking check of a generated corpus (``results/ranking/planted_check.{json,txt}``).

Both read a run's files only (``results/``); nothing here imports snakemake, torch or mlflow.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

from ..errors import DataError
from ..io import atomic_write_json, atomic_write_text
from ..tracking import WORKFLOW_TYPE, ui_command  # mlflow itself is imported there only inside functions

#: the MLflow UI address the README and the summary give (loopback only)
UI_ADDRESS = "http://127.0.0.1:5000"



# ---------------------------------------------------------------------------------------------
# the planted-ranking check (generated corpus only)

def planted_check(unimodal_tsv: str | Path, truth_json: str | Path) -> dict:
    """How well the unimodal ranking recovers the corpus' planted truth (see
    :func:`emofusion.results.ranking.planted_agreement`), as a JSON-ready dict with its inputs named."""
    from .ranking import planted_agreement

    return {"ranking": str(unimodal_tsv), "truth": str(truth_json), **planted_agreement(unimodal_tsv, truth_json)}


def format_planted_check(c: dict) -> str:
    """The check as text: one headline, then each set's measured mean dev CCC and planted informativeness."""
    noise = ", ".join(f"{s} {v:.3f}" for s, v in c["noise_mean"].items()) or "none"
    lines = ["Planted-ranking check (generated corpus: it checks the machinery, not the paper's claims)",
             f"Spearman {c['spearman']:.3f} over {c['n_sets']} sets between each set's mean dev CCC "
             f"({c['ranking']}) and its planted mean informativeness ({c['truth']})",
             f"best set {c['best']} {c['best_mean']:.3f}; noise-only sets: {noise}",
             "",
             f"{'set':<16} {'dev CCC':>8} {'planted':>8}"]
    for s in sorted(c["measured"], key=lambda s: -c["measured"][s]):
        if s in c["planted"]:
            lines.append(f"{s:<16} {c['measured'][s]:>8.3f} {c['planted'][s]:>8.3f}")
    return "\n".join(lines) + "\n"


def write_planted_check(unimodal_tsv: str | Path, truth_json: str | Path, out_json: str | Path,
                        out_txt: str | Path) -> dict:
    c = planted_check(unimodal_tsv, truth_json)
    atomic_write_json(out_json, c)
    atomic_write_text(out_txt, format_planted_check(c))
    print(format_planted_check(c), end="")
    return c


# ---------------------------------------------------------------------------------------------
# the end-of-run summary

def runs_view_url(tracking: dict, address: str = UI_ADDRESS) -> str:
    """The saved runs view of the experiment, with the parameter that makes MLflow 3 open it as a
    training (not GenAI) experiment."""
    path = tracking.get("runs_view") or f"/#/experiments/{tracking['experiment_id']}/runs"
    if "workflowType=" not in path:
        path += ("&" if "?" in path else "?") + WORKFLOW_TYPE
    return address.rstrip("/") + path


def _table3_lines(tsv: Path) -> list[str]:
    with tsv.open(newline="") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    has_test = bool(rows) and "test_mean" in rows[0]
    head = f"  {'method':<26} {'protocol':<11} {'chosen':<24} {'a':>6} {'v':>6} {'l':>6} {'mean':>6}"
    lines = [head + (f" {'test mean':>9}" if has_test else "")]
    for r in rows:
        if not r.get("dev_mean"):
            continue  # the baseline row: not re-run
        choice = r["choice"] if len(r["choice"]) <= 24 else r["choice"][:21] + "..."
        cells = " ".join(f"{float(r[f'dev_{c}']):>6.3f}" for c in ("arousal", "valence", "liking", "mean"))
        line = f"  {r['label'][:26]:<26} {r['protocol'] or '-':<11} {choice:<24} {cells}"
        if has_test and r.get("test_mean"):
            line += f" {float(r['test_mean']):>9.3f}"
        lines.append(line)
    return lines


def run_summary(results: str | Path = "results", *, generated: bool | None = None) -> str:
    """The end-of-run summary of ``results``: Table 3's rows (dev CCC, DE+HU), the planted-ranking
    check (generated corpus), where the tables, figures and report are, the MLflow UI command and the
    URL of the saved runs view. Parts whose files a run did not make (another target) are left out."""
    root = Path(results)
    if generated is None:  # the workflow passes its own decision (is_generated); alone: a built-in corpus
        generated = (root / "corpus" / "truth.json").is_file()
    out = ["", "=" * 78, "emofusion: what this run found"
           + (" (generated corpus: the numbers demonstrate the machinery, not the paper's claims)"
              if generated else " (real AVEC 2019 CES data)")]
    t3 = root / "tables" / "table3.tsv"
    if t3.is_file():
        out += ["", "Table 3, dev CCC (DE+HU); the unimodal/bimodal rows and every fused row are chosen on dev:",
                *_table3_lines(t3)]
    check = root / "ranking" / "planted_check.json"
    if check.is_file():
        c = json.loads(check.read_text())
        out += ["", f"Planted-ranking check: Spearman {c['spearman']:.3f} over {c['n_sets']} sets (measured "
                    f"mean dev CCC vs truth.json); best set {c['best']} {c['best_mean']:.3f}  ({check.with_suffix('.txt')})"]
    files = [(label, root / rel) for label, rel in (
        ("Table 3", "tables/table3.md"), ("Fig. 3", "figures/fig3.png"),
        ("runs overview", "figures/runs_overview.png"), ("comparisons", "tables/comparisons.md"))]
    have = [(label, p) for label, p in files if p.is_file()]
    if have:
        out += ["", "Read:"] + [f"  {label:<14} {p}" for label, p in have]
    report = root / "report.html"
    out += [f"  {'report':<14} {report}" if report.is_file() else
            f"  {'report':<14} snakemake --report {report}   (builds the HTML report of tables and figures)"]
    tracking = root / "tracking.json"
    if tracking.is_file():
        from ..formats import read_tracking

        try:
            tr = read_tracking(tracking)
        except DataError as exc:
            out += ["", f"MLflow: {exc}"]
        else:
            uri = tr["tracking_uri"]
            db = root / "mlflow.db"
            if uri.startswith("sqlite:") and db.is_file():
                uri = f"sqlite:///{db}"
            out += ["", "MLflow (training runs and fusion stages, best first):"]
            out += ([f"  {ui_command(uri)}", f"  then open {runs_view_url(tr)}"] if uri.startswith("sqlite:")
                    else [f"  open {runs_view_url(tr, uri)}"])  # a tracking server: its own UI
    out.append("=" * 78)
    return "\n".join(out) + "\n"


def print_summary(results: str | Path = "results", *, generated: bool | None = None) -> None:
    """``onsuccess``: print the summary; a summary that cannot be made is one line, never a failed run."""
    import sys

    try:
        text = run_summary(results, generated=generated)
    except (OSError, ValueError, KeyError, DataError) as exc:
        print(f"emofusion: no end-of-run summary ({exc})", file=sys.stderr)
        return
    print(text, end="", file=sys.stderr)
