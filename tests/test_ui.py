"""The MLflow UI, for real, opened as a new user would: `mlflow ui` on a free loopback port over a
tiny sqlite store initialised the workflow's way (runs named like the DAG's), headless Chromium
(Debian's chromium + chromium-driver, Selenium from PyPI) with a fresh profile; screenshots; the
server stopped by its PID.

Run with ``pytest -m ui`` (needs ``apt-get install -y chromium chromium-driver`` and selenium). From
the experiments list it clicks the `emofusion` link (MLflow 3.17 opens its GenAI overview; after the
sidebar's *Model training* switch, the runs table), closes the Assistant pane MLflow opens on a first
visit, picks the saved view from *Views* (the dev-CCC columns mean first, kind, protocol and fitted_on
on screen, best dev CCC first), opens the link the end-of-run summary prints, and a training run's
charts (the curves' section first).

``EMOFUSION_UI_RESULTS=<results folder>`` runs it on a copy of that folder's ``mlflow.db`` (e.g. a
default run's; the copy gets this code's experiment tags, as the run's next ``init_tracking`` would
give them) instead of the tiny store; ``EMOFUSION_UI_SCREENSHOTS=<folder>`` keeps small copies of the
runs-view and charts screenshots there (``docs`` refreshes the docs' screenshots).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from emofusion.fusion.mlflow_run import FITTED_ON
from emofusion.tracking import CURVE_PREFIX, score_metric
from helpers import free_port, stop_server, wait_http

pytestmark = pytest.mark.ui

#: run names as the DAG, the ablation and the search write them (docs/contracts.md)
RUNS = {
    "fau_func": {"kind": "unimodal", "mean": 0.41},
    "egemaps_func": {"kind": "unimodal", "mean": 0.33},
    "boaw_egemaps+fau_func": {"kind": "bimodal", "mean": 0.47},
    "ablation/mtl2": {"kind": "ablation", "mean": 0.40},
    "search/0": {"kind": "search", "mean": 0.38},
    "fusion/grouped-cv/stage1": {"kind": "fusion", "mean": 0.52, "protocol": "grouped-cv"},
    "fusion/in-sample/stage1": {"kind": "fusion", "mean": 0.61, "protocol": "in-sample"},
}
EXPERIMENT = "emofusion"
MEAN = score_metric("devel", "mean")  # the view's sort column
RESULTS_ENV = "EMOFUSION_UI_RESULTS"


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


def _make_store(tmp_path: Path) -> tuple[str, str]:
    """A sqlite store initialised the DAG's way, with a few finished runs; (uri, experiment id)."""
    from emofusion.tracking import init_tracking
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'results' / 'mlflow.db'}"
    exp_id = init_tracking(uri, EXPERIMENT, None, tmp_path / "results" / "tracking.json")
    client = MlflowClient(tracking_uri=uri)
    for name, info in RUNS.items():
        tags = {"kind": info["kind"], "feature_sets": name.split("/")[0]}
        if "protocol" in info:  # as log_stage_run tags a stage
            tags.update(protocol=info["protocol"], fitted_on=FITTED_ON[info["protocol"]])
        run = client.create_run(exp_id, run_name=name, tags=tags)
        rid = run.info.run_id
        if info["kind"] == "fusion":
            metrics = {score_metric("devel", t): info["mean"] for t in ("arousal", "valence", "liking", "mean")}
        else:
            for epoch in range(1, 6):  # curves per epoch, as train_run logs them
                client.log_metric(rid, f"{CURVE_PREFIX}train_loss", 2.0 - info["mean"] * epoch / 5, step=epoch)
                for t in ("arousal", "valence", "liking", "mean"):
                    client.log_metric(rid, f"{CURVE_PREFIX}dev_ccc_{t}", info["mean"] * epoch / 5, step=epoch)
            metrics = {score_metric(split, t): info["mean"] for split in ("devel", "test")
                       for t in ("arousal", "valence", "liking", "mean")}
        for key, val in metrics.items():  # final scores: one point each, named as the fusion names them
            client.log_metric(rid, key, val)
        client.log_param(rid, "loss_mode", "mtl2")
        client.set_terminated(rid, "FINISHED")
    return uri, exp_id


def _copy_store(results: Path, tmp_path: Path) -> tuple[str, str]:
    """A copy of a finished run's store (its db only: the views need no artifact), with this code's
    experiment tags (the saved view), as the run's next init_tracking sets them; (uri, experiment id)."""
    from emofusion.tracking import init_tracking

    db = results / "mlflow.db"
    if not db.is_file():
        pytest.fail(f"{RESULTS_ENV}={results}: no mlflow.db there")
    (tmp_path / "results").mkdir()
    shutil.copy2(db, tmp_path / "results" / "mlflow.db")
    uri = f"sqlite:///{tmp_path / 'results' / 'mlflow.db'}"
    return uri, init_tracking(uri, EXPERIMENT, None, tmp_path / "results" / "tracking.json")


