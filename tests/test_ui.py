"""The MLflow UI, for real: a tiny sqlite store with runs named like the DAG's, `mlflow ui` on a
free loopback port, headless Chromium (Debian's chromium + chromium-driver, Selenium from PyPI);
screenshots; the server stopped by its PID.

Run with ``pytest -m ui`` (needs ``apt-get install -y chromium chromium-driver`` and selenium).
It opens the runs table in the saved view the README links (sorted by dev CCC, dev-CCC columns) and a
training run's charts (curves first). Set EMOFUSION_UI_SCREENSHOTS=<folder> to keep small copies of
both screenshots there (``EMOFUSION_UI_SCREENSHOTS=docs pytest -m ui`` refreshes the README's).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = pytest.mark.ui

#: run names as the DAG, the ablation and the search write them (docs/contracts.md)
RUNS = {
    "fau_func": {"kind": "unimodal", "mean": 0.41},
    "egemaps_func": {"kind": "unimodal", "mean": 0.33},
    "boaw_egemaps+fau_func": {"kind": "bimodal", "mean": 0.47},
    "ablation/mtl2": {"kind": "ablation", "mean": 0.40},
    "search/0": {"kind": "search", "mean": 0.38},
    "fusion/grouped-cv/stage1": {"kind": "fusion", "mean": 0.52},
}


def _require_browser():
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if chromium is None or driver is None:
        pytest.skip("the UI check needs Debian's chromium and chromium-driver "
                    "(apt-get install -y chromium chromium-driver)")
    try:
        import selenium  # noqa: F401
    except ImportError:
        pytest.skip("the UI check needs selenium (pip install selenium==4.51.0)")
    return chromium, driver


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _make_store(tmp_path: Path) -> tuple[str, str]:
    """A sqlite store initialised the DAG's way, with a few finished runs; (uri, experiment id)."""
    from emofusion.tracking import init_tracking
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'results' / 'mlflow.db'}"
    exp_id = init_tracking(uri, "emofusion-ui", None, tmp_path / "results" / "tracking.json")
    client = MlflowClient(tracking_uri=uri)
    for name, info in RUNS.items():
        run = client.create_run(exp_id, run_name=name, tags={"kind": info["kind"], "feature_sets": name.split("/")[0]})
        rid = run.info.run_id
        if info["kind"] == "fusion":
            metrics = {f"devel_DE_HU_{t}": info["mean"] for t in ("arousal", "valence", "liking", "mean")}
        else:
            for epoch in range(1, 6):  # curves per epoch, as train_run logs them
                client.log_metric(rid, "train_loss", 2.0 - info["mean"] * epoch / 5, step=epoch)
                for t in ("arousal", "valence", "liking", "mean"):
                    client.log_metric(rid, f"dev_ccc_{t}", info["mean"] * epoch / 5, step=epoch)
            metrics = {f"{split}_DE_HU_{t}": info["mean"] for split in ("devel", "test")
                       for t in ("arousal", "valence", "liking", "mean")}
        for key, val in metrics.items():  # final scores: one point each, named as the fusion names them
            client.log_metric(rid, key, val)
        client.log_param(rid, "loss_mode", "mtl2")
        client.set_terminated(rid, "FINISHED")
    return uri, exp_id


def _wait_http(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"mlflow ui exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"mlflow ui did not answer on {url} within {timeout} s:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen) -> None:
    """Stop the server we started: its own process group, by its PID (it forks workers)."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _shrink_png(src: Path, dst: Path) -> None:
    """A small copy of a screenshot for docs/: half size, 64-colour palette."""
    from PIL import Image

    dst.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(src) as im:
        im = im.convert("RGB")
        im = im.resize((im.width * 3 // 4, im.height * 3 // 4), Image.LANCZOS)
        im.quantize(colors=64).save(dst, optimize=True)


def test_mlflow_ui_shows_the_dag_runs(tmp_path):
    chromium, driver_path = _require_browser()
    from emofusion.tracking import VIEW_METRICS, runs_view_path
    from mlflow.tracking import MlflowClient
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    uri, exp_id = _make_store(tmp_path)
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment(exp_id)
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"  # else the GenAI view opens
    assert [e.name for e in client.search_experiments()] == ["emofusion-ui"]  # no empty "Default"
    fau = client.search_runs([exp_id], filter_string="attributes.run_name = 'fau_func'")[0].info.run_id
    port = _free_port()
    log = tmp_path / "mlflow_ui.log"
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    cmd = [str(mlflow_bin) if mlflow_bin.exists() else "mlflow", "ui", "--backend-store-uri", uri,
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp_path)
    driver = None
    shots = {}
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_http(f"{base}/health", proc, log)
        opts = webdriver.ChromeOptions()
        opts.binary_location = chromium
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", "--window-size=1500,800", f"--user-data-dir={tmp_path / 'chromium'}"):
            opts.add_argument(arg)
        driver = webdriver.Chrome(service=Service(executable_path=driver_path,
                                                  log_output=str(tmp_path / "chromedriver.log")), options=opts)
        driver.set_page_load_timeout(60)

        def wait_for(what: str, words: list[str], name: str) -> str:
            def shown(d):
                text = d.find_element(By.TAG_NAME, "body").text
                return all(w in text for w in words)

            try:
                WebDriverWait(driver, 90, poll_frequency=1).until(shown)
            except Exception:
                driver.save_screenshot(str(tmp_path / f"{name}_timeout.png"))
                body = driver.find_element(By.TAG_NAME, "body").text
                raise AssertionError(f"{what} did not show {words} within 90 s; page text:\n{body[:2000]}\n"
                                     f"screenshot: {tmp_path / f'{name}_timeout.png'}") from None
            time.sleep(1)  # let the last cells paint
            shot = tmp_path / f"{name}.png"
            assert driver.save_screenshot(str(shot))
            assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
            shots[name] = shot
            return driver.find_element(By.TAG_NAME, "body").text

        # 1. the runs table as the README links it: sorted by dev CCC, the dev-CCC columns shown
        driver.get(base + runs_view_path(exp_id))
        body = wait_for("the runs table", [*RUNS, "Training runs", "Sort: devel_DE_HU_mean"], "mlflow_runs_table")
        assert "emofusion-ui" in body  # the experiment's own page, not the list
        headers = " ".join(h.text for h in driver.find_elements(By.CSS_SELECTOR, "[role=columnheader]"))
        assert "Metrics" in body and "devel_DE_HU" in headers, headers
        # rows in the view's order: best mean dev CCC first, training and fusion runs in one column
        order = [n for n in body.split("\n") if n in RUNS]
        assert order == sorted(RUNS, key=lambda n: -RUNS[n]["mean"]), order
        assert VIEW_METRICS[0] == "devel_DE_HU_mean"
        # 2. a training run's charts: the four dev-CCC curves come first
        driver.get(f"{base}/#/experiments/{exp_id}/runs/{fau}/model-metrics")
        body = wait_for("the run's charts", ["Model metrics", "dev_ccc_mean", "Step"], "mlflow_run_charts")
        charts = [line for line in body.split("\n") if line.startswith(("dev_ccc_", "devel_", "test_", "train_"))]
        assert charts[:4] == ["dev_ccc_arousal", "dev_ccc_liking", "dev_ccc_mean", "dev_ccc_valence"], charts
        keep = os.environ.get("EMOFUSION_UI_SCREENSHOTS")
        if keep:
            for name, shot in shots.items():
                _shrink_png(shot, Path(keep) / f"{name}.png")
    finally:
        if driver is not None:
            driver.quit()
        _stop(proc)
    assert proc.poll() is not None, "the mlflow ui server is still running"
