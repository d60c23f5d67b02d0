"""Patient history without patient identifiers: the features group a patient's earlier claims by a keyed hash.

A patient's earlier eligibility and payer-order denials predict the next one (coverage that lapsed stays
lapsed until the practice has the new card), so the history aggregates count them per patient. The fitted
history travels inside the saved model, and a model artifact is copied, registered and shared more freely
than the claims: it must not hold patient ids. So the aggregates never see a patient_id, only
HMAC-SHA256(key, patient_id) cut to 96 bits. The key is a setting (CLAIMSIGHT_PATIENT_KEY), never in the
artifact: without it nobody holding the model can test whether a given patient is in its history (a plain or
salted hash would let them hash a list of ids and look). The model keeps a fingerprint of the key, so a
process with another key refuses to score instead of silently finding no history for anyone.

The key in use is process-wide, installed once at start-up from Settings (`use_patient_key`); development and
tests use a published default that production refuses.
"""

from __future__ import annotations

import hashlib
import hmac

import numpy as np
import pandas as pd

from features.text_codes import remember_mapped, text_codes

__all__ = ["DEVELOPMENT_PATIENT_KEY", "PatientKeyMismatch", "key_fingerprint", "patient_keys", "use_patient_key"]

DEVELOPMENT_PATIENT_KEY = "claimsight-development-patient-key-not-for-production"
_DIGEST_BYTES = 12  # 96 bits: no collision among a health system's patients (birthday bound ~2^48)
_FINGERPRINT_MESSAGE = b"claimsight patient key fingerprint v1"

_key: bytes = DEVELOPMENT_PATIENT_KEY.encode("utf-8")
# the HMAC with the key already absorbed: each id copies it (half of `hmac.new`'s time per id: 1.6 against 3.1 us here)
_keyed = hmac.new(_key, digestmod=hashlib.sha256)


class PatientKeyMismatch(RuntimeError):
    """The model's patient history was keyed with another key than this process has."""


def use_patient_key(key: str) -> None:
    """Install the key every later `patient_keys` call uses (start-up; Settings validates it first)."""
    global _key, _keyed
    if not key:
        raise ValueError("patient_key: must not be empty")
    _key = key.encode("utf-8")
    _keyed = hmac.new(_key, digestmod=hashlib.sha256)


def key_fingerprint() -> str:
    """Identifies the key in use without revealing it (an HMAC of a fixed message, not of any patient)."""
    return hmac.new(_key, _FINGERPRINT_MESSAGE, hashlib.sha256).hexdigest()[:16]


def patient_keys(patient_ids: np.ndarray | pd.Series) -> np.ndarray:
    """The keyed hash of each patient id (object array of hex text; a missing id stays None)."""
    if len(patient_ids) <= 16:  # one claim at serving: no pandas machinery for a handful of ids
        return np.array([None if pd.isna(i) else _hash(str(i)) for i in patient_ids] + [None], dtype=object)[:-1]
    codes, uniques = text_codes(np.asarray(patient_ids, dtype=object))  # an array read for the features: hashed once
    hashed = np.array([_hash(str(u)) for u in uniques] + [None], dtype=object)
    return remember_mapped(hashed[codes], codes=codes, mapped=hashed)  # the sentinel -1 picks the trailing None


def _hash(patient_id: str) -> str:
    keyed = _keyed.copy()
    keyed.update(patient_id.encode("utf-8"))
    return keyed.digest()[:_DIGEST_BYTES].hex()
