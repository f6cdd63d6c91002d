"""What the two browser tests share: finding Debian's Chromium, a free localhost port, and a headless Chrome
session through selenium (tests/test_browser.py drives the dashboard, tests/test_jupyterlab.py a notebook)."""
from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

CHROMEDRIVER = "/usr/bin/chromedriver"
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run", "--window-size=1400,1700")


def chromium_or_skip() -> str:
    """The Chromium binary; skips the calling module (before any set-up work) when it or chromedriver is missing."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None or not Path(CHROMEDRIVER).is_file():
        pytest.skip("chromium or chromedriver not installed (apt-get install chromium chromium-driver; .ci/run does)")
    return binary


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_server(url: str, proc: subprocess.Popen, name: str, timeout: float) -> None:
    """Poll `url` until it answers 200; raise with the server's output if `proc` (called `name`) exits first, or
    TimeoutError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{name} exited with code {proc.returncode}: {proc.stdout.read()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{name} did not answer at {url} within {timeout} s")


@contextlib.contextmanager
def headless_chrome(binary: str) -> Iterator:
    """A selenium Chrome driver on `binary` with CHROME_FLAGS, quit on exit."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = binary
    for flag in CHROME_FLAGS:
        opts.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    try:
        yield driver
    finally:
        driver.quit()
