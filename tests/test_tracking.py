"""MLflow tracking: store initialisation, one tracked run, failures, and 8 concurrent runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from emofusion.cli import main
from emofusion.tracking import (
    PROXIED_ROOT,
    artifacts_destination,
    default_artifact_location,
    default_tracking_uri,
    init_tracking,
    run_artifacts,
)
from emofusion.training.trainer import train_run
from helpers import SMALL, TINY, corpus, free_port, stop_server, wait_http


def test_tracking_spec_defaults_and_null_resolution(tmp_path, monkeypatch):
    """TrackingSpec (the init_tracking job, `emofusion init-tracking`, `emofusion train`'s experiment):
    a key left out takes its default; a null uri is the default store under the working directory."""
    from emofusion.cli import build_parser
    from emofusion.tracking_spec import TRACKING_KEYS, TrackingSpec

    d = TrackingSpec()
    assert (d.uri, d.experiment, d.artifact_location) == (None, "emofusion", None)
    assert TrackingSpec.from_settings({"uri": None, "experiment": None, "artifact_location": None}) == d
    assert TRACKING_KEYS == ("uri", "experiment", "artifact_location")
    monkeypatch.chdir(tmp_path)
    assert d.store_uri() == default_tracking_uri() == f"sqlite:///{(tmp_path / 'results' / 'mlflow.db').resolve()}"
    assert TrackingSpec(uri="http://host:5000").store_uri() == "http://host:5000"
    for cmd in (["init-tracking", "--out", "x"], ["train", "--features", "f", "--out", "o", "--run-name", "r"]):
        assert build_parser().parse_args(cmd).experiment == d.experiment


@pytest.mark.parametrize(("settings", "key"), [({"uri": "mlruns"}, "tracking.uri"),
                                               ({"experiment": ""}, "tracking.experiment"),
                                               ({"artifact_location": 3}, "tracking.artifact_location"),
                                               ({"experimnt": "x"}, "tracking.experimnt: unknown key")])
def test_tracking_spec_bad_value_is_one_config_error_naming_the_key(settings, key):
    from emofusion.errors import ConfigError
    from emofusion.tracking_spec import TrackingSpec

    with pytest.raises(ConfigError, match=key):
        TrackingSpec.from_settings(settings)


@pytest.fixture()
def store(tmp_path) -> tuple[str, str]:
    uri = f"sqlite:///{tmp_path / 'results' / 'mlflow.db'}"
    exp_id = init_tracking(uri, "emofusion-test", None, tmp_path / "results" / "tracking.json")
    return uri, exp_id


def client(uri):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def test_defaults(tmp_path):
    assert default_tracking_uri(tmp_path) == f"sqlite:///{tmp_path.resolve()}/results/mlflow.db"
    # artifacts addressed through MLflow's proxy scheme, by no path; their files beside the db
    assert default_artifact_location(f"sqlite:///{tmp_path}/results/mlflow.db") == PROXIED_ROOT == "mlflow-artifacts:/"
    assert artifacts_destination(f"sqlite:///{tmp_path}/results/mlflow.db") == tmp_path / "results" / "mlartifacts"
    assert default_artifact_location("http://localhost:5000") is None
    assert artifacts_destination("http://localhost:5000") is None


def test_init_is_idempotent_and_writes_the_id(tmp_path, capsys):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = tmp_path / "t.json"
    rc = main(["init-tracking", "--uri", uri, "--experiment", "exp", "--out", str(out)])
    assert rc == 0
    first = json.loads(out.read_text())
    assert first["tracking_uri"] == uri and first["experiment_name"] == "exp"
    assert first["experiment_id"] != "0"  # not "Default"
    assert init_tracking(uri, "exp", None, out) == first["experiment_id"]
    exp = client(uri).get_experiment_by_name("exp")
    assert exp.experiment_id == first["experiment_id"]
    assert exp.artifact_location == "mlflow-artifacts:/" and (tmp_path / "mlartifacts").is_dir()
    # MLflow 3's UI opens a kind-less experiment in its GenAI view: ours says what it holds
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    # the store's empty "Default" experiment is not listed beside ours
    assert [e.name for e in client(uri).search_experiments()] == ["exp"]
    # the saved view, in MLflow 3.17's saved-view envelope (listed in the runs table's Views menu)
    view = json.loads(exp.tags["mlflow.sharedViewState.ccc"])
    assert view["name"] == "dev CCC, best first" and isinstance(view["createdAt"], int)
    state = json.loads(view["state"])
    assert (state["orderByKey"], state["orderByAsc"]) == ("metrics.`dev/CCC`", False)
    assert state["selectedColumns"][:2] == ["tags.`kind`", "tags.`protocol`"]
    # the metric columns in the order MLflow 3.17's runs table shows them (code-point order of the
    # names, whatever the view's order): the mean first, then the targets, then the test mean
    metrics = [c[len("metrics.`"):-1] for c in state["selectedColumns"] if c.startswith("metrics.")]
    assert metrics == ["dev/CCC", "dev/arousal", "dev/liking", "dev/valence", "test/CCC"] == sorted(metrics)
    assert max(map(len, metrics)) <= 12  # a 100-pixel header shows them whole


def test_tracked_run(caches, store, tmp_path):
    uri, exp_id = store
    res = train_run([caches["fau_func"], caches["mfcc"]], caches["labels"], tmp_path / "run",
                    run_name="fau_func+mfcc", kind="bimodal", params={**TINY, "epochs": 3}, seed=7,
                    tracking_uri=uri, experiment_name="emofusion-test", tags={"rank": 2}, log=lambda s: None)
    c = client(uri)
    run = c.get_run(res["run_id"])
    assert run.info.status == "FINISHED" and run.info.experiment_id == exp_id
    assert run.info.run_name == "fau_func+mfcc"
    tags = run.data.tags
    assert (tags["kind"], tags["feature_sets"], tags["modality"], tags["loss_mode"], tags["seed"], tags["rank"]) \
        == ("bimodal", "fau_func+mfcc", "audiovisual", "mtl2", "7", "2")
    p = run.data.params
    assert (p["hidden"], p["epochs"], p["lr"], p["alpha"], p["gamma"], p["input_dim"]) == \
        ("[16, 8]", "3", "0.0005", "0.7", "1.0", "11")
    for key in ("curves/train_loss", "curves/dev_ccc_arousal", "curves/dev_ccc_valence", "curves/dev_ccc_liking",
                "curves/dev_ccc_mean"):
        assert [m.step for m in c.get_metric_history(run.info.run_id, key)] == [1, 2, 3], key
    scores = json.loads((tmp_path / "run" / "scores.json").read_text())
    # rounded to 4 decimals for the UI (the scores file keeps 6)
    assert run.data.metrics["dev/valence"] == round(scores["devel"]["DE+HU"]["valence"], 4)
    assert run.data.metrics["test/CCC"] == round(scores["test"]["DE+HU"]["mean"], 4)
    # the source is the library's entry point and the code version, not the job's temp script
    assert tags["mlflow.source.name"] == "emofusion.training.trainer.train_run"
    assert tags["emofusion.version"] and "tmp" not in tags["mlflow.source.name"]
    head = subprocess.run(["git", "-C", str(Path(__file__).parent), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:  # a git checkout (a fresh clone, CI): the commit the code came from
        assert tags["mlflow.source.git.commit"] == head.stdout.strip()
        assert tags["emofusion.git_dirty"] in ("true", "false")
    else:
        assert "mlflow.source.git.commit" not in tags
    # the fusion runs' names (one column ranks both); the curves in a section of their own, which
    # the run page shows first (sections in name order), not buried under single points
    curves = {f"curves/{k}" for k in ("train_loss", "dev_ccc_arousal", "dev_ccc_valence", "dev_ccc_liking",
                                      "dev_ccc_mean")}
    assert set(run.data.metrics) == curves | {f"{s}/{t}" for s in ("dev", "test")
                                              for t in ("arousal", "valence", "liking", "CCC")}
    assert min(run.data.metrics) in curves
    repo = run_artifacts(uri, run.info.run_id)
    arts = {a.path for a in repo.list_artifacts()}
    assert {"scores.json", "history.json", "predictions"} <= arts
    n_pred = len(repo.list_artifacts("predictions"))
    assert n_pred == len(list((tmp_path / "run" / "predictions").glob("*.csv"))) > 0
    # in the store's own folder, under a URI that names no path
    assert run.info.artifact_uri == f"mlflow-artifacts:/{run.info.run_id}/artifacts"
    assert (tmp_path / "results" / "mlartifacts" / run.info.run_id / "artifacts" / "scores.json").read_bytes() \
        == (tmp_path / "run" / "scores.json").read_bytes()


def test_failed_tracked_run_is_marked_failed(caches, store, tmp_path, monkeypatch):
    import emofusion.tracking as tracking

    uri, exp_id = store

    def boom(*a, **k):
        raise OSError("artifact store unreachable")

    monkeypatch.setattr(tracking, "log_outputs", boom)
    with pytest.raises(OSError, match="unreachable"):
        train_run([caches["fau_func"]], caches["labels"], tmp_path / "run", run_name="fau_func", kind="unimodal",
                  params={**TINY, "epochs": 1}, tracking_uri=uri, experiment_name="emofusion-test",
                  log=lambda s: None)
    assert not (tmp_path / "run" / "scores.json").exists()
    runs = client(uri).search_runs([exp_id])
    assert [r.info.status for r in runs] == ["FAILED"]


@pytest.mark.parametrize("n", [pytest.param(2, marks=pytest.mark.e2e), pytest.param(8, marks=pytest.mark.slow)])
def test_concurrent_runs_land_complete_in_the_experiment(caches, store, tmp_path, n):
    """n training processes started at once against one freshly initialised sqlite store (the
    DAG's fan-out). 8 processes take ~2 min on 2 busy cores (start-up: imports), hence `slow`."""
    uri, exp_id = store
    env = {**os.environ, "EMOFUSION_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    procs = []
    for i in range(n):
        cmd = [sys.executable, "-m", "emofusion.cli", "train", "--features", str(caches["fau_func"]),
               "--labels", str(caches["labels"]), "--out", str(tmp_path / "runs" / f"r{i}"),
               "--run-name", f"search/{i}", "--kind", "search", "--seed", str(i), "--tracking-uri", uri,
               "--experiment", "emofusion-test", "--set", "epochs=1", "hidden=[4]", "batch_size=4"]
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = [p.communicate(timeout=600)[0] for p in procs]
    for i, p in enumerate(procs):
        assert p.returncode == 0, outputs[i][-3000:]
        assert (tmp_path / "runs" / f"r{i}" / "scores.json").is_file()
    c = client(uri)
    runs = c.search_runs([exp_id], max_results=100)
    assert sorted(r.info.run_name for r in runs) == [f"search/{i}" for i in range(n)]
    assert all(r.info.status == "FINISHED" for r in runs)
    assert all("dev/CCC" in r.data.metrics for r in runs)
    assert c.search_runs(["0"]) == []  # nothing in "Default"


def test_init_against_an_absent_server_fails_naming_the_key():
    from emofusion.errors import ConfigError
    from emofusion.tracking import wait_for_server

    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ConfigError, match=r"tracking\.uri: no MLflow server answers at " + uri):
        wait_for_server(uri, timeout_s=1.0, poll_s=0.2)


def test_refused_connection_fails_at_once_naming_tracking_uri(monkeypatch):
    """Nothing listens: one ConfigError naming tracking.uri after the short grace, not the timeout."""
    from emofusion import tracking
    from emofusion.errors import ConfigError
    from emofusion.tracking import REFUSED_GRACE_S, wait_for_server

    clock = {"t": 0.0}
    monkeypatch.setattr(tracking.time, "monotonic", lambda: clock["t"])
    monkeypatch.setattr(tracking.time, "sleep", lambda s: clock.__setitem__("t", clock["t"] + s))
    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ConfigError, match=r"tracking\.uri: nothing listens at " + uri + r" \(connection refused\)"):
        wait_for_server(uri, timeout_s=3600, poll_s=1.0)
    assert REFUSED_GRACE_S <= clock["t"] <= REFUSED_GRACE_S + 1.0  # simulated seconds, not the hour


def test_answering_but_not_ready_server_is_waited_for(monkeypatch):
    """A server that answers 503 is retried until the timeout (then one error naming tracking.uri)."""
    import http.server
    import threading

    from emofusion import tracking
    from emofusion.errors import ConfigError
    from emofusion.tracking import wait_for_server

    class NotReady(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(503)
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.HTTPServer(("127.0.0.1", 0), NotReady)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    clock = {"t": 0.0}
    monkeypatch.setattr(tracking.time, "monotonic", lambda: clock["t"])
    monkeypatch.setattr(tracking.time, "sleep", lambda s: clock.__setitem__("t", clock["t"] + s))
    try:
        with pytest.raises(ConfigError, match=r"tracking\.uri: no MLflow server answers .*HTTP 503"):
            wait_for_server(f"http://127.0.0.1:{srv.server_address[1]}", timeout_s=30, poll_s=1.0)
        assert clock["t"] >= 30
    finally:
        srv.shutdown()
        srv.server_close()


def _wait_listening(port: int, proc: subprocess.Popen, timeout: float = 120) -> None:
    import socket
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"mlflow server exited with {proc.returncode}"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.3)
    raise AssertionError(f"mlflow server did not listen on port {port} within {timeout} s")


@pytest.mark.e2e
def test_tracked_run_on_a_real_mlflow_server(caches, tmp_path):
    """`tracking.uri: http://...`: a real `mlflow server` (sqlite backend here; PostgreSQL in the
    cluster test), started just before init, which must wait for it; the run and its artifacts
    land on the server (artifacts proxied to the server's --artifacts-destination)."""
    port = free_port()
    uri = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{tmp_path / 'server.db'}",
         "--artifacts-destination", str(tmp_path / "server-artifacts")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        _wait_listening(port, server)  # nothing listening is an error at once; a listening server is waited for
        exp_id = init_tracking(uri, "emofusion-server", None, tmp_path / "tracking.json")  # waits for /health
        res = train_run([caches["fau_func"]], caches["labels"], tmp_path / "run", run_name="fau_func",
                        kind="unimodal", params={**TINY, "epochs": 2}, seed=1, tracking_uri=uri,
                        experiment_name="emofusion-server", log=lambda s: None)
        c = client(uri)
        run = c.get_run(res["run_id"])
        assert run.info.status == "FINISHED" and run.info.experiment_id == exp_id
        assert [m.step for m in c.get_metric_history(run.info.run_id, "curves/dev_ccc_mean")] == [1, 2]
        assert {"scores.json", "history.json", "predictions"} <= {a.path for a in c.list_artifacts(run.info.run_id)}
        # the artifacts went through the server to its destination, not to a client-side path
        assert list((tmp_path / "server-artifacts").rglob("scores.json"))
        assert not (tmp_path / "mlartifacts").exists()
        assert init_tracking(uri, "emofusion-server", None, tmp_path / "tracking.json") == exp_id  # idempotent
    finally:
        stop_server(server)


@pytest.mark.e2e
def test_artifacts_survive_moving_results(caches, store, tmp_path):
    """A results/ tree moved elsewhere (another folder, machine or user) still opens its runs'
    artifacts: the store names none by an absolute path (``mlflow-artifacts:/<run>/artifacts``);
    they are read from mlartifacts/ beside the moved db, and `mlflow ui` serves them from its
    ``--artifacts-destination`` as the browser asks for them (the UI's ``get-artifact`` route)."""
    import shutil
    import sqlite3
    import urllib.request

    uri, exp_id = store
    res = train_run([caches["fau_func"]], caches["labels"], tmp_path / "run", run_name="fau_func",
                    kind="unimodal", params={**TINY, "epochs": 1}, seed=1, tracking_uri=uri,
                    experiment_name="emofusion-test", log=lambda s: None)
    rid = res["run_id"]
    scores = (tmp_path / "run" / "scores.json").read_bytes()
    moved = tmp_path / "elsewhere" / "copy-of-results"
    moved.parent.mkdir()
    shutil.move(tmp_path / "results", moved)
    assert not (tmp_path / "results").exists()
    db = sqlite3.connect(moved / "mlflow.db")
    try:
        stored = [r[0] for r in db.execute("select artifact_location from experiments where experiment_id = ?",
                                           (int(exp_id),))]
        stored += [r[0] for r in db.execute("select artifact_uri from runs")]
    finally:
        db.close()
    assert stored == ["mlflow-artifacts:/", f"mlflow-artifacts:/{rid}/artifacts"]  # no path of the old tree
    new_uri = f"sqlite:///{moved / 'mlflow.db'}"
    # 1. this package's clients of the moved store
    repo = run_artifacts(new_uri, rid)
    (tmp_path / "dl").mkdir()
    (tmp_path / "dl2").mkdir()
    assert {"scores.json", "history.json", "predictions"} <= {a.path for a in repo.list_artifacts()}
    assert Path(repo.download_artifacts("scores.json", dst_path=str(tmp_path / "dl"))).read_bytes() == scores
    # 2. the UI: `mlflow ui` over the moved copy, from another working directory
    port = free_port()
    log = tmp_path / "ui.log"
    with open(log, "w") as fh:
        server = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "ui", "--backend-store-uri", new_uri,
             "--artifacts-destination", str(moved / "mlartifacts"), "--host", "127.0.0.1", "--port", str(port),
             "--workers", "1"], stdout=fh, stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp_path / "run")
    base = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{base}/health", server, log)
        with urllib.request.urlopen(f"{base}/ajax-api/2.0/mlflow/artifacts/list?run_id={rid}", timeout=30) as r:
            listed = {f["path"] for f in json.loads(r.read())["files"]}
        assert {"scores.json", "history.json", "predictions"} <= listed
        with urllib.request.urlopen(f"{base}/get-artifact?path=scores.json&run_uuid={rid}", timeout=30) as r:
            assert r.read() == scores
        # and MLflow's own client through that server (e.g. `mlflow artifacts download`)
        got = client(base).download_artifacts(rid, "scores.json", str(tmp_path / "dl2"))
        assert Path(got).read_bytes() == scores
    finally:
        stop_server(server)


