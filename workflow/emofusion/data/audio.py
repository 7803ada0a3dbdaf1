"""Audio data roots: from WAV files to the AVEC 2019 audio feature sets (AVEC on-disk layout).

An audio data root holds ``<root>/audio/<Partition>_<Culture>_<NN>.wav`` beside ``<root>/labels/``
(same names; Test WAVs may have no labels). :func:`check_audio_root` checks it (one
:class:`~emofusion.errors.DataError` naming the file); the workflow extracts, one job per recording
and LLD set, then one job per derived set:

* ``egemaps``: eGeMAPSv01a LLDs (23 columns, 100 Hz), audEERING's ``opensmile`` package;
* ``mfcc``: MFCC 0-12 + deltas + double deltas (39 columns, 100 Hz), the AVEC ``MFCC12_0_D_A``
  setting, by the same ``opensmile`` package with our config ``emofusion/data/opensmile/MFCC12_0_D_A.conf``
  (the wheel ships eGeMAPS, not that config; the same extractor keeps both LLD sets on openSMILE);
* ``egemaps_func``, ``mfcc_func``: mean and population standard deviation of every LLD over a 4 s
  window centred on each 0.1 s frame, computed as the AVEC 2019 ``generate_functionals.py`` does
  (frame ``t`` takes LLD rows ``10t - 200 .. 10t + 200``, clipped at the ends; frames while
  ``10t <= rows``): 46 and 78 columns;
* ``boaw_egemaps``, ``boaw_mfcc``: bags of audio words (openXBOW settings of the AVEC 2019 scripts:
  ``-size 100 -a 1 -log -standardizeInput -t 4.0 0.1``). The LLDs are standardised with the mean
  and std of the codebook's training frames; the 100-word codebook is learned on the **Train**
  recordings only (openXBOW's default generation method ``random++``, as we implement it: k-means++
  seeding over all Train frames, no k-means iterations, seeded); every LLD frame is assigned to its
  nearest word (``-a 1``); each 0.1 s frame counts the words within the same centred 4 s window as
  the functionals and writes ``log10(1 + count)`` per word. 100 columns.

Audio input: any sample rate of at least ``MIN_SAMPLE_RATE`` Hz is resampled to 16 kHz (audresample)
and any channel count is averaged to mono before extraction; a lower rate, an unreadable or empty
file, a WAV much shorter than its labels, or a label/WAV without its partner is a DataError.
"""

from __future__ import annotations

import io as _io
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import ConfigError, DataError
from ..io import atomic_write_text
from .extract_config import check_extract_block
from .layout import FRAME_S, PARTITIONS, read_feature_file
from .media_root import MediaKind, check_media_file, check_media_root, summary_table

AUDIO_FOLDER = "audio"
SAMPLE_RATE = 16000  # what the extractors run at
MIN_SAMPLE_RATE = 8000  # below this the MFCC mel bands (up to 8 kHz) and eGeMAPS' spectra make no sense
LLD_STEP_S = 0.01
FUNC_WINDOW_S = 4.0
BOAW_SIZE = 100
BOAW_SEED = 10  # openXBOW's default -seed
MFCC_CONFIG = Path(__file__).resolve().parent / "opensmile" / "MFCC12_0_D_A.conf"

#: LLD sets extracted from audio, and the sets derived from them: key -> (LLD key, kind)
LLD_SETS = ("egemaps", "mfcc")
EXTRACTABLE: dict[str, tuple[str, str]] = {
    "egemaps": ("egemaps", "lld"),
    "egemaps_func": ("egemaps", "func"),
    "boaw_egemaps": ("egemaps", "boaw"),
    "mfcc": ("mfcc", "lld"),
    "mfcc_func": ("mfcc", "func"),
    "boaw_mfcc": ("mfcc", "boaw"),
}
LLD_DIMS = {"egemaps": 23, "mfcc": 39}


def folder_of(key: str) -> str:
    """The AVEC folder of an extractable set (``feature_sets.FEATURE_SETS``)."""
    from .feature_sets import get_feature_set

    return get_feature_set(key).folder


