"""A generated corpus written to disk in the exact AVEC 2019 CES layout (``emofusion synth``).

What is planted in it, and what ``truth.json`` records (its ``semantics`` point to this file), is
documented in :mod:`emofusion.data.synth_planted`; the arrays come from
:class:`emofusion.data.synth_generator.CorpusGenerator`.

``emofusion synth --out DIR`` (and :func:`generate_corpus`) writes::

    DIR/labels/<Train|Devel>_<DE|HU>_<NN>.csv     name;timestamp;arousal;valence;liking, 0.1 s, 6 decimals
    DIR/test_labels/Test_<DE|HU>_<NN>.csv          test labels, kept apart (never in labels/)
    DIR/<feature folder>/<same file names>.csv     one folder per feature set (Train, Devel, Test)
    DIR/truth.json                                 everything planted (emofusion.data.synth_planted)

File formats (as the real files)
--------------------------------
* labels: ``name;timestamp;arousal;valence;liking``, ``'Train_DE_01'`` quoted, 6 decimals.
* feature files: ``name;frameTime;<feature names>`` header, ``;``, quoted names, 6 decimals;
  the BoW sets (boaw_egemaps, boaw_mfcc, bovw) have no header, ``,`` and integer counts.
* rates: egemaps, mfcc are 100 Hz LLDs (times 0.00, 0.01, ...); fau, resnet, vgg are video at
  25 fps (0.00, 0.04, ...); all other sets are at the 0.1 s label rate.

``--cache-only``: the aligned, Train-normalised feature cache (``cache.save_feature_cache``)
and ``labels.npz`` are written straight from the same native arrays (no CSV), for paper-scale
timing; the label CSVs and ``truth.json`` still go to ``DIR``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np

from ..errors import ConfigError
from ..io import atomic_dir
from .layout import format_avec_csv
from .synth_generator import CorpusGenerator
from .synth_planted import SetSpec

_LUT_INT = np.frombuffer("".join(f"{i:>3d}" for i in range(1000)).encode(), dtype=np.uint8).reshape(1000, 3)
_LUT_FRAC = np.frombuffer("".join(f"{i:03d}" for i in range(1000)).encode(), dtype=np.uint8).reshape(1000, 3)


def _cells(values: np.ndarray, decimals: int) -> np.ndarray | None:
    """(n, d, W) ASCII cells of ``values`` as ``%.{decimals}f`` (decimals 0 or 6), space-padded, with one
    trailing byte for the separator; the caller drops the spaces, so the text is what ``"%.6f" % v`` gives.
    None when a magnitude reaches 1000 (the caller then formats with ``%``)."""
    K = np.rint(np.asarray(values, dtype=np.float64) * 10**decimals).astype(np.int64)
    ip, fp = np.divmod(np.abs(K), 10**decimals)
    if ip.size and ip.max() >= 1000:
        return None
    W = 1 + 3 + (1 + decimals if decimals else 0) + 1
    buf = np.empty(K.shape + (W,), dtype=np.uint8)
    buf[..., 0] = np.where(K < 0, ord("-"), ord(" "))
    buf[..., 1:4] = _LUT_INT[ip]
    if decimals:
        buf[..., 4] = ord(".")
        hi, lo = np.divmod(fp, 1000)
        buf[..., 5:8] = _LUT_FRAC[hi]
        buf[..., 8:11] = _LUT_FRAC[lo]
    return buf


def format_feature_csv(spec: SetSpec, name: str, times: np.ndarray, X: np.ndarray) -> str:
    """One feature file's text: header (unless BoW), quoted name, 6-decimal time and values
    (integers for BoW). Vectorised; byte for byte what ``"%.6f" % v`` per cell gives."""
    sep = spec.sep
    head = "" if spec.header is None else sep.join(["name", "frameTime", *spec.header]) + "\n"
    n = len(times)
    decimals = 0 if spec.kind == "bow" else 6
    tcell = _cells(np.asarray(times)[:, None], 6)
    vcell = _cells(X, decimals)
    if tcell is None or vcell is None or X.shape[1] == 0:  # rare: |value| >= 1000
        row = f"'{name}'{sep}%.6f" + (sep + ("%d" if decimals == 0 else "%.6f")) * X.shape[1] + "\n"
        return head + "".join([row % tuple(r) for r in np.column_stack([times, X]).tolist()])
    tcell[..., -1] = ord(sep)
    vcell[..., -1] = ord(sep)
    vcell[:, -1, -1] = ord("\n")
    prefix = np.frombuffer(f"'{name}'{sep}".encode(), dtype=np.uint8)
    rows = np.concatenate([np.broadcast_to(prefix, (n, prefix.size)), tcell.reshape(n, -1),
                           vcell.reshape(n, -1)], axis=1)
    return head + rows.tobytes().replace(b" ", b"").decode("ascii")


def is_generated_root(root: str | Path) -> bool:
    """Whether ``root`` is a data root ``emofusion synth`` wrote (features or audio): its
    ``truth.json`` names the generator. The one test of "generated data" behind every data label."""
    try:
        return json.loads((Path(root) / "truth.json").read_text()).get("generator") == "emofusion.synth"
    except (OSError, ValueError, AttributeError):
        return False


def guard_out(out: Path) -> None:
    """Refuse to replace a folder that is not a generated corpus (it may be real data)."""
    if out.exists() and (not out.is_dir() or (any(out.iterdir()) and not (out / "truth.json").is_file())):
        raise ConfigError(f"{out} exists and is not a generated corpus (no truth.json): refusing to replace it")
    if (out / "truth.json").is_file() and not is_generated_root(out):
        raise ConfigError(f"{out}/truth.json was not written by emofusion synth: refusing to replace {out}")


def write_labels(gen: CorpusGenerator, root: Path) -> None:
    for name in gen.recordings():
        folder = root / ("test_labels" if name.startswith("Test_") else "labels")
        folder.mkdir(exist_ok=True)
        (folder / f"{name}.csv").write_text(format_avec_csv(name, gen.labels(name)))


def generate_corpus(out_dir: str | Path, *, seed: int = 0, size: str = "demo",
                    feature_sets: Iterable[str] | None = None, complementarity: float = 0.5,
                    cache_dir: str | Path | None = None) -> dict:
    """Write a generated corpus to ``out_dir`` (replaced atomically as a whole); return the truth.

    With ``cache_dir``, no feature CSVs are written: the aligned, Train-normalised caches
    ``<cache_dir>/<key>.npz`` and ``<cache_dir>/labels.npz`` are written instead (labels and
    truth.json still go to ``out_dir``).
    """
    gen = CorpusGenerator(seed, size, complementarity)
    keys = gen.select_sets(feature_sets)
    out = Path(out_dir)
    guard_out(out)
    truth = gen.truth(keys)
    if cache_dir is not None:
        truth["cache_only"] = True
    with atomic_dir(out) as tmp:
        write_labels(gen, tmp)
        if cache_dir is None:
            for k in keys:
                spec = gen.sets[k]
                folder = tmp / spec.folder
                folder.mkdir()
                for name in gen.recordings():
                    times, X = gen.features(k, name)
                    (folder / f"{name}.csv").write_text(format_feature_csv(spec, name, times, X))
        (tmp / "truth.json").write_text(json.dumps(truth, indent=2) + "\n")  # the folder is atomic
        tmp.chmod(0o755)  # mkdtemp made it 0700; a corpus is for reading by others too
    if cache_dir is not None:
        write_cache(gen, keys, out, Path(cache_dir))
    return truth


def build_cache_arrays(gen: CorpusGenerator, key: str):
    """The :class:`cache.FeatureCache` of set ``key`` built straight from the native arrays.

    Same recordings, lengths, alignment and Train-only normalisation as
    ``build_cache.build_feature_cache`` on the written CSVs (labelled recordings: label frames; Test:
    covered frames, capped at ``alignment.MAX_FRAMES``).
    """
    from .alignment import MAX_FRAMES, align_to_frames, available_frames
    from .cache import FeatureCache
    from .normalisation import normalise_train_only

    spec = gen.sets[key]
    names = sorted(gen.recordings())
    rowwise = spec.rate == "frame"
    lengths = []
    for n in names:
        if n.startswith("Test_"):
            t = gen.native_times(key, n)
            lengths.append(min(available_frames(t, rowwise=rowwise), MAX_FRAMES))
        else:
            lengths.append(gen.length(n))
    lengths = np.array(lengths, dtype=np.int64)
    offsets = np.zeros(len(names) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    X = np.empty((int(offsets[-1]), spec.dim), dtype=np.float32)
    for i, n in enumerate(names):
        times, F = gen.features(key, n)
        X[offsets[i]:offsets[i + 1]] = align_to_frames(times, F, int(lengths[i]), rate=spec.rate)
    views = {n: X[offsets[i]:offsets[i + 1]] for i, n in enumerate(names)}
    mean, std = normalise_train_only(views)
    for v in views.values():
        v -= mean.astype(np.float32)
        v /= std.astype(np.float32)
    return FeatureCache(key=key, source=spec.folder, names=names, lengths=lengths, offsets=offsets, X=X,
                        mean=mean, std=std, rate_hz=round(1.0 / spec.step_s, 6))


def write_cache(gen: CorpusGenerator, keys: Iterable[str], label_root: Path, cache_dir: Path) -> None:
    """``<cache_dir>/<key>.npz`` for every key, and ``labels.npz`` from the label CSVs under ``label_root``."""
    from .build_cache import build_label_cache
    from .cache import cache_path, save_feature_cache

    cache_dir.mkdir(parents=True, exist_ok=True)
    for k in keys:
        save_feature_cache(cache_path(cache_dir, k), build_cache_arrays(gen, k))
    build_label_cache(label_root, cache_dir / "labels.npz")
