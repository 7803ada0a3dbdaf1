"""MLflow tracking: store initialisation (once, before parallel runs) and the per-run logger.

Default store: ``sqlite:///<abs>/results/mlflow.db`` with artifacts under ``results/mlartifacts``
(docs/pipeline.md), addressed as ``mlflow-artifacts:/...`` (:data:`PROXIED_ROOT`), not by path. ``tracking.uri`` may instead name an MLflow server (``http://host:port``,
e.g. on PostgreSQL for a cluster); the server then decides where artifacts go. The tracking URI is always passed explicitly (never read from the
environment at import). :func:`init_tracking` must run once before runs fan out: it creates or
upgrades the schema of a fresh sqlite store and creates the experiment; without it, parallel first
runs race on the schema and the experiment, and crash or land in "Default".

The special tracking URI ``"off"`` disables tracking (tests, benchmarks).
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from urllib.parse import urlparse

from .formats import pooled_group, write_tracking

OFF = "off"

#: Experiment tag that tells MLflow 3's UI what the experiment holds: without it the UI opens the
#: experiment in its GenAI view (traces, latency, tokens) and hides the runs table behind a toggle.
EXPERIMENT_KIND = {"mlflow.experimentKind": "custom_model_development"}

#: The names of the single-value scores in MLflow (a score's name says which partition, culture
#: group and target; the files keep theirs): ``dev/CCC`` is the mean dev CCC of the all-cultures
#: group (DE+HU), ``dev/arousal``, ``dev/valence`` and ``dev/liking`` its targets, ``test/...`` the
#: same on test; one culture's are ``dev/DE/CCC``, ``dev/DE/arousal``, ... MLflow 3.17's runs table
#: orders metric columns by the names' code points (capitals first) whatever order a view asks for,
#: and cuts a header at about 12 characters: these names keep the mean first and every header whole.
#: Its run pages put the charts of a name with a ``/`` in one section per prefix, sections in name
#: order before the other charts: the per-epoch curves carry :data:`CURVE_PREFIX` so that theirs
#: comes first.
SPLIT_NAMES = {"devel": "dev", "test": "test"}
MEAN_NAME = "CCC"
CURVE_PREFIX = "curves/"


def score_metric(split: str, target: str, culture: str | None = None) -> str:
    """MLflow name of a score: ``score_metric("devel", "mean")`` is ``dev/CCC``,
    ``score_metric("devel", "arousal", "DE")`` is ``dev/DE/arousal`` (None: the all-cultures group)."""
    name = MEAN_NAME if target == "mean" else target
    group = "" if culture is None else culture.replace("+", "_") + "/"
    return f"{SPLIT_NAMES.get(split, split)}/{group}{name}"


def score_metrics(scores: dict, cultures: bool = True) -> dict[str, float]:
    """A scores.json's finite scores (``{split: {group: {target: CCC}}}``) under their MLflow names
    (:func:`score_metric`); ``cultures=False`` keeps the all-cultures group only."""
    out = {}
    for split, block in scores.items():
        if split not in SPLIT_NAMES or not isinstance(block, dict) or not block:
            continue
        pooled = pooled_group(block)
        for group, row in block.items():
            if group != pooled and not cultures:
                continue
            for t, v in (row or {}).items():
                if isinstance(v, (int, float)) and math.isfinite(v):
                    out[score_metric(split, t, None if group == pooled else group)] = float(v)
    return out


#: A saved runs-table view (MLflow's shared view state, an experiment tag): sorted by the mean dev
#: CCC with the dev CCC columns and the test mean shown, in the order the table shows them (see
#: :data:`SPLIT_NAMES`). Open it from the runs table's *Views* menu or as
#: ``#/experiments/<id>/runs?viewStateShareKey=ccc``. Few enough columns that the tags (which MLflow
#: places after the metrics) stay on screen; the other scores are under *Columns*.
VIEW_KEY = "ccc"
VIEW_METRICS = [score_metric("devel", t) for t in ("mean", "arousal", "liking", "valence")] + [score_metric("test", "mean")]


#: MLflow 3.17's UI decides between its GenAI and its model-training pages from the ``workflowType``
#: URL parameter (else localStorage ``mlflow.workflowType``; default GenAI), not from the experiment's
#: ``mlflow.experimentKind`` tag: every link the project gives carries this parameter.
WORKFLOW_TYPE = "workflowType=machine_learning"

#: The tags the saved view shows beside the metrics: what a run is, its fusion protocol, and what a
#: fusion stage was fitted on (in-sample stages: the very frames they are scored on).
VIEW_TAGS = ["kind", "protocol", "fitted_on"]

#: Decimals of the single-value scores logged to MLflow (the files keep 6).
METRIC_DECIMALS = 4


#: The saved view's name in the runs table's *Views* menu.
VIEW_NAME = "dev CCC, best first"


def runs_view_tag(now_ms: int | None = None) -> tuple[str, str]:
    """The experiment tag that holds the saved view: MLflow 3.17's saved-view envelope (``name``,
    ``createdAt``, ``updatedAt``, ``state``: the view state as a JSON string) under
    ``mlflow.sharedViewState.<key>``. The UI lists it in the runs table's *Views* menu and opens it
    from a ``viewStateShareKey=<key>`` link (a bare view state there opens from the link only)."""
    import json

    now = int(time.time() * 1000) if now_ms is None else int(now_ms)
    return (f"mlflow.sharedViewState.{VIEW_KEY}",
            json.dumps({"name": VIEW_NAME, "createdAt": now, "updatedAt": now, "state": json.dumps(runs_view_state())}))


def runs_view_state() -> dict:
    """The runs-table view saved under :data:`VIEW_KEY`: MLflow UI's search facets and UI state."""
    metrics = [f"metrics.`{m}`" for m in VIEW_METRICS]
    cols = [f"tags.`{t}`" for t in VIEW_TAGS] + metrics
    return {"orderByKey": metrics[0], "orderByAsc": False, "searchFilter": "", "selectedColumns": cols}


