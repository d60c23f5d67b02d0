"""The API surface changes only on purpose: the OpenAPI document equals the reviewed snapshot."""

from __future__ import annotations

import json

from api.openapi_snapshot import SNAPSHOT, current_openapi, render


def test_openapi_matches_the_reviewed_snapshot() -> None:
    now = current_openapi()
    reviewed = json.loads(SNAPSHOT.read_text())
    if now != reviewed:
        added = sorted(set(now.get("paths", {})) - set(reviewed.get("paths", {})))
        removed = sorted(set(reviewed.get("paths", {})) - set(now.get("paths", {})))
        raise AssertionError(
            f"the OpenAPI document changed (paths added {added}, removed {removed}, or a schema changed); review "
            "it, then rewrite the snapshot with `.venv/bin/python tests/api/openapi_snapshot.py`"
        )
    assert render(now) == SNAPSHOT.read_text()  # the file is in its canonical form, so diffs stay reviewable


def test_every_operation_but_the_probes_requires_a_key() -> None:
    document = json.loads(SNAPSHOT.read_text())
    for path, operations in document["paths"].items():
        for method, op in operations.items():
            secured = bool(op.get("security"))
            assert secured == (path not in ("/livez", "/readyz")), (method, path)
