"""The dashboard in a real browser: `streamlit run app.py` on localhost, loaded in headless Debian Chromium through
selenium; each view must render its content without an exception box. Screenshots go to a temp folder, or to
docs/dashboard*.png when LAB_UPDATE_SCREENSHOT=1 (the app then shows the committed results/ when it has runs).
Skipped, with the reason, when chromium or chromedriver is absent (.ci/run installs both).
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from browser_util import chromium_or_skip, free_port, headless_chrome, wait_for_server

from lab.config import RunConfig
from lab.runner.train import train

ROOT = Path(__file__).resolve().parents[1]
TINY = RunConfig(model="rcn", width=0.0625, train_n=16, val_n=4, test_n=6, epochs=1, batch_size=8, device="cpu",
                 threads=1, synth_size=64, augment=False)


def _has_runs(folder: Path) -> bool:
    return folder.is_dir() and any((p / "config.json").is_file() for p in folder.iterdir() if p.is_dir())


@pytest.fixture(scope="module")
def chromium() -> str:
    """The Chromium binary; skips the module (before any set-up work) when it or chromedriver is missing."""
    return chromium_or_skip()


@pytest.fixture(scope="module")
def results(chromium, tmp_path_factory) -> Path:
    """Two tiny runs made here; when updating the README's screenshots, the committed reference runs instead."""
    if os.environ.get("LAB_UPDATE_SCREENSHOT") == "1" and _has_runs(ROOT / "results"):
        return ROOT / "results"
    root = tmp_path_factory.mktemp("browser_results")
    for name, loss, model in (("laplace", "laplace_kl", "rcn"), ("star", "star", "rcn")):
        train(TINY.replace(name=name, loss=loss, model=model), root, progress=False, log=lambda _: None)
    (root / "broken").mkdir()  # a run folder the app must report while everything else works
    shutil.copy(root / "star" / "config.json", root / "broken" / "config.json")
    return root


@pytest.fixture(scope="module")
def server(results):
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(ROOT / "app.py"), "--server.headless", "true",
         "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
         "--", "--results", str(results)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(url + "/_stcore/health", proc, "streamlit", 60.0)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def browser(server, chromium):
    with headless_chrome(chromium) as driver:
        yield driver


def _screenshot_path(name: str, tmp_path: Path) -> Path:
    if os.environ.get("LAB_UPDATE_SCREENSHOT") == "1":
        (ROOT / "docs").mkdir(exist_ok=True)
        return ROOT / "docs" / name
    return tmp_path / name


def _open(browser, url: str, must_contain: str, timeout: float = 90.0) -> None:
    """Load url and wait until the app has rendered `must_contain` and finished running."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(url)
    wait = WebDriverWait(browser, timeout)
    wait.until(ec.presence_of_element_located((By.XPATH, "//h1[contains(., 'Landmark loss lab')]")))
    wait.until(ec.presence_of_element_located((By.XPATH, f"//*[contains(text(), {must_contain!r})]")))
    wait.until(lambda d: not d.find_elements(By.CSS_SELECTOR, "[data-testid='stStatusWidget']"))
    time.sleep(1.5)  # plotly draws after the script finishes


@pytest.mark.parametrize("view, text, shot", [
    ("Compare", "Which method is best", "dashboard.png"),
    ("Inspect", "Per-landmark errors", "dashboard_inspect.png"),
])
def test_view_renders_without_exception(browser, server, results, tmp_path, view, text, shot):
    from selenium.webdriver.common.by import By

    _open(browser, f"{server}/?view={view}", text)
    assert not browser.find_elements(By.CSS_SELECTOR, "[data-testid='stException']"), "exception box on the page"
    if (results / "broken").is_dir():
        alerts = " ".join(e.text for e in browser.find_elements(By.CSS_SELECTOR, "[data-testid='stAlert']"))
        assert "broken is skipped" in alerts and "no metrics.json" in alerts
    assert browser.find_elements(By.CSS_SELECTOR, ".js-plotly-plot"), "no plotly figure rendered"
    path = _screenshot_path(shot, tmp_path)
    browser.save_screenshot(str(path))
    assert path.stat().st_size > 10_000
