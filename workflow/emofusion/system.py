"""The trained system as a folder (``results/system/``) and its application to new recordings.

Bundle layout (written by the workflow's ``system`` rule, :func:`write_bundle`; docs/predict.md)::

    manifest.json            format, code version, git commit, the whole config, the runs, the sets and
                             their alignment settings, the default stage, every fusion score (both protocols)
    runs/<run>/seed<s>.ckpt  each selected run's checkpoint, every seed
    features/<set>.npz       each needed set's Train normalisation (mean, std; float64)
    chain/stage<n>.npz       the in-sample fusion chain (fitted on all labelled dev frames), stages 1..N:
                             chain files keeping the chosen weights (emofusion.fusion.chain.PartState)

:func:`predict_root` applies it to a data root of feature folders (AVEC layout, no labels needed):
every step is the workflow's own code for its Test recordings -- the cache's alignment and
normalisation (``iter_aligned``, ``(A - mean) / std`` as float32), the run's prediction batches
(:func:`~emofusion.training.task.predict_recordings`), the AVEC files per seed and their mean over
seeds (:func:`~emofusion.results.ranking.mean_over_seeds`), the unlabelled-recording stacking of the
fusion (:func:`~emofusion.fusion.inputs.stack_unlabelled`) and the chain
(:func:`~emofusion.fusion.apply.apply_chain`) -- so a bundle applied to the workflow's own Test
recordings writes the very files of ``results/fusion/in-sample/stage<N>/predictions/``.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np

from . import TARGETS, __version__
from .errors import ConfigError, DataError

FORMAT = 1
MANIFEST = "manifest.json"
#: the words the manifest and `emofusion predict` use for the accuracy to expect
HONEST = ("The chain is the in-sample fit (all labelled dev frames, the paper's protocol): its in-sample "
          "scores are optimistic. The accuracy to expect on new recordings is the grouped-cv figure of the "
          "same stage (held-out dev recordings).")
Warn = Callable[[str], None]


def current_code_version() -> str:
    """The code version of this checkout's bundle rule (its script and every library module it reaches,
    :mod:`emofusion.code_version`), as the workflow's ``code`` param; ``emofusion <version>`` when the
    workflow scripts are not beside the package (an installed copy)."""
    from .code_version import script_code_version

    package = Path(__file__).resolve().parent
    script = package.parent / "scripts" / "system_bundle.py"
    if not script.is_file():
        return f"emofusion {__version__}"
    return script_code_version(script, package)


# ------------------------------------------------------------------------------------------ writing

def stage_scores(rows: Sequence[Mapping]) -> dict:
    """``{protocol: {stage<n>: {split: {culture: {CCCs, 95 % interval bounds, solver}}}}}`` from the
    rows of results/fusion/summary.tsv."""
    out: dict = {}
    for r in rows:
        out.setdefault(r["protocol"], {}).setdefault(f"stage{r['stage']}", {}).setdefault(r["split"], {})[
            r["culture"]] = {k: v for k, v in r.items() if k not in ("protocol", "stage", "split", "culture")}
    return out


def write_bundle(out_dir: str | Path, *, ranking_tsv: str | Path, runs_root: str | Path, seeds: Sequence[int],
                 feature_caches: Mapping[str, str | Path], feature_settings: Mapping[str, Mapping],
                 chain_files: Sequence[str | Path], summary_tsv: str | Path, config: Mapping, stage: int,
                 code_version: str, codebooks: Sequence[str | Path] = (),
                 log: Callable[[str], None] = print) -> dict:
    """Write the bundle (the whole folder atomically); returns the manifest. A set the workflow
    extracted (``feature_settings[set]["extract"]``: source and window) gets its extraction settings
    and codebook (one of ``codebooks``), :mod:`emofusion.system_extract`."""
    import pandas as pd

    from .formats import read_selected
    from .fusion.apply import check_chain
    from .fusion.chain import PartState
    from .fusion.inputs import ordered_runs
    from .io import atomic_dir
    from .system_extract import bundle_settings
    from .tracking import source_tags

    if config["fusion"]["method"] != "emofusion":
        raise ConfigError(f"config key fusion.method: {config['fusion']['method']!r}: the system bundle "
                          "re-applies the emofusion chain only")
    runs = list(ordered_runs({r: Path(runs_root) / r for r in read_selected(ranking_tsv)}))
    sets = sorted({s for r in runs for s in r.split("+")})
    states = [PartState.load(f) for f in chain_files]
    check_chain(states, 3 * len(runs), list(chain_files))
    if not 1 <= stage <= len(states):
        raise ConfigError(f"config key system.stage: {stage} is not one of the {len(states)} stages")
    scores = stage_scores(pd.read_csv(summary_tsv, sep="\t").to_dict("records"))
    with atomic_dir(out_dir) as tmp:
        for r in runs:
            for s in seeds:
                src = Path(runs_root) / r / f"seed{s}" / "model.ckpt"
                (tmp / "runs" / r).mkdir(parents=True, exist_ok=True)
                shutil.copyfile(src, tmp / "runs" / r / f"seed{s}.ckpt")
        set_info = {}
        (tmp / "features").mkdir()
        for key in sets:
            with np.load(feature_caches[key], allow_pickle=False) as z:
                mean, std, rate = np.asarray(z["mean"]), np.asarray(z["std"]), float(z["rate_hz"])
            np.savez(tmp / "features" / f"{key}.npz", mean=mean, std=std)
            st = dict(feature_settings[key])
            set_info[key] = {"folder": st["folder"], "window_s": st["window_s"], "format": st.get("format", "avec"),
                             "dim": int(mean.shape[0]), "rate_hz": rate}
            if st.get("extract"):
                set_info[key]["extract"] = bundle_settings(key, st["extract"], codebooks, tmp)
        (tmp / "chain").mkdir()
        for n, st in enumerate(states, start=1):
            PartState({}, {}, np.zeros((0, 3)), st.m, {"selected": st.report.get("selected", {})},
                      W_chosen=st.W_chosen, K=st.K).save(tmp / "chain" / f"stage{n}.npz")
        src = source_tags("emofusion.system.write_bundle")
        manifest = {
            "format": FORMAT, "code_version": code_version, "emofusion_version": __version__,
            "git_commit": src.get("mlflow.source.git.commit"), "git_dirty": src.get("emofusion.git_dirty"),
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "runs": runs, "seeds": [int(s) for s in seeds], "feature_sets": set_info,
            "data": {"pad_tolerance": config["data"]["pad_tolerance"], "max_frames": config["data"]["max_frames"]},
            "predict": {"batch_size": int(config["train"]["batch_size"]), "targets": list(TARGETS)},
            "fusion": {"protocol": "in-sample", "fitted_on": "all labelled Devel frames", "stages": len(states),
                       "ks": config["fusion"]["ks"], "Cs": config["fusion"]["Cs"], "method": "emofusion",
                       "context": [st.K for st in states]},
            "default_stage": int(stage),
            "honest_accuracy": HONEST,
            "scores": scores,
            "config": dict(config),
        }
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=False) + "\n")
    log(f"wrote the system bundle {out_dir}: {len(runs)} runs x {len(seeds)} seeds, sets {', '.join(sets)}, "
        f"{len(states)} fusion stages (default {stage})")
    return manifest


# ------------------------------------------------------------------------------------------ reading

class System:
    """A loaded bundle: manifest, the chain states, the normalisation of each set."""

    def __init__(self, folder: Path, manifest: dict, states: list, norms: dict):
        self.folder, self.manifest, self.states, self.norms = folder, manifest, states, norms

    @property
    def runs(self) -> list[str]:
        return list(self.manifest["runs"])

    def checkpoint(self, run: str, seed: int) -> Path:
        return self.folder / "runs" / run / f"seed{seed}.ckpt"


def load_system(folder: str | Path, warn: Warn | None = None) -> System:
    """Read and check a bundle; a damaged one is one DataError naming the file. A bundle of another
    code version is read, with one warning naming both versions."""
    from .fusion.apply import check_chain
    from .fusion.chain import PartState

    folder = Path(folder)
    mpath = folder / MANIFEST
    if not folder.is_dir():
        raise DataError(folder, "system bundle folder not found")
    try:
        manifest = json.loads(mpath.read_text())
    except FileNotFoundError:
        raise DataError(mpath, "not a system bundle: no manifest.json (the workflow writes one to results/system/)"
                        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(mpath, f"damaged system bundle: manifest.json does not parse ({exc})") from None
    need = ("format", "code_version", "runs", "seeds", "feature_sets", "fusion", "default_stage", "predict", "data")
    missing = [k for k in need if not isinstance(manifest, dict) or k not in manifest]
    if missing:
        raise DataError(mpath, f"damaged system bundle: manifest.json lacks {missing[0]!r}")
    if manifest["format"] != FORMAT:
        raise DataError(mpath, f"system bundle format {manifest['format']!r}; this emofusion reads format {FORMAT}")
    here = current_code_version()
    if manifest["code_version"] != here and warn is not None:
        warn(f"warning: {folder} was written by code version {manifest['code_version']}; this is code version "
             f"{here} (predictions may differ from the bundle's scores)")
    for r in manifest["runs"]:
        for s in manifest["seeds"]:
            ck = folder / "runs" / r / f"seed{s}.ckpt"
            if not ck.is_file():
                raise DataError(ck, f"damaged system bundle: checkpoint of run {r!r} seed {s} missing")
    norms = {}
    for key, info in manifest["feature_sets"].items():
        f = folder / "features" / f"{key}.npz"
        try:
            with np.load(f, allow_pickle=False) as z:
                norms[key] = (np.asarray(z["mean"]), np.asarray(z["std"]))
        except (OSError, KeyError, ValueError) as exc:
            raise DataError(f, f"damaged system bundle: normalisation of set {key!r} unreadable ({exc})") from None
        if norms[key][0].shape != (info["dim"],) or norms[key][1].shape != (info["dim"],):
            raise DataError(f, f"damaged system bundle: normalisation of set {key!r} is not {info['dim']}-dim")
        book = (info.get("extract") or {}).get("codebook")
        if book and not (folder / book).is_file():
            raise DataError(folder / book, f"damaged system bundle: codebook of extracted set {key!r} missing")
    files = [folder / "chain" / f"stage{n}.npz" for n in range(1, int(manifest["fusion"]["stages"]) + 1)]
    states = []
    for f in files:
        try:
            states.append(PartState.load(f))
        except DataError as exc:
            raise DataError(f, f"damaged system bundle: {exc.message}") from None
    check_chain(states, 3 * len(manifest["runs"]), files)
    return System(folder, manifest, states, norms)


# ------------------------------------------------------------------------------------------ predicting

def aligned_caches(system: System, folders: Mapping[str, Path], warn: Warn) -> tuple[dict, list[str]]:
    """Every needed set (read from ``folders[set]``) aligned and normalised as the workflow's cache
    does its Test recordings: ``{set: FeatureCache}`` and the recording names (the same in every set)."""
    from .data.alignment import iter_aligned
    from .data.cache import FeatureCache, offsets_of
    from .data.feature_sets import get_feature_set
    from .data.layout import list_recordings

    sets = system.manifest["feature_sets"]
    names_of = {}
    for key, info in sets.items():
        folder = folders[key]
        if not folder.is_dir():
            raise DataError(folder, f"feature set {key!r} (folder {info['folder']}/) not found: the system needs it "
                                    f"(sets: {', '.join(sets)})")
        names_of[key] = list_recordings(folder)
        if not names_of[key]:
            raise DataError(folder, f"no recordings of feature set {key!r} here")
    ref = next(iter(names_of))
    for key, names in names_of.items():
        for n in sorted(set(names_of[ref]) ^ set(names)):
            holder, lacker = (ref, key) if n in names_of[ref] else (key, ref)
            raise DataError(folders[lacker] / f"{n}.csv",
                            f"missing recording: {n} is in {sets[holder]['folder']}/ but not here "
                            "(every set the system needs must hold the same recordings)")
    names = names_of[ref]
    from .data_spec import DataSpec

    data = DataSpec.from_settings(system.manifest["data"], where="manifest data")  # null: the library default
    tol, max_frames = data.pad_tolerance, data.max_frames
    min_frames = 2 * max(st.K for st in system.states) + 1
    caches = {}
    for key, info in sets.items():
        mean, std = system.norms[key]
        per = {}
        for n, path, A, _, _ in iter_aligned(folders[key], names, {}, get_feature_set(key),
                                              window_s=info["window_s"], pad_tolerance=tol, max_frames=max_frames,
                                              warn=warn, fmt=info["format"]):
            if A.shape[1] != info["dim"]:
                raise DataError(path, f"{A.shape[1]} feature columns, but the system's set {key!r} has "
                                      f"{info['dim']}", line=1)
            if A.shape[0] < min_frames:
                raise DataError(path, f"recording too short: {A.shape[0]} frames of 0.1 s; the fusion's context "
                                      f"window needs at least {min_frames}")
            per[n] = A
        lengths = np.array([per[n].shape[0] for n in names], dtype=np.int64)
        offsets = offsets_of(lengths)
        X = np.empty((int(offsets[-1]), info["dim"]), dtype=np.float32)
        for i, n in enumerate(names):
            X[offsets[i]:offsets[i + 1]] = (per.pop(n) - mean) / std  # as build_feature_cache
        caches[key] = FeatureCache(key=key, source=info["folder"], names=names, lengths=lengths, offsets=offsets,
                                   X=X, mean=mean, std=std, rate_hz=info["rate_hz"])
    return caches, names


def predict_root(system: System, data_root: str | Path, *, stage: int | None = None,
                 warn: Warn = print) -> dict[str, np.ndarray]:
    """``{recording: (frames, 3) float32}``: the system's stage-``stage`` predictions (default: the
    bundle's default stage) for every recording of ``data_root``'s feature folders; a set the system
    extracts, where its folder is absent, is extracted from ``data_root/audio`` or ``video`` (into a
    temporary folder, :func:`emofusion.system_extract.extract_missing`). Writes nothing."""
    import os
    import tempfile

    from .data.cache import LabelCache
    from .data.layout import write_prediction_dir
    from .fusion.apply import apply_chain
    from .fusion.inputs import stack_unlabelled
    from .results.ranking import mean_over_seeds
    from .system_extract import extract_missing
    from .training.dataset import TrainingData

    stage = system.manifest["default_stage"] if stage is None else int(stage)
    if not 1 <= stage <= len(system.states):
        raise ConfigError(f"--stage: {stage} is not one of the system's stages 1..{len(system.states)}")
    root = Path(data_root)
    if not root.is_dir():
        raise DataError(root, "data root not found")
    import torch

    from .training.task import load_task, predict_recordings
    from .training.trainer import THREADS_ENV, cpu_backend_settings

    raw = os.environ.get(THREADS_ENV, "1")
    if not raw.strip().isdigit() or int(raw) < 1:
        raise ConfigError(f"{THREADS_ENV}: expected a positive integer, got {raw!r}")
    torch.set_num_threads(int(raw))  # as the training job (the LSTM's last bits depend on it)
    torch.backends.mkldnn.enabled = cpu_backend_settings()["mkldnn"]
    empty = LabelCache(names=[], lengths=np.zeros(0, dtype=np.int64), offsets=np.zeros(1, dtype=np.int64),
                       Y=np.zeros((0, 3), dtype=np.float32))
    batch = int(system.manifest["predict"]["batch_size"])
    with tempfile.TemporaryDirectory(prefix="emofusion-predict-") as tmp:
        tmp = Path(tmp)
        folders = extract_missing(system.manifest["feature_sets"], root, system.folder, tmp / "extracted", warn)
        caches, names = aligned_caches(system, folders, warn)
        run_dirs = {}
        for run in system.runs:
            seed_dirs = []
            for s in system.manifest["seeds"]:
                ck = system.checkpoint(run, s)
                try:
                    task = load_task(ck)
                except Exception as exc:  # noqa: BLE001 -- a damaged checkpoint, whatever torch raises
                    raise DataError(ck, f"damaged system bundle: checkpoint does not load ({type(exc).__name__})"
                                    ) from None
                keys = list(task.hparams["feature_sets"]) or run.split("+")
                data = TrainingData(keys=keys, caches=[caches[k] for k in keys], labels=empty)
                if task.hparams["input_dim"] != data.dim:
                    raise DataError(ck, f"damaged system bundle: run {run!r} takes {task.hparams['input_dim']} "
                                        f"features, its sets give {data.dim}")
                d = tmp / "seeds" / run / f"seed{s}"
                write_prediction_dir(d, predict_recordings(task, data, names, batch))
                seed_dirs.append(d)
            run_dirs[run] = tmp / "runs" / run
            write_prediction_dir(run_dirs[run], mean_over_seeds(seed_dirs))
        base, _ = stack_unlabelled(run_dirs, names)
    return apply_chain(base, system.states[:stage])[-1]


def score_with_labels(preds: Mapping[str, np.ndarray], labels_dir: str | Path) -> tuple[dict, dict, list[str]] | None:
    """Where ``labels_dir`` holds label files of predicted recordings: (CCC per culture group,
    their 95 % recording-level bootstrap intervals, the recordings scored) as the workflow scores
    its stages (labels rounded as its cache holds them, the interval settings of summary.tsv); None
    when no predicted recording has a label file there. A prediction shorter than its labels is a
    DataError naming the label file."""
    from .data.layout import list_recordings, read_label_file
    from .fusion.inputs import fusion_labels
    from .fusion.summary import BOOTSTRAP
    from .results.metrics import bootstrap_ccc, score_recordings

    labels_dir = Path(labels_dir)
    names = [n for n in list_recordings(labels_dir) if n in preds]
    if not names:
        return None
    labels = fusion_labels({n: read_label_file(labels_dir / f"{n}.csv")[1] for n in names})
    for n in names:
        if len(preds[n]) < len(labels[n]):
            raise DataError(labels_dir / f"{n}.csv", f"{len(labels[n])} label frames, but the features give "
                                                     f"only {len(preds[n])} predicted frames")
    scored = {n: preds[n] for n in names}
    return score_recordings(labels, scored), bootstrap_ccc(labels, scored, **BOOTSTRAP), names
