"""Hot-swappable model holders: a new model serves only after it has loaded and answered a warm-up.

A slot holds one immutable `Snapshot` (model, version, sha256, ...). A reload builds the new snapshot beside
the old one and then rebinds a single attribute, which is atomic in CPython: a request that took the old
snapshot finishes on the old model, the next one gets the new, and none can see a model from one version
with the version string of another. Loads are serialised per slot by a lock that readers never take, so
scoring never waits for a load.

A load that fails (the loader raises: artifact missing, sha256 mismatch; or `verify` raises: the warm-up
prediction breaks) is recorded by exception type and time and changes nothing else: a working model is
never replaced by one that does not work, and a slot that never loaded stays empty, so `/readyz` stays 503.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from starlette.concurrency import run_in_threadpool

from serving.api.config import DEFAULT_MODEL_REF

log = logging.getLogger("serving.api.models")

T = TypeVar("T")

Loader = Callable[[str], tuple[T, str, str]]
"""loader(ref) -> (model, version, sha256); must check the artifact's sha256 against the registered one."""
Verify = Callable[[T], None]
"""verify(model) runs a warm-up prediction on fixed synthetic input and raises if anything is off."""


class NoModel(LookupError):
    """The slot has no verified model yet (or the name is not a slot)."""


@dataclass(frozen=True, slots=True)
class Snapshot(Generic[T]):
    """What one request uses: a model and the version it reports, taken together."""

    name: str
    model: T
    version: str
    sha256: str
    ref: str
    loaded_at: datetime


@dataclass(frozen=True, slots=True)
class LoadFailure:
    error: str
    """exception type name only: messages can carry paths or data"""
    at: datetime
    ref: str


@dataclass(frozen=True, slots=True)
class LoadResult:
    name: str
    ok: bool
    changed: bool
    """the serving version is different after this attempt"""
    version: str | None
    """the version serving after this attempt (the old one when the attempt failed)"""
    error: str | None = None


class ModelSlot(Generic[T]):
    """One named model, e.g. "denial_risk", loaded from `ref` (by default the MLflow `champion` alias)."""

    def __init__(self, name: str, *, loader: Loader[T], verify: Verify[T], ref: str = DEFAULT_MODEL_REF) -> None:
        self.name = name
        self.ref = ref
        self._loader = loader
        self._verify = verify
        self._current: Snapshot[T] | None = None
        self._last_failure: LoadFailure | None = None
        self._load_lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._current is not None

    @property
    def last_failure(self) -> LoadFailure | None:
        return self._last_failure

    def peek(self) -> Snapshot[T] | None:
        """The snapshot serving now, or None; for status pages that must not raise."""
        return self._current

    def current(self) -> Snapshot[T]:
        snapshot = self._current  # one read: the caller keeps this snapshot even if a swap follows
        if snapshot is None:
            raise NoModel(self.name)
        return snapshot

    def record_failure(self, exc: BaseException, *, ref: str) -> LoadFailure:
        """Remember a failed load and log it, saying what serves now: the version loaded before, or nothing."""
        failure = LoadFailure(error=type(exc).__name__, at=datetime.now(UTC), ref=ref)
        self._last_failure = failure
        serving = self._current
        if serving is not None:
            log.warning(
                "model %s: load of %s failed (%s); the previous version %s keeps serving",
                self.name, ref, failure.error, serving.version,
            )  # fmt: skip
        else:
            log.error(
                "model %s: load of %s failed (%s) and no version of it is loaded: the service is not ready "
                "(/readyz and its routes answer 503) until a load succeeds; check the registered artifact, or "
                "point the champion alias at a good version (the poller or POST /v1/admin/reload loads it)",
                self.name, ref, failure.error,
            )  # fmt: skip
        return failure

    def load(self, ref: str | None = None) -> LoadResult:
        """Load `ref` (default `self.ref`), verify it, and only then swap it in. Blocking: call from a thread."""
        ref = ref or self.ref
        with self._load_lock:
            before = self._current
            try:
                model, version, sha256 = self._loader(ref)
                self._verify(model)
            except Exception as exc:
                failure = self.record_failure(exc, ref=ref)
                return LoadResult(
                    self.name, ok=False, changed=False, version=before.version if before else None, error=failure.error
                )
            self._current = Snapshot(
                name=self.name, model=model, version=str(version), sha256=sha256, ref=ref, loaded_at=datetime.now(UTC)
            )
        changed = before is None or before.version != str(version)
        if changed:
            log.info("model %s: now serving version %s", self.name, version)
        return LoadResult(self.name, ok=True, changed=changed, version=str(version))


