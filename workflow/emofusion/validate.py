"""Check an AVEC 2019 CES data root before a long run (``emofusion validate DIR``).

What is checked, in this order (the first problem found is raised as ONE
:class:`~emofusion.errors.DataError` naming the file and line or column):

1. the labels folder exists and every ``.csv`` in it has a valid name ``<Train|Devel|Test>_<DE|HU|CN>_<NN>``
   (NN from 01); every label file parses (separator, quoting, numeric cells, no NaN/inf, no ragged
   rows), has the ``arousal``, ``valence`` and ``liking`` columns, one recording name matching its file
   name, timestamps increasing in 0.1 s steps, and every label within ``[-LABEL_LIMIT, LABEL_LIMIT]``
   (AVEC labels lie in [-1, 1]; ``LABEL_LIMIT = 1.05`` allows a small margin for rounding and
   generated data). ``<root>/test_labels/`` (generated corpus only) is checked the same way.
2. for each feature set: its folder exists (an error for sets asked for by ``sets``; otherwise
   absent sets are only listed), every label file has its feature file and every Train/Devel feature
   file has a label file, every feature file parses as above, its time column increases at the set's
   rate (median step 0.1 s for 0.1 s sets, which must also be regular; 0.01 s for LLD sets; any rate
   for video sets), the dim is the same in every file, and no file is more than ``pad_tolerance``
   label frames shorter than its labels.

:func:`validate_root` returns a :class:`Report`; :func:`format_report` renders the summary table
(feature set x partition: recordings, native rows, aligned label frames, dim, rate).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import TARGETS
from .corpus import FRAME_S, PARTITIONS, list_recordings, parse_name, read_label_file
from .errors import ConfigError, DataError
from .features import (
    FEATURE_SETS,
    MAX_FRAMES,
    PAD_TOLERANCE,
    expected_recordings,
    get_feature_set,
    iter_aligned,
)

LABEL_LIMIT = 1.05  # |label| allowed: AVEC labels lie in [-1, 1], plus a 0.05 margin


@dataclass
class PartStats:
    recordings: int = 0
    rows: int = 0  # native rows in the files
    frames: int = 0  # aligned label frames


@dataclass
class SetReport:
    key: str
    folder: str
    dim: int
    registry_dim: int
    rate_min_hz: float
    rate_max_hz: float
    parts: dict[str, PartStats] = field(default_factory=dict)


@dataclass
class Report:
    root: Path
    labels_folder: str
    label_counts: dict[tuple[str, str], int]  # (partition, culture) -> recordings
    label_frames: dict[str, int]  # partition -> frames
    test_label_counts: dict[str, int]  # culture -> recordings in test_labels/ (generated corpus)
    sets: list[SetReport]
    absent: list[str]  # registry sets whose folder is not there (not asked for explicitly)


def parse_folder_overrides(items: Iterable[str] | None) -> dict[str, str]:
    """``["deepspectrum=my_folder", ...]`` -> ``{"deepspectrum": "my_folder"}``."""
    out = {}
    for item in items or ():
        key, sep, folder = item.partition("=")
        if not sep or not key or not folder:
            raise ConfigError(f"--folders {item!r}: expected KEY=FOLDER")
        get_feature_set(key)
        out[key] = folder
    return out


def check_label_file(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one label file with every check above; returns ``(times, values (n, 3))``."""
    _, _, nn = parse_name(path.stem, path)
    if nn < 1:
        raise DataError(path, f"recording number {nn:02d}: numbers are 1-based (01, 02, ...)")
    times, y = read_label_file(path)
    bad = np.argwhere(np.abs(y) > LABEL_LIMIT)
    if bad.size:
        r, c = (int(v) for v in bad[0])
        with open(path) as fh:
            has_header = fh.readline().lstrip().lstrip("'\"").startswith("name")
        raise DataError(path, f"{TARGETS[c]} = {y[r, c]:.6f} outside [-{LABEL_LIMIT}, {LABEL_LIMIT}] "
                              "(AVEC labels lie in [-1, 1])", line=r + 1 + int(has_header), column=TARGETS[c])
    return times, y


def _check_label_dir(folder: Path, partitions: tuple[str, ...], cultures: tuple[str, ...]):
    index: dict[str, tuple[int, float]] = {}
    for n in list_recordings(folder, partitions, cultures):
        times, _ = check_label_file(folder / f"{n}.csv")
        index[n] = (int(times.size), float(times[0]))
    return index


def _check_set(root: Path, key: str, folder: str, labels: Mapping[str, tuple[int, float]],
               partitions: tuple[str, ...], cultures: tuple[str, ...], window_s: float, pad_tolerance: int,
               max_frames: int) -> SetReport:
    fs = FEATURE_SETS[key]
    feat_dir = root / folder
    names = expected_recordings(feat_dir, labels, partitions, cultures)
    for n in names:
        if parse_name(n)[2] < 1:
            raise DataError(feat_dir / f"{n}.csv", "recording number 00: numbers are 1-based (01, 02, ...)")
    dim = None
    steps = []
    parts: dict[str, PartStats] = {}
    for n, _, A, step, rows in iter_aligned(feat_dir, names, labels, fs, window_s=window_s,
                                            pad_tolerance=pad_tolerance, max_frames=max_frames):
        dim = A.shape[1]
        if step is not None:
            steps.append(step)
        ps = parts.setdefault(parse_name(n)[0], PartStats())
        ps.recordings += 1
        ps.rows += rows
        ps.frames += A.shape[0]
    rates = [1.0 / s for s in steps] or [1.0 / FRAME_S]
    return SetReport(key=key, folder=folder, dim=int(dim or 0), registry_dim=fs.dim, rate_min_hz=min(rates),
                     rate_max_hz=max(rates), parts=parts)


