"""A notebook's slider in a real JupyterLab: `jupyter lab` on localhost serves a copy of notebooks/01_wing.ipynb from a
temporary folder (Jupyter's config, runtime, settings, workspaces and IPython dirs are temporary too, so nothing in
the repository or the home folder is written), headless Chromium runs the cells up to its first `nb.explore` picture,
drags a slider, and the picture must be redrawn in place: one picture before and after, other pixels after.
Skipped, with the reason, when chromium or chromedriver is absent (as tests/test_browser.py).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from browser_util import chromium_or_skip, free_port, headless_chrome, wait_for_server
from lab.notebook.session import HEADLESS_RUNNERS, WIDGETS_ENV

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "01_wing.ipynb"
SETTINGS = {  # user settings: every cell in the DOM, no news or update toasts over the sliders
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
}
PICTURE = ".widget-output img"  # the ipywidgets 8 Output widget
HANDLE = ".widget-slider .noUi-handle"



@pytest.fixture(scope="module")
def chromium() -> str:
    """The Chromium binary; skips the module (before any set-up work) when it or chromedriver is missing."""
    return chromium_or_skip()


def first_explore_cell(path: Path) -> int:
    """Index of the first code cell calling nb.explore; the cells above it must not train."""
    cells = json.loads(path.read_text())["cells"]
    index = next(i for i, c in enumerate(cells) if c["cell_type"] == "code" and "nb.explore(" in "".join(c["source"]))
    assert not any("train_live(" in "".join(c["source"]) for c in cells[:index] if c["cell_type"] == "code")
    return index


def _request(url: str, method: str = "GET"):
    with urllib.request.urlopen(urllib.request.Request(url, method=method), timeout=5) as r:
        return json.loads(r.read() or "null")


def _stop(url: str, proc: subprocess.Popen) -> None:
    """Shut the kernels down through the server, then the server itself."""
    try:
        for kernel in _request(url + "/api/kernels"):
            _request(f"{url}/api/kernels/{kernel['id']}", "DELETE")
    except OSError:
        pass  # the server is gone already; its kernels exit with their parent
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture(scope="module")
def server(chromium, tmp_path_factory):
    home = tmp_path_factory.mktemp("jupyterlab")
    work = home / "notebooks"
    work.mkdir()
    shutil.copy(NOTEBOOK, work / NOTEBOOK.name)
    for name, values in SETTINGS.items():
        (home / "settings" / name).parent.mkdir(parents=True, exist_ok=True)
        (home / "settings" / name).write_text(json.dumps(values))
    port = free_port()
    cmd = [sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
           "--IdentityProvider.token=", "--ServerApp.password=", "--ServerApp.disable_check_xsrf=True",
           "--LabApp.expose_app_in_browser=True", "--ServerApp.terminals_enabled=False", "--allow-root"]
    env = {k: v for k, v in os.environ.items() if k not in ("MPLBACKEND", WIDGETS_ENV)}  # as a person's shell
    env.update(JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_RUNTIME_DIR=str(home / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(home / "settings"), JUPYTERLAB_WORKSPACES_DIR=str(home / "workspaces"),
               IPYTHONDIR=str(home / "ipython"), PYTHONUNBUFFERED="1")
    if any(name in " ".join(cmd) for name in HEADLESS_RUNNERS):  # a runner's name in the venv's path would hide
        env[WIDGETS_ENV] = "1"  # the sliders; the folders above are the kernel's cwd, not on the command line
    proc = subprocess.Popen(cmd, cwd=work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            stdin=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for_server(url + "/api/status", proc, "jupyter lab", 90.0)
        yield url
    finally:
        _stop(url, proc)


@pytest.fixture(scope="module")
def browser(server, chromium):
    with headless_chrome(chromium) as driver:
        yield driver


RUN_UP_TO = """
const [index, done] = [arguments[0], arguments[arguments.length - 1]];
const app = window.jupyterapp;
app.restored.then(async () => {
  const panel = app.shell.currentWidget;
  await panel.context.ready;
  await panel.sessionContext.ready;
  panel.content.activeCellIndex = index;
  await app.commands.execute("notebook:run-all-above");
  await app.commands.execute("notebook:run-cell");
  done("ok");
}).catch(e => done(String(e)));
"""


def test_slider_redraws_the_picture(browser, server):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    index = first_explore_cell(NOTEBOOK)
    browser.set_script_timeout(90)
    browser.get(f"{server}/lab/tree/{NOTEBOOK.name}")
    wait = WebDriverWait(browser, 120)
    wait.until(lambda d: d.execute_script("return !!(window.jupyterapp && window.jupyterapp.shell.currentWidget"
                                          " && window.jupyterapp.shell.currentWidget.sessionContext)"))
    assert browser.execute_async_script(RUN_UP_TO, index) == "ok"
    handle = wait.until(ec.element_to_be_clickable((By.CSS_SELECTOR, HANDLE)),
                        "no slider: did interactive_frontend() take JupyterLab for a headless runner?")
    before = wait.until(ec.presence_of_element_located((By.CSS_SELECTOR, PICTURE))).get_attribute("src")
    readout = browser.find_element(By.CSS_SELECTOR, ".widget-slider .widget-readout").text
    ActionChains(browser).click_and_hold(handle).move_by_offset(60, 0).release().perform()
    WebDriverWait(browser, 60).until(
        lambda d: [e.get_attribute("src") for e in d.find_elements(By.CSS_SELECTOR, PICTURE)] not in ([], [before]),
        "the picture was not redrawn after the slider moved")
    pictures = [e.get_attribute("src") for e in browser.find_elements(By.CSS_SELECTOR, PICTURE)]
    assert len(pictures) == 1 and pictures[0].startswith("data:image/png") and pictures[0] != before
    assert browser.find_element(By.CSS_SELECTOR, ".widget-slider .widget-readout").text != readout
    cell = browser.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell")[index]
    assert len(cell.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output img")) == 1  # drawn once, in place
