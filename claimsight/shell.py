"""What every command shares, so that the command modules depend on this one and never on each other's
privates: the console, the settings, the `--data` option, date options, the saved models, a claims file.

No command is defined here; messages name options, tables and columns, never a value from the data.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import pandas as pd
import typer
from rich.console import Console

from claimsight.settings import Settings

if TYPE_CHECKING:
    from distributed import Client

    from claimsight.progress_view import ProgressView
    from features.contract.run_options import RunOptions
    from features.contract.validation import ValidationResult
    from models.catalog import ModelKind
    from models.denial_risk import DenialRiskModel

DataDir = Annotated[Path, typer.Option("--data", help="directory with the DATA.md tables (CSV or Parquet)")]


def console(*, stderr: bool = False) -> Console:
    """Made per use, not at import, so the width follows the terminal (and COLUMNS) of this run.

    Output to a file or pipe gets 140 columns instead of Rich's 80, so a logged demo stays readable.
    """
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() or "COLUMNS" in os.environ else 140
    return Console(stderr=stderr, width=width)


def settings(**overrides: object) -> Settings:
    """The environment's settings with the options the user gave; an option left out (None) keeps the default.

    Installs the patient key the features hash patient ids with (features/patient_keys.py) for this process."""
    chosen = Settings(**{k: v for k, v in overrides.items() if v is not None})  # type: ignore[arg-type]
    chosen.install_patient_key()
    return chosen


def validated(data: Path, *, options: RunOptions, tables: Collection[str] | None = None) -> ValidationResult:
    """The data directory read and validated (quarantine files written), with the validation report printed
    when rows were quarantined or columns ignored: every command that validates says what it left out.

    A command whose layer function validates again (train, retrain, backtest, simulate) pays one more read for
    the report; the layers stay silent. `tables`: just these (`load_validated`).
    """
    from claimsight.render import validation_report
    from features.contract.validation import load_validated

    result = load_validated(
        data, max_reject_rate=options.max_reject_rate, threads=options.feature_threads, tables=tables
    )
    if result.total_quarantined or result.ignored_columns:
        validation_report(console(), result)
    return result


def parse_date(text: str, *, option: str) -> pd.Timestamp:
    """A date option's value; the usage error names `option`, since several commands take a date."""
    try:
        return pd.Timestamp(text)
    except ValueError:
        raise typer.BadParameter("must be a date YYYY-MM-DD", param_hint=option) from None


def model_dir(kind: ModelKind, ref: str, *, options: RunOptions) -> Path:
    """A saved model directory: `ref` itself when it is one, else the registry's alias/version of `kind`
    (hash-checked: a version registered without its hash, or whose files changed, is refused)."""
    path = Path(ref)
    if path.is_dir():
        return path
    from mlflow.exceptions import MlflowException

    from models.mlflow_model import download_model
    from training.tracking import configure

    name = kind.registry_name
    configure(home=options.home, tracking_uri=options.tracking_uri, experiment=name)
    try:
        return download_model(name=name, ref=ref)
    except MlflowException:
        raise typer.BadParameter(
            f"no {name} model '{ref}' in the registry; run `claimsight train` first", param_hint="--model"
        ) from None


def load_denial_risk(ref: str, *, options: RunOptions) -> DenialRiskModel:
    """The denial-risk model `--model` names; both scoring and monitoring judge claims with it."""
    from models.catalog import DENIAL_RISK
    from models.denial_risk import DenialRiskModel

    return DenialRiskModel.load(model_dir(DENIAL_RISK, ref, options=options))


def model_kinds(names: list[str] | None) -> tuple[ModelKind, ...]:
    """The catalog's kinds a repeated `--model` option names, in catalog order (all when none is given)."""
    from models import catalog

    known = catalog.names()
    if names and any(n not in known for n in names):
        raise typer.BadParameter(f"choose from {', '.join(known)}", param_hint="--model")
    return tuple(k for k in catalog.kinds() if not names or k.name in names)


def read_claims_file(path: Path, *, tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Claim ids from a CSV/Parquet file (a `claim_id` column), looked up in the data directory.

    Only the ids are read, so a file exported with PHI beside them brings none of it in.
    """
    ids = (
        pd.read_parquet(path, columns=["claim_id"])
        if path.suffix == ".parquet"
        else pd.read_csv(path, usecols=["claim_id"], dtype=str)
    )
    known = tables["claims"].set_index("claim_id", drop=False)
    missing = ~ids["claim_id"].isin(known.index)
    if missing.any():
        raise typer.BadParameter(
            f"{int(missing.sum())} claim ids are not in the data directory's claims table", param_hint="--claims-file"
        )
    return known.loc[ids["claim_id"]].reset_index(drop=True)


MAX_X12_ERRORS_SHOWN = 5


def _x12_bytes(path: Path) -> bytes:
    import gzip

    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


def read_x12_claims(path: Path) -> dict[str, pd.DataFrame]:
    """The `claims` and `claim_lines` tables of an 837 file (gz too), read before any model or data is loaded
    so a broken file costs nothing.

    The claims go through the API's conversion (`serving.api.x12`: the same rows, the same request schema,
    typed by `claim_tables` as validation types a data directory), so a claim scores alike from a file, a
    JSON body or an X12 body. Errors name positions only (PHI).
    """
    from serving.api.schemas import claim_tables
    from serving.api.x12 import X12Invalid, x12_claims

    try:
        found = x12_claims(_x12_bytes(path), file=path.name)
    except X12Invalid as exc:
        shown = "; ".join(e.message() for e in exc.errors[:MAX_X12_ERRORS_SHOWN])
        more = len(exc.errors) - MAX_X12_ERRORS_SHOWN
        raise typer.BadParameter(shown + (f" (and {more} more)" if more > 0 else ""), param_hint="--x12") from None
    except (OSError, EOFError) as exc:
        raise typer.BadParameter(f"cannot read the file ({type(exc).__name__})", param_hint="--x12") from None
    return claim_tables(found.batch.claims)


def with_claims(tables: dict[str, pd.DataFrame], new: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The data directory's tables with `new` claims and lines in place of any claim of the same id: the
    history the features read, where a corrected claim sent again replaces the one it corrects."""
    ids = new["claims"]["claim_id"]
    merged = dict(tables)
    for name in ("claims", "claim_lines"):
        old = tables[name]
        merged[name] = pd.concat([old[~old["claim_id"].isin(ids)], new[name]], ignore_index=True)
    return merged


@contextmanager
def cluster(settings: Settings) -> Iterator[Client | None]:
    """The Dask client of `settings.dask_scheduler` for the command's lifetime (None: no cluster); a cluster that
    cannot be used is a usage error naming the setting."""
    from claimsight.cluster import ClusterError, cluster_client

    try:
        with cluster_client(settings.dask_scheduler) as client:
            if client is not None:
                workers = len(client.scheduler_info().get("workers", {}))
                console().print(f"cluster: {settings.dask_scheduler}, {workers} workers", highlight=False)
            yield client
    except ClusterError as exc:
        raise typer.BadParameter(str(exc), param_hint="--cluster / CLAIMSIGHT_DASK_SCHEDULER") from None


def progress(command: str) -> ProgressView:
    """What a long command shows while it works: each stage, and for a stage with steps an estimate of the time left."""
    from claimsight.progress_view import ProgressView

    return ProgressView(console(), command=command)
