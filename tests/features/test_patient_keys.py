"""Patient history is counted by a keyed hash: no patient id in a saved model, and a model refuses another key."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from features.patient_keys import (
    DEVELOPMENT_PATIENT_KEY,
    PatientKeyMismatch,
    key_fingerprint,
    patient_keys,
    use_patient_key,
)
from models.state_files import load_state

OTHER_KEY = "another-teams-patient-key-0123456789abcdef"


def strings_in(state: object) -> Iterator[str]:
    """Every string of a saved state: JSON values and keys, and the elements of its text arrays."""
    if isinstance(state, dict):
        for k, v in state.items():
            yield str(k)
            yield from strings_in(v)
    elif isinstance(state, list | tuple):
        for v in state:
            yield from strings_in(v)
    elif isinstance(state, np.ndarray):
        if state.dtype.kind in "US":
            yield from (str(v) for v in state.ravel())
    elif isinstance(state, str):
        yield state


@pytest.fixture
def restore_key() -> Iterator[None]:
    yield
    use_patient_key(DEVELOPMENT_PATIENT_KEY)


def test_keys_are_the_hmac_of_the_id_never_the_id(restore_key: None) -> None:
    ids = np.array(["PT001", "PT002", "PT001", None], dtype=object)
    keys = patient_keys(ids)
    want = hmac.new(DEVELOPMENT_PATIENT_KEY.encode(), b"PT001", hashlib.sha256).hexdigest()[:24]
    assert keys[0] == keys[2] == want and keys[1] != keys[0] and keys[3] is None
    assert not any("PT00" in str(k) for k in keys)
    before = key_fingerprint()
    use_patient_key(OTHER_KEY)
    assert key_fingerprint() != before
    assert patient_keys(ids)[0] != want  # a plain or salted hash would match a list of hashed ids; this cannot
    assert patient_keys(pd.Series(["PT001"]))[0] == patient_keys(ids)[0]


def test_many_ids_get_the_hmac_of_the_key_installed_last(restore_key: None) -> None:
    ids = np.array([f"PT{i:05d}" for i in range(300)] + [None, "PT00007", "ü-patient"], dtype=object)
    for key in (OTHER_KEY, "k" * 100):  # a key longer than SHA-256's block is hashed first (RFC 2104)
        use_patient_key(key)
        want = [None if i is None else hmac.new(key.encode(), i.encode(), hashlib.sha256).hexdigest()[:24] for i in ids]
        assert patient_keys(ids).tolist() == want


def test_an_empty_key_is_refused() -> None:
    with pytest.raises(ValueError, match="patient_key"):
        use_patient_key("")


@pytest.mark.slow  # the session's trained model
def test_a_saved_model_holds_no_patient_id_and_refuses_another_key(
    trained: tuple, small_world: Path, tmp_path: Path, restore_key: None
) -> None:
    model, _, _ = trained
    saved = model.save(tmp_path / "model")
    texts = set(strings_in(load_state(saved, name="features")))
    texts |= {p.read_text() for p in saved.rglob("*") if p.suffix in (".json", ".txt", ".md")}
    claims = pd.read_parquet(small_world / "claims.parquet", columns=["patient_id", "claim_id"])
    patients = claims["patient_id"].drop_duplicates()
    assert not set(patients) & texts  # no patient id as a value anywhere in the state
    whole = "\n".join(texts)
    assert not [p for p in patients.head(500) if p in whole]  # nor inside any text of the artifact
    # the patient history is there, under keys
    assert len(set(patient_keys(patients.to_numpy())) & texts) > 100

    sample = claims.head(5)
    lines = pd.read_parquet(small_world / "claim_lines.parquet")
    full = pd.read_parquet(small_world / "claims.parquet")
    batch = full[full["claim_id"].isin(sample["claim_id"])]
    model.builder_.transform(claims=batch, lines=lines)  # the key it was trained with: scores
    use_patient_key(OTHER_KEY)
    with pytest.raises(PatientKeyMismatch, match="CLAIMSIGHT_PATIENT_KEY"):
        model.builder_.transform(claims=batch, lines=lines)