def lld_of(key: str) -> str:
    try:
        return EXTRACTABLE[key][0]
    except KeyError:
        raise ConfigError(f"feature set {key!r} cannot be extracted from audio (extractable: "
                          f"{', '.join(EXTRACTABLE)})") from None


# --------------------------------------------------------------------------------------------------
# the audio root


@dataclass(frozen=True)
class AudioInfo:
    path: Path
    sample_rate: int
    channels: int
    frames: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.sample_rate


def read_audio_info(path: str | Path) -> AudioInfo:
    """Header of one audio file; DataError if it cannot be read, is empty, or its rate is too low."""
    import soundfile as sf

    path = Path(path)
    check_media_file(path, "audio", "a WAV")
    try:
        info = sf.info(str(path))
    except Exception as exc:  # libsndfile's message says what is wrong with the header
        raise DataError(path, f"unreadable audio file: {str(exc).splitlines()[-1].strip()}") from None
    if info.frames <= 0:
        raise DataError(path, "audio file holds no samples")
    if info.samplerate < MIN_SAMPLE_RATE:
        raise DataError(path, f"sample rate {info.samplerate} Hz: the extractors need at least {MIN_SAMPLE_RATE} Hz "
                              f"(files are resampled to {SAMPLE_RATE} Hz, not upsampled from below {MIN_SAMPLE_RATE})")
    return AudioInfo(path, int(info.samplerate), int(info.channels), int(info.frames))


AUDIO_ROOT = MediaKind("audio", "an audio data root", (".wav",), "WAV files",
                       lambda n: f"{AUDIO_FOLDER}/{n}.wav not found", read_audio_info)


def check_audio_root(root: str | Path, *, partitions: Iterable[str] = PARTITIONS,
                     cultures: Iterable[str] = ("DE", "HU"), labels_folder: str | None = "labels",
                     tolerance_frames: int = 10) -> dict[str, AudioInfo]:
    """Check an audio data root; returns ``{recording: AudioInfo}`` for ``partitions`` x ``cultures``.

    Every label file must have its WAV and every Train/Devel WAV its label file (Test WAVs may go
    without); every WAV must be readable, non-empty, at least ``MIN_SAMPLE_RATE`` Hz and not more
    than ``tolerance_frames`` label frames (0.1 s) shorter than its labels. ``labels_folder=None``:
    recordings without labels (``emofusion predict``), every WAV of any partition taken as it is.
    The rules are :mod:`emofusion.data.media_root`'s, shared with the video root.
    """
    return check_media_root(AUDIO_ROOT, root, partitions=partitions, cultures=cultures,
                            labels_folder=labels_folder, tolerance_frames=tolerance_frames)


def _rates_and_channels(infos: Sequence[AudioInfo]) -> str:
    rates = ", ".join(f"{r} Hz" for r in sorted({i.sample_rate for i in infos}))
    chans = ", ".join(str(c) for c in sorted({i.channels for i in infos}))
    return f"{rates} / {chans}"


def validate_audio_root(root: str | Path, *, partitions: Iterable[str] = PARTITIONS,
                        cultures: Iterable[str] = ("DE", "HU"), labels_folder: str = "labels",
                        tolerance_frames: int = 10) -> str | None:
    """``emofusion validate`` on an audio root: :func:`check_audio_root`, then a summary (partition:
    recordings, hours, sample rates, channels); None where ``<root>/audio`` does not exist."""
    if not (Path(root) / AUDIO_FOLDER).is_dir():
        return None
    infos = check_audio_root(root, partitions=partitions, cultures=cultures, labels_folder=labels_folder,
                             tolerance_frames=tolerance_frames)
    return summary_table(infos, f"audio ({AUDIO_FOLDER}/): {len(infos)} WAV files, checked against {labels_folder}/ "
                                f"(resampled to {SAMPLE_RATE} Hz mono for extraction)",
                         "sample rates / channels", _rates_and_channels)


