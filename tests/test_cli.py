"""The CLI's surface: --version, a bare call, option names, --partition in any case, defaults in --help."""

from __future__ import annotations

import pytest
from emofusion import __version__
from emofusion.cli import build_parser, main
from emofusion.data.layout import format_avec_csv


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"emofusion {__version__}"


def test_bare_call_prints_help(capsys):
    assert main([]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert out.startswith("usage: emofusion")
    for command in ("synth", "validate", "train", "score", "fuse", "compare"):
        assert command in out
    assert ":mod:" not in out and "`emofusion COMMAND --help`" in out


def test_description_has_no_sphinx_role(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert ":mod:" not in capsys.readouterr().out


def _corpus(tmp_path):
    """A label folder (Devel) and a test_labels folder (Test) beside it, as the generated corpus has them."""
    import numpy as np

    rng = np.random.default_rng(0)
    root = tmp_path / "corpus"
    for folder, part in (("labels", "Devel"), ("test_labels", "Test")):
        (root / folder).mkdir(parents=True)
        for name in (f"{part}_DE_01", f"{part}_HU_01"):
            (root / folder / f"{name}.csv").write_text(format_avec_csv(name, rng.uniform(-1, 1, (40, 3))))
    return root


@pytest.mark.parametrize("spelling", ["test", "TEST", "Test"])
def test_partition_test_any_case(tmp_path, capsys, spelling):
    root = _corpus(tmp_path)
    rc = main(["score", "--labels", str(root / "test_labels"), "--predictions", str(root / "test_labels"),
               "--partition", spelling])
    out = capsys.readouterr().out
    assert rc == 0 and "(Test, CCC)" in out and "1.000" in out


def test_partition_test_in_the_dev_folder_names_test_labels(tmp_path, capsys):
    root = _corpus(tmp_path)
    rc = main(["score", "--labels", str(root / "labels"), "--predictions", str(root / "labels"),
               "--partition", "test"])
    err = capsys.readouterr().err
    assert rc == 2 and "None" not in err and "Traceback" not in err
    assert "no label files for partition Test" in err and str(root / "test_labels") in err


def test_partition_unknown_is_a_usage_error(tmp_path, capsys):
    root = _corpus(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["compare", "--labels", str(root / "labels"), str(root / "labels"), str(root / "labels"),
              "--partition", "dev"])
    assert exc.value.code == 2
    assert "expected one of Train, Devel, Test" in capsys.readouterr().err


def _help(command: str) -> str:
    sub = build_parser()._subparsers._group_actions[0].choices[command]
    return sub.format_help()


def test_labels_means_a_folder_everywhere_and_train_takes_labels_cache():
    for command in ("score", "compare", "fuse"):
        assert "--labels LABELS" in _help(command)
    train = _help("train")
    assert "--labels-cache LABELS_NPZ" in train
    assert "--labels LABELS_NPZ" not in train  # the old spelling is hidden


def test_train_old_labels_spelling_is_accepted_with_a_warning(tmp_path, capsys):
    # a missing cache through either spelling reaches the same one-line error naming the file
    for flag in ("--labels-cache", "--labels"):
        rc = main(["train", "--features", str(tmp_path / "nope.npz"), flag, str(tmp_path / "labels.npz"),
                   "--out", str(tmp_path / "o"), "--run-name", "x", "--tracking-uri", "off"])
        err = capsys.readouterr().err
        assert rc == 2 and "nope.npz" in err and "Traceback" not in err
        assert ("deprecated" in err) == (flag == "--labels")


def test_train_without_labels_cache_is_one_line(tmp_path, capsys):
    rc = main(["train", "--features", str(tmp_path / "a.npz"), "--out", str(tmp_path / "o"), "--run-name", "x"])
    err = capsys.readouterr().err
    assert rc == 2 and "--labels-cache LABELS_NPZ is required" in err


def test_fuse_help_says_the_k_grid_is_the_papers():
    text = " ".join(_help("fuse").split())
    assert "default 11 13 15 17 19: the paper's grid" in text
    assert "config.yaml uses 1 3 5" in text
