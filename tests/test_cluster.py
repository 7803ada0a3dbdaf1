"""The workflow on real engines (marked `cluster`; not in the default run or CI):

    pytest -m cluster        # as root on Debian; installs slurm-wlm, slurmdbd, munge, mariadb-server,
                             # postgresql with apt-get where missing; about 5 minutes on 2 cores

A single-node SLURM with accounting (munged, MariaDB, slurmdbd, slurmctld, slurmd) and an MLflow
server on PostgreSQL, all on 127.0.0.1 (tests/cluster_services.py). The tiny workflow config runs
through workflow/profiles/slurm (Snakemake's SLURM executor plugin, job states from sacct) with
tracking on that server, and again locally with `--cores 2` and the default sqlite store. Checked:
every job ran as a SLURM job (its log names its SLURM job id; sacct lists them all COMPLETED in
this workflow's account), every training run is FINISHED on the server with its artifacts, and
the results are the same as the local run's. Every daemon is stopped by PID at the end.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from cluster_services import Cluster, alive
from helpers import REPO, smk, tiny_config, write_config

pytestmark = pytest.mark.cluster


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    pytest.importorskip("snakemake_executor_plugin_slurm", reason='pip install -e ".[cluster]"')
    pytest.importorskip("psycopg2", reason='pip install -e ".[cluster]"')
    c = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        c.start()
        yield c
    finally:
        killed = c.stop()
        for name in ("slurmctld", "slurmd", "slurmdbd", "munged"):
            pid_file = {"munged": c.root / "munge" / "munged.pid"}.get(name, c.root / f"{name}.pid")
            assert not pid_file.exists() or not alive(int(pid_file.read_text().split()[0])), name
        assert killed == [], f"had to SIGKILL {killed}"


def cpu_only_profile(dest: Path, cpus: int) -> Path:
    """workflow/profiles/slurm as a user of a CPU-only cluster adapts it (README): training asks
    for no GPU; everything else as shipped (fusion parts take one core each). Plus a short first
    status check (the plugin waits 40 s by default)."""
    prof = yaml.safe_load((REPO / "workflow" / "profiles" / "slurm" / "config.yaml").read_text())
    for rule in ("train", "ablation_train", "search_train"):
        prof["set-resources"][rule]["gpu"] = 0
    prof["slurm-init-seconds-before-status-checks"] = 5
    prof["slurm-keep-successful-logs"] = True
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "config.yaml").write_text(yaml.safe_dump(prof, sort_keys=False))
    return dest


def rule_logs(workdir: Path) -> dict[str, str]:
    return {str(p.relative_to(workdir)): p.read_text() for p in (workdir / "results" / "logs").rglob("*.log")}


def result_files(workdir: Path) -> dict[str, object]:
    """Everything a researcher compares between two runs: per-run scores, rankings, fusion."""
    res = workdir / "results"
    out: dict[str, object] = {}
    for p in sorted(res.glob("runs/*/seed*/scores.json")) + sorted(res.glob("runs/*/scores.json")) \
            + sorted(res.glob("fusion/*/stage*/scores.json")):
        out[str(p.relative_to(res))] = json.loads(p.read_text())
    for p in sorted(res.glob("ranking/*.tsv")):
        out[str(p.relative_to(res))] = p.read_text()
    return out


def test_tiny_workflow_on_slurm_with_mlflow_on_postgresql(cluster, tmp_path):
    import os

    from mlflow.tracking import MlflowClient

    # --- on SLURM, tracked on the PostgreSQL-backed server
    remote = tmp_path / "slurm"
    c = tiny_config()
    c["tracking"]["uri"] = cluster.tracking_uri
    c["tracking"]["experiment"] = "emofusion-cluster"
    write_config(remote, c)
    profile = cpu_only_profile(tmp_path / "profile", os.cpu_count() or 1)
    assert "SLURM_CONF" not in os.environ  # clients and jobs find /etc/slurm/slurm.conf, as on a real cluster
    proc = smk(remote, "--profile", str(profile), timeout=1800)
    text = proc.stdout + proc.stderr
    assert "slurm" in text.lower()

    # every job ran as a SLURM job: its log's first line names a SLURM job id ...
    logs = rule_logs(remote)
    assert len(logs) >= 20, sorted(logs)
    ids = {}
    for name, body in logs.items():
        m = re.match(r"# host=\S+ pid=\d+ slurm_job_id=(\d+)", body)
        assert m, f"{name} did not run as a SLURM job: {body.splitlines()[:1]}"
        ids[name] = m.group(1)
    assert len(set(ids.values())) == len(ids)  # one SLURM job per Snakemake job
    # ... which SLURM accounting (sacct, slurmdbd) lists as COMPLETED, in this workflow's account
    acct = cluster.run("sacct", "-X", "--parsable2", "--noheader", "--starttime", "now-1days",
                       "--format=JobIdRaw,State,Account,JobName").stdout.splitlines()
    states = {r.split("|")[0]: r.split("|")[1:] for r in acct if r}
    for name, jid in ids.items():
        assert jid in states, f"{name}: SLURM job {jid} not in sacct"
        assert states[jid][0] == "COMPLETED" and states[jid][1] == "emofusion", (name, states[jid])
    train_logs = [n for n in logs if n.startswith("results/logs/train/")]

    # every training run is on the server, FINISHED, with its artifacts in the server's store
    client = MlflowClient(tracking_uri=cluster.tracking_uri)
    exp = client.get_experiment_by_name("emofusion-cluster")
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    trained = [r for r in runs if r.data.tags.get("kind") in ("unimodal", "bimodal")]
    assert len(trained) == len(train_logs) == 7, (len(trained), sorted(train_logs))
    assert all(r.info.status == "FINISHED" for r in runs), [(r.info.run_name, r.info.status) for r in runs]
    assert len(list(cluster.artifacts.rglob("scores.json"))) >= len(trained)
    assert not (remote / "results" / "mlflow.db").exists()  # nothing fell back to the local store

    # --- the same config locally (default sqlite store): the same results
    local = tmp_path / "local"
    c_local = tiny_config()
    write_config(local, c_local)
    smk(local, "--cores", "2", timeout=1800)
    a, b = result_files(remote), result_files(local)
    assert a.keys() == b.keys() and len(a) > 10, (sorted(a), sorted(b))
    for k in a:
        assert a[k] == b[k], f"{k} differs between the SLURM and the local run"
    local_runs = MlflowClient(tracking_uri=f"sqlite:///{local / 'results' / 'mlflow.db'}")
    lexp = local_runs.get_experiment_by_name(c_local["tracking"]["experiment"])
    assert sorted(r.info.run_name for r in local_runs.search_runs([lexp.experiment_id], max_results=1000)) \
        == sorted(r.info.run_name for r in runs)
    shutil.rmtree(local / "corpus", ignore_errors=True)
    shutil.rmtree(remote / "corpus", ignore_errors=True)
