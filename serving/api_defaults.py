"""The scoring service's default limits, declared once.

`serving.api.config.ApiConfig` (what the service reads) and `claimsight.settings.Settings` (what
`claimsight serve` validates from `CLAIMSIGHT_*`) both take their defaults from here, so a service built
directly and one started from the command line enforce the same limits. This module imports nothing:
`Settings` reads it when a command starts without pulling in the web stack (`serving.api` imports FastAPI).
"""

from __future__ import annotations

from typing import Final

MAX_BODY_BYTES: Final = 4_000_000  # request body cap; 413 above
MAX_BATCH: Final = 1000  # claims or denials per request; 422 above
POLL_SECONDS: Final = 60.0  # how often to ask the registry whether the champion moved; 0 = off
RATE_LIMIT_PER_MINUTE: Final = 6_000  # requests per API key per minute, also the burst; 0 = off
BODY_TIMEOUT_SECONDS: Final = 30.0  # a request body must arrive within this; 408 after
UNAUTHENTICATED_PER_MINUTE: Final = 600  # calls without a valid key per client address per minute; 0 = off
SCORING_THREADS: Final = 2  # requests per process whose model work runs at once; the rest wait their turn
MAX_CONNECTIONS: Final = 8_192  # open connections per server process; past it one still waiting for headers is closed
HEADER_TIMEOUT_SECONDS: Final = 10.0  # a request's headers must arrive within this of its first byte; closed after

__all__ = [
    "BODY_TIMEOUT_SECONDS",
    "HEADER_TIMEOUT_SECONDS",
    "MAX_BATCH",
    "MAX_BODY_BYTES",
    "MAX_CONNECTIONS",
    "POLL_SECONDS",
    "RATE_LIMIT_PER_MINUTE",
    "SCORING_THREADS",
    "UNAUTHENTICATED_PER_MINUTE",
]
