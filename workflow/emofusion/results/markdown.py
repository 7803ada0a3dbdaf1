"""Tables as text: number cells, markdown pipe tables and TSV text, and their rendering as a
standalone HTML page for `snakemake --report` (:func:`md_to_html`, :func:`tsv_to_html`; the
rankings' and the fusion summary's pages, :func:`write_report_tables`). Our markdown is only ever a
``# `` title, paragraphs and one pipe table; nothing more is rendered.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from ..errors import DataError
from ..io import atomic_write_text


def fmt3(x: float | None) -> str:
    """A number as a markdown cell: 3 decimals; ``""`` for None or NaN."""
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.3f}"


def fmt6(x: float | None) -> str:
    """A number as a TSV cell: 6 decimals; ``""`` for None or NaN."""
    return "" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.6f}"


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A markdown pipe table of ``header`` and ``rows`` (cells already text)."""
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(out) + "\n"


def tsv_text(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """The text of a TSV file: ``header``, then ``rows`` (cells already text), one line each."""
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


def write_md(out_md: str | Path, text: str, out_html: str | Path | None) -> None:
    """``text`` as ``out_md`` and, when ``out_html`` is given, as its HTML page (:func:`md_to_html`), atomically."""
    atomic_write_text(out_md, text)
    if out_html is not None:
        atomic_write_text(out_html, md_to_html(text))


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
    text = f"# {title}\n\n{note} Source: `{tsv}`.\n\n" + md_table(lines[0], lines[1:])
    atomic_write_text(out_html, md_to_html(text))
    print(f"read {tsv} ({len(lines) - 1} rows); wrote {out_html}")


def write_report_tables(unimodal_tsv: str | Path, runs_tsv: str | Path, summary_tsv: str | Path,
                        out_unimodal: str | Path, out_runs: str | Path, out_summary: str | Path, *,
                        top_unimodal: int, top_fusion: int) -> None:
    """The rankings and the fusion summary as HTML tables for `snakemake --report` (the
    ``report_tables`` rule's job)."""
    by = "ranked by mean dev CCC (DE+HU, mean over seeds); 'selected' = 1"
    tsv_to_html(unimodal_tsv, "Unimodal ranking", f"The 12 unimodal runs, {by}: the top {top_unimodal}, whose "
                "pairs make the bimodal runs.", out_unimodal)
    tsv_to_html(runs_tsv, "Ranking of all runs", f"Unimodal and bimodal runs, {by}: the top {top_fusion}, fed "
                "to the fusion.", out_runs)
    tsv_to_html(summary_tsv, "Fusion summary", "CCC of every fusion stage, protocol, split and culture "
                "(in-sample: the paper's protocol, fitted and scored on dev; grouped-cv: held-out recordings).",
                out_summary)
