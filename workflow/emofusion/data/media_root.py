"""A media data root: media files paired with label files, one kind of media per folder.

An audio root (:mod:`emofusion.data.audio`) and a video root (:mod:`emofusion.data.video`) share
their rules: ``<root>/<folder>/<Partition>_<Culture>_<NN>.<suffix>`` beside ``<root>/labels/``
(same names). Every label file must have its media file and every Train/Devel media file its label
file (Test ones may go without); every media file must be readable (the kind's info reader says
so) and not more than a tolerance of label frames (0.1 s) shorter than its labels. Each rule
broken is one :class:`~emofusion.errors.DataError` naming the file, worded for the kind
(:class:`MediaKind`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import DataError
from .layout import FRAME_S, NAME_RE, PARTITIONS, list_recordings, parse_name


@dataclass(frozen=True)
class MediaKind:
    """What tells one kind of media root from another: its words, suffixes and info reader."""

    word: str  # "audio": the folder's name and the word of the messages
    a_root: str  # "an audio data root"
    suffixes: tuple[str, ...]  # allowed file suffixes, lower case, with the dot
    files: str  # "WAV files": the plural of the "none found" message
    missing: Callable[[str], str]  # recording -> what a label file lacks: "audio/x.wav not found"
    read_info: Callable[[Path], Any]  # path -> info with ``duration_s``; DataError where unreadable
    one_file_each: bool = False  # a second file of one recording (another suffix) is an error

    @property
    def exts(self) -> str:
        """The suffixes allowed, for messages: ``mp4|avi``."""
        return "|".join(s[1:] for s in self.suffixes)


def check_media_file(path: Path, word: str, a_file: str) -> None:
    """DataError where the media file ``path`` is missing or empty (``a_file``: "a WAV")."""
    if not path.is_file():
        raise DataError(path, f"{word} file not found")
    if path.stat().st_size == 0:
        raise DataError(path, f"empty file (0 bytes): not {a_file}")


def label_frames(path: Path) -> int:
    """Data rows of a label file (its line count; the label file itself is checked by its reader)."""
    with open(path, "rb") as fh:
        lines = [ln for ln in fh.read().splitlines() if ln.strip()]
    return max(len(lines) - 1, 0)


def list_media(kind: MediaKind, folder: Path, parts: set[str], cults: set[str]) -> dict[str, Path]:
    """``{recording: file}`` of ``folder`` for ``parts`` x ``cults``; any other file but a hidden one
    is a DataError."""
    out: dict[str, Path] = {}
    for f in sorted(folder.iterdir()):
        if f.name.startswith("."):
            continue
        if f.suffix.lower() not in kind.suffixes or not NAME_RE.match(f.stem):
            raise DataError(f, f"unexpected file in the {kind.word} folder: expected "
                               f"<Train|Devel|Test>_<DE|HU|CN>_<NN>.{kind.exts}")
        if kind.one_file_each and f.stem in out:
            raise DataError(f, f"two {kind.files} of one recording: {out[f.stem].name} and {f.name}")
        p, c, _ = parse_name(f.stem, f)
        if p in parts and c in cults:
            out[f.stem] = f
    return out


def check_media_root(kind: MediaKind, root: str | Path, *, partitions: Iterable[str] = PARTITIONS,
                     cultures: Iterable[str] = ("DE", "HU"), labels_folder: str | None = "labels",
                     tolerance_frames: int = 10) -> dict[str, Any]:
    """Check a media root of ``kind``; ``{recording: info}`` for ``partitions`` x ``cultures``
    (module docstring). ``labels_folder=None``: recordings without labels, no pairing checked."""
    root = Path(root)
    mdir, ldir = root / kind.word, root / (labels_folder or "labels")
    if not mdir.is_dir():
        raise DataError(mdir, f"{kind.word} folder not found: {kind.a_root} holds {kind.word}/"
                              f"<Partition>_<Culture>_<NN>.{kind.exts}")
    if labels_folder is not None and not ldir.is_dir():
        raise DataError(ldir, "labels folder not found")
    parts, cults = set(partitions), set(cultures)
    media = list_media(kind, mdir, parts, cults)
    labels = {n: ldir / f"{n}.csv" for n in list_recordings(ldir, parts, cults)} if labels_folder is not None else {}
    for n in sorted(labels):
        if n not in media:
            raise DataError(labels[n], f"label file without its {kind.word}: {kind.missing(n)}")
    for n in sorted(media):
        if n not in labels and parse_name(n)[0] != "Test" and labels_folder is not None:
            raise DataError(media[n], f"{kind.word} without its label file: {labels_folder}/{n}.csv not found")
    if not media:
        raise DataError(mdir, f"no {kind.files} for partitions {'/'.join(sorted(parts))} and cultures "
                              f"{'/'.join(sorted(cults))}")
    out = {}
    for n, f in sorted(media.items()):
        info = kind.read_info(f)
        if n in labels:
            need = label_frames(labels[n])
            have = int(math.floor(info.duration_s / FRAME_S + 1e-9))
            if need - have > tolerance_frames:
                raise DataError(f, f"{kind.word} much shorter than its labels: {info.duration_s:.2f} s of "
                                   f"{kind.word}, {need} label frames ({need * FRAME_S:.1f} s) in {labels[n]} "
                                   f"(tolerance {tolerance_frames} frames)")
        out[n] = info
    return out


def summary_table(infos: Mapping[str, Any], head: str, columns: str,
                  describe: Callable[[Sequence], str]) -> str:
    """``emofusion validate``'s summary of a checked media root: ``head``, then one row a partition
    (files, minutes, then ``describe(infos of the partition)`` under the heading ``columns``)."""
    lines = [head, f"{'partition':<10} {'files':>5} {'minutes':>8}  {columns}"]
    for p in PARTITIONS:
        sel = [i for n, i in infos.items() if n.startswith(p + "_")]
        if not sel:
            continue
        lines.append(f"{p:<10} {len(sel):>5} {sum(i.duration_s for i in sel) / 60:>8.2f}  {describe(sel)}")
    return "\n".join(lines)
