"""OpenFace 2.0 output read as it is (emofusion.data.openface): a folder of FeatureExtraction CSVs,
written here in OpenFace's own format (", " separated, its column names and order, every frame a row,
success == 0 where no face was found), becomes the AVEC FAU set through the same alignment."""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
from emofusion.cli import main
from emofusion.config import check_config
from emofusion.data.alignment import PAD_TOLERANCE
from emofusion.data.build_cache import build_feature_cache
from emofusion.data.layout import format_avec_csv
from emofusion.data.openface import FAU_COLUMNS, read_openface
from emofusion.errors import ConfigError, DataError
from helpers import base_config, smk, write_config

AUS = [c[:4] for c in FAU_COLUMNS[1:]]  # AU01 ... AU45
FPS = 30.0
OF_DIR = "openface_out"
LABEL_FRAMES = {"Train_DE_01": 50, "Train_DE_02": 45, "Devel_DE_01": 40}


def openface_header() -> list[str]:
    """FeatureExtraction's columns, in its order (gaze, pose and 2D landmarks stand for the rest)."""
    return (["frame", "face_id", "timestamp", "confidence", "success"]
            + [f"gaze_{e}_{a}" for e in (0, 1) for a in "xyz"] + ["gaze_angle_x", "gaze_angle_y"]
            + [f"pose_{p}" for p in ("Tx", "Ty", "Tz", "Rx", "Ry", "Rz")]
            + [f"x_{i}" for i in range(68)] + [f"y_{i}" for i in range(68)]
            + [f"{a}_r" for a in AUS] + [f"{a}_c" for a in (*AUS[:-1], "AU28", "AU45")])


def au_values(t: np.ndarray) -> np.ndarray:
    """(n, 17) AU intensities: AU k (0-based) is the ramp (k + 1) * t, so each column is told apart."""
    return np.outer(t, np.arange(1, 18))


def openface_text(t: np.ndarray, success: np.ndarray, conf: np.ndarray | None = None,
                  aus: np.ndarray | None = None) -> str:
    """An OpenFace 2.0 CSV as FeatureExtraction writes it: ", " between cells, every frame a row;
    a faceless frame (success 0) holds zeros, as OpenFace writes them."""
    n = t.size
    conf = np.full(n, 0.98) if conf is None else conf
    aus = au_values(t) if aus is None else aus
    rows = [", ".join(openface_header())]
    for i in range(n):
        ok = int(success[i])
        cells = [str(i + 1), "0", f"{t[i]:.3f}", f"{conf[i] if ok else 0.03:.2f}", str(ok)]
        cells += ["0.100"] * 8 + ["12.0", "-3.5", "410.2", "0.05", "-0.02", "0.01"]
        cells += [f"{300 + j:.1f}" for j in range(68)] + [f"{200 + j:.1f}" for j in range(68)]
        cells += [f"{v:.4f}" if ok else "0.00" for v in aus[i]]
        cells += [("1.00" if v > 1 else "0.00") if ok else "0.00" for v in aus[i]] + ["0.00"]
        rows.append(", ".join(cells))
    return "\n".join(rows) + "\n"


def frame_times(label_frames: int) -> np.ndarray:
    """OpenFace's timestamps of a 30 fps video as long as the labels (3 decimals, as it writes them)."""
    return np.round(np.arange(int(label_frames * 0.1 * FPS) + 2) / FPS, 3)


def make_root(root: Path, faceless: dict[str, slice] | None = None) -> Path:
    """labels/ and openface_out/ (with the _of_details.txt and _aligned/ OpenFace writes beside each CSV)."""
    (root / "labels").mkdir(parents=True)
    (root / OF_DIR).mkdir()
    for n, frames in LABEL_FRAMES.items():
        (root / "labels" / f"{n}.csv").write_text(format_avec_csv(n, np.zeros((frames, 3))))
        t = frame_times(frames)
        success = np.ones(t.size, dtype=int)
        if faceless and n in faceless:
            success[faceless[n]] = 0
        (root / OF_DIR / f"{n}.csv").write_text(openface_text(t, success))
        (root / OF_DIR / f"{n}_of_details.txt").write_text("Input:../video.mp4\n")
        (root / OF_DIR / f"{n}_aligned").mkdir()
    return root


def raw(cache, name: str) -> np.ndarray:
    return cache.get(name).astype(np.float64) * cache.std + cache.mean


