"""An extraction block of the config (``audio``, ``video``) checked against ``feature_sets``.

A block's ``extract`` lists the sets the workflow extracts from a data root's media; each must be
one of ``feature_sets`` and configured with the folder it is written to (the cache reads it from
the extracted root). :mod:`emofusion.data.audio` and :mod:`emofusion.data.video_config` name their
block, their sets' folders and their words.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from ..errors import ConfigError


def check_extract_block(config: Mapping, block: str, *, a_root: str, synth: str, known: Callable[[str], object],
                        folder_of: Callable[[str], str], its_folder: str) -> None:
    """The ``block`` block against ``feature_sets``: ConfigError naming the key.

    ``a_root``: the data root extraction needs ("an audio data root"); ``synth``: the command that
    writes one; ``known(key)``: ConfigError where ``key`` cannot be extracted; ``folder_of(key)``:
    the folder the set is written to; ``its_folder``: how the messages call it ("its AVEC folder").
    """
    extract = list((config.get(block) or {}).get("extract") or [])
    if not extract:
        return
    if config.get("data_root") is None:
        raise ConfigError(f"config key {block}.extract: extraction needs {a_root} (data_root is null; "
                          f"`{synth}` writes one)")
    sets = config["feature_sets"]
    for key in extract:
        known(key)
        if key not in sets:
            raise ConfigError(f"config key {block}.extract: {key!r} is not one of feature_sets ({', '.join(sets)})")
        if sets[key]["folder"] != folder_of(key):
            raise ConfigError(f"config key feature_sets.{key}.folder: an extracted set is written to {its_folder} "
                              f"{folder_of(key)!r}, got {sets[key]['folder']!r}")
