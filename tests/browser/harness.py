"""The browser harness: Debian's headless Chromium driven through its ChromeDriver by Selenium, against the
real app served by uvicorn on a free 127.0.0.1 port.

Why Selenium and not Playwright: Debian ships `chromium` and `chromium-driver` as one version pair
(/usr/bin/chromium, /usr/bin/chromedriver), so the driver always speaks the browser's protocol version;
Selenium is a pure-Python package that talks to that driver and needs nothing else. Playwright's Python
package carries its own Node.js driver (tens of MB) and is tested against its own Chromium builds, which this
network cannot download; it would drive Debian's Chromium only through `executable_path`, a pairing it does not
promise to keep working across Chromium updates. Selenium Manager (which would try to download a driver) is
never consulted: the driver's path is always given.

Without Chromium the tests skip and say how to get it; with CI=true they fail instead, so CI cannot pass
without having run them.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("CLAIMSIGHT_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("CLAIMSIGHT_CHROMEDRIVER", "/usr/bin/chromedriver")
INSTALL_HINT = "apt-get install chromium chromium-driver"
# This machine's flags: no sandbox as root, no GPU, and nothing that calls out (the network is closed; without
# the background-networking flags Chromium keeps trying Google's hosts).
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1366,900",
)
SERVER_START_SECONDS = 20.0
WAIT_SECONDS = 10.0  # the longest a test waits for a page or an element


def ci_requires_browser(environ: dict[str, str] | None = None) -> bool:
    """CI sets CI=true: there a missing browser is a failure, not a skip."""
    value = (os.environ if environ is None else environ).get("CI", "")
    return value.strip().lower() in {"1", "true", "yes"}


def missing_browser(chromium: str | None = None, chromedriver: str | None = None) -> str | None:
    """Why the browser tests cannot run here, or None when they can."""
    paths = (chromium or CHROMIUM, chromedriver or CHROMEDRIVER)
    problems = [f"{path} not found" for path in paths if not shutil.which(path)]
    if not _selenium_importable():
        problems.append("the selenium package is not installed (pip install -e '.[dev]')")
    if not problems:
        return None
    return (
        "browser tests need Debian's headless Chromium and its driver: "
        + "; ".join(problems)
        + f". Install them with `{INSTALL_HINT}` (as root)."
    )


def require_browser(*, module_level: bool = False) -> None:
    """Skip when the browser tests cannot run here, or fail under CI=true.

    `module_level=True` is for a test module's top, before it imports selenium: without CI it skips the
    whole module; with CI it lets collection go on (each test then fails in the `browser_available`
    fixture, and the rest of the suite still runs), unless selenium itself is missing, which the module's
    imports could not survive."""
    import pytest

    problem = missing_browser()
    if problem is None:
        return
    if not ci_requires_browser():
        pytest.skip(problem, allow_module_level=module_level)
    if module_level and _selenium_importable():
        return
    pytest.fail(f"{problem} CI=true: the browser tests must run in CI.", pytrace=False)


def _selenium_importable() -> bool:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return False
    return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveServer:
    url: str  # http://127.0.0.1:PORT
    app: Any


@contextmanager
def serve(app: Any) -> Iterator[LiveServer]:
    """Run `app` with uvicorn on a free 127.0.0.1 port in a background thread until the block ends."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))  # bound here, so no other process can take the port before uvicorn listens
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="uvicorn-browser", daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_until_answering(url + "/livez", server, thread)
        yield LiveServer(url=url, app=app)
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _wait_until_answering(url: str, server: Any, thread: threading.Thread) -> None:
    deadline = time.monotonic() + SERVER_START_SECONDS
    while time.monotonic() < deadline:
        if not thread.is_alive():
            raise RuntimeError("the test server stopped while starting")
        if server.started:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
        time.sleep(0.05)
    raise RuntimeError(f"the test server did not answer {url} within {SERVER_START_SECONDS:.0f} s")


def new_driver(profile_root: Path | None = None) -> Any:
    """A headless Chromium with a fresh, empty profile (its --user-data-dir is a new temporary folder)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=profile_root)
    options.add_argument(f"--user-data-dir={profile}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})  # console messages, CSP violations among them
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    driver.claimsight_profile = profile  # removed by quit_driver
    return driver


def quit_driver(driver: Any) -> None:
    profile = getattr(driver, "claimsight_profile", None)
    try:
        driver.quit()
    finally:
        if profile:
            shutil.rmtree(profile, ignore_errors=True)


def console_problems(driver: Any) -> list[str]:
    """Console errors since the last call (the log is drained): a CSP violation or a script error shows here."""
    return [str(entry.get("message")) for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]


def screenshot(driver: Any, path: Path) -> Path:
    """Save a PNG of the viewport to `path` and check it shows a rendered page: a readable PNG of the window's
    size with more than a handful of colours (a blank or single-colour page fails) and a page with text."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    png = driver.get_screenshot_as_png()
    path.write_bytes(png)
    assert png[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name}: not a PNG"
    with Image.open(io.BytesIO(png)) as image:
        width, height = image.size
        assert width >= 200 and height >= 200, f"{path.name}: {width}x{height} is too small"
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
        distinct = len(colours) if colours is not None else 1 << 16
        assert distinct > 8, f"{path.name}: only {distinct} colours, the page did not render"
    body_text = driver.execute_script("return document.body ? document.body.innerText : ''")
    assert body_text.strip(), f"{path.name}: the page has no text"
    return path
