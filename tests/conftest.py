from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _wide_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rich wraps tables to the terminal; tests read whole titles, so give them room."""
    monkeypatch.setenv("COLUMNS", "200")
