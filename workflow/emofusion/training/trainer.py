"""One training run: fit the multitask LSTM, predict Devel and Test, score, write, track.

:func:`train_run` is THE entry point (the workflow's training jobs, :mod:`emofusion.training.job`,
and ``emofusion train`` both call it).
Outputs in ``out_dir`` (docs/contracts.md)::

    predictions/<name>.csv   AVEC format, every Devel and Test recording of the caches
                             (Test without labels: one row per cached frame)
    model.ckpt               Lightning checkpoint (state_dict + hyper_parameters; weights_only-loadable)
    history.json             per-epoch train loss and dev CCC
    scores.json              {"devel": {"DE+HU": .., "DE": .., "HU": ..}, "test": {..} when test labels exist}

Every file is written atomically and ``scores.json`` is written last: it is the completion marker
(a killed run leaves no scores.json, and its MLflow run is not FINISHED).

Which weights predict: ``predict_with="last"`` (the paper's: the weights after the last epoch) or
``"best_dev"`` (the epoch with the best dev mean CCC -- optimistic, since the same dev set is then
scored and fused on).
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from .. import SCORE_COLUMNS
from ..errors import ConfigError, DataError
from ..formats import pooled_group
from ..spec import TrainSpec
from .devices import trainer_devices

#: environment variable: torch intra-op threads of a run (default 1, docs/pipeline.md)
THREADS_ENV = "EMOFUSION_THREADS"


def cpu_backend_settings() -> dict[str, bool]:
    """CPU backend switches the runs use, chosen by ``python -m emofusion.bench train`` (they do not
    change the model's function): oneDNN stays on -- off, the masked LSTM epoch took 1.3-3.8x as
    long on one thread (D=4096 and D=100), and packed sequences without it ~50x."""
    return {"mkldnn": True}


def modality_of(keys: list[str]) -> str:
    """``audio``, ``visual`` or ``audiovisual`` from the feature-set keys (FEATURE_SETS)."""
    from ..data.feature_sets import modality_of as registry_modality

    return registry_modality(keys)


def _quiet_lightning() -> None:
    import logging
    import warnings

    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=r".*does not have many workers.*")
    warnings.filterwarnings("ignore", message=r".*number of training batches.*logging interval.*")
    warnings.filterwarnings("ignore", message=r".*LitLogger.*")
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\).*")


def _callbacks(params: TrainSpec, log):
    import pytorch_lightning as pl

    class EpochLine(pl.Callback):
        """One line per epoch; also keeps the history (and the best-dev weights when asked)."""

        def __init__(self):
            self.history: list[dict] = []
            self.best: tuple[float, int, dict] | None = None

        def on_train_epoch_start(self, trainer, pl_module):
            self.t0 = time.perf_counter()

        def on_train_epoch_end(self, trainer, pl_module):
            m = {k: float(v) for k, v in trainer.callback_metrics.items()}
            sec = time.perf_counter() - self.t0
            row = {"epoch": trainer.current_epoch + 1, "train_loss": m.get("train_loss", float("nan")),
                   **{f"dev_ccc_{t}": m.get(f"dev_ccc_{t}", float("nan")) for t in SCORE_COLUMNS},
                   "seconds": round(sec, 3)}
            self.history.append(row)
            log(f"epoch {row['epoch']:>3}/{params.epochs}  loss {row['train_loss']:.4f}  dev CCC "
                f"a {row['dev_ccc_arousal']:.3f} v {row['dev_ccc_valence']:.3f} l {row['dev_ccc_liking']:.3f}"
                f"  ({sec:.1f} s)")
            if params.predict_with == "best_dev":
                score = row["dev_ccc_mean"]
                if self.best is None or score > self.best[0]:
                    state = {k: t.detach().clone() for k, t in pl_module.state_dict().items()}
                    self.best = (score, row["epoch"], state)

    return EpochLine()


def _save_checkpoint(trainer, path: Path) -> None:
    """The checkpoint, atomically and durably (README, power loss)."""
    from ..io import atomic_path

    with atomic_path(path) as tmp:
        trainer.save_checkpoint(tmp, weights_only=True)


def train_run(feature_caches: list[Path], labels_cache: Path, out_dir: Path, *, run_name: str, kind: str,
              params: dict | TrainSpec, seed: int = 0, tracking_uri: str | None = None,
              experiment_name: str = "emofusion", tags: dict | None = None, log=None) -> dict:
    """Train one run and write its outputs (see the module docstring). Returns
    ``{"scores", "run_id", "out_dir", "epochs", "seconds", "best_epoch"}``.

    ``tracking_uri`` None means the default store (:func:`emofusion.tracking.default_tracking_uri`);
    ``"off"`` disables tracking. ``log`` receives the per-epoch lines (default: print to stdout).
    """
    t_start = time.perf_counter()
    p = params if isinstance(params, TrainSpec) else TrainSpec.from_dict(params)
    weights = p.resolved_weights()
    log = log or (lambda s: print(s, flush=True))
    out_dir = Path(out_dir)
    feature_caches = [Path(f) for f in feature_caches]
    if not feature_caches:
        raise ConfigError("features: at least one feature cache is needed")

    import pytorch_lightning as pl
    import torch

    from ..data.layout import write_prediction_dir
    from ..formats import write_scores
    from ..io import atomic_write_json
    from ..results.metrics import score_recordings
    from ..tracking import (
        OFF,
        RESULT_TAG,
        close_stale_runs,
        default_tracking_uri,
        finish_run,
        log_outputs,
        make_logger,
        result_digest,
        score_metrics,
        source_tags,
        supersede_runs_of_same_job,
    )
    from .dataset import SequenceDataset, collate, load_training_data
    from .task import EmotionTask, predict_recordings

    _quiet_lightning()
    raw_threads = os.environ.get(THREADS_ENV, "1")
    threads = int(raw_threads) if raw_threads.strip().isdigit() else 0
    if threads < 1:
        raise ConfigError(f"{THREADS_ENV}: expected a positive integer, got {raw_threads!r}")
    torch.set_num_threads(threads)
    torch.backends.mkldnn.enabled = cpu_backend_settings()["mkldnn"]
    data = load_training_data(feature_caches, labels_cache)
    train_names, dev_names = data.partition("Train"), data.partition("Devel")
    test_names = data.partition("Test")
    if not train_names:
        raise DataError(feature_caches[0], "no Train recordings in the cache")
    if not dev_names:
        raise DataError(feature_caches[0], "no Devel recordings in the cache")

    pl.seed_everything(seed, workers=True, verbose=False)
    train_ds = SequenceDataset(data, train_names, shift=p.label_shift, max_frames=p.max_train_frames)
    dev_ds = SequenceDataset(data, dev_names)
    gen = torch.Generator().manual_seed(seed)
    train_dl = torch.utils.data.DataLoader(train_ds, batch_size=p.batch_size, shuffle=True, generator=gen,
                                           collate_fn=collate, num_workers=0)
    dev_dl = torch.utils.data.DataLoader(dev_ds, batch_size=p.batch_size, shuffle=False, collate_fn=collate,
                                         num_workers=0)
    task = EmotionTask.from_spec(data.dim, p, feature_sets=data.keys)
    task.dev_names = dev_names
    task.dev_labels = {n: data.targets(n) for n in dev_names}

    keys = sorted(data.keys)
    logger = False
    if tracking_uri != OFF:
        uri = tracking_uri or default_tracking_uri()
        run_tags = {"kind": kind, "feature_sets": "+".join(keys), "modality": modality_of(keys),
                    "loss_mode": p.loss_mode, "seed": str(seed), "emofusion.workdir": str(Path.cwd().resolve()),
                    **{k: str(v) for k, v in (tags or {}).items()}}
        close_stale_runs(uri, experiment_name, run_name, run_tags)
        job_tags = dict(run_tags)  # what identifies the job (not the code version, which a re-run may change)
        run_tags.update(source_tags("emofusion.training.trainer.train_run"))  # not the job's temp script
        logger = make_logger(uri, experiment_name, run_name, run_tags)
        hp = {**p.to_dict(), "seed": seed, "feature_sets": "+".join(keys), "input_dim": data.dim,
              "alpha": weights[0], "beta": weights[1], "gamma": weights[2], "threads": threads,
              "n_train": len(train_names), "n_devel": len(dev_names), "n_test": len(test_names)}
        hp["weights"] = json.dumps(p.weights)
        logger.log_hyperparams(hp)
    epoch_cb = _callbacks(p, log)
    try:
        trainer = pl.Trainer(max_epochs=p.epochs, accelerator=p.accelerator, devices=trainer_devices(p.accelerator),
                             logger=logger,
                             callbacks=[epoch_cb], enable_checkpointing=False,
                             enable_progress_bar=sys.stdout.isatty(), enable_model_summary=False,
                             num_sanity_val_steps=0, log_every_n_steps=1, deterministic=False,
                             default_root_dir=str(out_dir))
        trainer.fit(task, train_dl, dev_dl)
        best_epoch = None
        if p.predict_with == "best_dev" and epoch_cb.best is not None:
            task.load_state_dict(epoch_cb.best[2])
            best_epoch = epoch_cb.best[1]
        # predictions: every Devel and Test recording, shifted back by the label shift; Test in batches of
        # its own (sorted by name), as `emofusion predict` batches new recordings: the same bits
        preds = predict_recordings(task, data, dev_names, p.batch_size)
        preds.update(predict_recordings(task, data, sorted(test_names), p.batch_size))
        scores = {"devel": score_recordings({n: data.targets(n) for n in dev_names},
                                            {n: preds[n] for n in dev_names})}
        test_lab = {n: data.test_targets(n) for n in test_names}
        test_lab = {n: y for n, y in test_lab.items() if y is not None}
        if test_lab:
            scores["test"] = score_recordings(test_lab, {n: preds[n] for n in test_lab})
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "scores.json").unlink(missing_ok=True)  # a stale marker must not survive a re-run
        write_prediction_dir(out_dir / "predictions", preds)
        _save_checkpoint(trainer, out_dir / "model.ckpt")
        history = {"run_name": run_name, "predict_with": p.predict_with, "best_epoch": best_epoch,
                   "epochs": epoch_cb.history}
        atomic_write_json(out_dir / "history.json", history)
        seconds = time.perf_counter() - t_start
        run_id = None
        if logger:
            # the pooled (DE+HU) scores only, named as the fusion runs name theirs (dev/CCC, ...), so
            # one column ranks both; per-culture scores are in the scores.json artifact
            final = score_metrics(scores, cultures=False)
            import tempfile

            with tempfile.TemporaryDirectory(dir=out_dir) as tmp:
                staged = Path(tmp) / "scores.json"
                write_scores(staged, scores)
                log_outputs(logger, final, [staged, out_dir / "history.json"],
                            {"predictions": out_dir / "predictions"})
                digest = result_digest(staged)
                logger.experiment.set_tag(logger.run_id, RESULT_TAG, digest)
            finish_run(logger)
            run_id = logger.run_id
            # exactly one run per job: what a killed attempt of this job left goes to MLflow's trash
            # now that this run is FINISHED (never before: a kill here loses no record)
            supersede_runs_of_same_job(uri, experiment_name, run_name, job_tags, keep=run_id, result_sha256=digest)
        write_scores(out_dir / "scores.json", scores)  # LAST: the completion marker
    except BaseException:
        if logger and logger._initialized:
            try:
                finish_run(logger, "FAILED")
            except Exception:  # noqa: BLE001 -- the original error matters more
                pass
        raise
    top = scores["devel"][pooled_group(scores["devel"])]
    log(f"{run_name}: dev CCC " + " ".join(f"{t} {top[t]:.3f}" for t in SCORE_COLUMNS)
        + f"  ({seconds:.1f} s)")
    return {"scores": scores, "run_id": run_id, "out_dir": str(out_dir), "epochs": p.epochs,
            "seconds": seconds, "best_epoch": best_epoch}
