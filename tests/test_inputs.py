"""Inputs you can trust: one table of defect kinds, each a copy of a tiny AVEC root with one thing
wrong, through `emofusion validate` and through the pipeline's path (`emofusion cache`; a few also
through the workflow). Each must give a non-zero exit and ONE error line naming the file, no
traceback, and nothing written. Corrections within the tolerance are warnings naming the file.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from emofusion.cli import main
from emofusion.data.features import PAD_TOLERANCE, build_feature_cache, load_feature_cache
from emofusion.io import atomic_dir, atomic_write_text
from test_validate import SETS, edit_line, feature_text, make_root

REPO = Path(__file__).resolve().parents[1]
FUNC, BOW, LLD, VID = (SETS[k][0] for k in ("egemaps_func", "boaw_egemaps", "egemaps", "fau"))
KEY_OF = {SETS[k][0]: k for k in SETS}


def rewrite(root: Path, folder: str, name: str, times, X=None) -> None:
    """Rewrite one feature file of ``folder`` with these times (and values), in the set's own format."""
    key = KEY_OF[folder]
    _, dim, _, sep, header, quoted = SETS[key]
    times = np.asarray(times, dtype=float)
    X = np.zeros((times.size, dim)) if X is None else X
    (root / folder / f"{name}.csv").write_text(feature_text(name, times, X, sep, header, quoted))


def lld_times(n_label_frames: int) -> np.ndarray:
    return np.arange(n_label_frames * 10) / 100.0


def set_cell(path: Path, line: int, col: int, value: str, sep: str = ";") -> None:
    edit_line(path, line, lambda s: sep.join(c if j != col - 1 else value for j, c in enumerate(s.split(sep))))


def insert_line(path: Path, line: int, text: str) -> None:
    lines = path.read_text().split("\n")
    lines.insert(line - 1, text)
    path.write_text("\n".join(lines))


def put_bytes(path: Path, offset: int, raw: bytes) -> None:
    b = path.read_bytes()
    path.write_bytes(b[:offset] + raw + b[offset + 1:])


