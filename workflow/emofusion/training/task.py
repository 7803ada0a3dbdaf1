"""The LightningModule: owns the loss, the optimiser, the dev metric and the log keys.

The network itself is :class:`emofusion.training.model.EmotionLSTM`. Logged per epoch:
``train_loss`` (the weighted CCC loss, frame-pooled epoch mean over batches), ``dev_ccc_arousal``,
``dev_ccc_valence``, ``dev_ccc_liking`` and ``dev_ccc_mean`` (AVEC scoring: CCC over the
concatenated Devel recordings, DE+HU, predictions shifted back by the label shift).

Checkpoints hold the state dict and the hyper-parameters (plain numbers, strings and lists), so
``torch.load(path, weights_only=True)`` reads them and :func:`load_task` rebuilds the module.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytorch_lightning as pl
import torch

from .. import SCORE_COLUMNS, TARGETS
from ..formats import pooled_group
from ..spec import TrainSpec
from .loss import weighted_ccc_loss
from .model import EmotionLSTM


class EmotionTask(pl.LightningModule):
    """Built from a :class:`~emofusion.spec.TrainSpec` (:meth:`from_spec`, which holds the defaults)
    or from a checkpoint's hyper-parameters (:func:`load_task`)."""

    def __init__(self, input_dim: int, hidden: Sequence[int], dropout: float, weights: Sequence[float],
                 loss_pooling: str, lr: float, rho: float, eps: float, label_shift: int,
                 pack: bool = False, feature_sets: Sequence[str] = ()):
        super().__init__()
        self.save_hyperparameters({
            "input_dim": int(input_dim), "hidden": [int(h) for h in hidden], "dropout": float(dropout),
            "weights": [float(w) for w in weights], "loss_pooling": str(loss_pooling), "lr": float(lr),
            "rho": float(rho), "eps": float(eps), "label_shift": int(label_shift), "pack": bool(pack),
            "feature_sets": [str(k) for k in feature_sets],
        }, logger=False)  # the run logs its own, richer params
        self.net = EmotionLSTM(input_dim, hidden, dropout, n_outputs=len(TARGETS), pack=pack)
        self.weights = tuple(float(w) for w in weights)
        self.loss_pooling = loss_pooling
        self.dev_names: list[str] = []  # set by the run: names of the val dataset, by index
        self.dev_labels: dict[str, np.ndarray] = {}
        self._dev_out: dict[int, np.ndarray] = {}
        self.dev_scores: dict | None = None

    @classmethod
    def from_spec(cls, input_dim: int, spec: TrainSpec, *, pack: bool = False,
                  feature_sets: Sequence[str] = ()) -> EmotionTask:
        return cls(input_dim, spec.hidden, spec.dropout, spec.resolved_weights(), spec.loss_pooling, spec.lr,
                   spec.rho, spec.eps, spec.label_shift, pack=pack, feature_sets=feature_sets)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(x, lengths)

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        out = self(batch["x"], batch["lengths"])
        loss, _ = weighted_ccc_loss(out, batch["y"], batch["mask"], self.weights, self.loss_pooling)
        self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=int(batch["x"].shape[0]))
        return loss

    def on_validation_epoch_start(self) -> None:
        self._dev_out = {}

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        out = self(batch["x"], batch["lengths"]).float().cpu().numpy()
        for j, (i, n) in enumerate(zip(batch["idx"].tolist(), batch["lengths"].tolist(), strict=True)):
            self._dev_out[i] = out[j, :n]

    def on_validation_epoch_end(self) -> None:
        if self.trainer.sanity_checking or not self._dev_out:
            return
        from ..results.metrics import score_recordings
        from .dataset import unshift_predictions

        shift = self.hparams["label_shift"]
        preds = {self.dev_names[i]: unshift_predictions(p, shift) for i, p in self._dev_out.items()}
        labels = {n: self.dev_labels[n] for n in preds}
        self.dev_scores = score_recordings(labels, preds)
        top = self.dev_scores[pooled_group(self.dev_scores)]
        for t in SCORE_COLUMNS:
            v = top[t]
            self.log(f"dev_ccc_{t}", float(v) if np.isfinite(v) else 0.0, prog_bar=t == "mean")
        self._dev_out = {}

    def configure_optimizers(self):
        h = self.hparams
        # Keras RMSprop parity: rho 0.9 (torch's `alpha`), eps 1e-7 (docs/data.md).
        return torch.optim.RMSprop(self.parameters(), lr=h["lr"], alpha=h["rho"], eps=h["eps"])

    @torch.no_grad()
    def predict_arrays(self, dataset, batch_size: int = 34) -> dict[str, np.ndarray]:
        """Raw model outputs ``{name: (T, 3)}`` (not yet shifted back) for every item of ``dataset``."""
        from .dataset import collate

        was_training = self.training
        self.eval()
        out = {}
        try:
            for start in range(0, len(dataset), batch_size):
                batch = collate([dataset[i] for i in range(start, min(start + batch_size, len(dataset)))])
                y = self(batch["x"].to(self.device), batch["lengths"]).float().cpu().numpy()
                for j, (i, n) in enumerate(zip(batch["idx"].tolist(), batch["lengths"].tolist(), strict=True)):
                    out[dataset.names[i]] = y[j, :n].astype(np.float64)
        finally:
            self.train(was_training)
        return out


def predict_recordings(task: EmotionTask, data, names: Sequence[str], batch_size: int) -> dict[str, np.ndarray]:
    """Predictions ``{name: (T, 3)}`` of ``names`` (in that order, batches of ``batch_size``), shifted
    back by the label shift: the one prediction path of a run's Devel and Test recordings and of
    ``emofusion predict`` (same recordings in the same batches give the same bits)."""
    from .dataset import SequenceDataset, unshift_predictions

    if not names:
        return {}
    raw = task.predict_arrays(SequenceDataset(data, list(names)), batch_size=batch_size)
    return {n: unshift_predictions(v, task.hparams["label_shift"]) for n, v in raw.items()}


def load_task(path, map_location: str = "cpu") -> EmotionTask:
    """Rebuild an :class:`EmotionTask` from a checkpoint written by the run (weights_only load)."""
    ckpt = torch.load(path, map_location=map_location, weights_only=True)
    task = EmotionTask(**ckpt["hyper_parameters"])
    task.load_state_dict(ckpt["state_dict"])
    task.eval()
    return task
