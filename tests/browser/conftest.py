"""Fixtures for the browser tests (harness.py says how they work and why Selenium).

- `driver`: one headless Chromium for the whole session (starting one takes about 1.5 s), its cookies cleared
  before each test so every test starts signed out.
- `second_driver`: another Chromium with its own profile, for a second person at the same time.
- `backend`: a fresh sample workspace (tests/workspace_sample.py) per test, in memory and, as a second run of
  every test, in a SQLite workspace database through `SqlBackend` (the store `claimsight serve` mounts).
- `live`: the real app (`create_app(workspace=...)`) on a free 127.0.0.1 port around `backend`, stopped at the
  test's end.
- `shots`: the folder under the test's tmp_path where its screenshots go.

Every test that uses a browser or the server is marked `slow` (`make test-fast` skips them). Without Chromium
they skip with the command that installs it; with CI=true they fail.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser.harness import LiveServer, new_driver, quit_driver, require_browser, serve
from workspace_sample import sample_backend, sample_options, sample_sql_backend

from serving.api import ApiConfig, ModelRegistry, create_app
from serving.workspace.web import SqlBackend, WorkspaceBackend

BROWSER_FIXTURES = frozenset({"driver", "second_driver", "live"})


@pytest.hookimpl(tryfirst=True)  # before `-m` deselects
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that starts a browser or the server is slow whether or not its module says so."""
    for item in items:
        if BROWSER_FIXTURES.intersection(getattr(item, "fixturenames", ())) and item.get_closest_marker("slow") is None:
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def browser_available() -> None:
    require_browser()


@pytest.fixture(scope="session")
def _session_driver(browser_available: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    driver = new_driver(tmp_path_factory.mktemp("chromium"))
    yield driver
    quit_driver(driver)


@pytest.fixture
def driver(_session_driver: Any) -> Any:
    """The session's Chromium, signed out: every cookie of every site cleared, on a blank page, its console log
    emptied."""
    _session_driver.execute_cdp_cmd("Network.clearBrowserCookies", {})
    _session_driver.get("about:blank")
    _session_driver.get_log("browser")  # drained: an earlier test's console messages are not this test's
    return _session_driver


@pytest.fixture
def second_driver(browser_available: None, tmp_path: Path) -> Iterator[Any]:
    driver = new_driver(tmp_path)
    yield driver
    quit_driver(driver)


@pytest.fixture(params=["memory", "sqlite"])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[WorkspaceBackend]:
    if request.param == "memory":
        yield sample_backend()
        return
    sql = sample_sql_backend(f"sqlite:///{tmp_path / 'workspace.db'}")
    yield sql
    sql.engine.dispose()


@pytest.fixture
def sql_backend(tmp_path: Path) -> Iterator[SqlBackend]:
    """The sample workspace in a SQLite workspace database only."""
    sql = sample_sql_backend(f"sqlite:///{tmp_path / 'workspace.db'}")
    yield sql
    sql.engine.dispose()


@pytest.fixture
def live(backend: WorkspaceBackend, browser_available: None) -> Iterator[LiveServer]:
    """The service with the workspace, over plain http on loopback. Cookies stay `Secure` (the production
    setting): Chromium treats http://127.0.0.1 as a secure context and keeps them."""
    app = create_app(config=ApiConfig(), models=ModelRegistry([]), workspace=sample_options(backend))
    with serve(app) as server:
        yield server


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = tmp_path / "screenshots"
    folder.mkdir()
    return folder