L = "labels"
# (id, file the message must name (folder/name), set cached on the pipeline path, defect, expected text)
DEFECTS = [
    ("frame_set_starts_late_50_frames", f"{FUNC}/Train_DE_01.csv", "egemaps_func",
     lambda r: rewrite(r, FUNC, "Train_DE_01", 5.0 + np.arange(30) * 0.1), "starts late"),
    ("frame_set_starts_early", f"{BOW}/Devel_DE_01.csv", "boaw_egemaps",
     lambda r: rewrite(r, BOW, "Devel_DE_01", -1.0 + np.arange(30) * 0.1), "starts early"),
    ("labels_scaled_x100", f"{L}/Devel_DE_01.csv", "egemaps_func",
     lambda r: set_cell(r / L / "Devel_DE_01.csv", 6, 4, "55.000000"), "outside the label range"),
    ("frame_set_far_longer_than_labels", f"{FUNC}/Devel_DE_01.csv", "egemaps_func",
     lambda r: rewrite(r, FUNC, "Devel_DE_01", np.arange(40) * 0.1), "far longer than its labels"),
    ("lld_far_longer_than_labels", f"{LLD}/Devel_HU_01.csv", "egemaps",
     lambda r: rewrite(r, LLD, "Devel_HU_01", lld_times(40)), "far longer than its labels"),
    ("lld_first_seconds_missing", f"{LLD}/Train_DE_01.csv", "egemaps",
     lambda r: rewrite(r, LLD, "Train_DE_01", lld_times(30)[150:]), "starts late"),
    ("video_starts_late", f"{VID}/Train_HU_01.csv", "fau",
     lambda r: rewrite(r, VID, "Train_HU_01", 1.2 + np.arange(40) / 30), "starts late"),
    ("frame_set_gap_1s", f"{FUNC}/Train_HU_01.csv", "egemaps_func",
     lambda r: rewrite(r, FUNC, "Train_HU_01", np.r_[np.arange(8), np.arange(18, 25)] * 0.1), "gap: no data"),
    ("lld_gap_1s", f"{LLD}/Train_DE_01.csv", "egemaps",
     lambda r: rewrite(r, LLD, "Train_DE_01", np.r_[lld_times(30)[:100], lld_times(30)[200:]]), "gap: no data"),
    ("video_gap_2s", f"{VID}/Train_DE_01.csv", "fau",
     lambda r: rewrite(r, VID, "Train_DE_01", np.r_[np.arange(30), np.arange(60, 90)] / 30), "gap: no data"),
    ("frame_set_far_shorter", f"{FUNC}/Devel_HU_01.csv", "egemaps_func",
     lambda r: rewrite(r, FUNC, "Devel_HU_01", np.arange(9) * 0.1), "far shorter than its labels"),
    ("frame_rows_off_grid", f"{FUNC}/Train_DE_01.csv", "egemaps_func",
     lambda r: rewrite(r, FUNC, "Train_DE_01", np.r_[np.arange(10) * 0.1, 1.05, 1.1 + np.arange(19) * 0.1]),
     "off the 0.1 s grid"),
    ("value_beyond_float32", f"{FUNC}/Train_HU_01.csv", "egemaps_func",
     lambda r: set_cell(r / FUNC / "Train_HU_01.csv", 5, 4, "3.5e39"), "beyond float32"),
    ("latin1_byte_in_label_file", f"{L}/Train_HU_01.csv", "egemaps_func",
     lambda r: put_bytes(r / L / "Train_HU_01.csv", 60, b"\xe9"), "not UTF-8: byte 0xe9 at byte offset 60"),
    ("utf16_feature_file", f"{FUNC}/Devel_HU_01.csv", "egemaps_func",
     lambda r: (r / FUNC / "Devel_HU_01.csv").write_bytes(
         (r / FUNC / "Devel_HU_01.csv").read_text().encode("utf-16")), "not UTF-8 (UTF-16?)"),
    ("test_recording_missing_in_one_set", f"{VID}/Test_DE_01.csv", "egemaps_func",
     lambda r: (r / VID / "Test_DE_01.csv").unlink(), "missing recording: Test_DE_01"),
    ("blank_line_in_feature_file", f"{FUNC}/Train_DE_01.csv:8", "egemaps_func",
     lambda r: insert_line(r / FUNC / "Train_DE_01.csv", 8, ""), "blank line"),
    ("blank_line_in_label_file", f"{L}/Devel_HU_01.csv:5", "egemaps_func",
     lambda r: insert_line(r / L / "Devel_HU_01.csv", 5, "  "), "blank line"),
    ("empty_feature_file", f"{BOW}/Train_HU_01.csv", "boaw_egemaps",
     lambda r: (r / BOW / "Train_HU_01.csv").write_text(""), "empty file"),
    ("label_header_only", f"{L}/Train_HU_01.csv", "egemaps_func",
     lambda r: (r / L / "Train_HU_01.csv").write_text("name;timestamp;arousal;valence;liking\n"), "no data rows"),
    ("label_column_missing", f"{L}/Train_HU_01.csv:1", "egemaps_func",
     lambda r: edit_line(r / L / "Train_HU_01.csv", 1, lambda s: s.replace("liking", "likeability")),
     "no 'liking' column"),
    ("label_file_without_header", f"{L}/Train_DE_01.csv:1", "egemaps_func",
     lambda r: (r / L / "Train_DE_01.csv").write_text((r / L / "Train_DE_01.csv").read_text().split("\n", 1)[1]),
     "label file without header"),
    ("ragged_row", f"{FUNC}/Train_DE_01.csv:10", "egemaps_func",
     lambda r: edit_line(r / FUNC / "Train_DE_01.csv", 10, lambda s: s + ";1.0"), "ragged row"),
    ("non_numeric_cell", f"{LLD}/Train_DE_01.csv:7", "egemaps",
     lambda r: set_cell(r / LLD / "Train_DE_01.csv", 7, 4, "abc"), "non-numeric cell 'abc'"),
    ("nan_in_features", f"{BOW}/Devel_HU_01.csv:3", "boaw_egemaps",
     lambda r: set_cell(r / BOW / "Devel_HU_01.csv", 3, 7, "nan", sep=","), "non-finite value"),
    ("inf_in_labels", f"{L}/Devel_DE_01.csv:4", "egemaps_func",
     lambda r: set_cell(r / L / "Devel_DE_01.csv", 4, 5, "inf"), "non-finite value"),
    ("separator_mix", f"{FUNC}/Devel_DE_01.csv:5", "egemaps_func",
     lambda r: edit_line(r / FUNC / "Devel_DE_01.csv", 5, lambda s: s.replace(";", ",")), "separator ','"),
    ("time_not_increasing", f"{LLD}/Devel_DE_01.csv:12", "egemaps",
     lambda r: set_cell(r / LLD / "Devel_DE_01.csv", 12, 2, "0.050000"), "time column not increasing"),
    ("label_time_step_wrong", f"{L}/Devel_DE_01.csv:5", "egemaps_func",
     lambda r: set_cell(r / L / "Devel_DE_01.csv", 5, 2, "0.350000"), "time step"),
    ("name_column_other_recording", f"{FUNC}/Devel_HU_01.csv:2", "egemaps_func",
     lambda r: (r / FUNC / "Devel_HU_01.csv").write_text((r / FUNC / "Devel_DE_01.csv").read_text()),
     "name column says 'Devel_DE_01'"),
    ("name_changes_inside_file", f"{FUNC}/Devel_DE_01.csv:6", "egemaps_func",
     lambda r: edit_line(r / FUNC / "Devel_DE_01.csv", 6, lambda s: s.replace("Devel_DE_01", "Devel_DE_02")),
     "name column changes"),
    ("unparsable_file_name", f"{FUNC}/Devel_XX_01.csv", "egemaps_func",
     lambda r: (r / FUNC / "Devel_XX_01.csv").write_text("x"), "unparsable recording name"),
    ("recording_number_00", f"{L}/Devel_DE_00.csv", "egemaps_func",
     lambda r: (r / L / "Devel_DE_00.csv").write_text((r / L / "Devel_DE_01.csv").read_text()), "1-based"),
    ("lld_at_wrong_rate", f"{LLD}/Train_DE_01.csv", "egemaps",
     lambda r: rewrite(r, LLD, "Train_DE_01", np.arange(30) * 0.1), "expected 0.010000 s"),
    ("dim_changes_between_files", f"{FUNC}/Train_HU_01.csv:1", "egemaps_func",
     lambda r: rewrite(r, FUNC, "Train_HU_01", np.arange(25) * 0.1, np.zeros((25, 5))), "5 feature columns"),
    ("feature_file_without_labels", "/Devel_HU_01.csv", "egemaps_func",
     lambda r: (r / L / "Devel_HU_01.csv").unlink(), "feature file without a label file"),
    ("nul_byte", f"{FUNC}/Train_DE_01.csv:4", "egemaps_func",
     lambda r: put_bytes(r / FUNC / "Train_DE_01.csv", (r / FUNC / "Train_DE_01.csv").read_text().index("\n'", 100) + 5,
                         b"\x00"), "NUL byte"),
    ("utf16_without_bom", f"{L}/Train_DE_01.csv:1", "egemaps_func",
     lambda r: (r / L / "Train_DE_01.csv").write_bytes((r / L / "Train_DE_01.csv").read_text().encode("utf-16-be")),
     "NUL byte at byte offset 0"),
    ("name_cell_empty", f"{FUNC}/Devel_DE_01.csv:4", "egemaps_func",
     lambda r: edit_line(r / FUNC / "Devel_DE_01.csv", 4, lambda s: ";" + s.split(";", 1)[1]),
     "name column changes from 'Devel_DE_01' to ''"),
    ("video_times_in_ms", f"{VID}/Train_HU_01.csv", "fau",
     lambda r: rewrite(r, VID, "Train_HU_01", np.arange(75) * 1000 / 30), "not a video frame rate"),
    ("feature_file_missing_for_label", f"{FUNC}/Devel_HU_01.csv", "egemaps_func",
     lambda r: (r / FUNC / "Devel_HU_01.csv").unlink(), "missing recording"),
]