class ModelRegistry:
    """The slots a service needs; ready only when every one of them holds a verified model.

    `resolve_champion(name) -> ref` names what should serve now (e.g. the model version the `champion` alias
    points at, as a ref the loader understands). Without it each slot loads its own `ref`.
    """

    def __init__(
        self, slots: Iterable[ModelSlot[Any]] = (), *, resolve_champion: Callable[[str], str] | None = None
    ) -> None:
        self._slots: dict[str, ModelSlot[Any]] = {}
        self.resolve_champion = resolve_champion
        for slot in slots:
            self.add(slot)

    def add(self, slot: ModelSlot[Any]) -> None:
        if slot.name in self._slots:
            raise ValueError(f"model slot {slot.name!r} already exists")
        self._slots[slot.name] = slot

    def __getitem__(self, name: str) -> ModelSlot[Any]:
        return self._slots[name]

    def __iter__(self) -> Iterator[ModelSlot[Any]]:
        return iter(tuple(self._slots.values()))

    def __len__(self) -> int:
        return len(self._slots)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self._slots)

    @property
    def ready(self) -> bool:
        """Every slot loaded and verified. No slots at all is not ready (`all([])` is True)."""
        return bool(self._slots) and all(slot.loaded for slot in self._slots.values())

    def missing(self) -> list[str]:
        return [name for name, slot in self._slots.items() if not slot.loaded]

    def snapshot(self, *names: str) -> dict[str, Snapshot[Any]]:
        """One snapshot per name, taken now; raises NoModel if any is missing or unknown."""
        out: dict[str, Snapshot[Any]] = {}
        for name in names:
            slot = self._slots.get(name)
            if slot is None:
                raise NoModel(name)
            out[name] = slot.current()
        return out

    def target_ref(self, slot: ModelSlot[Any]) -> str:
        return self.resolve_champion(slot.name) if self.resolve_champion else slot.ref

    def refresh(self, *, force: bool = False) -> dict[str, LoadResult]:
        """Load every slot whose target ref differs from what it serves (all of them when `force`).

        The comparison is on refs, which the resolver makes version-specific, so an unchanged champion costs
        one registry look-up and no download. A target that failed before is tried again: a transient
        artifact-store error heals on the next poll, at the price of a logged failure per poll for a
        corrupt one. Blocking: call from a thread.
        """
        results: dict[str, LoadResult] = {}
        for slot in self:
            current = slot.peek()
            try:
                target = self.target_ref(slot)
            except Exception as exc:
                failure = slot.record_failure(exc, ref="<resolve>")
                results[slot.name] = LoadResult(
                    slot.name,
                    ok=False,
                    changed=False,
                    version=current.version if current else None,
                    error=failure.error,
                )
                continue
            if not force and current is not None and current.ref == target:
                results[slot.name] = LoadResult(slot.name, ok=True, changed=False, version=current.version)
                continue
            results[slot.name] = slot.load(target)
        return results


class ChampionPoller:
    """Asks the registry every `interval` seconds whether a champion moved and loads it if so.

    Loads run in a worker thread, so the event loop keeps answering while a model downloads. `stop()`
    cancels the task; a load already running in its thread finishes and swaps (or not) on its own.
    """

    def __init__(self, registry: ModelRegistry, *, interval: float) -> None:
        if interval <= 0:
            raise ValueError("poll interval must be positive")
        self.registry = registry
        self.interval = interval
        self._task: asyncio.Task[None] | None = None

    async def step(self) -> dict[str, LoadResult]:
        return await run_in_threadpool(self.registry.refresh)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                await self.step()
            except Exception as exc:  # keep polling: one bad round must not end hot swaps for good
                log.error("champion poll failed (%s)", type(exc).__name__)

    def start(self) -> asyncio.Task[None]:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="champion-poller")
        return self._task

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
