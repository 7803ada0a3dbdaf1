"""Normalisation: Train-only z-scores of a feature set.

Mean and (population) standard deviation per column over all frames of the Train recordings only,
applied to every partition; a column whose Train std is below :data:`STD_FLOOR` gets std 1, so a
column constant on Train maps to 0 there.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from ..errors import DataError
from .layout import parse_name

STD_FLOOR = 1e-8


def is_train(name: str) -> bool:
    """Whether recording ``name`` is a Train recording (the only ones in the statistics)."""
    return parse_name(name)[0] == "Train"


def normalise_train_only(per_recording: Mapping[str, np.ndarray], *,
                         std_floor: float = STD_FLOOR) -> tuple[np.ndarray, np.ndarray]:
    """Column mean and population std over the frames of the ``Train_*`` recordings only.

    Other partitions never enter the statistics. A std below ``std_floor`` becomes 1, so a column
    constant on Train maps to 0 there. Merged per recording in float64 (Chan et al.), so no copy of
    the whole set is made.
    """
    n = 0
    mean = m2 = None
    for name in sorted(per_recording):
        if not is_train(name):
            continue
        A = np.asarray(per_recording[name], dtype=np.float64)
        k = A.shape[0]
        if k == 0:
            continue
        mk = A.mean(axis=0)
        m2k = ((A - mk) ** 2).sum(axis=0)
        if mean is None:
            mean, m2, n = mk, m2k, k
        else:
            delta = mk - mean
            tot = n + k
            mean = mean + delta * (k / tot)
            m2 = m2 + m2k + delta**2 * (n * k / tot)
            n = tot
    if mean is None:
        raise DataError(None, "no Train frames: normalisation statistics come from Train recordings only")
    std = np.sqrt(m2 / n)
    std = np.where(std > std_floor, std, 1.0)
    return mean, std