def defect_root(tmp_path: Path, defect) -> Path:
    root = make_root(tmp_path / "root")
    defect(root)
    return root


def one_error_naming(err: str, command: str, where: str, expected: str) -> None:
    assert "Traceback" not in err, err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if f"emofusion {command}: error:" in ln]
    assert len(errors) == 1, err
    assert where in errors[0] and expected in errors[0], errors[0]


@pytest.mark.parametrize(("where", "key", "defect", "expected"), [d[1:] for d in DEFECTS],
                         ids=[d[0] for d in DEFECTS])
def test_defect_is_one_clear_error_through_validate_and_cache(tmp_path, capsys, where, key, defect, expected):
    root = defect_root(tmp_path, defect)
    before = sorted(p.relative_to(root) for p in root.rglob("*"))
    assert main(["validate", str(root)]) == 2
    one_error_naming(capsys.readouterr().err, "validate", where, expected)

    out = tmp_path / "out"
    rc = main(["cache", "--data-root", str(root), "--set", key, "--out", str(out / f"{key}.npz"),
               "--labels-out", str(out / "labels.npz")])
    assert rc == 2
    one_error_naming(capsys.readouterr().err, "cache", where, expected)
    assert not out.exists() or not any(out.iterdir())  # nothing written
    assert sorted(p.relative_to(root) for p in root.rglob("*")) == before  # nothing changed in the root


