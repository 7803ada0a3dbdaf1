"""Check an AVEC 2019 CES data root before a long run (``emofusion validate DIR``).

The checks are the library's readers themselves (``emofusion.data.layout``, ``.recordings``,
``.alignment``): the feature and label caches that the workflow trains on are built through the same
functions, so data that ``validate`` rejects never reaches a training job. In this order (the first problem
is raised as ONE :class:`~emofusion.errors.DataError` naming the file and line or column):

1. the labels folder exists and every ``.csv`` in it has a valid name ``<Train|Devel|Test>_<DE|HU|CN>_<NN>``
   (NN from 01); every label file is UTF-8 (a byte-order mark is fine), has no blank line inside,
   parses (separator, quoting, numeric cells, no NaN/inf, no ragged rows), has the ``arousal``,
   ``valence`` and ``liking`` columns, one recording name matching its file name, timestamps
   increasing in 0.1 s steps, and every label within ``label_range`` (the AVEC range [-1, 1] by
   default). ``<root>/test_labels/`` (generated corpus only) is checked the same way.
2. every feature set holds the same recordings as the labels (Train, Devel) and as each other
   (Test included) (file names only);
3. for each feature set: every file parses as above, values within float32's range, its time column
   increases at the set's rate (0.1 s for 0.1 s sets; 0.01 s for LLD sets; any rate for video sets),
   the dim is the same in every file, and the file is placed on its label frames by time: a late or
   early start, a gap, or a length difference beyond ``pad_tolerance`` label frames is an error;
   within it the correction is a warning naming the file (``alignment`` module docstring). A set
   given ``--formats fau=openface`` is read as OpenFace 2.0 CSVs (``openface`` module docstring).

:func:`validate_root` returns a :class:`Report` (its ``warnings`` hold the corrections);
:func:`format_report` renders the summary table (feature set x partition: recordings, native
rows, aligned label frames, dim, rate).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..data_spec import CULTURES
from ..errors import ConfigError, DataError
from .alignment import MAX_FRAMES, PAD_TOLERANCE, iter_aligned
from .feature_sets import FEATURE_SETS, get_feature_set
from .layout import FRAME_S, PARTITIONS, folder_problem, parse_name
from .recordings import LABEL_RANGE, check_recording_sets, label_index


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
    warnings: list[str] = field(default_factory=list)  # corrections within the tolerance, one per file


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


def parse_format_overrides(items: Iterable[str] | None) -> dict[str, str]:
    """``["fau=openface"]`` -> ``{"fau": "openface"}`` (each checked: a known format the set may take)."""
    from .openface import check_format

    out = {}
    for item in items or ():
        key, sep, fmt = item.partition("=")
        if not sep or not key or not fmt:
            raise ConfigError(f"--formats {item!r}: expected KEY=FORMAT (e.g. fau=openface)")
        get_feature_set(key)
        out[key] = check_format(key, fmt, f"--formats {item}")
    return out


def parse_label_range(text: str | None) -> tuple[float, float] | None:
    """``"-1,1"`` -> ``(-1.0, 1.0)``; None (not given) stays None: the library default, which
    :class:`~emofusion.data_spec.DataSpec` resolves."""
    if text is None:
        return None
    try:
        lo, hi = (float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"--label-range {text!r}: expected LO,HI (e.g. -1,1)") from None
    if not lo < hi:
        raise ConfigError(f"--label-range {text!r}: LO must be below HI")
    return lo, hi


def _check_set(root: Path, key: str, folder: str, labels: Mapping[str, tuple[int, float]],
               names: list[str], window_s: float, pad_tolerance: int, max_frames: int,
               warnings: list[str], fmt: str = "avec") -> SetReport:
    fs = FEATURE_SETS[key]
    feat_dir = root / folder
    dim = None
    steps = []
    parts: dict[str, PartStats] = {}
    for n, _, A, step, rows in iter_aligned(feat_dir, names, labels, fs, window_s=window_s,
                                            pad_tolerance=pad_tolerance, max_frames=max_frames,
                                            warn=warnings.append, fmt=fmt):
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
                  formats: Mapping[str, str] | None = None,
                  partitions: Iterable[str] = PARTITIONS, cultures: Iterable[str] = CULTURES,
                  labels_folder: str = "labels", window_s: float = FRAME_S, pad_tolerance: int = PAD_TOLERANCE,
                  max_frames: int = MAX_FRAMES, label_range: tuple[float, float] = LABEL_RANGE) -> Report:
    """Check a data root (see the module docstring); the first problem is raised as a DataError.
    ``formats``: ``{key: format}`` of the sets whose files are not in the AVEC layout (``fau: openface``)."""
    root = Path(root)
    if not root.is_dir():
        raise DataError(root, "data root not found")
    partitions, cultures = tuple(partitions), tuple(cultures)
    folders = dict(folders or {})
    formats = dict(formats or {})
    for k in folders:
        get_feature_set(k)
    from .openface import check_format

    for k, fmt in formats.items():
        get_feature_set(k)
        check_format(k, fmt, f"format of {k}")
    ldir = root / labels_folder
    labels = label_index(ldir, partitions, cultures, label_range)
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
        for n in label_index(tdir, ("Test",), cultures, label_range):
            c = parse_name(n)[1]
            test_counts[c] = test_counts.get(c, 0) + 1

    explicit = sets is not None
    keys = list(sets) if explicit else list(FEATURE_SETS)
    for k in keys:
        get_feature_set(k)
    present, absent = {}, []
    for k in keys:
        folder = folders.get(k, FEATURE_SETS[k].folder)
        if not (root / folder).is_dir():
            if (root / folder).exists() or (root / folder).is_symlink():  # a file or a bad link, not absent
                raise DataError(root / folder, folder_problem(root / folder, f"feature folder for {k!r}"))
            if explicit:
                raise DataError(root / folder, f"feature folder for {k!r} not found (asked for with --sets)")
            absent.append(k)
            continue
        present[k] = folder
    names = check_recording_sets(root, present, partitions=partitions, cultures=cultures,
                                 labels_folder=labels_folder)
    warnings: list[str] = []
    reports = [_check_set(root, k, folder, labels, names[k], window_s, pad_tolerance, max_frames, warnings,
                          formats.get(k, "avec"))
               for k, folder in present.items()]
    return Report(root=root, labels_folder=labels_folder, label_counts=counts, label_frames=frames,
                  test_label_counts=test_counts, sets=reports, absent=absent, warnings=warnings)


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
    if rep.warnings:
        lines.append(f"{len(rep.warnings)} file(s) corrected within the tolerance:")
        lines += [f"warning: {w}" for w in rep.warnings]
    lines.append(f"OK: {len(rep.sets)} feature set(s) and {sum(rep.label_counts.values())} label files checked")
    return "\n".join(lines)
