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
