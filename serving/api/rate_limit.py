"""Per-key request budget (OWASP API4:2023, unrestricted resource consumption).

One runaway client must not starve the others of a shared scoring service: each API key gets a token bucket
that holds `per_minute` requests (the burst a batch release may need) and refills at per_minute / 60 a
second; past it the caller gets 429 with Retry-After. Buckets live in the process: with N workers a key may
send N times the budget, which is the operator's choice of N (README, "The scoring service").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class RateLimiter:
    """Token buckets by name (an API key id, or a client address for calls without a valid key).

    At most `max_buckets` are kept: past that, the buckets that have refilled are dropped (a full bucket is
    what an unknown name gets anyway), so many addresses cannot grow memory without limit.
    """

    def __init__(
        self, *, per_minute: int, clock: Callable[[], float] = time.monotonic, max_buckets: int = 100_000
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.max_buckets = max_buckets
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key id -> (tokens, when counted)
        self._lock = threading.Lock()

    def take(self, key_id: str) -> float:
        """Spend one request of `key_id`'s budget: 0.0 if allowed, else seconds until one is available."""
        with self._lock:
            now = self._clock()
            tokens, then = self._buckets.get(key_id, (float(self.per_minute), now))
            tokens = min(float(self.per_minute), tokens + (now - then) * self._rate)
            if key_id not in self._buckets and len(self._buckets) >= self.max_buckets:
                self._prune(now)
            if tokens >= 1.0:
                self._buckets[key_id] = (tokens - 1.0, now)
                return 0.0
            self._buckets[key_id] = (tokens, now)
            return (1.0 - tokens) / self._rate

    def _prune(self, now: float) -> None:
        """Drop the buckets that have refilled since they were last counted."""
        full = [
            k for k, (tokens, then) in self._buckets.items() if tokens + (now - then) * self._rate >= self.per_minute
        ]
        for key in full:
            del self._buckets[key]
