"""Ranking, seed aggregation and config checks (library level, no Snakemake)."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from emofusion.config import check_config
from emofusion.data.layout import read_label_file, write_prediction_dir
from emofusion.errors import ConfigError
from emofusion.formats import read_selected
from emofusion.results.ranking import aggregate_seeds, pairs, rank_runs

REPO = Path(__file__).resolve().parents[1]


def _scores(mean, a=None):
    a = mean if a is None else a
    block = {"arousal": a, "valence": mean, "liking": mean, "mean": (a + 2 * mean) / 3}
    return {"devel": {"DE+HU": block, "DE": block, "HU": block}}


def test_pairs_sorted_and_complete():
    got = pairs(["fau_func", "boaw_egemaps", "vgg"])
    assert got == ["boaw_egemaps+fau_func", "boaw_egemaps+vgg", "fau_func+vgg"]
    assert len(pairs([f"s{i}" for i in "abcdefg"])) == 21


def test_rank_runs_orders_by_mean_and_marks_top(tmp_path):
    files = {}
    for run, m in {"a": 0.1, "b": 0.5, "c": 0.3, "d": 0.3}.items():
        files[run] = tmp_path / f"{run}.json"
        files[run].write_text(json.dumps(_scores(m)))
    top = rank_runs(files, 2, tmp_path / "rank.tsv")
    assert top == ["b", "c"]  # c and d tie: broken by name
    assert read_selected(tmp_path / "rank.tsv") == ["b", "c"]
    rows = (tmp_path / "rank.tsv").read_text().splitlines()
    assert rows[0].split("\t")[:3] == ["rank", "run", "kind"]
    assert [r.split("\t")[1] for r in rows[1:]] == ["b", "c", "d", "a"]
    with pytest.raises(ValueError, match="larger than"):
        rank_runs(files, 5, tmp_path / "x.tsv")


def test_aggregate_seeds_mean_sd_and_prediction_mean(tmp_path):
    dirs = []
    for seed, (m, val) in enumerate([(0.2, 0.1), (0.4, 0.3)]):
        d = tmp_path / f"seed{seed}"
        write_prediction_dir(d / "predictions", {"Devel_DE_01": np.full((5, 3), val)})
        (d / "scores.json").write_text(json.dumps(_scores(m)))
        dirs.append(d)
    out = aggregate_seeds(dirs, tmp_path / "run")
    assert out["devel"]["DE+HU"]["valence"] == pytest.approx(0.3)
    assert out["sd"]["devel"]["DE+HU"]["valence"] == pytest.approx(0.1)
    _, vals = read_label_file(tmp_path / "run" / "predictions" / "Devel_DE_01.csv")
    assert np.allclose(vals, 0.2)
    assert json.loads((tmp_path / "run" / "scores.json").read_text())["seeds"] == ["seed0", "seed1"]


def test_default_and_paper_configs_are_valid(config, tmp_path):
    check_config(config)
    paper = yaml.safe_load((REPO / "workflow" / "configs" / "paper.yaml").read_text())
    with pytest.raises(ConfigError, match="config key data_root: not set"):  # it would generate tens of GB
        check_config(paper)
    check_config({**paper, "data_root": str(tmp_path)})


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["train"].update(epoch=3), "'train.epoch' is not known"),
        (lambda c: c.update(colour="red"), "'colour' is not known"),
        (lambda c: c["feature_sets"].update(mfcc_deltas={"folder": "x"}), "'mfcc_deltas' is not a known feature set"),
        (lambda c: c["fusion"].update(stages=0), "fusion.stages"),
        (lambda c: c["selection"].update(top_fusion=40), "selection.top_fusion: 40 is larger than the 33 runs"),
        (lambda c: c["selection"].update(top_unimodal=13), "selection.top_unimodal: 13 is larger than the 12"),
        (lambda c: c["selection"].update(pair_sets=["fau", "nope"]), "'nope' is not one of feature_sets"),
        (lambda c: c["train"].update(loss_mode="mtl3"), "train.loss_mode"),
        # the loss weights: checked by emofusion.spec.resolve_weights alone, named as the schema names keys
        (lambda c: c["train"].update(weights={"alpha": -1}), "config key train.weights.alpha: expected a finite"),
        (lambda c: c["train"].update(weights=[1, 2, 3]), "config key train.weights: expected a mapping"),
        (lambda c: c["train"].update(loss_mode="mtl1", weights={"alpha": 0.7, "beta": 0.2, "gamma": 1.0}),
         "config key train.weights.gamma: mtl1 sets gamma"),
        (lambda c: c["system"].update(stage=6), "config key system.stage: 6 is larger than fusion.stages (5)"),
        (lambda c: c["system"].update(stage=0), "system.stage"),
        (lambda c: c.pop("system"), "config key system: missing"),
    ],
)
def test_bad_config_names_the_key(config, edit, message):
    bad = copy.deepcopy(config)
    edit(bad)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        check_config(bad)


def test_extra_runs_config(config):
    """The ablation/search feature set is checked where those runs are asked for; their train configs
    differ from config.train only in the loss mode and weights."""
    from emofusion.config import ablation_train_config, extra_run_set, search_train_config

    assert extra_run_set(config, "ablation") == config["ablation"]["feature_set"]
    few = copy.deepcopy(config)
    few["feature_sets"] = {"mfcc": config["feature_sets"]["mfcc"]}
    with pytest.raises(ConfigError, match=r"config key search\.feature_set: 'fau_func' is not one of feature_sets"):
        extra_run_set(few, "search")
    train = config["train"]
    assert ablation_train_config(train, "mtl2") == {**train, "loss_mode": "mtl2", "weights": train["weights"]}
    assert ablation_train_config(train, "mtl1") == {**train, "loss_mode": "mtl1", "weights": {}}
    w = {"alpha": 0.1, "beta": 0.2, "gamma": 0.3}
    assert search_train_config(train, w) == {**train, "loss_mode": "mtl2", "weights": w}
