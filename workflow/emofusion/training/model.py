"""The paper's network as a pure ``nn.Module`` (paper section 4.1; docs/data.md).

Stacked unidirectional LSTMs (256 -> 128 -> 64 units in the paper), dropout after each LSTM layer
(0.4), and three linear heads of one unit each (arousal, valence, liking) applied at every frame.
The three heads are held as one ``Linear(h, 3)``: row k of its weight is head k, so the heads stay
independent (no shared parameters) while costing one matmul.

Padding: sequences are zero-padded at the end. With ``pack=False`` (default) the LSTMs run over
the padding, which for a unidirectional LSTM cannot change the outputs at valid frames (a frame's
output depends only on earlier frames); the outputs at padded frames are meaningless and the loss
and metric mask them out. ``pack=True`` runs on a ``PackedSequence`` instead (same outputs, tested),
but on CPU torch 2.13 then leaves the fused oneDNN LSTM kernel as soon as lengths differ within a
batch: measured 200 s vs 2.6 s per epoch (17 recordings of 943..1768 frames, D=100, one thread;
``python -m emofusion.bench train --vary``), so masking is the default. Initialisation follows Keras (the paper's framework): Glorot-uniform input kernels,
orthogonal recurrent kernels, zero biases with the forget-gate bias at 1.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class EmotionLSTM(nn.Module):
    """``(B, T, input_dim)`` features -> ``(B, T, n_outputs)`` frame-wise predictions."""

    def __init__(self, input_dim: int, hidden: Sequence[int] = (256, 128, 64), dropout: float = 0.4,
                 n_outputs: int = 3, pack: bool = False, init: str = "keras"):
        super().__init__()
        if input_dim < 1:
            raise ValueError(f"input_dim must be >= 1, got {input_dim}")
        if not hidden or any(int(h) < 1 for h in hidden):
            raise ValueError(f"hidden must be a non-empty list of positive sizes, got {list(hidden)}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.input_dim = int(input_dim)
        self.hidden = [int(h) for h in hidden]
        self.pack = pack
        sizes = [self.input_dim, *self.hidden]
        self.lstms = nn.ModuleList(nn.LSTM(sizes[i], sizes[i + 1], batch_first=True)
                                   for i in range(len(self.hidden)))
        self.dropout = nn.Dropout(dropout)
        self.heads = nn.Linear(self.hidden[-1], n_outputs)
        if init == "keras":
            self.reset_parameters_keras()
        elif init != "torch":
            raise ValueError(f"init must be 'keras' or 'torch', got {init!r}")

    @torch.no_grad()
    def reset_parameters_keras(self) -> None:
        for lstm in self.lstms:
            h = lstm.hidden_size
            # Keras kernel (in, 4h) glorot-uniform over the whole matrix; torch stores it transposed.
            nn.init.xavier_uniform_(lstm.weight_ih_l0)
            # Keras recurrent kernel (h, 4h) orthogonal; torch stores (4h, h) = its transpose.
            w = torch.empty(h, 4 * h)
            nn.init.orthogonal_(w)
            lstm.weight_hh_l0.copy_(w.t())
            lstm.bias_ih_l0.zero_()
            lstm.bias_hh_l0.zero_()
            lstm.bias_ih_l0[h:2 * h] = 1.0  # gate order i, f, g, o in both frameworks
        nn.init.xavier_uniform_(self.heads.weight)
        nn.init.zeros_(self.heads.bias)

    def forward(self, x: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
        total = x.shape[1]
        if self.pack and lengths is not None:
            h = pack_padded_sequence(x, lengths.cpu(), batch_first=True, enforce_sorted=False)
            for lstm in self.lstms:
                h, _ = lstm(h)
                h = h._replace(data=self.dropout(h.data))
            h, _ = pad_packed_sequence(h, batch_first=True, total_length=total)
        else:
            h = x
            for lstm in self.lstms:
                h, _ = lstm(h)
                h = self.dropout(h)
        return self.heads(h)