def test_rerun_closes_the_run_a_killed_job_left_running(caches, store, tmp_path):
    """A job killed from outside (SIGKILL, a SLURM time limit) leaves its MLflow run RUNNING; its
    re-run marks that run KILLED and, once its own run is FINISHED, moves it to MLflow's trash
    tagged with the run that replaced it (restorable). Runs of other jobs (another seed, another
    working directory) that are RUNNING are left alone."""
    uri, exp_id = store
    c = client(uri)
    tags = {"kind": "unimodal", "feature_sets": "fau_func", "modality": "visual", "loss_mode": "mtl2",
            "emofusion.workdir": str(Path.cwd().resolve())}
    stale = c.create_run(exp_id, run_name="fau_func", tags={**tags, "seed": "3"}).info.run_id
    other = c.create_run(exp_id, run_name="fau_func", tags={**tags, "seed": "4"}).info.run_id
    elsewhere = c.create_run(exp_id, run_name="fau_func", tags={**tags, "seed": "3",
                                                               "emofusion.workdir": "/elsewhere"}).info.run_id
    res = train_run([caches["fau_func"]], caches["labels"], tmp_path / "run", run_name="fau_func", kind="unimodal",
                    params={**TINY, "epochs": 1}, seed=3, tracking_uri=uri, experiment_name="emofusion-test",
                    log=lambda s: None)
    assert c.get_run(stale).info.status == "KILLED"
    assert "killed job" in c.get_run(stale).data.tags["emofusion.closed"]
    assert c.get_run(stale).info.lifecycle_stage == "deleted"
    assert c.get_run(stale).data.tags["emofusion.superseded_by"] == res["run_id"]
    assert c.get_run(other).info.status == "RUNNING"
    assert c.get_run(elsewhere).info.status == "RUNNING"  # the same job of another working directory
    assert c.get_run(res["run_id"]).info.status == "FINISHED"
    job = [r for r in c.search_runs([exp_id]) if r.data.tags.get("seed") == "3"
           and r.data.tags.get("emofusion.workdir") == tags["emofusion.workdir"]]
    assert [r.info.run_id for r in job] == [res["run_id"]]  # the default view: exactly one run of the job
    c.restore_run(stale)  # trashed, not purged: nothing is lost
    assert c.get_run(stale).info.lifecycle_stage == "active"


