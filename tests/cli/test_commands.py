"""The command line end to end on small hand-built directories: exit codes, messages, files."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from factories import History

from claimsight.cli import main


def book(tmp_path: Path) -> Path:
    h = History()
    for i in range(20):
        h.claim(f"C{i}", payer=f"P{i % 3}", patient_id=f"SECRET-PATIENT-{i}")
        r = h.remit(f"C{i}", date="2024-02-01", status="4" if i % 4 == 0 else "1", paid=0.0 if i % 4 == 0 else 100.0)
        if i % 4 == 0:
            h.adj(f"C{i}", r, "CO", "197", 100.0)
    return h.write_csv(tmp_path / "data")


def test_validate_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["validate", "--data", str(book(tmp_path))]) == 0
    assert "0 rows quarantined" in capsys.readouterr().out


def test_validate_quarantines_and_reports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = book(tmp_path)
    claims = pd.read_csv(d / "claims.csv", dtype=str)
    claims.loc[0, "submitted_at"] = "not-a-date"
    claims.to_csv(d / "claims.csv", index=False)
    code = main(["validate", "--data", str(d), "--max-reject-rate", "0.5"])
    out = capsys.readouterr().out
    assert code == 0
    assert "submitted_at: not a date in YYYY-MM-DD form" in out
    assert (d / "quarantine" / "claims.csv").exists()
    assert "SECRET-PATIENT" not in out


def test_reject_rate_exit_code_3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = book(tmp_path)
    claims = pd.read_csv(d / "claims.csv", dtype=str)
    claims.loc[:4, "total_charge"] = "-1"
    claims.to_csv(d / "claims.csv", index=False)
    assert main(["validate", "--data", str(d)]) == 3
    err = capsys.readouterr().err
    assert "reject rate above 5.0%" in err
    assert len(pd.read_csv(d / "quarantine" / "claims.csv")) == 5  # written even though the run failed


def test_contract_error_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    d = book(tmp_path)
    pd.read_csv(d / "claims.csv", dtype=str).drop(columns=["payer_id"]).to_csv(d / "claims.csv", index=False)
    assert main(["kpis", "--data", str(d)]) == 2
    assert "table claims: missing required column payer_id" in capsys.readouterr().err


def test_bad_setting_names_the_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CLAIMSIGHT_MATURITY_DAYS", "-4")
    assert main(["kpis", "--data", str(book(tmp_path))]) == 2
    assert "maturity_days" in capsys.readouterr().err


def test_kpis_prints_and_writes_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out_csv = tmp_path / "kpis.csv"
    assert main(["kpis", "--data", str(book(tmp_path)), "--by", "payer", "--csv", str(out_csv)]) == 0
    printed = capsys.readouterr().out
    assert "Denial KPIs by payer" in printed and "25.0%" in printed  # 5 of 20 claims denied
    table = pd.read_csv(out_csv)
    assert set(table["dimension"]) == {"all", "payer"}
    assert table.loc[table["dimension"] == "all", "denials"].item() == 5


def test_actions_prints_actions_by_group_and_writes_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    h = History()
    for i, (group, carc) in enumerate([("CO", "96"), ("PR", "96"), ("CO", "197"), ("CO", "18")]):
        h.claim(f"C{i}", patient_id=f"SECRET-PATIENT-{i}")
        h.adj(f"C{i}", h.remit(f"C{i}", date="2024-02-01", status="4"), group, carc, 100.0, line=1)
    out_csv = tmp_path / "actions.csv"
    assert main(["actions", "--data", str(h.write_csv(tmp_path / "data")), "--csv", str(out_csv)]) == 0
    printed = capsys.readouterr().out
    assert "Recommended action by adjustment" in printed and "every denial" in printed  # Rich wraps the title
    assert "bill_patient on a CO/PI/OA amount: 0" in printed and "SECRET-PATIENT" not in printed
    table = pd.read_csv(out_csv).set_index("claim_id")
    assert table.loc["C0", ["recommended_action", "action_group"]].tolist() == ["appeal", "CO"]
    assert table.loc["C1", ["recommended_action", "action_group", "patient_amount"]].tolist() == [
        "bill_patient", "PR", 100.0
    ]  # fmt: skip
    assert table.loc["C3", "recommended_action"] == "verify_status"


def test_unknown_kpi_dimension_is_a_usage_error(tmp_path: Path) -> None:
    assert main(["kpis", "--data", str(book(tmp_path)), "--by", "region"]) == 2


def test_ingest_reads_x12_into_a_data_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    samples = Path(__file__).resolve().parents[3] / "shared" / "x12-samples"
    if not samples.is_dir():
        pytest.skip(f"the public X12 samples are not at {samples}")
    out = tmp_path / "data"
    assert main(["ingest", "--out", str(out), str(samples / "837"), str(samples / "835")]) == 0
    printed = capsys.readouterr().out
    assert "added: claims 7, claim_lines 18" in printed and "21 remits wait for their claim's 837" in printed
    assert main(["validate", "--data", str(out)]) == 0
    assert main(["ingest", "--out", str(out), str(tmp_path / "nowhere")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_synth_x12_writes_the_tables_and_an_x12_folder_that_ingests(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "world"
    args = ["synth", "--out", str(out), "--claims", "300", "--months", "3", "--seed", "2", "--format", "x12"]
    assert main(args) == 0
    assert (out / "claims.parquet").exists() and (out / "payer_rules.yaml").exists()
    assert (out / "truth" / "world.json").exists()
    files = sorted(p.name for p in (out / "x12").iterdir())
    assert any(n.startswith("837P_") for n in files) and any(n.startswith("835_") for n in files)
    assert main(["ingest", str(out / "x12"), "--out", str(tmp_path / "data")]) == 0
    text = capsys.readouterr().out
    assert "0 quarantined" in text
    assert len(pd.read_parquet(tmp_path / "data" / "claims.parquet")) == len(pd.read_parquet(out / "claims.parquet"))


def test_synth_parquet_and_csv_write_no_x12(tmp_path: Path) -> None:
    for fmt in ("parquet", "csv"):
        out = tmp_path / fmt
        assert main(["synth", "--out", str(out), "--claims", "200", "--months", "3", "--format", fmt]) == 0
        assert (out / f"claims.{fmt}").exists() and not (out / "x12").exists()


def test_synth_rejects_an_unknown_format(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", "--out", str(tmp_path / "w"), "--claims", "200", "--format", "xml"]) != 0
    assert "parquet, csv or x12" in capsys.readouterr().err
