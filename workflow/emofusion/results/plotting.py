"""What every figure shares: matplotlib on the Agg backend (no display needed), imported only when
a figure is drawn, and saving a figure as PNG and SVG atomically, the SVG deterministic
(``svg.hashsalt``, no date) with its text kept as text.
"""

from __future__ import annotations

from pathlib import Path

from ..io import atomic_path


def pyplot():
    """``matplotlib.pyplot``, on the Agg backend."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def save_and_close(fig, out_png: str | Path, out_svg: str | Path) -> None:
    """Save a figure as PNG and SVG (text kept as text in the SVG), atomically; then close it."""
    try:
        _save(fig, out_png, out_svg)
    finally:
        pyplot().close(fig)


def _save(fig, out_png: str | Path, out_svg: str | Path) -> None:
    """PNG at 150 dpi; SVG with text as text, a fixed hash salt and no date (same figure, same bytes)."""
    import matplotlib

    for out, kw in ((Path(out_png), {"dpi": 150}), (Path(out_svg), {})):
        with atomic_path(out) as tmp, matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "emofusion"}):
            fig.savefig(tmp, format=out.suffix.lstrip("."), bbox_inches="tight",
                        metadata={"Date": None} if out.suffix == ".svg" else None, **kw)
