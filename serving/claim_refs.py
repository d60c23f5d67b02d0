"""The keyed hash that stands in for a claim id wherever a record must name a claim without holding it.

HMAC-SHA256 under a secret, cut to 16 bytes, as hex: an auditor who knows a claim id (and the secret) can
find its rows, while someone who only has the database can neither enumerate nor confirm ids. The API's
audit log (`serving.api.audit`) and the workspace's log of PHI views (`serving.workspace.phi_views`) use
the same function under the same secret, so one claim has one reference across both.
"""

from __future__ import annotations

import hashlib
import hmac

REF_BYTES = 16


def claim_ref(secret: bytes, claim_id: str) -> str:
    """The keyed hash stored instead of a claim id: HMAC-SHA256(secret, id), first 16 bytes, hex."""
    return hmac.new(secret, str(claim_id).encode("utf-8"), hashlib.sha256).digest()[:REF_BYTES].hex()


__all__ = ["REF_BYTES", "claim_ref"]
