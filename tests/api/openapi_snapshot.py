"""The reviewed OpenAPI document of the service, and the command that rewrites it after a reviewed change.

.venv/bin/python tests/api/openapi_snapshot.py      # rewrite tests/api/openapi.json, then review the diff
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

SNAPSHOT = Path(__file__).with_name("openapi.json")


def current_openapi() -> dict[str, Any]:
    from serving.api import ApiConfig, ModelRegistry, new_key, parse_key_entry
    from serving.api.routes import ScoringContext
    from serving.api.runtime import build_app

    config = ApiConfig(api_keys=(parse_key_entry(new_key(key_id="docs")[1]),), docs=True, poll_seconds=0)
    app = build_app(config=config, registry=ModelRegistry([]), context=ScoringContext.load(), audit=None)
    document: dict[str, Any] = json.loads(json.dumps(app.openapi()))
    return document


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    sys.path[:0] = [str(Path(__file__).resolve().parents[2])]
    SNAPSHOT.write_text(render(current_openapi()))
    print(f"wrote {SNAPSHOT}")