def test_openface_folder_is_the_fau_set_in_the_avec_layout(tmp_path):
    root = make_root(tmp_path / "root")
    cache = build_feature_cache(root, "fau", None, folder=OF_DIR, cultures=("DE",), fmt="openface")
    assert cache.dim == len(FAU_COLUMNS) == 18 and cache.source == OF_DIR
    assert cache.names == sorted(LABEL_FRAMES)
    assert cache.rate_hz == pytest.approx(FPS, rel=0.02)
    for n, frames in LABEL_FRAMES.items():
        A = raw(cache, n)
        assert A.shape == (frames, 18)
        np.testing.assert_allclose(A[:, 0], 0.98, atol=1e-6)  # confidence first
        # label frame i averages the video frames in [0.1 i - 0.05, 0.1 i + 0.05): AU k's ramp is (k + 1) * 0.1 i
        i = np.arange(1, frames - 1)
        np.testing.assert_allclose(A[1:-1, 1:], np.outer(0.1 * i, np.arange(1, 18)), atol=0.02 * 17)


def test_columns_found_by_name_in_any_order(tmp_path):
    t = frame_times(20)
    text = openface_text(t, np.ones(t.size, dtype=int))
    lines = [ln.split(", ") for ln in text.splitlines()]
    order = list(range(len(lines[0])))[::-1]  # every column reversed
    p = tmp_path / "Train_DE_01.csv"
    p.write_text("\n".join(", ".join(row[j] for j in order) for row in lines) + "\n")
    tab = read_openface(p)
    np.testing.assert_allclose(tab.times, t)
    np.testing.assert_allclose(tab.values[:, 0], 0.98)
    np.testing.assert_allclose(tab.values[:, 1:], np.round(au_values(t), 4), atol=1e-9)
    assert tab.valid.all()


def test_faceless_frames_are_masked_not_zero_filled(tmp_path):
    # Devel_DE_01: 1.0 s without a face (video frames 30-59, label frames 10-19: twice the pad
    # tolerance, yet not a gap: the file covers that time); Train_DE_02: every other frame faceless
    assert 10 > PAD_TOLERANCE
    faceless = {"Devel_DE_01": slice(30, 60), "Train_DE_02": slice(40, 100, 2)}
    root = make_root(tmp_path / "root", faceless)
    warnings: list[str] = []
    cache = build_feature_cache(root, "fau", None, folder=OF_DIR, cultures=("DE",), fmt="openface",
                                warn=warnings.append)
    t = frame_times(LABEL_FRAMES["Devel_DE_01"])
    valid = np.ones(t.size, dtype=bool)
    valid[faceless["Devel_DE_01"]] = False
    A = raw(cache, "Devel_DE_01")
    au = np.round(au_values(t), 4)
    for i in range(A.shape[0]):
        c = 0.1 * i
        inwin = valid & (t >= c - 0.05 - 1e-9) & (t < c + 0.05 - 1e-9)
        if inwin.any():  # the mean of the frames with a face in the window
            want = au[inwin].mean(axis=0)
        else:  # no face in the window: the nearest frame with a face, never zeros
            want = au[np.flatnonzero(valid)[np.argmin(np.abs(t[valid] - c))]]
        np.testing.assert_allclose(A[i, 1:], want, atol=1e-4, err_msg=f"label frame {i}")
    assert (A[10:20, 1:] > 0.5).all()  # zero-filling would have put 0 there
    np.testing.assert_allclose(A[:, 0], 0.98, atol=1e-6)  # the faceless rows' confidence 0.03 is not used
    # every other frame faceless: windows average the remaining faces, the ramp is unchanged
    B = raw(cache, "Train_DE_02")
    np.testing.assert_allclose(B[15:30, 1], 0.1 * np.arange(15, 30), atol=0.04)
    # the share of faceless frames: 1.0 s of 4.07 s (25%) is above FACELESS_WARN (20%), 30 of 137 (22%) too
    assert len(warnings) == 2, warnings
    assert any("Devel_DE_01.csv" in w and "25% of its frames without a face" in w for w in warnings), warnings


def test_few_faceless_frames_no_warning(tmp_path):
    root = make_root(tmp_path / "root", {"Devel_DE_01": slice(30, 40)})
    warnings: list[str] = []
    build_feature_cache(root, "fau", None, folder=OF_DIR, cultures=("DE",), fmt="openface", warn=warnings.append)
    assert warnings == []