def _shrink_png(src: Path, dst: Path) -> None:
    """A small copy of a screenshot for docs/: half size, 64-colour palette."""
    from PIL import Image

    dst.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(src) as im:
        im = im.convert("RGB")
        im = im.resize((im.width * 3 // 4, im.height * 3 // 4), Image.LANCZOS)
        im.quantize(colors=64).save(dst, optimize=True)


def _expected_order(client, exp_id: str) -> list[str]:
    """Run names by mean dev CCC, best first, as the store holds them (runs without it last)."""
    runs = client.search_runs([exp_id], order_by=[f"metrics.`{MEAN}` DESC"], max_results=1000)
    return [r.info.run_name for r in runs if MEAN in r.data.metrics]


def test_a_new_user_opens_the_runs_view_from_the_experiments_list(tmp_path):
    chromium, driver_path = _require_browser()
    from emofusion.formats import read_tracking
    from emofusion.results.summary import runs_view_url
    from emofusion.tracking import VIEW_METRICS, VIEW_NAME, VIEW_TAGS, ui_command
    from mlflow.tracking import MlflowClient
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    results = os.environ.get(RESULTS_ENV)
    uri, exp_id = _copy_store(Path(results), tmp_path) if results else _make_store(tmp_path)
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment(exp_id)
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    assert [e.name for e in client.search_experiments()] == [EXPERIMENT]  # no empty "Default"
    order = _expected_order(client, exp_id)
    names = set(order)
    if not results:
        assert order == sorted(RUNS, key=lambda n: -RUNS[n]["mean"])
    train = client.search_runs([exp_id], filter_string="tags.kind = 'unimodal'",
                               order_by=[f"metrics.`{MEAN}` DESC"], max_results=1)[0]
    port = free_port()
    log = tmp_path / "mlflow_ui.log"
    mlflow_bin = Path(sys.executable).with_name("mlflow")
    # the command the end-of-run summary prints, on this store and port
    cmd = ui_command(uri, port=port).split()
    cmd[0] = str(mlflow_bin) if mlflow_bin.exists() else "mlflow"
    with open(log, "w") as fh:
        proc = subprocess.Popen([*cmd, "--workers", "1"], stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True, cwd=tmp_path)
    driver = None
    shots = {}
    try:
        base = f"http://127.0.0.1:{port}"
        wait_http(f"{base}/health", proc, log)
        opts = webdriver.ChromeOptions()
        opts.binary_location = chromium
        for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--no-first-run", "--window-size=1920,1000", f"--user-data-dir={tmp_path / 'chromium'}"):
            opts.add_argument(arg)
        driver = webdriver.Chrome(service=Service(executable_path=driver_path,
                                                  log_output=str(tmp_path / "chromedriver.log")), options=opts)
        driver.set_page_load_timeout(60)

        def body() -> str:
            return driver.find_element(By.TAG_NAME, "body").text

        def until(what: str, check, name: str, timeout: float = 90):
            """Wait for check(driver) to be truthy; on timeout, fail with the page text and a screenshot."""
            try:
                return WebDriverWait(driver, timeout, poll_frequency=1).until(check)
            except Exception:
                driver.save_screenshot(str(tmp_path / f"{name}_timeout.png"))
                raise AssertionError(f"{what} not seen within {timeout:.0f} s at {driver.current_url}; headers on "
                                     f"screen {on_screen_headers()}, runs {visible_run_order()}; page text:\n"
                                     f"{body()[:1500]}\nscreenshot: {tmp_path / f'{name}_timeout.png'}") from None

        def shot(name: str) -> None:
            time.sleep(1)  # let the last cells paint
            path = tmp_path / f"{name}.png"
            assert driver.save_screenshot(str(path))
            assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 10_000
            shots[name] = path

        def experiment_link():
            links = [a for a in driver.find_elements(By.TAG_NAME, "a") if a.text.strip() == EXPERIMENT]
            return links[0] if links else False

        def on_screen_headers() -> list[str]:
            """Column headers whose cell lies inside the runs grid's visible width."""
            return driver.execute_script("""
                const grid = document.querySelector('.ag-center-cols-viewport, .ag-body-viewport, [role=grid]');
                const right = grid ? grid.getBoundingClientRect().right : window.innerWidth;
                const seen = [];
                for (const h of document.querySelectorAll('[role=columnheader]')) {
                    const text = h.innerText.trim();
                    if (!text) continue;
                    const walk = document.createTreeWalker(h, NodeFilter.SHOW_TEXT,
                        {acceptNode: n => n.textContent.trim() ? NodeFilter.FILTER_ACCEPT : NodeFilter.FILTER_SKIP});
                    const first = walk.nextNode();
                    if (!first) continue;
                    const range = document.createRange();
                    range.selectNodeContents(first);
                    const r = range.getBoundingClientRect();  // the label's own text, not the cell's icons
                    if (r.width > 0 && r.left >= 0 && r.right <= right + 1) seen.push(text);
                }
                return seen;""")

        def visible_run_order() -> list[str]:
            return [line for line in body().split("\n") if line in names]

        # 1. a fresh browser, the experiments list, the experiment's link: MLflow 3.17 ignores the
        #    experiment's kind tag and opens its GenAI overview (docs/mlflow.md says so)
        driver.get(base + "/")
        until("the experiments list with the experiment's link", lambda d: experiment_link(), "list")
        experiment_link().click()
        until("the experiment's page", lambda d: f"/experiments/{exp_id}/" in d.current_url, "plain_click")
        assert "/overview" in driver.current_url and "workflowType=genai" in driver.current_url, driver.current_url
        # 2. as docs/mlflow.md says: the sidebar's "Model training" switch (the browser keeps it), then
        #    the link opens the runs table
        driver.get(base + "/")
        until("the experiments list", lambda d: experiment_link(), "list2")
        driver.find_element(By.XPATH, "//*[normalize-space(text())='Model training']").click()
        experiment_link().click()
        until("the runs table", lambda d: f"/experiments/{exp_id}/runs" in d.current_url
              and "matching runs" in body(), "runs_table")
        assert "workflowType=machine_learning" in driver.current_url, driver.current_url
        # MLflow 3.17 opens its Assistant pane (a third of the width) on a browser's first visit to a
        # local server; a new user closes it (the browser keeps it closed), as docs/mlflow.md says
        close = driver.find_elements(By.CSS_SELECTOR, "button[data-component-id='mlflow.assistant.chat_panel.close']")
        if close:
            close[0].click()
            until("the Assistant pane closed", lambda d: not d.find_elements(
                By.CSS_SELECTOR, "button[data-component-id='mlflow.assistant.chat_panel.close']"), "assistant")
        # 3. the saved view from the Views menu: best dev CCC first, kind, protocol and dev-CCC columns on screen
        driver.find_element(By.XPATH, "//button[contains(normalize-space(.), 'Views')]").click()
        until(f"the saved view {VIEW_NAME!r} in the Views menu",
              lambda d: d.find_elements(By.XPATH, f"//*[normalize-space(text())='{VIEW_NAME}']"), "views_menu")
        driver.find_elements(By.XPATH, f"//*[normalize-space(text())='{VIEW_NAME}']")[-1].click()
        want = [*[m for m in VIEW_METRICS if m.startswith("dev/")], "kind", "protocol", "fitted_on"]
        top = order[:min(5, len(order))]

        def columns_shown(d):
            return all(w in on_screen_headers() for w in want) and f"Sort: {MEAN}" in body()

        def view_shown(d):
            return columns_shown(d) and visible_run_order()[:len(top)] == top

        until(f"the saved view's columns {want} on screen and its sort", columns_shown, "saved_view")
        # (picked from the menu, MLflow 3.17 sets the columns and the sort but at times leaves the rows
        # it had in their old order; the view's own link, step 4, lists them best first)
        assert VIEW_TAGS == ["kind", "protocol", "fitted_on"]
        # the metric columns in the order asked, mean first, each header whole
        shown = list(dict.fromkeys(h for h in on_screen_headers() if h in VIEW_METRICS))
        assert shown == [m for m in VIEW_METRICS if m in shown], shown
        # 4. the link the end-of-run summary prints opens the same view
        driver.get(runs_view_url(read_tracking(tmp_path / "results" / "tracking.json"), base))
        until(f"the summary's link to the saved view, {top} first", view_shown, "summary_link")
        shot("mlflow_runs_table")
        # 5. a training run's charts: the four dev-CCC curves come first
        driver.get(f"{base}/#/experiments/{exp_id}/runs/{train.info.run_id}/model-metrics")
        until("the run's charts", lambda d: all(w in body() for w in ("Model metrics", "dev_ccc_mean", "Step")),
              "run_charts")
        shot("mlflow_run_charts")
        # the curves' section first (sections in name order), the five curves in it
        lines = body().split("\n")
        counts = [i for i, line in enumerate(lines) if i and re.fullmatch(r"\(\d+\)", line)]  # "curves", "(5)"
        sections = [f"{lines[i - 1]} {lines[i]}" for i in counts]
        assert sections and sections[0] == CURVE_PREFIX.rstrip("/") + " (5)", sections
        first = counts[0]
        charts = [line for line in lines[first + 1:] if line.startswith(("dev_ccc_", "train_"))][:5]
        assert charts == ["dev_ccc_arousal", "dev_ccc_liking", "dev_ccc_mean", "dev_ccc_valence", "train_loss"], charts
        keep = os.environ.get("EMOFUSION_UI_SCREENSHOTS")
        if keep:
            for name, path in shots.items():
                _shrink_png(path, Path(keep) / f"{name}.png")
    finally:
        if driver is not None:
            driver.quit()
        stop_server(proc)
    assert proc.poll() is not None, "the mlflow ui server is still running"
