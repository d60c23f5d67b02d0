"""`GET /v1/reports/prevention` answers from the folder `claimsight report` wrote: the ranked patterns in their
order, only to a key with the score scope, and a clear 404 when no report has been written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
from api.support import Keys, Service, bearer
from fastapi.testclient import TestClient

from serving.dashboard import Report, prevention_sections, write_report

PATTERNS = pd.DataFrame(
    {
        "rank": [1, 2, 3],
        "pattern": ["Prior authorization denials: payer P7", "Coding denials: 97110", "Missing information: J-codes"],
        "owner_team_label": ["Authorization", "Coding", "Billing"],
        "projected_avoidable_dollars": [90_000.0, 40_000.0, float("nan")],
    }
)


def _report(folder: Path) -> Path:
    sections = prevention_sections(PATTERNS, value="projected_avoidable_dollars", label="pattern")
    write_report(Report(title="t", sections=tuple(sections), facts={"data as of": "2024-12-31"}), folder)
    return folder


def test_the_ranked_patterns_come_from_the_written_report(
    make_service: Callable[..., Service], keys: Keys, tmp_path: Path
) -> None:
    service = make_service(report_dir=_report(tmp_path / "report"))
    with TestClient(service.app) as client:
        answer = client.get("/v1/reports/prevention", params={"top": 2}, headers=bearer(keys.score))
        assert answer.status_code == 200
        body = answer.json()
        assert body["facts"]["data as of"] == "2024-12-31"
        assert [p["rank"] for p in body["patterns"]] == [1, 2]
        assert body["patterns"][0]["pattern"] == "Prior authorization denials: payer P7"
        every = client.get("/v1/reports/prevention", headers=bearer(keys.score)).json()["patterns"]
        assert every[2]["projected_avoidable_dollars"] is None  # a missing value is null, not NaN
        assert client.get("/v1/reports/prevention", headers=bearer(keys.admin)).status_code == 403
        assert client.get("/v1/reports/prevention").status_code == 401
        assert client.get("/v1/reports/prevention", params={"top": 0}, headers=bearer(keys.score)).status_code == 422


def test_without_a_report_the_answer_says_how_to_make_one(
    make_service: Callable[..., Service], keys: Keys, tmp_path: Path
) -> None:
    for folder in (None, tmp_path / "empty"):
        service = make_service(report_dir=folder)
        with TestClient(service.app) as client:
            answer = client.get("/v1/reports/prevention", headers=bearer(keys.score))
        assert answer.status_code == 404 and "claimsight report" in answer.text
