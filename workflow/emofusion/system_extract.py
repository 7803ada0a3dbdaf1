"""The feature sets a trained system extracts itself: from ``audio/`` WAVs (eGeMAPS and MFCC LLDs,
their functionals and bags of audio words) and from ``video/`` files (face LLDs, functionals, bags
of visual words), as the workflow's extraction rules do (``workflow/rules/audio.smk``, ``video.smk``).

In the bundle (:func:`bundle_settings`, written by the ``system`` rule), such a set's entry of
``manifest.json`` ``feature_sets`` carries an ``extract`` block: ``source`` (audio or video), ``kind``
(lld, func or boaw), the LLD set, the window of functionals and bags, and for bags the Train-only
codebook the workflow learned, copied to ``extract/<name>.npz``. :func:`extract_missing` runs the
same library calls on a new data root for every such set whose feature folder the root lacks, so
``emofusion predict --data-root NEW`` takes ``NEW/audio`` and ``NEW/video`` as the workflow does.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from .errors import DataError

EXTRACT_DIR = "extract"
SOURCES = ("audio", "video")


def codebook_name(source: str, key: str) -> str:
    """The file name of a bag-of-words set's codebook under results/extracted/codebooks/ (and in the bundle)."""
    if source == "audio":
        from .data.audio import lld_of

        return f"{lld_of(key)}.npz"
    return "face.npz"


def kind_of(source: str, key: str) -> tuple[str, str]:
    """(LLD set, kind) of an extractable set: kind is lld, func or boaw."""
    if source == "audio":
        from .data.audio import EXTRACTABLE, lld_of

        lld_of(key)  # the ConfigError naming the extractable sets
        return EXTRACTABLE[key]
    from .data.video_config import EXTRACTABLE, folder_of

    folder_of(key)
    return "face", EXTRACTABLE[key]


def bundle_settings(key: str, extract: Mapping, codebooks: Sequence[str | Path], bundle_dir: Path) -> dict:
    """The manifest's ``extract`` block of set ``key`` (``extract``: source and window_s, from the
    workflow), copying the set's codebook (one of ``codebooks``) into ``bundle_dir/extract/``."""
    source, window_s = extract["source"], float(extract["window_s"])
    lld, kind = kind_of(source, key)
    out = {"source": source, "lld": lld, "kind": kind}
    if kind != "lld":
        out["window_s"] = window_s
    if kind == "boaw":
        name = codebook_name(source, key)
        src = next((Path(c) for c in codebooks if Path(c).name == name), None)
        if src is None:
            raise DataError(None, f"the codebook {name} of extracted set {key!r} is not among the system rule's inputs")
        (bundle_dir / EXTRACT_DIR).mkdir(exist_ok=True)
        shutil.copyfile(src, bundle_dir / EXTRACT_DIR / name)
        out["codebook"] = f"{EXTRACT_DIR}/{name}"
    return out


def _sources(root: Path, source: str) -> dict[str, Path]:
    """``{recording: file}`` of ``root/audio`` or ``root/video`` (names and files checked as the
    workflow checks its data root, no labels needed)."""
    from .data.layout import CULTURES, PARTITIONS

    if source == "audio":
        from .data.audio import check_audio_root

        infos = check_audio_root(root, partitions=PARTITIONS, cultures=CULTURES, labels_folder=None)
        return {n: root / "audio" / f"{n}.wav" for n in infos}
    from .data.video import check_video_root

    return {n: i.path for n, i in check_video_root(root, partitions=PARTITIONS, cultures=CULTURES,
                                                   labels_folder=None).items()}


def extract_missing(sets: Mapping[str, Mapping], root: str | Path, bundle_dir: str | Path, out_dir: str | Path,
                    warn: Callable[[str], None] = print) -> dict[str, Path]:
    """``{set: folder}`` to read each of ``sets`` (the manifest's ``feature_sets``) from: ``root/<folder>``
    where it exists (or the set is not extracted), else the set extracted from ``root/audio`` or
    ``root/video`` into ``out_dir/<folder>``. Extraction problems are one DataError naming the file."""
    root, bundle_dir, out_dir = Path(root), Path(bundle_dir), Path(out_dir)
    folders, todo = {}, {}
    for key, info in sets.items():
        folder = root / info["folder"]
        ex = info.get("extract")
        if folder.is_dir() or not ex:
            folders[key] = folder
            continue
        if not (root / ex["source"]).is_dir():
            raise DataError(folder, f"feature set {key!r} (folder {info['folder']}/) not found, nor {ex['source']}/ "
                                    f"to extract it from: the system needs it (sets: {', '.join(sets)})")
        todo[key] = info
    lld_files: dict[tuple[str, str], list[Path]] = {}
    for source in SOURCES:
        keys = [k for k, i in todo.items() if i["extract"]["source"] == source]
        if not keys:
            continue
        files = _sources(root, source)
        for lld in sorted({todo[k]["extract"]["lld"] for k in keys}):
            lld_files[(source, lld)] = [_extract_lld(source, lld, rec, f, out_dir, warn) for rec, f in files.items()]
    for key, info in todo.items():
        ex = info["extract"]
        llds, dest = lld_files[(ex["source"], ex["lld"])], out_dir / info["folder"]
        if ex["kind"] == "lld":
            if llds and llds[0].parent != dest:
                raise DataError(dest, f"set {key!r}: the bundle's folder differs from the LLD folder "
                                      f"{llds[0].parent.name}")
        elif ex["source"] == "audio":
            from .data.audio import write_bags, write_functionals

            if ex["kind"] == "func":
                write_functionals(llds, dest, window_s=ex["window_s"])
            else:
                write_bags(llds, bundle_dir / ex["codebook"], dest, window_s=ex["window_s"])
        else:
            from .data.face_windows import write_face_bags, write_face_functionals

            if ex["kind"] == "func":
                write_face_functionals(llds, dest, window_s=ex["window_s"])
            else:
                write_face_bags(llds, bundle_dir / ex["codebook"], dest, window_s=ex["window_s"])
        folders[key] = dest
    return folders


def _extract_lld(source: str, lld: str, rec: str, path: Path, out_dir: Path, warn) -> Path:
    if source == "audio":
        from .data.audio import extract_lld_file, folder_of

        out = out_dir / folder_of(lld) / f"{rec}.csv"
        extract_lld_file(path, out, lld)
        return out
    from .data.face_tracker import extract_face_file
    from .data.video_config import folder_of

    out = out_dir / folder_of("face") / f"{rec}.csv"
    extract_face_file(path, out, warn=warn)  # warns where many frames have no face
    return out
