"""Recordings: which recordings a data root's labels and feature folders hold, and must hold.

Label files of the chosen partitions and cultures are listed with their names checked (numbers are
1-based) and read with every check, values within ``label_range`` (:data:`LABEL_RANGE` unless
configured). A feature folder must hold every label file's recording and no Train or Devel
recording without labels (a Test recording may have none). Across sets, every feature folder and the
labels hold the same recordings (file names only, no file parsed). Every mismatch is one
:class:`~emofusion.errors.DataError` naming the missing file.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from ..data_spec import CULTURES, LABEL_RANGE, DataSpec
from ..errors import DataError
from .feature_sets import get_feature_set
from .layout import PARTITIONS, folder_problem, list_recordings, parse_name, read_label_file


def _check_numbers(folder: Path, names: Iterable[str]) -> None:
    for n in names:
        if parse_name(n)[2] < 1:
            raise DataError(folder / f"{n}.csv", "recording number 00: numbers are 1-based (01, 02, ...)")


def label_names(ldir: Path, partitions: Iterable[str], cultures: Iterable[str]) -> list[str]:
    """Label recordings of ``partitions`` x ``cultures`` in ``ldir`` (checked names, 1-based numbers)."""
    if not ldir.is_dir():
        raise DataError(ldir, folder_problem(ldir, "labels folder"))
    names = list_recordings(ldir, partitions, cultures)
    _check_numbers(ldir, names)
    return names


def label_index(ldir: Path, partitions: Iterable[str], cultures: Iterable[str],
                label_range: tuple[float, float] | None = LABEL_RANGE) -> dict[str, tuple[int, float]]:
    """``{name: (label frames, first label timestamp)}`` of the label files present, each read with
    every check (range included)."""
    out = {}
    for n in label_names(ldir, tuple(partitions), tuple(cultures)):
        times, _ = read_label_file(ldir / f"{n}.csv", label_range)
        out[n] = (int(times.size), float(times[0]))
    return out


def expected_recordings(feat_dir: Path, labels: Mapping[str, tuple[int, float]], partitions: tuple[str, ...],
                        cultures: tuple[str, ...]) -> list[str]:
    """Recordings a feature folder must hold: every label file's, plus its unlabelled Test files.

    A missing feature file for a label file, or a Train/Devel feature file without labels, is a DataError.
    """
    if not feat_dir.is_dir():
        raise DataError(feat_dir, folder_problem(feat_dir, "feature folder"))
    present = set(list_recordings(feat_dir, partitions, cultures))
    _check_numbers(feat_dir, sorted(present))
    for n in sorted(labels):
        if n not in present:
            raise DataError(feat_dir / f"{n}.csv", f"missing recording: label file {n}.csv has no feature file here")
    for n in sorted(present - set(labels)):
        if parse_name(n)[0] != "Test":
            raise DataError(feat_dir / f"{n}.csv", f"feature file without a label file ({n}.csv not in the labels folder)")
    return sorted(present | set(labels))


def check_recording_sets(root: str | Path, folders: Mapping[str, str], *, partitions: Iterable[str] = PARTITIONS,
                         cultures: Iterable[str] = CULTURES, labels_folder: str = "labels") -> dict[str, list[str]]:
    """The same recordings in every feature folder and in the labels, every partition (Test included).

    Train/Devel: each folder holds exactly the label files' recordings. Test (no labels on real data):
    every folder holds every Test recording that any folder, ``labels/`` or ``test_labels/`` holds.
    File names only (no file is parsed). Returns ``{set key: recordings}``; the first mismatch is a
    DataError naming the missing file and where the recording was seen.
    """
    root = Path(root)
    partitions, cultures = tuple(partitions), tuple(cultures)
    ldir = root / labels_folder
    labelled = set(label_names(ldir, partitions, cultures))
    seen: dict[str, str] = {n: labels_folder for n in labelled}
    tdir = root / "test_labels"
    if "Test" in partitions and tdir.is_dir():
        for n in label_names(tdir, ("Test",), cultures):
            seen.setdefault(n, "test_labels")
    per = {}
    for key, folder in folders.items():
        get_feature_set(key)
        labels = {n: (0, 0.0) for n in labelled}
        per[key] = expected_recordings(root / folder, labels, partitions, cultures)
        for n in per[key]:
            seen.setdefault(n, folder)
    for key, folder in folders.items():
        have = set(per[key])
        for n in sorted(seen):
            if n not in have:
                raise DataError(root / folder / f"{n}.csv", f"missing recording: {n} is in {seen[n]}/ but not in "
                                                           f"{folder}/ (every feature set needs the same recordings)")
    return per


def check_inputs_job(out_json: str | Path, *, data_root: str | Path, folders: Mapping[str, str],
                     data: DataSpec) -> None:
    """The workflow's ``check_inputs`` job: the cross-file input check (:func:`check_recording_sets`;
    the caches check each file) over the cultures of ``data``. Writes ``{"data_root": ...,
    "recordings": {set: [recordings]}}``."""
    from ..io import atomic_write_json

    per = check_recording_sets(data_root, dict(folders), cultures=data.cultures)
    atomic_write_json(out_json, {"data_root": str(data_root), "recordings": per})
