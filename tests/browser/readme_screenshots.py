"""The README's screenshots of the workspace, taken from the demo's own workspace after `make demo`.

`make screenshots` runs it. It copies the demo's workspace database (never writes to it), adds two accounts to
the copy (a manager and a reviewer, random passwords), serves the copy with the browser tests' harness, and
saves a PNG of each page the README shows into docs/screenshots/ through the harness's `screenshot`, which
checks that each one is a rendered page. The demo world is synthetic: no real claim is in these pictures.
"""

from __future__ import annotations

import argparse
import datetime as dt
import secrets
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from browser.harness import missing_browser, new_driver, quit_driver, screenshot, serve

from serving.api import ApiConfig, ModelRegistry, create_app
from serving.workspace.database import open_workspace
from serving.workspace.users import create_user
from serving.workspace.web import SqlBackend, WorkspaceOptions
from serving.workspace.work_items import open_items

DEMO_TODAY_FILE = "demo/workspace-today"  # claimsight.commands.runs.DEMO_TODAY_FILE, under CLAIMSIGHT_HOME
DEMO_REPORT = "demo/report"  # the dashboard `make demo` builds (claimsight.settings.DEMO_REPORT)


def _sign_in(driver: Any, url: str, username: str, password: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    driver.delete_all_cookies()
    driver.get(url + "/app/login")
    WebDriverWait(driver, 10).until(ec.element_to_be_clickable((By.ID, "username"))).send_keys(username)
    driver.find_element(By.ID, "password").send_keys(password)
    driver.find_element(By.ID, "sign-in").click()
    WebDriverWait(driver, 10).until(ec.url_contains("/app/"))
    WebDriverWait(driver, 10).until(lambda d: "/login" not in d.current_url)


def _first(items: list[Any], action: str, categories: tuple[str, ...]) -> Any:
    """Today's first item with that recommended action, one of those categories and remit codes, that nobody has
    taken: its page shows the forms and its draft the codes."""
    found = next(
        (
            i
            for i in items
            if i.action == action and i.category in categories and i.snapshot.get("adjustments")
            and i.owner_id is None and i.state == "open" and i.queue_rank
        ),
        None,
    )  # fmt: skip
    if found is None:
        raise SystemExit(f"the demo queue has no open, unassigned, ranked {action} item in {', '.join(categories)}")
    return found


def take(*, home: Path, out: Path) -> list[Path]:
    source = home / "workspace.db"
    if not source.is_file():
        raise SystemExit(f"{source} does not exist: run `make demo` first")
    today = dt.date.fromisoformat((home / DEMO_TODAY_FILE).read_text(encoding="utf-8").strip())
    with tempfile.TemporaryDirectory(prefix="claimsight-screenshots-") as scratch:
        copy = Path(scratch) / "workspace.db"
        shutil.copyfile(source, copy)
        engine = open_workspace(f"sqlite:///{copy}")
        passwords = {name: secrets.token_urlsafe(18) for name in ("readme-manager", "readme-reviewer")}
        create_user(engine, username="readme-manager", password=passwords["readme-manager"], role="manager",
                    display_name="Morgan Lee")  # fmt: skip
        create_user(engine, username="readme-reviewer", password=passwords["readme-reviewer"], role="reviewer",
                    display_name="Riley Chen")  # fmt: skip
        items = open_items(engine, viewer=None)
        appeal = _first(items, "appeal", ("authorization", "medical_necessity"))
        correction = _first(items, "correct_and_resubmit", ("coding", "missing_information"))
        backend = SqlBackend(engine, secret=secrets.token_bytes(32))
        report = home / DEMO_REPORT
        options = WorkspaceOptions(
            backend=backend,
            secure_cookies=False,
            organisation="Riverside Medical Group",
            today=lambda: today,
            report_dir=report if report.is_dir() else None,
        )
        app = create_app(config=ApiConfig(), models=ModelRegistry([]), workspace=options)
        driver = new_driver(Path(scratch))
        saved = []
        try:
            with serve(app) as live:
                _sign_in(driver, live.url, "readme-manager", passwords["readme-manager"])
                for name, path, anchor in (
                    ("queue", "/app/queue?scope=team", None),
                    ("item-appeal", f"/app/items/{appeal.id}", None),
                    ("item-correction", f"/app/items/{correction.id}", "checklist"),
                    ("letter", f"/app/items/{appeal.id}/letter", None),
                    ("team", "/app/team", None),
                    ("dashboard", "/app/dashboard", None),
                    ("dashboard-prevention", "/app/dashboard", "s-prevention-top"),
                ):
                    driver.get(live.url + path)
                    if anchor is not None:  # the part of the page the picture is about
                        driver.execute_script(f"document.getElementById('{anchor}').scrollIntoView()")
                    saved.append(screenshot(driver, out / f"workspace-{name}.png"))
                _sign_in(driver, live.url, "readme-reviewer", passwords["readme-reviewer"])
                driver.get(live.url + "/app/review")
                saved.append(screenshot(driver, out / "workspace-review.png"))
        finally:
            quit_driver(driver)
            engine.dispose()
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", type=Path, default=Path(".claimsight"), help="CLAIMSIGHT_HOME of `make demo`")
    parser.add_argument("--out", type=Path, default=Path("docs/screenshots"))
    args = parser.parse_args(argv)
    problem = missing_browser()
    if problem is not None:
        print(problem, file=sys.stderr)
        return 2
    for path in take(home=args.home, out=args.out):
        print(f"wrote {path} ({path.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