def load_audio(path: str | Path) -> np.ndarray:
    """Mono float32 at ``SAMPLE_RATE``: channels averaged, other rates resampled (audresample)."""
    import soundfile as sf

    info = read_audio_info(path)
    try:
        x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:
        raise DataError(path, f"unreadable audio data: {str(exc).splitlines()[-1].strip()}") from None
    x = x.mean(axis=1)
    if x.size == 0:
        raise DataError(path, "audio file holds no samples")
    if sr != SAMPLE_RATE:
        import audresample

        x = audresample.resample(x, sr, SAMPLE_RATE)[0]
    if not np.isfinite(x).all():
        raise DataError(path, "audio holds NaN or inf samples")
    del info
    return np.ascontiguousarray(x, dtype=np.float32)


# --------------------------------------------------------------------------------------------------
# LLDs (openSMILE)


def _smile(lld: str):
    import opensmile

    if lld == "egemaps":
        # eGeMAPSv01a is what AVEC 2019 used; the package warns that it is superseded by v02
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv01a,
                                   feature_level=opensmile.FeatureLevel.LowLevelDescriptors)
    if lld == "mfcc":
        return opensmile.Smile(feature_set=str(MFCC_CONFIG), feature_level="lld")
    raise ConfigError(f"unknown LLD set {lld!r}: expected one of {', '.join(LLD_SETS)}")


def extract_lld(path: str | Path, lld: str, *, signal: np.ndarray | None = None,
                smile=None) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """LLDs of one audio file: ``(times (n,) frame start s, X (n, d), column names)``."""
    x = load_audio(path) if signal is None else signal
    smile = smile or _smile(lld)
    df = smile.process_signal(x, SAMPLE_RATE)
    starts = df.index.get_level_values("start").total_seconds().to_numpy()
    X = df.to_numpy(dtype=np.float64)
    if X.shape[0] == 0 or not np.isfinite(X).all():
        raise DataError(path, f"openSMILE gave no usable {lld} frames (audio too short: "
                              f"{x.size / SAMPLE_RATE:.3f} s)")
    return np.round(starts, 6), X, [str(c) for c in df.columns]


def format_feature_csv(name: str, times: np.ndarray, X: np.ndarray, header: Sequence[str] | None,
                       sep: str = ";") -> str:
    """AVEC feature-file text: quoted name, time, features (6 decimals); header only if given."""
    buf = _io.StringIO()
    np.savetxt(buf, np.column_stack([times, X]), fmt="%.6f", delimiter=sep)
    q = f"'{name}'{sep}"
    body = "".join(q + ln + "\n" for ln in buf.getvalue().splitlines())
    if header is None:
        return body
    return sep.join(["name", "frameTime", *header]) + "\n" + body


def extract_lld_file(wav: str | Path, out_csv: str | Path, lld: str) -> None:
    """One job of the workflow: the LLD file of one recording, in the AVEC layout (``;``, header)."""
    wav = Path(wav)
    times, X, names = extract_lld(wav, lld)
    atomic_write_text(out_csv, format_feature_csv(wav.stem, times, X, names))


# --------------------------------------------------------------------------------------------------
# functionals and bags of audio words (the AVEC 2019 scripts' windows)


def window_bounds(n_rows: int, *, window_s: float = FUNC_WINDOW_S, step_s: float = LLD_STEP_S,
                  hop_s: float = FRAME_S) -> tuple[np.ndarray, np.ndarray]:
    """LLD row ranges ``[lo, hi)`` of the 0.1 s frames, as AVEC's ``generate_functionals.py``: frame
    ``t`` is centred on row ``t * hop/step`` with ``window/step/2`` rows either side (inclusive),
    clipped to the file; frames continue while the centre row is ``<= n_rows``."""
    per_hop = int(round(hop_s / step_s))
    half = int(window_s / step_s / 2)
    if n_rows <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    n_out = n_rows // per_hop + 1
    centre = np.arange(n_out) * per_hop
    lo = np.maximum(0, centre - half)
    hi = np.minimum(n_rows, centre + half + 1)
    keep = lo < hi
    return lo[keep], hi[keep]