def _edit(path: Path, line: int, col: str, value: str) -> None:
    """Set one cell of an OpenFace CSV (line 1-based, the header is line 1)."""
    lines = path.read_text().splitlines()
    head = [c.strip() for c in lines[0].split(",")]
    cells = lines[line - 1].split(", ")
    cells[head.index(col)] = value
    lines[line - 1] = ", ".join(cells)
    path.write_text("\n".join(lines) + "\n")


def _drop_column(path: Path, col: str) -> None:
    lines = [ln.split(", ") for ln in path.read_text().splitlines()]
    j = lines[0].index(col)
    path.write_text("\n".join(", ".join(r[:j] + r[j + 1:]) for r in lines) + "\n")


def _all_faceless(path: Path) -> None:
    lines = path.read_text().splitlines()
    head = lines[0].split(", ")
    j = head.index("success")
    out = [lines[0]]
    for ln in lines[1:]:
        cells = ln.split(", ")
        cells[j] = "0"
        out.append(", ".join(cells))
    path.write_text("\n".join(out) + "\n")


def _swap_times(path: Path) -> None:
    _edit(path, 8, "timestamp", "0.100")  # row 7 (line 8) is at 0.200 s: it now repeats line 5's time


def _ragged(path: Path) -> None:
    lines = path.read_text().splitlines()
    lines[11] += ", 0.5"
    path.write_text("\n".join(lines) + "\n")


def _avec_file(path: Path) -> None:
    path.write_text("name,frameTime,AU01_r\n'Devel_DE_01',0.0,0.5\n'Devel_DE_01',0.04,0.5\n")


def _two_faces(path: Path) -> None:
    _edit(path, 20, "face_id", "1")


# (id, defect, line, column, expected words)
BAD = [
    ("missing_column", lambda p: _drop_column(p, "AU12_r"), 1, None, "no column 'AU12_r'"),
    ("non_numeric", lambda p: _edit(p, 6, "AU06_r", "n/a"), 6, "AU06_r", "non-numeric cell 'n/a'"),
    ("empty_cell", lambda p: _edit(p, 9, "confidence", ""), 9, "confidence", "empty cell"),
    ("nan_on_a_face_row", lambda p: _edit(p, 7, "AU25_r", "nan"), 7, "AU25_r", "non-finite value"),
    ("times_not_increasing", _swap_times, 8, "timestamp", "timestamp not increasing (0.167000 then 0.100000)"),
    ("all_faceless", _all_faceless, 2, "success", "no face in the whole recording: success == 0 on all"),
    ("success_not_0_1", lambda p: _edit(p, 4, "success", "0.5"), 4, "success", "expected 0 or 1"),
    ("ragged_row", _ragged, 12, None, "ragged row"),
    ("two_faces", _two_faces, 20, "face_id", "several faces per frame"),
    ("an_avec_file", _avec_file, 1, None, "an AVEC feature file"),
]


