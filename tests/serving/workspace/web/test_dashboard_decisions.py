"""The dashboard's prevention decisions: a manager accepts or rejects a learned edit and marks a pattern's fix
done or undoes it on the page; the files in the data directory are written exactly as the command line writes
them (with who decided); other roles are refused; a bad date is refused naming the field, nothing written; and
without a data directory the forms are off and the page says how to turn them on."""

from __future__ import annotations

import dataclasses
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from dashboard_sample import EDIT, EDIT_2, KEY, write_decision_report
from fastapi.testclient import TestClient
from typer.testing import CliRunner
from workspace_sample import TODAY, sample_options

from claimsight.cli import app as cli
from serving.api import ApiConfig, ModelRegistry, create_app
from serving.dashboard import EDITS_FOLDER
from serving.workspace.web import MemoryBackend

from .conftest import sign_in


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    return folder


@pytest.fixture
def report_dir(tmp_path: Path, data_dir: Path) -> Path:
    return write_decision_report(tmp_path / "report", data_dir=data_dir)


def client_for(backend: MemoryBackend, report_dir: Path, data_dir: Path | None) -> TestClient:
    options = dataclasses.replace(sample_options(backend), report_dir=report_dir, data_dir=data_dir)
    app = create_app(config=ApiConfig(), models=ModelRegistry([]), workspace=options)
    return TestClient(app, base_url="https://testserver")


def signed_in(backend: MemoryBackend, report_dir: Path, data_dir: Path | None, who: str) -> tuple[TestClient, str]:
    client = client_for(backend, report_dir, data_dir)
    client.__enter__()
    return client, sign_in(client, who)


@pytest.fixture
def manager(backend: MemoryBackend, report_dir: Path, data_dir: Path) -> Iterator[tuple[TestClient, str]]:
    client, token = signed_in(backend, report_dir, data_dir, "lee")
    yield client, token
    client.__exit__(None, None, None)


def test_a_manager_sees_the_decision_forms(manager: tuple[TestClient, str]) -> None:
    client, _ = manager
    page = client.get("/app/dashboard")
    assert page.status_code == 200
    assert page.text.count('action="/app/dashboard/edits/accept"') == 2
    assert page.text.count('action="/app/dashboard/edits/reject"') == 2
    assert page.text.count('action="/app/dashboard/fixes/done"') == 2
    assert 'id="decisions-on"' in page.text and "decisions-off" not in page.text


