"""`emofusion validate`: a clean root passes with a summary table; every malformed input fails with
ONE error naming the file and line/column, exit code 2. Hand-written AVEC files in tmp_path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from emofusion.cli import main
from emofusion.data.layout import format_avec_csv, read_label_dir
from emofusion.data.recordings import LABEL_RANGE
from emofusion.data.validate import format_report, parse_folder_overrides, validate_root
from emofusion.errors import DataError
from helpers import SETS, edit_line, feature_text, make_root

# ---------------------------------------------------------------------------------------------
# helpers (the tiny AVEC-format roots are helpers.make_root's)


def cli_error(root: Path, capsys, *extra: str) -> str:
    rc = main(["validate", str(root), *extra])
    err = capsys.readouterr().err
    assert rc == 2, err
    assert err.count("error:") == 1
    return err


FUNC = SETS["egemaps_func"][0]
LLD = SETS["egemaps"][0]

# ---------------------------------------------------------------------------------------------
# clean roots


def test_clean_root_passes_with_summary(tmp_path, capsys):
    root = make_root(tmp_path)
    rep = validate_root(root)
    assert [s.key for s in rep.sets] == ["egemaps", "egemaps_func", "boaw_egemaps", "fau"]
    assert rep.label_counts == {("Train", "DE"): 1, ("Train", "HU"): 1, ("Devel", "DE"): 1, ("Devel", "HU"): 1}
    by = {s.key: s for s in rep.sets}
    assert by["egemaps_func"].parts["Train"].recordings == 2
    assert by["egemaps_func"].parts["Train"].frames == 55
    assert by["egemaps_func"].parts["Test"].frames == 18  # unlabelled Test: covered frames
    assert by["egemaps"].parts["Devel"].rows == 420  # 100 Hz native rows
    assert by["egemaps"].parts["Devel"].frames == 42
    assert by["egemaps"].rate_min_hz == pytest.approx(100)
    assert by["fau"].rate_min_hz == pytest.approx(30, rel=1e-4)  # 6-decimal times
    assert by["fau"].dim == 2
    assert "resnet" in rep.absent

    assert main(["validate", str(root)]) == 0
    out = capsys.readouterr().out
    assert "egemaps_func" in out and "not present (skipped, not asked for): mfcc" in out
    row = next(ln for ln in out.splitlines() if ln.startswith("egemaps ") and " Train " in ln)
    assert row.split()[-5:] == ["2", "550", "55", "3*", "100"]


def test_sets_and_folder_overrides(tmp_path, capsys):
    root = make_root(tmp_path, sets=("egemaps_func",))
    (root / FUNC).rename(root / "my_func")
    with pytest.raises(DataError, match="not found"):
        validate_root(root, sets=["egemaps_func"])
    rep = validate_root(root, sets=["egemaps_func"], folders=parse_folder_overrides(["egemaps_func=my_func"]))
    assert [s.folder for s in rep.sets] == ["my_func"]
    assert main(["validate", str(root), "--folders", "egemaps_func=my_func", "--sets", "egemaps_func"]) == 0
    assert main(["validate", str(root), "--folders", "nokey=x"]) == 2
    assert "unknown feature set 'nokey'" in capsys.readouterr().err
    assert main(["validate", str(root), "--folders", "egemaps_func"]) == 2
    assert "KEY=FOLDER" in capsys.readouterr().err


def test_real_dev_labels_validate_as_labels_only_root(avec_devel, capsys):
    labels = read_label_dir(avec_devel / "labels_devel")
    assert len(labels) == 28 and all(v.shape[1] == 3 for v in labels.values())
    rep = validate_root(avec_devel, labels_folder="labels_devel")
    assert rep.label_counts == {("Devel", "DE"): 14, ("Devel", "HU"): 14}
    assert rep.label_frames["Devel"] == sum(len(v) for v in labels.values())
    assert rep.sets == [] and len(rep.absent) == 12
    assert "labels only" in format_report(rep)
    assert main(["validate", str(avec_devel), "--labels-folder", "labels_devel"]) == 0
    assert "DE 14, HU 14" in capsys.readouterr().out


def test_generated_test_labels_checked_apart(tmp_path):
    root = make_root(tmp_path, sets=("egemaps_func",))
    (root / "test_labels").mkdir()
    (root / "test_labels" / "Test_DE_01.csv").write_text(format_avec_csv("Test_DE_01", np.zeros((18, 3))))
    rep = validate_root(root)
    assert rep.test_label_counts == {"DE": 1}
    assert ("Test", "DE") not in rep.label_counts
    (root / "test_labels" / "Test_DE_01.csv").write_text(format_avec_csv("Test_DE_01", np.full((18, 3), 2.0)))
    with pytest.raises(DataError, match="outside"):
        validate_root(root)


# ---------------------------------------------------------------------------------------------
# malformed inputs: one error each, naming file and line/column


def test_missing_labels_folder(tmp_path, capsys):
    root = make_root(tmp_path)
    (root / "labels").rename(root / "labelz")
    err = cli_error(root, capsys)
    assert "labels: labels folder not found" in err


def test_missing_feature_folder_asked_for(tmp_path, capsys):
    root = make_root(tmp_path, sets=("egemaps_func",))
    err = cli_error(root, capsys, "--sets", "egemaps_func", "fau")
    assert "visual_features: feature folder for 'fau' not found" in err


def test_missing_recording(tmp_path, capsys):
    root = make_root(tmp_path)
    (root / FUNC / "Devel_HU_01.csv").unlink()
    err = cli_error(root, capsys)
    assert f"{FUNC}/Devel_HU_01.csv: missing recording" in err


def test_feature_file_without_labels(tmp_path, capsys):
    root = make_root(tmp_path)
    (root / "labels" / "Devel_HU_01.csv").unlink()
    err = cli_error(root, capsys)
    assert "Devel_HU_01.csv: feature file without a label file" in err


@pytest.mark.parametrize("which", ["feature", "label"])
def test_empty_file(tmp_path, capsys, which):
    root = make_root(tmp_path)
    path = root / (FUNC if which == "feature" else "labels") / "Train_HU_01.csv"
    path.write_text("")
    err = cli_error(root, capsys)
    assert f"{path.parent.name}/Train_HU_01.csv: empty file" in err


def test_wrong_separator_mix(tmp_path, capsys):
    root = make_root(tmp_path)
    path = root / FUNC / "Devel_DE_01.csv"
    edit_line(path, 5, lambda s: s.replace(";", ","))
    err = cli_error(root, capsys)
    assert "Devel_DE_01.csv:5: separator ','" in err and "uses ';'" in err


def test_non_numeric_cell(tmp_path, capsys):
    root = make_root(tmp_path)
    path = root / LLD / "Train_DE_01.csv"
    edit_line(path, 7, lambda s: ";".join(s.split(";")[:3] + ["abc"] + s.split(";")[4:]))
    err = cli_error(root, capsys)
    assert "Train_DE_01.csv:7 (column 4): non-numeric cell 'abc'" in err


@pytest.mark.parametrize("bad", ["nan", "inf", "-inf", "NaN"])
def test_nan_inf(tmp_path, capsys, bad):
    root = make_root(tmp_path)
    path = root / SETS["boaw_egemaps"][0] / "Devel_HU_01.csv"  # comma, no header
    edit_line(path, 3, lambda s: ",".join(s.split(",")[:-1] + [bad]))
    err = cli_error(root, capsys)
    assert f"Devel_HU_01.csv:3 (column 7): non-finite value '{bad}'" in err


@pytest.mark.parametrize("change", ["short", "long"])
def test_ragged_row(tmp_path, capsys, change):
    root = make_root(tmp_path)
    path = root / FUNC / "Train_DE_01.csv"
    edit_line(path, 10, (lambda s: s.rsplit(";", 1)[0]) if change == "short" else (lambda s: s + ";1.0"))
    err = cli_error(root, capsys)
    assert "Train_DE_01.csv:10: ragged row" in err


def test_duplicate_name(tmp_path, capsys):
    root = make_root(tmp_path)
    src = root / FUNC / "Devel_DE_01.csv"
    dst = root / FUNC / "Devel_HU_01.csv"
    dst.write_text(src.read_text())  # a second file claiming recording Devel_DE_01
    err = cli_error(root, capsys)
    assert "Devel_HU_01.csv:2: name column says 'Devel_DE_01' but the file is Devel_HU_01.csv" in err


def test_name_changes_inside_file(tmp_path, capsys):
    root = make_root(tmp_path)
    path = root / FUNC / "Devel_DE_01.csv"
    edit_line(path, 6, lambda s: s.replace("Devel_DE_01", "Devel_DE_02"))
    err = cli_error(root, capsys)
    assert "Devel_DE_01.csv:6: name column changes" in err


@pytest.mark.parametrize("fname", ["Devel_XX_01.csv", "Devel_DE_1.csv", "devel_DE_01.csv", "Devel_DE_00.csv"])
def test_unparsable_name(tmp_path, capsys, fname):
    root = make_root(tmp_path)
    (root / FUNC / fname).write_text((root / FUNC / "Devel_DE_01.csv").read_text())
    err = cli_error(root, capsys)
    assert fname in err
    assert ("unparsable recording name" in err) or ("1-based" in err) or ("without a label file" in err)


def test_unparsable_label_name(tmp_path, capsys):
    root = make_root(tmp_path)
    (root / "labels" / "Train_DE_x1.csv").write_text("")
    err = cli_error(root, capsys)
    assert "Train_DE_x1.csv: unparsable recording name 'Train_DE_x1'" in err


def test_labels_without_target_column(tmp_path, capsys):
    root = make_root(tmp_path)
    path = root / "labels" / "Train_HU_01.csv"
    edit_line(path, 1, lambda s: s.replace("liking", "likeability"))
    err = cli_error(root, capsys)
    assert "Train_HU_01.csv:1: no 'liking' column" in err


def test_label_out_of_range(tmp_path, capsys):
    root = make_root(tmp_path)
    path = root / "labels" / "Devel_DE_01.csv"
    edit_line(path, 4, lambda s: ";".join(s.split(";")[:3] + ["-1.500000"] + s.split(";")[4:]))
    err = cli_error(root, capsys)
    assert "Devel_DE_01.csv:4 (column valence): valence = -1.500000 outside the label range [-1, 1]" in err
    assert LABEL_RANGE == (-1.0, 1.0)


def test_time_not_monotone(tmp_path, capsys):
    root = make_root(tmp_path)
    path = root / LLD / "Devel_DE_01.csv"
    edit_line(path, 12, lambda s: ";".join([s.split(";")[0], "0.050000"] + s.split(";")[2:]))
    err = cli_error(root, capsys)
    assert "Devel_DE_01.csv:12 (column 2): time column not increasing" in err


def test_label_time_step_wrong(tmp_path, capsys):
    root = make_root(tmp_path)
    path = root / "labels" / "Devel_DE_01.csv"
    edit_line(path, 5, lambda s: ";".join([s.split(";")[0], "0.350000"] + s.split(";")[2:]))
    err = cli_error(root, capsys)
    assert "Devel_DE_01.csv:5 (column 2): time step" in err


def test_wrong_native_rate(tmp_path, capsys):
    root = make_root(tmp_path)
    name = "Train_DE_01"
    X = np.zeros((30, 3))
    (root / LLD / f"{name}.csv").write_text(feature_text(name, np.arange(30) * 0.1, X))  # LLD set at 10 Hz
    err = cli_error(root, capsys)
    assert f"{name}.csv (column 2): time column steps 0.100000 s" in err and "expected 0.010000 s" in err


def test_irregular_rows_in_frame_set(tmp_path, capsys):
    root = make_root(tmp_path)
    name = "Train_DE_01"
    times = np.arange(30) * 0.1
    times[15:] += 1.0  # a 1.1 s gap: row-by-row alignment would shift every later frame
    (root / FUNC / f"{name}.csv").write_text(feature_text(name, times, np.zeros((30, 4))))
    err = cli_error(root, capsys)
    assert f"{name}.csv:17 (column 2): gap: no data from 1.400000 s to 2.500000 s, 10 label frames" in err


def test_dim_changes_between_files(tmp_path, capsys):
    root = make_root(tmp_path)
    name = "Train_HU_01"
    (root / FUNC / f"{name}.csv").write_text(feature_text(name, np.arange(25) * 0.1, np.zeros((25, 5))))
    err = cli_error(root, capsys)
    assert f"{name}.csv:1: 5 feature columns, expected 4 as in Devel_DE_01.csv" in err


@pytest.mark.parametrize("key", ["egemaps_func", "egemaps", "fau"])
def test_feature_file_far_shorter_than_labels(tmp_path, capsys, key):
    root = make_root(tmp_path)
    folder, dim, step, sep, header, quoted = SETS[key]
    name = "Devel_HU_01"  # 22 label frames
    n = int(round(9 * 0.1 / step))  # covers ~9 frames
    (root / folder / f"{name}.csv").write_text(
        feature_text(name, np.arange(n) * step, np.zeros((n, dim)), sep, header, quoted))
    err = cli_error(root, capsys, "--sets", key, "--pad-tolerance", "5")
    assert f"{folder}/{name}.csv:" in err and "(column 2): feature file far shorter than its labels" in err
    assert "the labels have 22" in err
