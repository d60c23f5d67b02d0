from __future__ import annotations

import pytest
from pydantic import ValidationError

from claimsight.settings import Settings


def test_defaults_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().maturity_days == 180
    monkeypatch.setenv("CLAIMSIGHT_MAX_REJECT_RATE", "0.2")
    assert Settings().max_reject_rate == 0.2


@pytest.mark.parametrize(
    "kwargs",
    [
        {"max_reject_rate": 1.5},
        {"maturity_days": 0},
        {"colour": "blue"},
        {"routine_adjustments": ("XX-45",)},
        {"environment": "staging"},
    ],
)
def test_invalid_settings_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        Settings(**kwargs)  # type: ignore[arg-type]


def test_routine_set_parses_pairs() -> None:
    assert Settings(routine_adjustments=("CO-45", "PR-1")).routine_set() == frozenset({("CO", "45"), ("PR", "1")})
    assert Settings().routine_set() is None


def test_the_workspace_today_is_the_calendars_unless_pinned(monkeypatch: pytest.MonkeyPatch) -> None:
    import datetime as dt

    from serving.workspace.web import MemoryBackend

    assert Settings().workspace_options(MemoryBackend()).today() == dt.date.today()
    monkeypatch.setenv("CLAIMSIGHT_WORKSPACE_TODAY", "")  # what `make serve` passes without a demo: unset
    assert Settings().workspace_today is None
    monkeypatch.setenv("CLAIMSIGHT_WORKSPACE_TODAY", "2024-12-31")
    assert Settings().workspace_options(MemoryBackend()).today() == dt.date(2024, 12, 31)
    monkeypatch.setenv("CLAIMSIGHT_WORKSPACE_TODAY", "31/12/2024")
    with pytest.raises(ValidationError, match="workspace_today"):
        Settings()