def test_rerun_replaces_the_finished_run_of_the_same_result_and_keeps_the_rest(caches, store, tmp_path):
    """A job killed after its run was FINISHED but before Snakemake saw it end is re-run: its new
    run (same scores, so the same emofusion.result_sha256) replaces the old FINISHED one, the KILLED
    one an earlier kill left goes too; a FAILED run (an error to read) and a FINISHED run of
    another result (an earlier config) of the same job are kept."""
    uri, exp_id = store
    c = client(uri)
    kw = dict(run_name="fau_func", kind="unimodal", params={**TINY, "epochs": 1}, seed=3, tracking_uri=uri,
              experiment_name="emofusion-test", log=lambda s: None)
    first = train_run([caches["fau_func"]], caches["labels"], tmp_path / "run", **kw)["run_id"]
    tags = {k: v for k, v in c.get_run(first).data.tags.items() if not k.startswith("mlflow.")}
    digest = tags.pop("emofusion.result_sha256")
    killed = c.create_run(exp_id, run_name="fau_func", tags=tags).info.run_id
    c.set_terminated(killed, "KILLED")
    failed = c.create_run(exp_id, run_name="fau_func", tags=tags).info.run_id
    c.set_terminated(failed, "FAILED")
    earlier = c.create_run(exp_id, run_name="fau_func", tags={**tags, "emofusion.result_sha256": "0" * 64})
    c.set_terminated(earlier.info.run_id, "FINISHED")
    second = train_run([caches["fau_func"]], caches["labels"], tmp_path / "run", **kw)["run_id"]
    assert c.get_run(second).data.tags["emofusion.result_sha256"] == digest  # deterministic: the same result
    for rid in (first, killed):
        assert c.get_run(rid).info.lifecycle_stage == "deleted"
        assert c.get_run(rid).data.tags["emofusion.superseded_by"] == second
    active = {r.info.run_id: r.info.status for r in c.search_runs([exp_id])}
    assert active == {second: "FINISHED", failed: "FAILED", earlier.info.run_id: "FINISHED"}


