"""The MLflow UI, for real: a tiny sqlite store with runs named like the DAG's, `mlflow ui` on a
free loopback port, headless Chromium (Debian's chromium + chromium-driver, Selenium from PyPI) on
the experiment's page until the runs table shows the run names; a screenshot; the server stopped
by its PID.

Run with ``pytest -m ui`` (needs ``apt-get install -y chromium chromium-driver`` and selenium).
Set EMOFUSION_UI_SCREENSHOT=<path> to keep a copy of the screenshot (e.g. results/figures/mlflow_ui.png).
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

#: run names as the DAG, the ablation and the search write them (DESIGN.md section 7)
RUNS = {
    "fau_func": {"kind": "unimodal", "mean": 0.41},
    "egemaps_func": {"kind": "unimodal", "mean": 0.33},
    "boaw_egemaps+fau_func": {"kind": "bimodal", "mean": 0.47},
    "ablation/mtl2": {"kind": "ablation", "mean": 0.40},
    "search/0": {"kind": "search", "mean": 0.38},
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
        for epoch in range(1, 4):  # a short dev-CCC curve, as train_run logs per epoch
            client.log_metric(run.info.run_id, "dev_ccc_mean", info["mean"] * epoch / 3, step=epoch)
        client.log_metric(run.info.run_id, "final_devel_DE_HU_mean", info["mean"])
        client.log_param(run.info.run_id, "loss_mode", "mtl2")
        client.set_terminated(run.info.run_id, "FINISHED")
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


def test_mlflow_ui_shows_the_dag_runs(tmp_path):
    chromium, driver_path = _require_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    uri, exp_id = _make_store(tmp_path)
    port = _free_port()
    log = tmp_path / "mlflow_ui.log"
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    cmd = [str(mlflow_bin) if mlflow_bin.exists() else "mlflow", "ui", "--backend-store-uri", uri,
           "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    with open(log, "w") as fh:
        proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True, cwd=tmp_path)
    driver = None
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_http(f"{base}/health", proc, log)
        opts = webdriver.ChromeOptions()
        opts.binary_location = chromium
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", "--window-size=1600,1000", f"--user-data-dir={tmp_path / 'chromium'}"):
            opts.add_argument(arg)
        driver = webdriver.Chrome(service=Service(executable_path=driver_path,
                                                  log_output=str(tmp_path / "chromedriver.log")), options=opts)
        driver.set_page_load_timeout(60)
        driver.get(f"{base}/#/experiments/{exp_id}/runs")

        def rendered(d):
            text = d.find_element(By.TAG_NAME, "body").text
            return all(name in text for name in RUNS)

        try:
            WebDriverWait(driver, 90, poll_frequency=1).until(rendered)
        except Exception:
            driver.save_screenshot(str(tmp_path / "mlflow_ui_timeout.png"))
            body = driver.find_element(By.TAG_NAME, "body").text
            raise AssertionError(f"the runs table did not show {sorted(RUNS)} within 90 s; page text:\n"
                                 f"{body[:2000]}\nscreenshot: {tmp_path / 'mlflow_ui_timeout.png'}") from None
        body = driver.find_element(By.TAG_NAME, "body").text
        assert "emofusion-ui" in body  # the experiment's own page, not the list
        shot = tmp_path / "mlflow_ui.png"
        assert driver.save_screenshot(str(shot))
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
        keep = os.environ.get("EMOFUSION_UI_SCREENSHOT")
        if keep:
            Path(keep).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, keep)
    finally:
        if driver is not None:
            driver.quit()
        _stop(proc)
    assert proc.poll() is not None, "the mlflow ui server is still running"
