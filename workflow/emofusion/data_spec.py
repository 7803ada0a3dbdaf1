"""The ``data`` section's spec: :class:`DataSpec`, every data setting (the cultures, the averaging
window, the pad tolerance, the label range, the cap on Test recordings without labels) with its one
default, checked by the config schema's rules (:func:`emofusion.schema.check_block`) and the label
range's order. The data rules' scripts, the workflow's config check, ``emofusion validate`` and
``emofusion cache``, the system's prediction and the tests build it.

The defaults are the library's, defined here once (:data:`PAD_TOLERANCE`, :data:`MAX_FRAMES`,
:data:`LABEL_RANGE`, :data:`CULTURES`; the window is the label frame step,
:data:`emofusion.data.layout.FRAME_S`): ``data.alignment`` and ``data.recordings`` import theirs from
here for their own signatures, and a config's ``null`` means them (:meth:`DataSpec.from_settings`).
A module of its own, so that editing it re-runs the data rules only (the input check, the caches,
the system), not the training or the fusion.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from .data.layout import FRAME_S
from .errors import ConfigError
from .schema import check_block, check_known

#: ``data.cultures``: the paper uses DE and HU only (the corpus also holds CN)
CULTURES: tuple[str, ...] = ("DE", "HU")
#: ``data.pad_tolerance``: label frames (0.5 s) of offset, gap or length difference corrected with a warning
PAD_TOLERANCE = 5
#: ``data.max_frames``: the longest AVEC 2019 CES sequence; the cap for Test recordings without labels
MAX_FRAMES = 1768
#: ``data.label_range``: AVEC 2019 labels lie in [-1, 1]
LABEL_RANGE: tuple[float, float] = (-1.0, 1.0)


def _listed(x: Any) -> Any:
    return list(x) if isinstance(x, list | tuple) else x


@dataclass(frozen=True)
class DataSpec:
    """Every data setting, with its one default (the library's). The workflow, the CLI and the tests build it."""

    cultures: tuple[str, ...] = CULTURES
    window_s: float = FRAME_S  # averaging window of the sets not at 0.1 s, centred on each label frame
    pad_tolerance: int = PAD_TOLERANCE
    label_range: tuple[float, float] = LABEL_RANGE
    max_frames: int = MAX_FRAMES

    def __post_init__(self):
        _check(self.settings(), "data")
        object.__setattr__(self, "cultures", tuple(str(c) for c in self.cultures))
        object.__setattr__(self, "window_s", float(self.window_s))
        object.__setattr__(self, "pad_tolerance", int(self.pad_tolerance))
        object.__setattr__(self, "label_range", tuple(float(v) for v in self.label_range))
        object.__setattr__(self, "max_frames", int(self.max_frames))

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any] | None, *, where: str = "data") -> DataSpec:
        """The spec from a data rule's params or a config's ``data`` block: a key left out or null takes
        the library default (the one place a null is resolved). An unknown key or a bad value is one
        ConfigError naming ``<where>.<key>``."""
        given = dict(settings or {})
        check_known(given, DATA_KEYS, where)
        v = {k: x for k, x in given.items() if x is not None}
        _check({k: _listed(x) for k, x in v.items()}, where)
        return cls(**v)

    def settings(self) -> dict[str, Any]:
        """The spec's values as a config's ``data`` block holds them (lists for the sequences): what
        the data rules get as params."""
        return {f.name: _listed(getattr(self, f.name)) for f in fields(self)}


#: The keys of a ``data`` section (the spec's fields).
DATA_KEYS: tuple[str, ...] = tuple(f.name for f in fields(DataSpec))


def _check(v: Mapping[str, Any], where: str) -> None:
    """The schema's rules for the ``data`` keys in ``v``, and what the schema cannot say: the label
    range's first value below its second."""
    check_block("data", v, where)
    lr = v.get("label_range")
    if lr is not None and not lr[0] < lr[1]:
        raise ConfigError(f"{where}.label_range: {lr}: the first value must be below the second")
