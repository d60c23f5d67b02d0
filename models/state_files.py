"""Nested state (dicts of arrays, numbers and strings) to two plain files, and back.

Models are saved without pickle: arrays go to one .npz (allow_pickle=False on load), everything else
to JSON, so an artifact can be hashed, inspected and loaded without executing anything it contains.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

_ARRAY = "__array__"


def _split(obj: Any, path: str, arrays: dict[str, np.ndarray]) -> Any:
    if isinstance(obj, np.ndarray):
        if obj.dtype == object:
            obj = obj.astype(str)
        arrays[path] = obj
        return {_ARRAY: path}
    if isinstance(obj, dict):
        return {str(k): _split(v, f"{path}/{k}", arrays) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_split(v, f"{path}/{i}", arrays) for i, v in enumerate(obj)]
    if isinstance(obj, np.generic):
        return obj.item()
    return obj


def _join(obj: Any, arrays: Any) -> Any:
    if isinstance(obj, dict):
        if set(obj) == {_ARRAY}:
            return arrays[obj[_ARRAY]]
        return {k: _join(v, arrays) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_join(v, arrays) for v in obj]
    return obj


def save_state(state: dict[str, Any], directory: Path, *, name: str) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    arrays: dict[str, np.ndarray] = {}
    skeleton = _split(state, name, arrays)
    np.savez(directory / f"{name}.npz", **arrays)  # type: ignore[arg-type]
    (directory / f"{name}.json").write_text(json.dumps(skeleton, sort_keys=True, indent=1) + "\n")


def load_state(directory: Path, *, name: str) -> dict[str, Any]:
    skeleton = json.loads((directory / f"{name}.json").read_text())
    with np.load(directory / f"{name}.npz", allow_pickle=False) as arrays:
        loaded = {k: arrays[k] for k in arrays.files}
    return _join(skeleton, loaded)