def test_accept_writes_what_the_command_line_writes(
    manager: tuple[TestClient, str], report_dir: Path, data_dir: Path, tmp_path: Path
) -> None:
    (data_dir / "payer_rules.yaml").write_text("version: 1\npayers:\n  P0001:\n    timely_filing_days: 90\n")
    copy = tmp_path / "data-cli"
    shutil.copytree(data_dir, copy)
    client, token = manager
    response = client.post("/app/dashboard/edits/accept", data={"csrf_token": token, "edit_id": EDIT,
                           "on": "2024-08-01"}, follow_redirects=False)  # fmt: skip
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/app/dashboard?recorded=accepted#prevention"
    result = CliRunner().invoke(cli, ["edits", "accept", str(report_dir / EDITS_FOLDER / "learned_edits.yaml"),
                                      "--data", str(copy), "--only", EDIT, "--on", "2024-08-01"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert (data_dir / "payer_rules.yaml").read_text() == (copy / "payer_rules.yaml").read_text()
    ours = yaml.safe_load((data_dir / "edit_decisions.yaml").read_text())
    theirs = yaml.safe_load((copy / "edit_decisions.yaml").read_text())
    assert ours["decisions"] == {EDIT: {**theirs["decisions"][EDIT], "by": "lee"}}
    assert theirs["decisions"][EDIT] == {"decision": "accepted", "date": "2024-08-01"}
    page = client.get(response.headers["location"])
    assert "recorded; rebuild the report" in page.text
    assert "accepted 2024-08-01 by lee" in page.text
    assert page.text.count('action="/app/dashboard/edits/accept"') == 1  # the other edit is still open


def test_reject_is_remembered(manager: tuple[TestClient, str], data_dir: Path) -> None:
    client, token = manager
    response = client.post("/app/dashboard/edits/reject", data={"csrf_token": token, "edit_id": EDIT_2},
                           follow_redirects=False)  # fmt: skip
    assert response.status_code == 303
    decisions = yaml.safe_load((data_dir / "edit_decisions.yaml").read_text())["decisions"]
    assert decisions == {EDIT_2: {"decision": "rejected", "date": TODAY.isoformat(), "by": "lee"}}
    assert not (data_dir / "payer_rules.yaml").exists()
    assert f"rejected {TODAY.isoformat()} by lee" in client.get("/app/dashboard").text


def test_mark_done_then_undo(manager: tuple[TestClient, str], data_dir: Path) -> None:
    client, token = manager
    form = {"csrf_token": token, "pattern_key": KEY, "on": "2024-08-01", "note": "front desk checks the PT auth list"}
    response = client.post("/app/dashboard/fixes/done", data=form, follow_redirects=False)
    assert response.status_code == 303, response.text
    fixes = yaml.safe_load((data_dir / "prevention_decisions.yaml").read_text())["fixes"]
    assert fixes == {KEY: {"date": "2024-08-01", "note": "front desk checks the PT auth list", "by": "lee"}}
    page = client.get("/app/dashboard")
    assert "fix done 2024-08-01 by lee: front desk checks the PT auth list" in page.text
    assert page.text.count('action="/app/dashboard/fixes/undo"') == 1
    response = client.post("/app/dashboard/fixes/undo", data={"csrf_token": token, "pattern_key": KEY},
                           follow_redirects=False)  # fmt: skip
    assert response.status_code == 303
    assert yaml.safe_load((data_dir / "prevention_decisions.yaml").read_text())["fixes"] == {}


@pytest.mark.parametrize(
    ("path", "form", "field"),
    [("/app/dashboard/fixes/done", {"pattern_key": KEY, "on": "2024-13-01"}, "Fix done on"),
     ("/app/dashboard/fixes/done", {"pattern_key": KEY, "on": "01/08/2024"}, "Fix done on"),
     ("/app/dashboard/edits/accept", {"edit_id": EDIT, "on": "2024-02-30"}, "Accept from"),
     ("/app/dashboard/edits/accept", {"edit_id": "auth:P0025:99999", "on": "2024-08-01"}, "Edit"),
     ("/app/dashboard/fixes/done", {"pattern_key": "coding:payer=P9:plan=x", "on": "2024-08-01"}, "Pattern"),
     ("/app/dashboard/fixes/undo", {"pattern_key": KEY}, "Pattern")],
)  # fmt: skip
def test_a_bad_entry_is_refused_naming_the_field(
    manager: tuple[TestClient, str], data_dir: Path, path: str, form: dict[str, str], field: str
) -> None:
    client, token = manager
    response = client.post(path, data={"csrf_token": token, **form}, follow_redirects=False)
    assert response.status_code == 422
    error = re.search(r'id="decision-error">([^<]+)<', response.text)
    assert error is not None and error.group(1).startswith(field + ":"), response.text
    assert "Nothing was recorded" in error.group(1)
    assert list(data_dir.iterdir()) == []


@pytest.mark.parametrize("who", ["ana", "val", "ada"])
@pytest.mark.parametrize(
    "path", ["/app/dashboard/edits/accept", "/app/dashboard/edits/reject", "/app/dashboard/fixes/done",
             "/app/dashboard/fixes/undo"],
)  # fmt: skip
def test_other_roles_cannot_decide(
    backend: MemoryBackend, report_dir: Path, data_dir: Path, who: str, path: str
) -> None:
    client, token = signed_in(backend, report_dir, data_dir, who)
    try:
        response = client.post(path, data={"csrf_token": token, "edit_id": EDIT, "pattern_key": KEY,
                                           "on": "2024-08-01"}, follow_redirects=False)  # fmt: skip
    finally:
        client.__exit__(None, None, None)
    assert response.status_code == 403
    assert list(data_dir.iterdir()) == []


def test_a_post_without_the_csrf_token_is_refused(manager: tuple[TestClient, str], data_dir: Path) -> None:
    client, _ = manager
    response = client.post("/app/dashboard/fixes/done", data={"csrf_token": "forged", "pattern_key": KEY,
                           "on": "2024-08-01"}, follow_redirects=False)  # fmt: skip
    assert response.status_code == 403 and "Form rejected" in response.text
    assert list(data_dir.iterdir()) == []


def test_without_a_data_dir_the_forms_are_off(backend: MemoryBackend, report_dir: Path) -> None:
    client, token = signed_in(backend, report_dir, None, "lee")
    try:
        page = client.get("/app/dashboard")
        refused = client.post("/app/dashboard/fixes/done", data={"csrf_token": token, "pattern_key": KEY,
                              "on": "2024-08-01"}, follow_redirects=False)  # fmt: skip
    finally:
        client.__exit__(None, None, None)
    assert page.status_code == 200
    assert "/app/dashboard/edits/accept" not in page.text and "/app/dashboard/fixes/done" not in page.text
    assert 'id="decisions-off"' in page.text and "CLAIMSIGHT_WORKSPACE_DATA_DIR" in page.text
    assert refused.status_code == 409 and "CLAIMSIGHT_WORKSPACE_DATA_DIR" in refused.text