def runs_view_path(experiment_id: str) -> str:
    """The UI path (after the server's address) of the experiment's runs table in the saved view."""
    return f"/#/experiments/{experiment_id}/runs?viewStateShareKey={VIEW_KEY}&{WORKFLOW_TYPE}"


def source_tags(entry_point: str) -> dict[str, str]:
    """Tags that say which code made a run, in place of MLflow's default source (``sys.argv[0]``:
    under Snakemake a deleted temp script): ``mlflow.source.name`` (the library entry point),
    ``emofusion.version`` and, in a git checkout, ``mlflow.source.git.commit`` (and
    ``emofusion.git_dirty`` when tracked files differ from that commit)."""
    import subprocess

    from . import __version__

    tags = {"mlflow.source.name": entry_point, "mlflow.source.type": "LOCAL", "emofusion.version": __version__}
    repo = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return tags
    if len(commit) == 40:
        tags["mlflow.source.git.commit"] = commit
        tags["emofusion.git_dirty"] = "true" if dirty else "false"
    return tags


def default_tracking_uri(root: str | Path | None = None) -> str:
    """``sqlite:///<abs root>/results/mlflow.db`` (root defaults to the working directory)."""
    base = Path(root) if root is not None else Path.cwd()
    return f"sqlite:///{(base / 'results' / 'mlflow.db').resolve()}"