def test_defect_table_size():
    assert len(DEFECTS) >= 25
    assert len({d[0] for d in DEFECTS}) == len(DEFECTS)


# ---------------------------------------------------------------------------------------------
# what is read, and the corrections within the tolerance (warnings naming the file)


def test_bom_crlf_and_trailing_blank_lines_are_read(tmp_path, capsys):
    root = make_root(tmp_path)
    ref = build_feature_cache(root, "egemaps_func", None)
    lab = root / "labels" / "Train_DE_01.csv"
    lab.write_bytes(b"\xef\xbb\xbf" + lab.read_bytes())  # UTF-8 BOM on a label file
    f = root / FUNC / "Devel_DE_01.csv"
    f.write_bytes(b"\xef\xbb\xbf" + f.read_bytes().replace(b"\n", b"\r\n") + b"\r\n\n")
    assert main(["validate", str(root)]) == 0
    assert "warning" not in capsys.readouterr().out
    got = build_feature_cache(root, "egemaps_func", None)
    np.testing.assert_array_equal(got.X, ref.X)


@pytest.mark.parametrize(("case", "times", "note"), [
    ("late3", 0.3 + np.arange(27) * 0.1, "starts 3 frame(s) late"),
    ("gap2", np.r_[np.arange(10), np.arange(12, 30)] * 0.1, "2 label frame(s) in 1 gap(s)"),
    ("short4", np.arange(26) * 0.1, "4 frame(s) shorter than its labels"),
])
def test_frame_set_corrections_within_tolerance_warn_and_place_rows_by_time(tmp_path, capsys, case, times, note):
    root = make_root(tmp_path)
    X = np.round(times * 10)[:, None] * np.ones((1, 4))  # each row's value = its label frame
    rewrite(root, FUNC, "Train_DE_01", times, X)  # 30 label frames
    assert main(["validate", str(root), "--sets", "egemaps_func"]) == 0
    out = capsys.readouterr().out
    assert f"warning: {root / FUNC / 'Train_DE_01.csv'}: {note}" in out
    assert main(["cache", "--data-root", str(root), "--set", "egemaps_func", "--out", str(tmp_path / "c.npz")]) == 0
    assert f"warning: {root / FUNC / 'Train_DE_01.csv'}: {note}" in capsys.readouterr().err
    c = load_feature_cache(tmp_path / "c.npz")
    raw = c.get("Train_DE_01")[:, 0] * c.std[0] + c.mean[0]
    frames = np.arange(30)
    want = {"late3": np.maximum(frames, 3), "gap2": np.where((frames >= 10) & (frames < 12), 9, frames),
            "short4": np.minimum(frames, 25)}[case]
    np.testing.assert_allclose(raw, want, atol=1e-4)


def test_small_overrun_is_cropped_silently_and_tolerance_is_one_default(tmp_path, capsys):
    root = make_root(tmp_path)
    rewrite(root, FUNC, "Train_DE_01", np.arange(30 + PAD_TOLERANCE) * 0.1)
    assert main(["validate", str(root)]) == 0
    assert "warning" not in capsys.readouterr().out
    rewrite(root, FUNC, "Train_DE_01", np.arange(31 + PAD_TOLERANCE) * 0.1)
    assert main(["validate", str(root)]) == 2
    assert f"{PAD_TOLERANCE + 1} label frames past the labels' end" in capsys.readouterr().err
    # the CLI and the workflow share the library default
    import yaml
    from emofusion.cli import build_parser

    for cmd in (["validate", "x"], ["cache", "--data-root", "x"]):
        assert build_parser().parse_args(cmd).pad_tolerance == PAD_TOLERANCE
    for cfg in (REPO / "config.yaml", REPO / "workflow" / "configs" / "paper.yaml"):
        data = yaml.safe_load(cfg.read_text())["data"]
        assert data["pad_tolerance"] is None and data["label_range"] is None  # null = the library default


