"""The feature threads setting reaches every run's options, and a value that cannot work is refused by name."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from claimsight.settings import Settings
from features.contract.run_options import DEFAULT_FEATURE_THREADS, RunOptions


def test_the_setting_reaches_the_run_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    default = Settings(home=tmp_path).run_options().feature_threads
    assert default == DEFAULT_FEATURE_THREADS == RunOptions().feature_threads
    monkeypatch.setenv("CLAIMSIGHT_FEATURE_THREADS", "3")
    assert Settings(home=tmp_path).run_options().feature_threads == 3


@pytest.mark.parametrize("value", ["0", "-1", "many"])
def test_a_count_of_threads_that_cannot_work_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("CLAIMSIGHT_FEATURE_THREADS", value)
    with pytest.raises(ValidationError, match="feature_threads"):
        Settings(home=tmp_path)
