"""The ``tracking`` section's spec: :class:`TrackingSpec`, the MLflow store, the experiment and the
artifact root of a new experiment, each with its one default, checked by the config schema's rules
(:func:`emofusion.schema.check_block`). The ``init_tracking`` job, ``emofusion init-tracking`` and
``emofusion train`` (its experiment's default) build it. A module of its own, so that editing it
re-runs the ``init_tracking`` rule only: the tracked jobs read the store from ``tracking.json``.

A null ``uri`` is the default store, ``sqlite:///<abs cwd>/results/mlflow.db``
(:func:`emofusion.tracking.default_tracking_uri`), resolved where the job runs
(:meth:`TrackingSpec.store_uri`), so moving the checkout changes no rule's params; a null
``artifact_location`` is the store's own default (:func:`emofusion.tracking.default_artifact_location`,
taken by :func:`emofusion.tracking.init_tracking`: ``mlflow-artifacts:/`` beside a sqlite store).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from .schema import check_block, check_known


@dataclass(frozen=True)
class TrackingSpec:
    """Every tracking setting, with its one default. The workflow and the CLI build it."""

    uri: str | None = None  # None: the default store (store_uri)
    experiment: str = "emofusion"
    artifact_location: str | None = None  # None: the store's default (tracking.init_tracking)

    def __post_init__(self):
        check_block("tracking", asdict(self), "tracking")

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None, *, where: str = "tracking") -> TrackingSpec:
        """The spec from the init_tracking rule's params or a config's ``tracking`` block: a key left
        out takes its default, and so does a null ``experiment`` (a null ``uri`` or ``artifact_location``
        means the default the store gives, above). An unknown key or a bad value is one ConfigError
        naming ``<where>.<key>``."""
        given = dict(settings or {})
        check_known(given, TRACKING_KEYS, where)
        v = {k: x for k, x in given.items() if x is not None}
        check_block("tracking", v, where)
        return cls(**v)

    def settings(self) -> dict[str, Any]:
        """The spec's values as a config's ``tracking`` block holds them: the init_tracking rule's params."""
        return asdict(self)

    def store_uri(self) -> str:
        """The tracking URI: ``uri``, or the default store under the working directory."""
        from .tracking import default_tracking_uri

        return self.uri or default_tracking_uri()


#: The keys of a ``tracking`` section (the spec's fields): the init_tracking rule passes each as its own param.
TRACKING_KEYS: tuple[str, ...] = tuple(f.name for f in fields(TrackingSpec))
