"""The one way ClaimSight compiles a numba kernel."""

from __future__ import annotations

from typing import Any

import numba


def compiled(fn: Any) -> Any:
    """numba with its on-disk cache (next to the module, else the user's cache folder), without the GIL, or
    without the cache where no folder is writable (a read-only install): numba refuses such a cache when the
    function is decorated, which would fail the import; without it each process compiles on first call."""
    try:
        return numba.njit(nogil=True, cache=True)(fn)
    except RuntimeError:
        return numba.njit(nogil=True)(fn)