def sqlite_path(tracking_uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI, else None."""
    if not tracking_uri.startswith("sqlite:///"):
        return None
    return Path(tracking_uri[len("sqlite:///"):])


def is_server(tracking_uri: str) -> bool:
    """An MLflow tracking server (``http://`` / ``https://``), as opposed to a database or file store."""
    return urlparse(tracking_uri).scheme in ("http", "https")


REFUSED_GRACE_S = 3.0  # a refused connection is retried this long (a server binding its port), no more


def wait_for_server(tracking_uri: str, timeout_s: float = 120.0, poll_s: float = 1.0,
                    refused_grace_s: float = REFUSED_GRACE_S) -> None:
    """Block until the MLflow server at ``tracking_uri`` answers ``GET /health`` with 200.

    Only a server that answers but is not ready yet (an HTTP error status, e.g. while it creates
    the schema of a fresh PostgreSQL database, or no answer within the request timeout) is waited
    for, up to ``timeout_s``. Nothing listening (connection refused, for ``refused_grace_s``) or an
    unknown host fails at once. Either way one :class:`~emofusion.errors.ConfigError` naming
    ``tracking.uri``.
    """
    import http.client
    import socket
    import urllib.error
    import urllib.request

    from .errors import ConfigError

    url = tracking_uri.rstrip("/") + "/health"
    t0 = time.monotonic()
    deadline = t0 + timeout_s
    last = "no answer"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310 (http(s) only, checked above)
                if r.status == 200:
                    return
                last = f"HTTP {r.status}"
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code}"
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:  # not up, or not HTTP
            reason = getattr(e, "reason", e)
            if isinstance(reason, socket.gaierror):
                raise ConfigError(f"tracking.uri: host of {tracking_uri} not found ({reason})") from None
            if isinstance(reason, ConnectionRefusedError) and time.monotonic() - t0 >= refused_grace_s:
                raise ConfigError(f"tracking.uri: nothing listens at {tracking_uri} (connection refused); start "
                                  "the MLflow server first (docs/cluster.md) or set tracking.uri: "
                                  "null for the local store") from None
            last = str(reason) or type(e).__name__
        if time.monotonic() >= deadline:
            raise ConfigError(f"tracking.uri: no MLflow server answers at {tracking_uri} "
                              f"(GET /health for {timeout_s:.0f} s: {last}); start it first "
                              "(docs/cluster.md)")
        time.sleep(poll_s)


#: Artifact root of the default sqlite store's experiments: MLflow's proxied-artifact URI. A run's
#: artifact URI is then ``mlflow-artifacts:/<run id>/artifacts``, which names no machine path: an
#: MLflow server resolves it against its ``--artifacts-destination`` (``mlflow ui
#: --artifacts-destination results/mlartifacts``), and the store's own clients (the training and
#: fusion jobs, :func:`run_artifacts`) against ``mlartifacts/`` beside the db file. So a moved or
#: copied ``results/`` keeps its artifacts (an absolute ``file://`` root would point at the old place).
PROXIED_ROOT = "mlflow-artifacts:/"


def default_artifact_location(tracking_uri: str) -> str | None:
    """:data:`PROXIED_ROOT` for a sqlite store (its files in :func:`artifacts_destination`); None
    for other stores (the server or file store decides)."""
    return PROXIED_ROOT if sqlite_path(tracking_uri) is not None else None


def artifacts_destination(tracking_uri: str) -> Path | None:
    """Where the ``mlflow-artifacts:/`` URIs of a sqlite store's runs lie: ``mlartifacts/`` beside
    the db file (what to give ``mlflow ui --artifacts-destination``); None for other stores."""
    db = sqlite_path(tracking_uri)
    return None if db is None else db.parent / "mlartifacts"


def run_artifacts(tracking_uri: str, run_id: str, artifact_uri: str | None = None):
    """The artifact repository of one run, for writing and reading its artifacts (``log_artifact``,
    ``log_artifacts``, ``list_artifacts``, ``download_artifacts``) from this process.

    A run of a sqlite store under :data:`PROXIED_ROOT` is read and written in place, under
    :func:`artifacts_destination` (MLflow's own client would need a server for that URI); any other
    run (an older store's absolute ``file://`` root, a configured ``tracking.artifact_location``, a
    tracking server's runs) through MLflow's repository for its URI."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    if artifact_uri is None:
        from mlflow.tracking import MlflowClient

        artifact_uri = MlflowClient(tracking_uri=tracking_uri).get_run(run_id).info.artifact_uri
    if urlparse(artifact_uri).scheme == "mlflow-artifacts":
        return proxied_artifact_repository(artifact_uri, tracking_uri)
    return get_artifact_repository(artifact_uri, tracking_uri=tracking_uri)


def proxied_artifact_repository(artifact_uri: str, tracking_uri: str | None = None, registry_uri: str | None = None):
    """MLflow's artifact repository for ``mlflow-artifacts:/`` URIs, registered for that scheme through
    the ``mlflow.artifact_repository`` entry point (pyproject.toml), so that every MLflow client of
    this environment reads it: against a sqlite store (the default) the URI is resolved in place under
    :func:`artifacts_destination`, as an ``mlflow ui --artifacts-destination`` server would resolve it;
    so ``mlflow.pyfunc.log_model``, ``models:/`` URIs, ``mlflow models predict`` and ``mlflow
    artifacts download`` work on ``results/mlflow.db`` with no server running. Against a tracking
    server it is MLflow's own repository (the server proxies the artifacts)."""
    from mlflow.store.artifact.mlflow_artifacts_repo import MlflowArtifactsRepository
    from mlflow.tracking._tracking_service.utils import get_tracking_uri

    effective = tracking_uri or get_tracking_uri()
    dest = artifacts_destination(effective)
    if dest is None:
        return MlflowArtifactsRepository(artifact_uri, tracking_uri=tracking_uri, registry_uri=registry_uri)
    from mlflow.store.artifact.local_artifact_repo import LocalArtifactRepository

    parsed = urlparse(artifact_uri)
    rel = Path(parsed.path.lstrip("/"))
    if rel.is_absolute() or ".." in rel.parts:
        raise ValueError(f"artifact URI {artifact_uri!r} leaves the artifact root {dest}")
    return LocalArtifactRepository(str(dest.resolve() / rel))


def ui_command(tracking_uri: str, host: str = "127.0.0.1", port: int = 5000) -> str:
    """The ``mlflow ui`` command that opens a sqlite store with its artifacts (served from
    :func:`artifacts_destination`, as a relative path where the db's is relative)."""
    dest = artifacts_destination(tracking_uri)
    arts = f" --artifacts-destination {dest}" if dest is not None else ""
    return f"mlflow ui --backend-store-uri {tracking_uri}{arts} --host {host} --port {port}"


def init_tracking(tracking_uri: str, experiment_name: str, artifact_location: str | None,
                  out_json: str | Path) -> str:
    """Initialise the store and create the experiment once (idempotent); return its id.

    Writes the tracking file ``out_json`` (:func:`emofusion.formats.write_tracking`).
    ``artifact_location`` None means :func:`default_artifact_location`.
    """
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    if is_server(tracking_uri):
        wait_for_server(tracking_uri)
    db = sqlite_path(tracking_uri)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    if artifact_location is None:
        artifact_location = default_artifact_location(tracking_uri)
    if artifact_location is not None and urlparse(artifact_location).scheme in ("", "file"):
        p = urlparse(artifact_location).path if artifact_location.startswith("file:") else artifact_location
        Path(p).mkdir(parents=True, exist_ok=True)
    if artifact_location == PROXIED_ROOT and db is not None:
        artifacts_destination(tracking_uri).mkdir(parents=True, exist_ok=True)
    fresh_store = db is not None and not db.exists()
    client = MlflowClient(tracking_uri=tracking_uri)  # a fresh sqlite db gets its schema here
    exp = client.get_experiment_by_name(experiment_name)
    if exp is not None and exp.lifecycle_stage == "deleted":
        client.restore_experiment(exp.experiment_id)
    if exp is None:
        try:
            exp_id = client.create_experiment(experiment_name, artifact_location=artifact_location,
                                              tags=EXPERIMENT_KIND)
        except MlflowException:  # created meanwhile by another process
            exp = client.get_experiment_by_name(experiment_name)
            if exp is None:
                raise
            exp_id = exp.experiment_id
    else:
        exp_id = exp.experiment_id
    for key, val in EXPERIMENT_KIND.items():  # also on an experiment created before the tag existed
        client.set_experiment_tag(exp_id, key, val)
    client.set_experiment_tag(exp_id, *runs_view_tag())
    if fresh_store and str(exp_id) != "0":
        _drop_empty_default(client)
    write_tracking(out_json, tracking_uri, experiment_name, str(exp_id), runs_view_path(str(exp_id)))
    print(f"experiment {experiment_name!r} (id {exp_id}) ready in {tracking_uri}; runs table sorted by dev CCC: "
          f"<mlflow ui address>{runs_view_path(str(exp_id))}")
    return str(exp_id)


def _drop_empty_default(client) -> None:
    """A fresh sqlite store comes with MLflow's empty "Default" experiment (id 0); delete it (moved
    to MLflow's trash, not listed by the UI) so the UI lists our experiment only. Only called for a
    store this function just created, and only while Default holds no run."""
    try:
        default = client.get_experiment("0")
    except Exception:  # noqa: BLE001 -- no Default experiment: nothing to do
        return
    if default.lifecycle_stage == "active" and not client.search_runs(["0"], max_results=1):
        client.delete_experiment("0")


def close_stale_runs(tracking_uri: str, experiment_name: str, run_name: str, tags: dict[str, str]) -> list[str]:
    """Mark KILLED the runs of this same job that were left RUNNING: same run name, same tags (kind,
    seed, feature sets, working directory, ...). A job killed from outside (SIGKILL, a SLURM time
    limit, a lost node) never reaches :func:`finish_run`; when Snakemake re-runs it, its old run is
    closed here so the UI does not show it running forever. Returns the ids it closed.

    The tags include the working directory (``emofusion.workdir``, set by the training), so the
    same config run from two working directories into one experiment never closes the other's runs.
    """
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment_name)
    if exp is None:
        return []
    # only the status in the filter string (no quoting of names and tag values to get wrong);
    # name and tags are compared here
    closed = []
    for run in client.search_runs([exp.experiment_id], filter_string="attributes.status = 'RUNNING'",
                                  max_results=50000):
        if run.info.run_name != run_name or any(run.data.tags.get(k) != str(v) for k, v in tags.items()):
            continue
        client.set_tag(run.info.run_id, "emofusion.closed", "left RUNNING by a killed job; closed by its re-run")
        client.set_terminated(run.info.run_id, "KILLED")
        closed.append(run.info.run_id)
    return closed