@pytest.mark.parametrize(("defect", "line", "column", "expected"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_openface_file_is_one_data_error_naming_file_and_line(tmp_path, capsys, defect, line, column, expected):
    root = make_root(tmp_path / "root")
    bad = root / OF_DIR / "Devel_DE_01.csv"
    defect(bad)
    with pytest.raises(DataError) as exc:
        build_feature_cache(root, "fau", None, folder=OF_DIR, cultures=("DE",), fmt="openface")
    e = exc.value
    assert e.path == str(bad) and e.line == line and e.column == column, str(e)
    assert expected in e.message, str(e)
    # the same line through the command line: exit 2, one error line, nothing written
    where = f"{bad}:{line}" + ("" if column is None else f" (column {column})")
    out = tmp_path / "out"
    for cmd, args in (("validate", ["validate", str(root), "--sets", "fau", "--folders", f"fau={OF_DIR}",
                                    "--formats", "fau=openface", "--cultures", "DE"]),
                      ("cache", ["cache", "--data-root", str(root), "--set", "fau", "--folder", OF_DIR,
                                 "--format", "openface", "--out", str(out / "fau.npz"), "--cultures", "DE"])):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err
        lines = [ln for ln in err.splitlines() if ln.strip()]
        assert len(lines) == 1 and f"emofusion {cmd}: error:" in lines[0], err
        assert where in lines[0] and expected in lines[0], lines[0]
    assert not out.exists()


def test_cli_validate_and_cache_read_openface_output(tmp_path, capsys):
    root = make_root(tmp_path / "root")
    assert main(["validate", str(root), "--sets", "fau", "--folders", f"fau={OF_DIR}", "--formats",
                 "fau=openface", "--cultures", "DE"]) == 0
    report = capsys.readouterr().out
    row = next(ln for ln in report.splitlines() if ln.startswith("fau ") and "Devel" in ln)
    cells = row.split()
    assert cells[1:6] == [OF_DIR, "Devel", "1", str(frame_times(40).size), "40"] and cells[6] == "18", row
    # the rate is the median step of OpenFace's 3-decimal timestamps: 0.033 s, 30.3 Hz for a 30 fps video
    assert float(cells[7]) == pytest.approx(FPS, rel=0.02), row
    out = tmp_path / "fau.npz"
    assert main(["cache", "--data-root", str(root), "--set", "fau", "--folder", OF_DIR, "--format", "openface",
                 "--out", str(out), "--cultures", "DE"]) == 0
    assert "dim 18" in capsys.readouterr().out and out.is_file()
    # read as the AVEC layout instead, the same folder is refused (no 'name' column): one line
    assert main(["validate", str(root), "--sets", "fau", "--folders", f"fau={OF_DIR}", "--cultures", "DE"]) == 2
    err = capsys.readouterr().err
    assert "emofusion validate: error:" in err and "the header is OpenFace's: give this set `format: openface`" in err


def test_format_goes_only_with_the_fau_set(tmp_path, capsys):
    root = make_root(tmp_path / "root")
    with pytest.raises(ConfigError, match="format 'openface' fills the fau set only"):
        build_feature_cache(root, "vgg", None, folder=OF_DIR, cultures=("DE",), fmt="openface")
    assert main(["validate", str(root), "--formats", "fau=openfaces"]) == 2
    assert "'openfaces' is not a feature file format" in capsys.readouterr().err


@pytest.fixture
def config(config, tmp_path):
    """conftest's config (the shipped config.yaml) with a data_root: openface reads your own files."""
    config["data_root"] = str(tmp_path)
    return config


def test_config_format_key(config):
    config["feature_sets"]["fau"]["format"] = "openface"
    check_config(config)
    config["feature_sets"]["fau"]["format"] = "avec"
    check_config(config)


@pytest.mark.parametrize(("edit", "message"), [
    (lambda c: c["feature_sets"]["fau"].update(format="OpenFace"), "config key feature_sets.fau.format: 'OpenFace' is not one of"),
    (lambda c: c["feature_sets"]["vgg"].update(format="openface"),
     "config key feature_sets.vgg.format: format 'openface' fills the fau set only"),
    (lambda c: c["feature_sets"]["fau"].update(format="openface") or c.update(data_root=None),
     "config key feature_sets.fau.format: 'openface' reads your own files under a data_root"),
    (lambda c: c["feature_sets"]["fau"].update(fmt="openface"), "'feature_sets.fau.fmt' is not known"),
])
def test_bad_format_key_is_one_config_error_naming_it(config, edit, message):
    bad = copy.deepcopy(config)
    edit(bad)
    with pytest.raises(ConfigError) as exc:
        check_config(bad)
    assert message in str(exc.value), str(exc.value)


def test_workflow_caches_openface_output_as_the_fau_set(tmp_path):
    """The config's `format: openface` reaches the workflow's cache job: the real scheduler builds
    results/features/fau.npz from the OpenFace folder (beside an AVEC-layout set)."""
    from emofusion.data.audio import format_feature_csv
    from emofusion.data.cache import load_feature_cache

    root = make_root(tmp_path / "root")
    (root / "audio_features_egemaps_functionals").mkdir()
    for n, frames in LABEL_FRAMES.items():
        t = np.arange(frames) * 0.1
        (root / "audio_features_egemaps_functionals" / f"{n}.csv").write_text(
            format_feature_csv(n, t, np.column_stack([t, np.cos(t)]), ["a_amean", "b_amean"]))
    c = base_config()
    c["data_root"] = str(root)
    c["feature_sets"] = {"fau": {"folder": OF_DIR, "format": "openface"},
                         "egemaps_func": {"folder": "audio_features_egemaps_functionals"}}
    c["selection"].update(top_unimodal=2, top_fusion=2)
    work = tmp_path / "work"
    write_config(work, c)
    smk(work, "--cores", "1", "results/features/fau.npz", timeout=300)
    cache = load_feature_cache(work / "results" / "features" / "fau.npz")
    assert cache.dim == 18 and cache.source == OF_DIR and cache.names == sorted(LABEL_FRAMES)
    np.testing.assert_allclose(raw(cache, "Devel_DE_01")[1:-1, 1], 0.1 * np.arange(1, 39), atol=0.02)