# ---------------------------------------------------------------------------------------------
# a fusion stage's MLflow run after a kill in the window between scores.json and the job's exit


def _stage(tmp_path):
    from emofusion.fusion.scheduler import run_chain

    labels, runs = corpus(tmp_path)
    (doc,) = run_chain(labels, runs, tmp_path / "f", protocol="in-sample", stages=1, spec=SMALL)
    return doc, tmp_path / "f" / "stage1" / "scores.json"


def _active(client, exp):
    return client.search_runs([exp])  # deleted runs are not listed (ACTIVE_ONLY)


@pytest.mark.parametrize("window", ["after_close", "before_close"])
def test_fusion_stage_rerun_after_a_kill_leaves_exactly_one_run(tmp_path, window):
    from emofusion.fusion.mlflow_run import FITTED_ON, log_stage_run
    from emofusion.tracking import RESULT_TAG, result_digest, score_metrics
    from mlflow.tracking import MlflowClient

    doc, scores = _stage(tmp_path)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    exp = client.create_experiment("fx")
    name = "fusion/in-sample/stage1"
    if window == "after_close":  # the killed attempt logged and closed its run, then died before exiting
        log_stage_run(uri, "fx", name, doc, scores, workdir="/w")
    else:  # it died inside log_stage_run: its run, tagged with this result, left RUNNING
        tags = {"kind": "fusion", "protocol": "in-sample", "stage": "1", "emofusion.workdir": "/w",
                RESULT_TAG: result_digest(scores)}
        client.create_run(exp, run_name=name, tags=tags)
    log_stage_run(uri, "fx", name, doc, scores, workdir="/w")  # Snakemake's re-run of the job
    runs = _active(client, exp)
    assert [(r.info.run_name, r.info.status) for r in runs] == [(name, "FINISHED")]
    assert runs[0].data.metrics["solver_max_gap"] <= 1e-3
    # the scores under their MLflow names, per culture too; what the stage was fitted on
    want = {k: round(v, 4) for k, v in score_metrics({s: doc[s] for s in ("devel", "test") if doc.get(s)}).items()}
    assert "dev/CCC" in want and "dev/DE/CCC" in want and {k: runs[0].data.metrics[k] for k in want} == want
    assert runs[0].data.tags["fitted_on"] == FITTED_ON["in-sample"]