def functionals(X: np.ndarray, *, window_s: float = FUNC_WINDOW_S) -> np.ndarray:
    """``(frames, 2d)``: mean of every LLD column, then its population std, per 0.1 s frame."""
    X = np.asarray(X, dtype=np.float64)
    lo, hi = window_bounds(X.shape[0], window_s=window_s)
    cs = np.zeros((X.shape[0] + 1, X.shape[1]))
    cs2 = np.zeros_like(cs)
    mu0 = X.mean(axis=0) if X.size else 0.0  # centre first: cumulative sums of squares stay accurate
    Xc = X - mu0
    np.cumsum(Xc, axis=0, out=cs[1:])
    np.cumsum(Xc * Xc, axis=0, out=cs2[1:])
    n = (hi - lo)[:, None].astype(np.float64)
    mean = (cs[hi] - cs[lo]) / n
    var = np.maximum((cs2[hi] - cs2[lo]) / n - mean**2, 0.0)
    return np.concatenate([mean + mu0, np.sqrt(var)], axis=1)


def functional_names(names: Sequence[str]) -> list[str]:
    return [f"{n}_amean" for n in names] + [f"{n}_stddev" for n in names]


@dataclass(frozen=True)
class Codebook:
    """A bag-of-words codebook: input standardisation (Train statistics) and the words."""

    lld: str
    mean: np.ndarray  # (d,)
    std: np.ndarray  # (d,)
    words: np.ndarray  # (size, d) in standardised units
    seed: int
    train: tuple[str, ...]  # recordings it was learned on

    def assign(self, X: np.ndarray) -> np.ndarray:
        """Index of the nearest word of every row (``-a 1``)."""
        Z = ((np.asarray(X, np.float64) - self.mean) / self.std).astype(np.float32)
        W = self.words.astype(np.float32)
        d2 = (W * W).sum(axis=1)[None, :] - 2.0 * Z @ W.T  # |z|^2 is the same for every word
        return np.argmin(d2, axis=1)


def learn_codebook(train: Mapping[str, np.ndarray], lld: str, *, size: int = BOAW_SIZE,
                   seed: int = BOAW_SEED) -> Codebook:
    """``size`` words over the standardised frames of the Train recordings (k-means++ seeding).

    Only ``Train_*`` recordings may be passed: any other name is a ValueError (a bug, not data).
    """
    names = sorted(train)
    bad = [n for n in names if not n.startswith("Train_")]
    if bad:
        raise ValueError(f"codebook must be learned on Train recordings only, got {bad[:3]}")
    if not names:
        raise DataError(None, "no Train recordings: the bag-of-words codebook is learned on Train")
    X = np.concatenate([np.asarray(train[n], np.float64) for n in names])
    mean = X.mean(axis=0)
    std = X.std(axis=0)
    std = np.where(std > 1e-8, std, 1.0)
    Z = ((X - mean) / std).astype(np.float32)
    if Z.shape[0] < size:
        raise DataError(None, f"{Z.shape[0]} Train {lld} frames: fewer than the {size} codebook words")
    rng = np.random.default_rng(seed)
    idx = [int(rng.integers(Z.shape[0]))]
    d2 = ((Z - Z[idx[0]]) ** 2).sum(axis=1)
    for _ in range(size - 1):
        total = float(d2.sum())
        if total <= 0:
            j = int(rng.integers(Z.shape[0]))
        else:
            j = int(np.searchsorted(np.cumsum(d2, dtype=np.float64), rng.random() * total, side="right"))
            j = min(j, Z.shape[0] - 1)
        idx.append(j)
        d2 = np.minimum(d2, ((Z - Z[j]) ** 2).sum(axis=1))
    return Codebook(lld, mean, std, Z[idx].astype(np.float64), int(seed), tuple(names))


def bag_of_words(X: np.ndarray, codebook: Codebook, *, window_s: float = FUNC_WINDOW_S) -> np.ndarray:
    """``(frames, size)``: ``log10(1 + count)`` of every word in each frame's centred window."""
    words = codebook.assign(X)
    size = codebook.words.shape[0]
    onehot = np.zeros((words.size + 1, size), dtype=np.int64)
    onehot[np.arange(1, words.size + 1), words] = 1
    cs = np.cumsum(onehot, axis=0)
    lo, hi = window_bounds(words.size, window_s=window_s)
    return np.log10(1.0 + (cs[hi] - cs[lo]))


