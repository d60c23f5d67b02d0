"""A champion saved by an older ClaimSight (another feature list) does not sink the whole report: its model
health says what to do, the other parts are built."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from claimsight import model_health
from features.contract.run_options import RunOptions


def test_an_unloadable_champion_becomes_a_note_not_a_crash(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import models.denial_risk
    import models.mlflow_model

    def refuse(path: Path) -> None:
        raise ValueError(f"{path}: model format or feature list does not match this version of ClaimSight")

    monkeypatch.setattr(models.mlflow_model, "download_model", lambda **_: tmp_path)
    monkeypatch.setattr(models.denial_risk.DenialRiskModel, "load", classmethod(lambda cls, path: refuse(path)))
    with pytest.raises(model_health.ChampionUnreadable, match="train or retrain it"):
        model_health.live_monitor({}, pd.DataFrame(), options=RunOptions(home=tmp_path))

    class Kind:
        kind = "denial-risk"

    monkeypatch.setattr(model_health, "_client", lambda options: object())
    monkeypatch.setattr(model_health, "registered_models", lambda client: (Kind(),))
    monkeypatch.setattr(model_health, "gate_decisions", lambda client: None)
    health = model_health.gather_model_health(
        {}, pd.DataFrame(), options=RunOptions(home=tmp_path), monitor=True, backtest=None, say=lambda _: None
    )
    assert health.calibration is None and "train or retrain it" in health.missing["calibration"]