#: tag of a run that logs one output file: the sha256 of that file's bytes (a fusion stage's scores.json)
RESULT_TAG = "emofusion.result_sha256"


def result_digest(path: str | Path) -> str:
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def replace_runs_of_same_result(tracking_uri: str, experiment_name: str, run_name: str,
                                tags: dict[str, str]) -> list[str]:
    """Delete the runs of this same job that logged this same result (same run name and tags, the
    :data:`RESULT_TAG` digest among them), whatever their status: the traces of an attempt killed
    after its output was written (its run left RUNNING, closed KILLED by :func:`close_stale_runs`,
    or already FINISHED when the kill came before the job's exit). The re-run logs the one run that
    stays. Runs of another result (an earlier config) are kept. Returns the ids it deleted."""
    from mlflow.tracking import MlflowClient

    if RESULT_TAG not in tags:
        raise ValueError(f"replace_runs_of_same_result needs the {RESULT_TAG} tag")
    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment_name)
    if exp is None:
        return []
    deleted = []
    for run in client.search_runs([exp.experiment_id], filter_string=f"tags.`{RESULT_TAG}` = '{tags[RESULT_TAG]}'",
                                  max_results=50000):
        if run.info.run_name != run_name or any(run.data.tags.get(k) != str(v) for k, v in tags.items()):
            continue
        if run.info.status == "RUNNING":
            client.set_terminated(run.info.run_id, "KILLED")
        client.delete_run(run.info.run_id)
        deleted.append(run.info.run_id)
    return deleted


