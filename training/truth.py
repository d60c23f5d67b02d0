"""The synthetic generator's truth tables (truth/claims, truth/denials), read only to judge models.

Only evaluation and the policy simulator read them; no feature or fit ever does. A real team's data
directory has no truth/, and then every comparison with the oracle is simply absent.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def read_truth(data_dir: Path, name: str) -> pd.DataFrame | None:
    """truth/<name>.parquet or .csv with claim_id as text, or None when the directory has no truth."""
    for path in (data_dir / "truth" / f"{name}.parquet", data_dir / "truth" / f"{name}.csv"):
        if path.exists():
            frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path, dtype={"claim_id": str})
            return frame.assign(claim_id=frame["claim_id"].astype(str))
    return None