def test_fusion_stage_runs_of_another_result_or_workdir_are_kept(tmp_path):
    from emofusion.fusion.mlflow_run import log_stage_run
    from mlflow.tracking import MlflowClient

    doc, scores = _stage(tmp_path)
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    exp = client.create_experiment("fx")
    name = "fusion/in-sample/stage1"
    log_stage_run(uri, "fx", name, doc, scores, workdir="/w")
    log_stage_run(uri, "fx", name, doc, scores, workdir="/other")  # another working directory
    scores.write_text(scores.read_text().replace("in-sample", "in-sample", 1) + "\n")  # another result
    log_stage_run(uri, "fx", name, doc, scores, workdir="/w")
    assert len(_active(client, exp)) == 3


def test_every_mlflow_client_resolves_the_proxied_uri_of_a_sqlite_store_in_place(tmp_path):
    """The package's entry point gives MLflow's registry (not only our own code) the mlflow-artifacts
    repository: against a sqlite store, files under mlartifacts/ beside the db; against a server, MLflow's."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
    from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository
    from mlflow.store.artifact.mlflow_artifacts_repo import MlflowArtifactsRepository

    db = tmp_path / "results" / "mlflow.db"
    run_dir = tmp_path / "results" / "mlartifacts" / "abc" / "artifacts"
    run_dir.mkdir(parents=True)
    (run_dir / "scores.json").write_text("{}")
    repo = get_artifact_repository("mlflow-artifacts:/abc/artifacts", tracking_uri=f"sqlite:///{db}")
    assert isinstance(repo, LocalArtifactRepository)
    assert [a.path for a in repo.list_artifacts()] == ["scores.json"]
    with pytest.raises(ValueError, match="leaves the artifact root"):
        get_artifact_repository("mlflow-artifacts:/../x", tracking_uri=f"sqlite:///{db}")
    server = get_artifact_repository("mlflow-artifacts:/abc/artifacts", tracking_uri="http://127.0.0.1:5999")
    assert isinstance(server, MlflowArtifactsRepository)


def test_score_names_keep_the_mean_first_and_every_culture_apart():
    """A scores.json's scores under their MLflow names: the all-cultures group unprefixed, one
    culture under its name, non-finite scores left out; a fusion stage logs them all and says what
    it was fitted on in the first word the runs table's narrow tag column shows (the stage run's
    metrics and tag: test_fusion_stage_rerun_after_a_kill_leaves_exactly_one_run)."""
    from emofusion.fusion.mlflow_run import FITTED_ON
    from emofusion.tracking import score_metrics

    row = {"arousal": 0.5, "valence": 0.25, "liking": float("nan"), "mean": 0.375}
    names = score_metrics({"devel": {"DE+HU": row, "DE": row}, "test": {"DE+HU": row}, "seconds": 3.0})
    assert names == {"dev/arousal": 0.5, "dev/valence": 0.25, "dev/CCC": 0.375, "dev/DE/arousal": 0.5,
                     "dev/DE/valence": 0.25, "dev/DE/CCC": 0.375, "test/arousal": 0.5, "test/valence": 0.25,
                     "test/CCC": 0.375}
    assert set(score_metrics({"devel": {"DE+HU": row, "HU": row}}, cultures=False)) == \
        {"dev/arousal", "dev/valence", "dev/CCC"}
    assert FITTED_ON["in-sample"].startswith("optimistic") and FITTED_ON["grouped-cv"].startswith("held out")
