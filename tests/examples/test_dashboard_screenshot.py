"""One screenshot of the running dashboard, taken by headless Chromium (Debian's ``chromium``).

``streamlit run`` serves the app on 127.0.0.1; Chromium runs with the flags that keep it off the
network (no component updates, sync, QUIC or background requests) and writes
``out/dashboard.png`` at the repository root, whose path is printed.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
APP = REPO / "examples" / "dashboard" / "app.py"
OUT = REPO / "out" / "dashboard.png"
#: Text that is only on the page once the whole script ran (its last section).
DONE_MARKER = "MAE by weekday"

pytestmark = [pytest.mark.examples, pytest.mark.slow, pytest.mark.server]


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def dashboard_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = _free_port()
    home = tmp_path_factory.mktemp("streamlit-home")
    env = {
        **os.environ,
        "HOME": str(home),  # no ~/.streamlit from the machine
        "INFOTRAFIC_DASHBOARD_WEEKS": "2",
        "INFOTRAFIC_DASHBOARD_PARAMS": '{"gbm": {"max_iter": 80, "n_jobs": 1}}',  # faster
        "PYTHONWARNINGS": "ignore",
    }
    env.pop("INFOTRAFIC_DATA_DIR", None)
    log = (home / "streamlit.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(APP),
         "--server.headless", "true", "--browser.gatherUsageStats", "false",
         "--server.address", "127.0.0.1", "--server.port", str(port),
         "--server.fileWatcherType", "none", "--global.developmentMode", "false",
         "--client.toolbarMode", "viewer"],
        cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                log.flush()
                raise AssertionError(
                    "streamlit did not start:\n" + (home / "streamlit.log").read_text()[-3000:]
                )
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def _chromium_args(chromium: str, profile: Path) -> list[str]:
    return [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--disable-default-apps", "--disable-extensions",
        "--metrics-recording-only", "--no-default-browser-check", "--mute-audio",
        "--disable-features=Translate,OptimizationHints,MediaRouter",
        f"--user-data-dir={profile}", "--window-size=1400,1000", "--hide-scrollbars",
    ]  # fmt: skip


def test_dashboard_screenshot(dashboard_url: str, tmp_path: Path) -> None:
    chromium = _chromium()
    if chromium is None:
        pytest.skip(
            "chromium not installed (apt-get install -y chromium; see docker/ci_prereqs.sh)"
        )
    base = _chromium_args(chromium, tmp_path / "profile")
    # The first page view runs the script (backtest, model fit): load the DOM until the last
    # section is there, so that the screenshot shows the finished page and not a spinner.
    dom = ""
    deadline = time.monotonic() + 300
    while DONE_MARKER not in dom and time.monotonic() < deadline:
        dom = subprocess.run(
            [*base, "--virtual-time-budget=30000", "--dump-dom", dashboard_url],
            capture_output=True, text=True, timeout=180, check=False,
        ).stdout  # fmt: skip
    assert DONE_MARKER in dom, "the dashboard never finished rendering:\n" + dom[-2000:]
    assert "Paris road traffic, 1 to 24 hours ahead" in dom
    assert "veh/h" in dom
    assert "forecast state" in dom  # the map's legend: arcs coloured by their forecast state
    assert "80 and 95 % bands" in dom

    # A page view is a new session that reruns the script (fast now, from the caches); the
    # virtual time budget does not wait for the server, so retry until the page is drawn.
    OUT.parent.mkdir(parents=True, exist_ok=True)
    problem = "no screenshot"
    for _ in range(6):
        OUT.unlink(missing_ok=True)
        subprocess.run(
            [*base, "--virtual-time-budget=60000", f"--screenshot={OUT}", dashboard_url],
            capture_output=True, timeout=180, check=False,
        )  # fmt: skip
        problem = _blank(OUT)
        if not problem:
            break
    print(f"\ndashboard screenshot: {OUT}")
    assert not problem, problem


def _blank(path: Path) -> str:
    """Why the screenshot does not show a rendered page ("" when it does)."""
    from PIL import Image, ImageStat

    if not path.exists() or path.stat().st_size < 50_000:
        return f"{path} missing or too small to hold the rendered page"
    with Image.open(path) as img:
        if img.size != (1400, 1000):
            return f"unexpected size {img.size}"
        rgb = img.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 20)
        if colours is None or len(colours) < 500:
            return "screenshot looks blank (few colours: a loading skeleton?)"
        if max(ImageStat.Stat(rgb).stddev) < 20:
            return "screenshot has no contrast"
    return ""