def validate_root(root: str | Path, *, sets: Iterable[str] | None = None, folders: Mapping[str, str] | None = None,
                  partitions: Iterable[str] = PARTITIONS, cultures: Iterable[str] = ("DE", "HU"),
                  labels_folder: str = "labels", window_s: float = FRAME_S, pad_tolerance: int = PAD_TOLERANCE,
                  max_frames: int = MAX_FRAMES) -> Report:
    """Check a data root (see the module docstring); the first problem is raised as a DataError."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "data root not found")
    partitions, cultures = tuple(partitions), tuple(cultures)
    folders = dict(folders or {})
    for k in folders:
        get_feature_set(k)
    ldir = root / labels_folder
    if not ldir.is_dir():
        raise DataError(ldir, "labels folder not found")
    labels = _check_label_dir(ldir, partitions, cultures)
    if not labels:
        raise DataError(ldir, f"no label files for partitions {'/'.join(partitions)} and cultures {'/'.join(cultures)}")
    counts: dict[tuple[str, str], int] = {}
    frames: dict[str, int] = {}
    for n, (t, _) in labels.items():
        p, c, _ = parse_name(n)
        counts[(p, c)] = counts.get((p, c), 0) + 1
        frames[p] = frames.get(p, 0) + t
    test_counts: dict[str, int] = {}
    tdir = root / "test_labels"
    if tdir.is_dir():
        for n in _check_label_dir(tdir, ("Test",), cultures):
            c = parse_name(n)[1]
            test_counts[c] = test_counts.get(c, 0) + 1

    explicit = sets is not None
    keys = list(sets) if explicit else list(FEATURE_SETS)
    for k in keys:
        get_feature_set(k)
    reports, absent = [], []
    for k in keys:
        folder = folders.get(k, FEATURE_SETS[k].folder)
        if not (root / folder).is_dir():
            if explicit:
                raise DataError(root / folder, f"feature folder for {k!r} not found (asked for with --sets)")
            absent.append(k)
            continue
        reports.append(_check_set(root, k, folder, labels, partitions, cultures, window_s, pad_tolerance,
                                  max_frames))
    return Report(root=root, labels_folder=labels_folder, label_counts=counts, label_frames=frames,
                  test_label_counts=test_counts, sets=reports, absent=absent)


def _rate(r: SetReport) -> str:
    if abs(r.rate_max_hz - r.rate_min_hz) <= 1e-3 * r.rate_max_hz:
        return f"{r.rate_min_hz:g}"
    return f"{r.rate_min_hz:.3g}-{r.rate_max_hz:.3g}"


def format_report(rep: Report) -> str:
    """Human-readable summary: label counts, then one table row per feature set x partition."""
    lines = [f"data root: {rep.root}"]
    parts = [p for p in PARTITIONS if any(k[0] == p for k in rep.label_counts)]
    for p in parts:
        per = ", ".join(f"{c} {n}" for (pp, c), n in sorted(rep.label_counts.items()) if pp == p)
        lines.append(f"labels {p:<5}: {per}  ({rep.label_frames.get(p, 0)} frames)")
    if rep.test_label_counts:
        per = ", ".join(f"{c} {n}" for c, n in sorted(rep.test_label_counts.items()))
        lines.append(f"test_labels/: {per} (used for scoring only)")
    if rep.sets:
        lines.append("")
        head = f"{'feature set':<14} {'folder':<36} {'partition':<9} {'recordings':>10} {'rows':>9} " \
               f"{'frames':>8} {'dim':>5} {'rate_hz':>9}"
        lines += [head, "-" * len(head)]
        for r in rep.sets:
            dim = f"{r.dim}" + ("" if r.dim == r.registry_dim else "*")
            for p in PARTITIONS:
                if p not in r.parts:
                    continue
                s = r.parts[p]
                lines.append(f"{r.key:<14} {r.folder:<36} {p:<9} {s.recordings:>10} {s.rows:>9} {s.frames:>8} "
                             f"{dim:>5} {_rate(r):>9}")
        if any(r.dim != r.registry_dim for r in rep.sets):
            lines.append("* dim differs from the AVEC 2019 dim of the set (fine for a reduced generated corpus)")
    else:
        lines.append("no feature set folders present: labels only")
    if rep.absent:
        lines.append(f"not present (skipped, not asked for): {', '.join(rep.absent)}")
    lines.append(f"OK: {len(rep.sets)} feature set(s) and {sum(rep.label_counts.values())} label files checked")
    return "\n".join(lines)
