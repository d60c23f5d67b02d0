"""The leader's dashboard in the workspace: a manager sees the report `claimsight report` wrote (figures as
images from protected routes, CSVs as downloads), other roles are refused, nothing outside the report's
manifest is served, and without a report the page says how to build one."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard_sample import write_sample_report
from fastapi.testclient import TestClient
from workspace_sample import sample_options

from serving.api import ApiConfig, ModelRegistry, create_app
from serving.workspace.web import MemoryBackend

from .conftest import sign_in


@pytest.fixture
def report_dir(tmp_path: Path) -> Path:
    return write_sample_report(tmp_path / "report")


def client_for(backend: MemoryBackend, report_dir: Path | None) -> TestClient:
    options = dataclasses.replace(sample_options(backend), report_dir=report_dir)
    app = create_app(config=ApiConfig(), models=ModelRegistry([]), workspace=options)
    return TestClient(app, base_url="https://testserver")


@pytest.fixture
def manager(backend: MemoryBackend, report_dir: Path) -> Iterator[TestClient]:
    with client_for(backend, report_dir) as client:
        sign_in(client, "lee")
        yield client


def test_a_manager_sees_the_figures_and_downloads(manager: TestClient) -> None:
    page = manager.get("/app/dashboard")
    assert page.status_code == 200
    assert 'aria-current="page">Dashboard' in page.text
    figures = re.findall(r'<img class="dash-figure" src="([^"]+)"', page.text)
    assert figures == [
        "/app/dashboard/figures/denial-rate-by-month.svg",
        "/app/dashboard/figures/open-dollars-by-payer.svg",
    ]
    for src in figures:
        svg = manager.get(src)
        assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
        assert svg.text.lstrip().startswith("<?xml") and "<svg" in svg.text
    csvs = re.findall(r'href="(/app/dashboard/data/[^"]+)"', page.text)
    assert "/app/dashboard/data/kpi-table.csv" in csvs
    download = manager.get("/app/dashboard/data/denial-rate-by-month.csv")
    assert download.status_code == 200 and download.text.startswith("month,denial_rate,denial_rate_dollars")
    assert download.headers["content-type"].startswith("text/csv")
    assert "attachment" in download.headers["content-disposition"]
    assert "features.prevention" in page.text  # the prevention slot says it is coming
    assert "claimsight train" in page.text  # model health says how to get it


def test_the_page_answers_fast(manager: TestClient) -> None:
    manager.get("/app/dashboard")
    timings = []
    for _ in range(5):
        t = time.perf_counter()
        assert manager.get("/app/dashboard").status_code == 200
        timings.append(time.perf_counter() - t)
    assert min(timings) < 0.5


@pytest.mark.parametrize(
    "path",
    ["/app/dashboard/figures/nothing.svg", "/app/dashboard/data/report.json", "/app/dashboard/figures/..%2Freport.json",
     "/app/dashboard/other/denial-rate-by-month.svg", "/app/dashboard/figures/denial-rate-by-month.csv"],
)  # fmt: skip
def test_only_the_reports_files_are_served(manager: TestClient, path: str) -> None:
    assert manager.get(path).status_code == 404


@pytest.mark.parametrize("username", ["ana", "val", "ada"])
def test_other_roles_are_refused(backend: MemoryBackend, report_dir: Path, username: str) -> None:
    with client_for(backend, report_dir) as client:
        form = client.get("/app/login").text
        token = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)  # type: ignore[union-attr]
        client.post(
            "/app/login", data={"csrf_token": token, "username": username, "password": "correct-horse-battery-9"}
        )
        for path in ("/app/dashboard", "/app/dashboard/figures/denial-rate-by-month.svg"):
            response = client.get(path)
            assert response.status_code == 403, path
            assert "cannot see the leader" in response.text
        assert ">Dashboard</a>" not in client.get("/app/home").text


def test_without_a_report_the_page_says_how_to_build_one(backend: MemoryBackend, tmp_path: Path) -> None:
    for folder, says in ((None, "No report folder is configured"), (tmp_path, "No report has been built")):
        with client_for(backend, folder) as client:
            sign_in(client, "lee")
            page = client.get("/app/dashboard")
            assert page.status_code == 200
            assert says in page.text and "claimsight report --data DIR --out REPORT_DIR" in page.text
            assert client.get("/app/dashboard/figures/denial-rate-by-month.svg").status_code == 404


def test_a_rebuilt_report_is_served_without_a_restart(manager: TestClient, report_dir: Path) -> None:
    assert "2025-01 to 2025-12" in manager.get("/app/dashboard").text
    manifest = report_dir / "report.json"
    manifest.write_text(manifest.read_text().replace("2025-01 to 2025-12", "2025-01 to 2026-01"))
    import os

    os.utime(manifest, (time.time() + 5, time.time() + 5))
    assert "2025-01 to 2026-01" in manager.get("/app/dashboard").text