#: tag of a run moved to MLflow's trash by the re-run that replaced it: the replacing run's id
SUPERSEDED_TAG = "emofusion.superseded_by"


def supersede_runs_of_same_job(tracking_uri: str, experiment_name: str, run_name: str, tags: dict[str, str],
                               keep: str, result_sha256: str | None = None) -> list[str]:
    """Once the re-run of a job has its run FINISHED (``keep``), move the traces its killed attempts
    left (same run name and tags) to MLflow's trash, each tagged :data:`SUPERSEDED_TAG` = ``keep``:
    the runs left RUNNING or closed KILLED by :func:`close_stale_runs`, and the FINISHED ones of the
    same result (``result_sha256``, the :data:`RESULT_TAG` digest: an attempt killed after its run
    was closed but before Snakemake saw the job end). A killed attempt never wrote the job's outputs
    (Snakemake removes them and re-runs the job), so its run holds only the parameters and part of
    the curves that the FINISHED run repeats in full. Trashed, not purged: no default view lists it,
    ``mlflow runs restore --run-id ID`` brings it back. FAILED runs (an error a user may want to
    read) and FINISHED runs of another result (an earlier config) are kept. Returns the ids moved."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    exp = client.get_experiment_by_name(experiment_name)
    if exp is None:
        return []
    moved = []
    for run in client.search_runs([exp.experiment_id], max_results=50000):
        if run.info.run_id == keep or run.info.run_name != run_name:
            continue
        if any(run.data.tags.get(k) != str(v) for k, v in tags.items()):
            continue
        status = run.info.status
        same_result = result_sha256 is not None and run.data.tags.get(RESULT_TAG) == result_sha256
        if not (status in ("RUNNING", "KILLED", "SCHEDULED") or (status == "FINISHED" and same_result)):
            continue
        if status in ("RUNNING", "SCHEDULED"):
            client.set_terminated(run.info.run_id, "KILLED")
        client.set_tag(run.info.run_id, SUPERSEDED_TAG, keep)
        client.delete_run(run.info.run_id)
        moved.append(run.info.run_id)
    return moved


def make_logger(tracking_uri: str, experiment_name: str, run_name: str, tags: dict[str, str]):
    """Lightning's MLFlowLogger for one run, whose MLflow run stays RUNNING after ``fit`` until
    :func:`finish_run` marks it FINISHED (after the scores and artifacts are logged), so a run
    killed before its outputs exist never looks complete."""
    from pytorch_lightning.loggers import MLFlowLogger

    class _DeferredFinishLogger(MLFlowLogger):
        def finalize(self, status: str = "success") -> None:
            if status == "success":
                return  # finish_run() marks it FINISHED once everything is logged
            super().finalize(status)

        def log_metrics(self, metrics, step=None):
            # curves by epoch (1-based, as the log lines count), not by optimiser step; the epoch
            # itself is the x axis, not one more chart; named under CURVE_PREFIX (their own section)
            metrics = dict(metrics)
            if "epoch" in metrics:
                step = int(metrics.pop("epoch")) + 1
            metrics = {f"{CURVE_PREFIX}{k}": v for k, v in metrics.items()}
            if metrics:
                super().log_metrics(metrics, step)

    return _DeferredFinishLogger(experiment_name=experiment_name, run_name=run_name, tracking_uri=tracking_uri,
                                 tags=dict(tags), artifact_location=default_artifact_location(tracking_uri))


def log_outputs(logger, final_metrics: dict[str, float], files: list[Path], dirs: dict[str, Path]) -> None:
    """Final metrics and artifacts of a finished training run."""
    client, run_id = logger.experiment, logger.run_id
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    metrics = [Metric(k, round(float(v), METRIC_DECIMALS), now, 0) for k, v in final_metrics.items()]
    if metrics:
        client.log_batch(run_id, metrics=metrics)
    repo = run_artifacts(client.tracking_uri, run_id)
    for f in files:
        repo.log_artifact(str(f))
    for name, d in dirs.items():
        repo.log_artifacts(str(d), artifact_path=name)


def finish_run(logger, status: str = "FINISHED") -> None:
    logger.experiment.set_terminated(logger.run_id, status)
