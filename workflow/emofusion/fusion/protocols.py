"""The two fusion protocols: their names and labels, the parts a stage is made of, and the
culture-stratified grouped CV folds of dev recordings that both the parts and a stage's
``scores.json`` are laid out by.

A stage of a protocol is made of *parts*, each an independent job whose only fusion input is the
same part of the previous stage (a ``.npz`` chain file, :class:`~emofusion.fusion.chain.PartState`):

``in-sample`` (the paper's protocol, labelled as such): one part, ``all``: fit the grid on all dev,
select (k, C) per target by dev CCC, predict dev and test.

``grouped-cv``: part ``fold<i>`` for each outer fold i of dev recordings (:func:`grouped_folds`,
culture-stratified): stages are fitted on the other folds only; inside them (k, C) per target are
chosen by an inner grouped CV, the chosen model is refitted on all the other folds and predicts fold
i; the next stage trains on this stage's inner out-of-fold predictions (stored in the chain file)
and is applied to fold i's stage output. Fold i's labels are never read for its own predictions.
Part ``all`` makes the test predictions: (k, C) chosen by grouped CV over all dev (the outer folds),
then a refit on all dev.

What each part fits on is :func:`emofusion.fusion.fit.part_stage`; the fit itself
:func:`emofusion.fusion.fit.fit_part`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import DataError
from ..results.metrics import culture_of

PROTOCOLS = ("in-sample", "grouped-cv")
IN_SAMPLE_LABEL = "in-sample (fit, selected and scored on the same dev frames)"
GROUPED_LABEL = "grouped-cv (outer folds by recording; k, C chosen by inner grouped CV)"


def parts(protocol: str, outer_folds: int) -> list[str]:
    """The parts of one stage: ``all`` for in-sample; ``fold1..foldG`` and ``all`` for grouped-cv."""
    if protocol == "in-sample":
        return ["all"]
    if protocol == "grouped-cv":
        return [f"fold{i}" for i in range(1, outer_folds + 1)] + ["all"]
    raise ValueError(f"protocol must be one of {PROTOCOLS}, got {protocol!r}")


def grouped_folds(names: Sequence[str], n_folds: int, seed: int) -> list[list[str]]:
    """Culture-stratified folds of recordings: shuffle each culture (seeded), deal round robin,
    continuing the dealer position across cultures so fold sizes differ by at most one."""
    if n_folds < 2:
        raise ValueError("grouped CV needs at least 2 folds")
    if len(names) < n_folds:
        raise DataError(None, f"grouped CV with {n_folds} folds needs at least {n_folds} recordings, got {len(names)}")
    rng = np.random.default_rng(seed)
    folds: list[list[str]] = [[] for _ in range(n_folds)]
    pos = 0
    for cult in sorted({culture_of(n) for n in names}):
        members = sorted(n for n in names if culture_of(n) == cult)
        for i in rng.permutation(len(members)):
            folds[pos % n_folds].append(members[i])
            pos += 1
    return [sorted(f) for f in folds]
