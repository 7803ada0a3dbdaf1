"""A data file shipped inside an installed package, found through the package's files without
importing it (importing may fail or cost: ``face_recognition_models``' ``__init__`` needs
``pkg_resources``, which current setuptools no longer has)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from ..errors import ConfigError


def package_file(package: str, relative: str, *, not_installed: str, not_shipped: str) -> Path:
    """``relative`` (a ``/`` path) inside the installed ``package``; ConfigError ``not_installed``
    where the package is not found, ``not_shipped`` where it is but the file is not."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(not_installed)
    for loc in spec.submodule_search_locations:
        p = Path(loc) / relative
        if p.is_file():
            return p
    raise ConfigError(not_shipped)