def save_codebook(path: str | Path, cb: Codebook) -> None:
    from ..io import atomic_savez

    atomic_savez(path, {"lld": np.array(cb.lld), "mean": cb.mean, "std": cb.std, "words": cb.words,
                         "seed": np.array(cb.seed), "train": np.array(cb.train, dtype=str)})


def load_codebook(path: str | Path) -> Codebook:
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as z:
            return Codebook(str(z["lld"]), z["mean"], z["std"], z["words"], int(z["seed"]),
                            tuple(str(n) for n in z["train"]))
    except (OSError, KeyError, ValueError) as exc:
        raise DataError(path, f"not a codebook file: {exc}") from None


def frame_times(n: int) -> np.ndarray:
    """The times of ``n`` 0.1 s frames from 0 (6 decimals)."""
    return np.round(np.arange(n) * FRAME_S, 6)


def write_functionals(lld_csvs: Sequence[str | Path], out_dir: str | Path, *,
                      window_s: float = FUNC_WINDOW_S) -> None:
    """The functionals files of one LLD set (one per LLD file), AVEC layout (``;``, header)."""
    from .layout import read_table

    out_dir = Path(out_dir)
    for f in map(Path, lld_csvs):
        tab = read_table(f)
        F = functionals(tab.values, window_s=window_s)
        atomic_write_text(out_dir / f.name, format_feature_csv(f.stem, frame_times(F.shape[0]), F,
                                                               functional_names(tab.header[2:])))


def write_train_codebook(lld_csvs: Sequence[str | Path], out_npz: str | Path, read: Callable[[Path], np.ndarray], *,
                         lld: str, size: int = BOAW_SIZE, seed: int = BOAW_SEED) -> Codebook:
    """Learn and save a codebook from the Train files' rows ``read(file)`` (other files ignored)."""
    train = {f.stem: read(f) for f in map(Path, lld_csvs) if f.stem.startswith("Train_")}
    cb = learn_codebook(train, lld, size=size, seed=seed)
    save_codebook(out_npz, cb)
    return cb


def write_bag_files(lld_csvs: Sequence[str | Path], codebook_npz: str | Path, out_dir: str | Path,
                    bags: Callable[[Path, Codebook], np.ndarray]) -> None:
    """One bag file per LLD file, ``bags(file, codebook)`` at 0.1 s, AVEC layout (no header, ``,``)."""
    cb = load_codebook(codebook_npz)
    out_dir = Path(out_dir)
    for f in map(Path, lld_csvs):
        B = bags(f, cb)
        atomic_write_text(out_dir / f.name, format_feature_csv(f.stem, frame_times(B.shape[0]), B, None, sep=","))


def write_codebook(lld_csvs: Sequence[str | Path], out_npz: str | Path, *, lld: str, size: int = BOAW_SIZE,
                   seed: int = BOAW_SEED) -> Codebook:
    """Learn the codebook of one LLD set from its Train files (others passed in are ignored)."""
    return write_train_codebook(lld_csvs, out_npz, lambda f: read_feature_file(f)[1], lld=lld, size=size, seed=seed)


def write_bags(lld_csvs: Sequence[str | Path], codebook_npz: str | Path, out_dir: str | Path, *,
               window_s: float = FUNC_WINDOW_S) -> None:
    """The BoAW files of one LLD set, AVEC layout (no header, ``,``)."""
    write_bag_files(lld_csvs, codebook_npz, out_dir,
                    lambda f, cb: bag_of_words(read_feature_file(f)[1], cb, window_s=window_s))


# --------------------------------------------------------------------------------------------------
# configuration


def check_audio_config(config: Mapping) -> None:
    """The ``audio`` block against ``feature_sets``: every extracted set configured, with its AVEC
    folder (the cache reads it from the extracted root). ConfigError naming the key."""
    check_extract_block(config, "audio", a_root="an audio data root", synth="emofusion synth --audio --out DIR",
                        known=lld_of, folder_of=folder_of, its_folder="its AVEC folder")
