"""Training runs end to end on tiny caches: outputs, checkpoint reload, determinism, learning."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from emofusion.cli import main
from emofusion.data.cache import load_feature_cache
from emofusion.data.layout import read_label_file, read_prediction_dir
from emofusion.errors import ConfigError
from emofusion.results.metrics import score_recordings
from emofusion.spec import PAPER_SPEC, TrainSpec
from emofusion.training.trainer import train_run
from helpers import TINY, write_planted_caches


def run(caches, out, keys=("fau_func",), seed=0, **params):
    return train_run([caches[k] for k in keys], caches["labels"], out, run_name="+".join(sorted(keys)),
                     kind="unimodal", params={**TINY, **params}, seed=seed, tracking_uri="off",
                     log=lambda s: None)


def test_paper_params():
    p = PAPER_SPEC
    assert p.hidden == (256, 128, 64) and p.dropout == 0.4 and p.batch_size == 34 and p.epochs == 50
    assert (p.lr, p.rho, p.eps) == (5e-4, 0.9, 1e-7)
    assert p.loss_mode == "mtl2" and p.resolved_weights() == (0.7, 0.2, 1.0)
    assert p.label_shift == 1 and p.predict_with == "last" and p.loss_pooling == "batch"
    assert TrainSpec.from_dict(p.to_dict()) == p
    q = TrainSpec.from_dict({"loss_mode": "mtl1", "weights": {"alpha": 0.6, "beta": 0.3}})
    assert q.resolved_weights() == pytest.approx((0.6, 0.3, 0.1)) and q.epochs == 50
    assert TrainSpec.from_dict({"loss_mode": "mtl1"}).resolved_weights() == pytest.approx((0.7, 0.3, 0.0))
    assert TrainSpec.from_dict({"loss_mode": "stl_liking"}).resolved_weights() == (0.0, 0.0, 1.0)
    with pytest.raises(ConfigError, match=r"^params\.weights\.gamma"):
        TrainSpec.from_dict({"loss_mode": "mtl1", "weights": {"alpha": 0.7, "beta": 0.2, "gamma": 1.0}})


def test_paper_config_is_the_spec_defaults():
    """workflow/configs/paper.yaml states the paper's values; the spec's defaults are the same ones,
    and the same schema checks both (the CLI and the workflow accept the same values)."""
    paper = yaml.safe_load((Path(__file__).resolve().parents[1] / "workflow" / "configs" / "paper.yaml").read_text())
    assert TrainSpec.from_dict(paper["train"]) == PAPER_SPEC
    # the loss weights have one default, the spec's: every shipped config leaves them null
    for name in ("config.yaml", "workflow/configs/paper.yaml", "workflow/configs/audio.yaml"):
        shipped = yaml.safe_load((Path(__file__).resolve().parents[1] / name).read_text())
        assert shipped["train"]["weights"] is None, name
    assert TrainSpec.from_dict({"weights": None}) == PAPER_SPEC
    assert TrainSpec.from_dict({"loss_mode": "mtl1", "weights": None}).weights == {"alpha": 0.7, "beta": 0.3,
                                                                                  "gamma": None}
    with pytest.raises(ConfigError, match=r"^params\.accelerator:"):
        TrainSpec.from_dict({"accelerator": "tpu"})  # the schema's enum, for the CLI too
    with pytest.raises(ConfigError, match=r"^params\.lr: expected a finite number"):
        TrainSpec.from_dict({"lr": float("inf")})


@pytest.mark.parametrize("params, key", [
    ({"hiden": [8]}, "hiden"), ({"hidden": []}, "hidden"), ({"hidden": [8, 0]}, "hidden"),
    ({"dropout": 1.0}, "dropout"), ({"loss_mode": "mtl"}, "loss_mode"), ({"weights": [1, 2, 3]}, "weights"),
    ({"weights": {"alpha": -0.1}}, "weights.alpha"), ({"loss_pooling": "frame"}, "loss_pooling"),
    ({"lr": 0}, "lr"), ({"rho": 1.0}, "rho"), ({"batch_size": 2.5}, "batch_size"), ({"epochs": True}, "epochs"),
    ({"label_shift": -1}, "label_shift"), ({"predict_with": "best"}, "predict_with"),
    ({"max_train_frames": 0}, "max_train_frames"), ({"accelerator": ""}, "accelerator"),
])
def test_params_errors_name_the_key(params, key):
    with pytest.raises(ConfigError, match=rf"^params\.{key}:"):
        TrainSpec.from_dict(params)


def test_run_outputs_scores_and_checkpoint_reload(caches, tmp_path):
    out = tmp_path / "fau_func"
    res = run(caches, out)
    assert sorted(p.name for p in out.iterdir()) == ["history.json", "model.ckpt", "predictions", "scores.json"]
    cache = load_feature_cache(caches["fau_func"])
    wanted = [n for n in cache.names if not n.startswith("Train")]
    files = sorted(p.stem for p in (out / "predictions").glob("*.csv"))
    assert files == wanted  # every Devel and Test recording
    lengths = dict(zip(cache.names, cache.lengths.tolist(), strict=True))
    for n in wanted:  # one row per cached frame (= label frame where labels exist)
        times, vals = read_label_file(out / "predictions" / f"{n}.csv")
        assert len(vals) == lengths[n]
    scores = json.loads((out / "scores.json").read_text())
    assert set(scores) == {"devel", "test"} and set(scores["devel"]) == {"DE+HU", "DE", "HU"}
    assert set(scores["devel"]["DE"]) == {"arousal", "valence", "liking", "mean"}
    assert scores == json.loads(json.dumps(res["scores"]))
    # the scores are those of the written files
    from emofusion.data.cache import load_label_cache

    lab = load_label_cache(caches["labels"])
    dev = {n: lab.get(n) for n in lab.names if n.startswith("Devel")}
    rescored = score_recordings(dev, read_prediction_dir(out / "predictions", {n: len(v) for n, v in dev.items()}))
    for g in rescored:
        for t, v in rescored[g].items():
            assert scores["devel"][g][t] == pytest.approx(v, abs=2e-5)
    history = json.loads((out / "history.json").read_text())
    assert [r["epoch"] for r in history["epochs"]] == [1, 2]
    assert history["epochs"][-1]["dev_ccc_arousal"] == pytest.approx(scores["devel"]["DE+HU"]["arousal"], abs=1e-5)
    # checkpoint: weights_only load, identical predictions
    ckpt = torch.load(out / "model.ckpt", map_location="cpu", weights_only=True)
    assert {"state_dict", "hyper_parameters"} <= set(ckpt)
    assert ckpt["hyper_parameters"]["hidden"] == [16, 8] and ckpt["hyper_parameters"]["label_shift"] == 1
    from emofusion.training.dataset import SequenceDataset, load_training_data, unshift_predictions
    from emofusion.training.task import load_task

    task = load_task(out / "model.ckpt")
    data = load_training_data([caches["fau_func"]], caches["labels"])
    raw = task.predict_arrays(SequenceDataset(data, wanted))
    written = read_prediction_dir(out / "predictions", {n: lengths[n] for n in wanted})
    for n in wanted:
        np.testing.assert_allclose(unshift_predictions(raw[n], 1), written[n], atol=6e-7, rtol=0)


def test_same_seed_same_predictions(caches, tmp_path):
    run(caches, tmp_path / "a", seed=3)
    run(caches, tmp_path / "b", seed=3)
    run(caches, tmp_path / "c", seed=4)
    for f in sorted((tmp_path / "a" / "predictions").glob("*.csv")):
        assert f.read_bytes() == (tmp_path / "b" / "predictions" / f.name).read_bytes()
    assert any(f.read_bytes() != (tmp_path / "c" / "predictions" / f.name).read_bytes()
               for f in (tmp_path / "a" / "predictions").glob("*.csv"))


def test_informative_set_learns_and_noise_does_not(tmp_path):
    caches = write_planted_caches(tmp_path, n=(6, 8, 1))  # more dev recordings: less chance CCC
    params = {"hidden": [32, 16], "dropout": 0.0, "epochs": 25, "batch_size": 4, "lr": 3e-3,
              "loss_mode": "mtl_equal"}
    good = run(caches, tmp_path / "good", **params)["scores"]["devel"]["DE+HU"]
    noise = run(caches, tmp_path / "noise", keys=("mfcc",), **params)["scores"]["devel"]["DE+HU"]
    assert good["mean"] > 0.6, good  # 0.87 measured
    assert abs(noise["mean"]) < 0.2, noise  # -0.01 measured (0.09 with seed 1)


def test_best_dev_predicts_with_the_best_epoch(caches, tmp_path):
    res = run(caches, tmp_path / "best", predict_with="best_dev", epochs=4)
    hist = json.loads((tmp_path / "best" / "history.json").read_text())
    means = [r["dev_ccc_mean"] for r in hist["epochs"]]
    assert hist["best_epoch"] == res["best_epoch"] == int(np.argmax(means)) + 1
    assert res["scores"]["devel"]["DE+HU"]["mean"] == pytest.approx(max(means), abs=1e-5)


def test_early_fusion_run(caches, tmp_path):
    res = run(caches, tmp_path / "fused", keys=("fau_func", "mfcc"), epochs=1)
    ckpt = torch.load(tmp_path / "fused" / "model.ckpt", weights_only=True)
    assert ckpt["hyper_parameters"]["input_dim"] == 11
    assert ckpt["hyper_parameters"]["feature_sets"] == ["fau_func", "mfcc"]
    assert np.isfinite(res["scores"]["devel"]["DE+HU"]["mean"])


def test_failed_run_leaves_no_completion_marker(caches, tmp_path, monkeypatch):
    import emofusion.training.trainer as tr

    out = tmp_path / "killed"
    out.mkdir()
    (out / "scores.json").write_text("{}")  # stale, from an earlier run

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(tr, "_save_checkpoint", boom)
    with pytest.raises(RuntimeError, match="disk full"):
        run(caches, out, epochs=1)
    assert not (out / "scores.json").exists()
    assert not list(out.glob("*.tmp")) and not list(out.glob(".*tmp*"))


def test_cli_train(caches, tmp_path, capsys):
    params = tmp_path / "p.json"
    params.write_text(json.dumps({"hidden": [8], "batch_size": 4}))
    rc = main(["train", "--features", str(caches["fau_func"]), "--labels-cache", str(caches["labels"]),
               "--out", str(tmp_path / "cli"), "--run-name", "fau_func", "--params-json", str(params),
               "--set", "epochs=1", "loss_mode=stl_valence", "--tracking-uri", "off"])
    assert rc == 0 and (tmp_path / "cli" / "scores.json").is_file()
    out = capsys.readouterr().out
    assert out.count("epoch ") == 1 and "dev CCC a " in out
    rc = main(["train", "--features", str(caches["fau_func"]), "--labels", str(caches["labels"]),
               "--out", str(tmp_path / "cli2"), "--run-name", "x", "--set", "epoch=1", "--tracking-uri", "off"])
    assert rc == 2 and "params.epoch: unknown key" in capsys.readouterr().err
    rc = main(["train", "--features", str(tmp_path / "nope.npz"), "--labels", str(caches["labels"]),
               "--out", str(tmp_path / "cli3"), "--run-name", "x", "--tracking-uri", "off"])
    assert rc == 2 and "nope.npz" in capsys.readouterr().err
