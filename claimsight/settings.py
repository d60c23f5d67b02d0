"""One Settings object, validated when a command starts, so a typo in configuration fails at once.

Values come from keyword arguments, then `CLAIMSIGHT_*` environment variables, then the defaults here.
Nothing is read at import time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from features.schema import GROUP_CODES


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLAIMSIGHT_", extra="forbid", frozen=True)

    environment: Literal["development", "production"] = "development"
    home: Path = Field(Path(".claimsight"), description="local store: demo data, MLflow runs and models")
    max_reject_rate: float = Field(0.05, ge=0.0, le=1.0, description="share of a table's rows that may be quarantined")
    maturity_days: int = Field(180, gt=0, le=3650, description="days after a denial before its outcome counts")
    mlflow_tracking_uri: str | None = Field(None, description="MLflow tracking URI; unset = SQLite store in `home`")
    seed: int = Field(7, description="random seed for training: same data + seed = same model")
    routine_adjustments: tuple[str, ...] | None = Field(
        None, description="GROUP-CARC pairs that are not denials, e.g. CO-45; unset = the shipped set"
    )

    @field_validator("routine_adjustments")
    @classmethod
    def _pairs(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        for pair in value or ():
            group, _, carc = pair.partition("-")
            if group not in GROUP_CODES or not carc.isalnum():
                raise ValueError(f"routine adjustment must look like CO-45 (group one of {', '.join(GROUP_CODES)})")
        return value

    def routine_set(self) -> frozenset[tuple[str, str]] | None:
        if self.routine_adjustments is None:
            return None
        return frozenset(tuple(p.split("-", 1)) for p in self.routine_adjustments)  # type: ignore[misc]