def test_label_range_is_configurable(tmp_path, capsys):
    root = make_root(tmp_path, sets=("egemaps_func",))
    set_cell(root / "labels" / "Devel_DE_01.csv", 6, 4, "1.500000")
    assert main(["validate", str(root)]) == 2
    capsys.readouterr()
    assert main(["validate", str(root), "--label-range=-2,2"]) == 0
    assert main(["cache", "--data-root", str(root), "--labels-out", str(tmp_path / "l.npz"),
                 "--label-range=-2,2"]) == 0
    assert main(["validate", str(root), "--label-range", "2,1"]) == 2
    assert "--label-range" in capsys.readouterr().err


# ---------------------------------------------------------------------------------------------
# durable writes


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc to name the fsync'ed files")
def test_atomic_writes_fsync_file_and_folder_and_remove_stale_temps(tmp_path, monkeypatch):
    synced = []
    real = os.fsync

    def spy(fd):
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real(fd)

    monkeypatch.setattr(os, "fsync", spy)
    out = tmp_path / "run"
    out.mkdir()
    (out / ".scores.json.abc123.tmp").write_text("half")  # left by a killed job
    (out / ".predictions.xyz789").mkdir()
    (out / ".predictions.xyz789" / "Devel_DE_01.csv").write_text("half")
    atomic_write_text(out / "scores.json", "{}\n")
    assert Path(synced[0]).name.startswith(".scores.json.") and synced[1:] == [str(out)]  # data, then rename
    synced.clear()
    with atomic_dir(out / "predictions") as tmp:
        (tmp / "Devel_DE_01.csv").write_text("x")
    assert synced == [str(tmp / "Devel_DE_01.csv"), str(tmp), str(out)]
    assert sorted(p.name for p in out.iterdir()) == ["predictions", "scores.json"]  # stale temps gone
    assert (out / "predictions" / "Devel_DE_01.csv").read_text() == "x"


# ---------------------------------------------------------------------------------------------
# the workflow: the same checks run inside its jobs


def tiny_data_root_config(root: Path) -> dict:
    from test_workflow import base_config

    c = base_config()
    c["data_root"] = str(root)
    c["feature_sets"] = {k: {"folder": SETS[k][0]} for k in ("egemaps_func", "fau")}
    c["selection"].update(top_unimodal=2, top_fusion=2)
    c["ablation"]["feature_set"] = c["search"]["feature_set"] = "egemaps_func"
    return c


# one caught by the workflow's check_inputs job, one inside the cache jobs (same readers as the CLI)
WORKFLOW_DEFECTS = ["test_recording_missing_in_one_set", "labels_scaled_x100"]


@pytest.mark.parametrize("defect_id", WORKFLOW_DEFECTS)
def test_workflow_rejects_what_validate_rejects(tmp_path, defect_id):
    from test_workflow import smk, write_config

    _, where, key, defect, expected = next(d for d in DEFECTS if d[0] == defect_id)
    root = defect_root(tmp_path, defect)
    work = tmp_path / "work"
    write_config(work, tiny_data_root_config(root))
    proc = smk(work, "--cores", "2", "results/features/egemaps_func.npz", "results/features/fau.npz",
               "results/features/labels.npz", check=False, timeout=300)
    text = proc.stdout + proc.stderr
    assert proc.returncode != 0
    logs = "".join(p.read_text() for p in (work / "results" / "logs").rglob("*.log"))
    assert "Traceback" not in text + logs and "InputFunctionException" not in text, text[-3000:]
    errors = [ln for ln in logs.splitlines() if ln.startswith("error:")]
    assert errors and all(where in ln and expected in ln for ln in errors), logs
    assert not (work / "results" / "features" / f"{key}.npz").exists()


def test_paper_config_without_data_root_is_one_line_naming_data_root(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(tmp_path),
                           "--configfile", str(REPO / "workflow" / "configs" / "paper.yaml"), "-n"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines()
             if ln.strip() and not ln.startswith("Using workflow specific profile")]
    assert len(lines) == 1 and "data_root" in lines[0], lines
    assert not (tmp_path / "results").exists()

