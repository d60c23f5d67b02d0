"""The workspace's pages under `/app`: sign-in, the appeal queue, an item, its letter, and pre-release review.

`mount_workspace(app, options)` adds them to the scoring service's FastAPI app (`create_app(workspace=...)`
calls it). Pages are rendered on the server from Jinja2 templates; the CSS and the one small script ship in
this package (`static/`), so nothing is fetched from another host.

Every route but the sign-in page is on `protected`, a router whose dependency `current_session` demands a
valid session cookie and, for any method but GET/HEAD/OPTIONS, this session's CSRF token in the form. A route
added there is protected without saying so; a route added to `public` is reachable by anyone, and the
route-walk test (tests/serving/workspace/web/test_routes_protected.py) fails until it is listed there.

Each route then checks the role's permission (`serving.workspace.roles.can`, through `User.can`) and answers
403 with a page saying what the role cannot do; the store checks again (`NotPermitted`). Every page that
shows claim facts (the queue, an item, its letter, the review list) is written to the PHI view log through
`WorkspaceBackend.record_phi_view`, with the route's template and the claims shown.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import jinja2
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from features.contract.codes import CodeTables, load_code_tables
from serving.workspace.letters import LetterLibrary
from serving.workspace.web import present
from serving.workspace.web.backend import (
    APPEAL_LEVELS,
    DRAFT_KINDS,
    LEVELED_ACTIONS,
    NEXT_STEPS,
    REVIEW_DECISIONS,
    WORK_ACTIONS,
    DraftKind,
    EditConflict,
    InvalidChange,
    ItemFilters,
    NotFound,
    NotPermitted,
    ReviewClaim,
    Session,
    User,
    WorkItem,
    WorkspaceBackend,
)
from serving.workspace.web.dashboard import add_dashboard_routes
from serving.workspace.web.security import (
    CSRF_FIELD,
    LOGIN_CSRF_COOKIE,
    SAFE_METHODS,
    SESSION_COOKIE,
    BadForm,
    CsrfRejected,
    LoginRequired,
    SecurityHeadersMiddleware,
    delete_cookie,
    read_cookie,
    read_form,
    safe_next,
    same_token,
    set_cookie,
)
from serving.workspace.web.sso import HeaderSso, install_sso, password_sign_in_off, sso_session

T = TypeVar("T")
HERE = Path(__file__).resolve().parent
STATIC_DIR = HERE / "static"
TEMPLATE_DIR = HERE / "templates"
PUBLIC_PATHS = frozenset({"/login"})  # relative to the prefix; everything else needs a session
MAX_NOTE_CHARS = 2_000
MAX_LETTER_CHARS = 20_000
MAX_MINUTES = 600
MAX_CAPACITY = 24 * 60  # minutes per day
LOGIN_FORM_SECONDS = 3_600
SAVED_MESSAGES = {
    "work": "Work recorded.",
    "draft": "Draft saved.",
    "checklist": "Checklist saved.",
    "review": "Decision saved.",
    "assign": "Assignment saved.",
    "reopen": "Item reopened.",
}
# what a role without the permission is told it cannot do
PERMISSION_TEXT = {
    "view_queue": "see the appeal queue",
    "work_items": "work items",
    "review_claims": "decide on claims held before release",
    "assign_items": "assign items to people",
    "set_capacity": "set people's capacity",
    "view_team_queue": "see the whole team's queue",
    "export_followups": "export the recorded work",
    "manage_users": "manage accounts",
    "view_dashboard": "see the leader's dashboard",
    "decide_prevention": "accept or reject learned edits and mark prevention fixes done",
}
# each draft kind: its form field, its heading, what the saved message and the kept page call it
DRAFT_FORMS: Mapping[DraftKind, tuple[str, str]] = {
    "appeal_letter": ("letter", "Appeal letter"),
    "corrected_claim_checklist": ("checklist", "Corrected claim checklist"),
}
# the draft a recommended action needs most: it is shown first
CHECKLIST_FIRST = frozenset({"correct_and_resubmit", "bill_other_payer"})
NEXT_STEP_LABELS = {
    "working": "Still working on it",
    "sent": "Sent to the payer",
    "written_off": "Closed: written off",
    "billed_patient": "Closed: billed to the patient",
}
# the step a recommended action usually ends with: the record-work form's default
DEFAULT_STEP = {"write_off": "written_off", "bill_patient": "billed_patient"}
# the team action a recommended action is usually done with: the record-work form's default
DEFAULT_WORK = {
    "correct_and_resubmit": "corrected_claim",
    "bill_other_payer": "corrected_claim",
    "appeal": "appeal",
    "reopen": "reconsideration",
    "verify_status": "payer_call",
    "bill_patient": "bill_patient",
    "write_off": "write_off",
}


@dataclass(frozen=True)
class WorkspaceOptions:
    """How the workspace runs: its store, cookie policy, and the name printed under letters.

    `secure_cookies=False` drops the cookies' `Secure` flag (and `__Host-` prefix) for local http only.
    `letters_dir` holds the team's own letter and checklist templates (`serving.workspace.letters`); they are
    checked when the workspace starts, so a broken template stops the start-up instead of a letter.
    `today` is the queue's "today" (tests pin it). `codes` defaults to the shipped CARC/RARC tables.
    `sso`: single sign-on by a reverse proxy's header (serving.workspace.web.sso); None = off.
    """

    backend: WorkspaceBackend
    secure_cookies: bool = True
    organisation: str = ""
    prefix: str = "/app"
    today: Callable[[], dt.date] = dt.date.today
    page_size: int = 100  # queue rows per page: a team's 10,000 open denials are read a page at a time
    codes: CodeTables | None = field(default=None, repr=False)
    letters_dir: Path | None = None
    routine: frozenset[tuple[str, str]] | None = None  # not denials: left out of drafts; None = the shipped set
    sso: HeaderSso | None = None
    report_dir: Path | None = None  # a report `claimsight report` wrote: served at /dashboard (web/dashboard.py)
    # the team's data directory, where the dashboard's decisions are written (payer_rules.yaml,
    # edit_decisions.yaml, prevention_decisions.yaml: web/decisions.py); None = the decision forms are off
    data_dir: Path | None = None

    def __post_init__(self) -> None:
        if not self.prefix.startswith("/") or self.prefix.endswith("/"):
            raise ValueError("prefix must start with / and not end with one, e.g. /app")


class Workspace:
    """What the routes share: the options, the templates, code meanings and asset URLs."""

    def __init__(self, options: WorkspaceOptions) -> None:
        self.options = options
        self.backend = options.backend
        self.prefix = options.prefix
        self.codes = present.CodeText(options.codes or load_code_tables(), options.routine)
        self.letters = LetterLibrary(options.letters_dir)
        self.letters.check()
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
            autoescape=jinja2.select_autoescape(["html"]),
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.asset_versions = {
            p.name: hashlib.sha256(p.read_bytes()).hexdigest()[:12] for p in STATIC_DIR.iterdir() if p.is_file()
        }
        self.env.globals.update(
            url=self.url,
            static=self.static,
            money=present.money,
            day=present.day,
            label=present.label,
            step_label=NEXT_STEP_LABELS.get,
            codes=self.codes,
            csrf_field=CSRF_FIELD,
        )

    def url(self, path: str = "", **query: Any) -> str:
        kept = {k: v for k, v in query.items() if v not in (None, "")}
        return self.prefix + path + (("?" + urlencode(kept)) if kept else "")

    def static(self, name: str) -> str:
        return f"{self.prefix}/static/{name}?v={self.asset_versions.get(name, '0')}"

    def render(
        self, template: str, *, status: int = 200, session: Session | None = None, **context: Any
    ) -> HTMLResponse:
        context.setdefault("nav", None)
        html = self.env.get_template(template).render(
            session=session, user=session.user if session else None, **context
        )
        return HTMLResponse(html, status_code=status)

    def error(self, status: int, title: str, message: str, session: Session | None = None) -> HTMLResponse:
        return self.render("error.html", status=status, session=session, title=title, message=message)


async def _call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """A backend call on a worker thread: a store may block on its database."""
    return await run_in_threadpool(fn, *args, **kwargs)


def _int(value: str | None, *, low: int, high: int) -> int | None:
    try:
        number = int((value or "").strip())
    except ValueError:
        return None
    return number if low <= number <= high else None


def _see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def build_routers(ws: Workspace) -> tuple[APIRouter, APIRouter]:
    """(public, protected): the sign-in page, and every other page behind `current_session`."""
    backend = ws.backend
    secure = ws.options.secure_cookies
    sso = ws.options.sso

    async def current_session(request: Request) -> Session:
        token = read_cookie(request, SESSION_COOKIE, secure=secure)
        session = await _call(backend.lookup_session, token) if token else None
        if sso is not None:
            session = await sso_session(request, session, sso=sso, backend=backend)
        if session is None:
            raise LoginRequired()
        if request.method not in SAFE_METHODS:
            try:
                form = await read_form(request)
            except BadForm:  # no form, no token: refused as a forgery would be
                raise CsrfRejected() from None
            if not same_token(form.get(CSRF_FIELD), session.csrf_token):
                raise CsrfRejected()
        request.state.workspace_session = session
        return session

    public = APIRouter()
    protected = APIRouter(dependencies=[Depends(current_session)])

    def landing(user: User) -> str:
        """Where a person starts: the queue, else the review list, else the page for an account's role."""
        if user.can("view_queue"):
            return ws.url("/queue")
        if user.can("review_claims"):
            return ws.url("/review")
        return ws.url("/home")

    def forbidden(session: Session, permission: str) -> HTMLResponse:
        return ws.error(
            403,
            "Not for your role",
            f"Your role ({session.user.role}) cannot {PERMISSION_TEXT[permission]}. "
            "Ask a manager or an administrator if your work needs it.",
            session,
        )

    async def seen(session: Session, route: str, claim_ids: list[str], item_id: str | None = None) -> None:
        """The PHI view log: `session`'s user was shown these claims on `route` (a template, not the path)."""
        await _call(
            backend.record_phi_view, session.user, route=ws.prefix + route, claim_ids=claim_ids, item_id=item_id
        )

    # ------------------------------------------------------------------------------- sign-in
    def login_page(target: str | None, *, status: int = 200, error: str | None = None, username: str = "") -> Response:
        """The sign-in form with a fresh login CSRF token (and its cookie); `target` is where to go after."""
        token = secrets.token_urlsafe(32)
        response = ws.render(
            "login.html",
            status=status,
            error=error,
            username=username,
            login_csrf=token,
            next=safe_next(target, prefix=ws.prefix, default=""),
        )
        set_cookie(response, LOGIN_CSRF_COOKIE, token, secure=secure, max_age=LOGIN_FORM_SECONDS)
        return response

    @public.get("/login", response_class=HTMLResponse, include_in_schema=False)
    async def login_form(request: Request) -> Response:
        token = read_cookie(request, SESSION_COOKIE, secure=secure)
        found = await _call(backend.lookup_session, token) if token is not None else None
        if sso is not None:
            found = await sso_session(request, found, sso=sso, backend=backend)
        if found is not None:
            return _see_other(landing(found.user))
        if sso is not None and sso.only:
            return password_sign_in_off(ws)
        return login_page(request.query_params.get("next"))

    @public.post("/login", response_class=HTMLResponse, include_in_schema=False)
    async def login(request: Request) -> Response:
        if sso is not None and sso.only:
            return password_sign_in_off(ws)
        try:
            form = await read_form(request)
        except BadForm:
            raise CsrfRejected() from None
        if not same_token(form.get(CSRF_FIELD), read_cookie(request, LOGIN_CSRF_COOKIE, secure=secure)):
            raise CsrfRejected()
        username = form.get("username", "").strip()[:200]
        password = form.get("password", "")[:1_000]
        if not username or not password:
            return login_page(
                form.get("next"), status=400, error="Enter your username and password.", username=username
            )
        result = await _call(backend.authenticate, username, password)
        if result.user is None:
            if result.locked_until is not None:
                until = result.locked_until.astimezone(dt.UTC).strftime("%H:%M UTC")
                message = (
                    f"Too many failed sign-ins: this account is locked. Try again after {until}, "
                    "or ask an administrator to unlock it."
                )
                return login_page(form.get("next"), status=429, error=message, username=username)
            return login_page(form.get("next"), status=401, error="Wrong username or password.", username=username)
        session = await _call(backend.create_session, result.user)
        target = safe_next(form.get("next"), prefix=ws.prefix, default=landing(result.user))
        response = _see_other(target)
        set_cookie(response, SESSION_COOKIE, session.token, secure=secure)  # a browser-session cookie
        delete_cookie(response, LOGIN_CSRF_COOKIE, secure=secure)
        return response

    # ------------------------------------------------------------------------------- signed in
    @protected.get("/", include_in_schema=False)
    async def root(request: Request) -> Response:
        return _see_other(landing(_session(request).user))

    @protected.get("/home", response_class=HTMLResponse, include_in_schema=False)
    async def home(request: Request) -> Response:
        """A role that sees no claim (an admin): what it does here, and where."""
        session = _session(request)
        return ws.render("home.html", session=session, nav="home", permission_text=PERMISSION_TEXT)

    @protected.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        session = _session(request)
        await _call(backend.revoke_session, session.token)
        response = _see_other(ws.url("/login"))
        delete_cookie(response, SESSION_COOKIE, secure=secure)
        return response

    @protected.get("/queue", response_class=HTMLResponse, include_in_schema=False)
    async def queue(request: Request) -> Response:
        session = _session(request)
        if not session.user.can("view_queue"):
            return forbidden(session, "view_queue")
        params = request.query_params
        notice = None
        deadline_before = None
        if params.get("deadline_before"):
            try:
                deadline_before = dt.date.fromisoformat(params["deadline_before"])
            except ValueError:
                notice = "The deadline filter was not a date (YYYY-MM-DD) and was ignored."
        scope = "team" if params.get("scope") == "team" else "mine"
        if scope == "team" and not session.user.can("view_team_queue"):
            return forbidden(session, "view_team_queue")
        page = _int(params.get("page"), low=1, high=10**6) or 1
        size = ws.options.page_size
        filters = ItemFilters(
            mine=scope == "mine",
            payer_id=params.get("payer") or None,
            category=params.get("category") or None,
            action=params.get("action") or None,
            owner=params.get("owner") or None,
            deadline_before=deadline_before,
            limit=size + 1,  # one more than shown: whether there is a next page
            offset=(page - 1) * size,
        )
        found = await _call(backend.open_items, filters, session.user)
        items, more = found[:size], len(found) > size
        choices = await _call(backend.filter_choices, session.user, mine=scope == "mine")
        await seen(session, "/queue", [i.claim_id for i in items])
        today = ws.options.today()
        current = {
            "scope": scope,
            "payer": filters.payer_id or "",
            "category": filters.category or "",
            "action": filters.action or "",
            "owner": filters.owner or "",
            "deadline_before": deadline_before.isoformat() if deadline_before else "",
        }
        pager = {
            "first": (page - 1) * size + 1,
            "last": (page - 1) * size + len(items),
            "previous": page - 1 if page > 1 else None,
            "next": page + 1 if more else None,
        }
        return ws.render(
            "queue.html",
            pager=pager,
            session=session,
            nav="queue",
            today=today,
            today_items=[i for i in items if i.planned_day <= today],
            later_items=[i for i in items if i.planned_day > today],
            choices=choices,
            current=current,
            notice=notice,
            days_left=lambda d: present.days_left(d, today),
        )

    async def item_page(
        session: Session,
        item: WorkItem,
        *,
        status: int = 200,
        saved: str | None = None,
        error: str | None = None,
        conflict: str | None = None,
        work: Mapping[str, str] | None = None,
        draft_text: str | None = None,
        draft_kind: DraftKind = "appeal_letter",
        draft_error: str | None = None,
        reopen_error: str | None = None,
        reopen_note: str = "",
    ) -> HTMLResponse:
        today = ws.options.today()
        kept = session.user.can("work_items") and item.status != "resolved"
        default_work = {
            "action": DEFAULT_WORK.get(item.recommended_action, "appeal"),
            "minutes": str(item.minutes),
            "note": "",
            "then": DEFAULT_STEP.get(item.recommended_action, "sent"),
        }
        drafting = item.workable_by(session.user)
        drafts = []
        for kind in sorted(
            DRAFT_KINDS, key=lambda k: (k == "appeal_letter") == (item.recommended_action in CHECKLIST_FIRST)
        ):
            saved_text, version = item.saved_draft(kind)
            typed = draft_text if kind == draft_kind else None
            field_name, title = DRAFT_FORMS[kind]
            drafts.append(
                {
                    "kind": kind,
                    "field": field_name,
                    "title": title,
                    "saved": saved_text is not None,
                    "version": version,
                    "text": typed if typed is not None else saved_text or draft_start(kind, item, session.user, today),
                    "error": draft_error if kind == draft_kind else None,
                    # a refused or conflicting entry stays in its form, even when the item can no longer take it
                    "form": drafting or (kept and bool(conflict or draft_error) and typed is not None),
                }
            )
        suggested_level = _next_level(item)
        default_work["level"] = str(suggested_level) if default_work["action"] in LEVELED_ACTIONS else ""
        assignees = await _call(backend.assignees) if session.user.can("assign_items") else ()
        await seen(session, "/items/{item_id}", [item.claim_id], item.item_id)
        return ws.render(
            "item.html",
            status=status,
            session=session,
            nav="queue",
            item=item,
            today=today,
            days_left=present.days_left(item.deadline, today),
            saved=SAVED_MESSAGES.get(saved or ""),
            error=error,
            conflict=conflict,
            work={**default_work, **(work or {})},
            work_actions=WORK_ACTIONS,
            next_steps=NEXT_STEPS,
            assignees=assignees,
            work_form=item.workable_by(session.user) or (kept and bool(conflict or error) and work is not None),
            drafts=drafts,
            leveled_actions=sorted(LEVELED_ACTIONS),
            appeal_levels=APPEAL_LEVELS,
            suggested_level=suggested_level,
            reopen_form=item.reopenable_by(session.user),
            reopen_error=reopen_error,
            reopen_note=reopen_note,
        )

    def draft_start(kind: DraftKind, item: WorkItem, user: User, today: dt.date) -> str:
        return present.first_draft(
            kind, item, user=user, today=today, codes=ws.codes, organisation=ws.options.organisation, library=ws.letters
        )

    def kept_page(
        session: Session, status: int, message: str, *, work: Mapping[str, str] | None = None, letter: str | None = None
    ) -> HTMLResponse:
        """A refused entry on an item this person may not see (now someone else's): the entry is shown back,
        the item's claim facts are not."""
        return ws.render(
            "kept.html", status=status, session=session, nav="queue", message=message, work=work, letter=letter
        )

    async def load_item(item_id: str, session: Session, *, posting: bool = False) -> WorkItem | Response:
        """The item if this person may see it; otherwise the page that says why not. A form posted to an item
        that has become someone else's is let through (`posting`): the store refuses it or reports the
        conflict, and the answer shows the entry back without the item (`kept_page`)."""
        if not session.user.can("view_queue"):
            return forbidden(session, "view_queue")
        try:
            item = await _call(backend.item, item_id)
        except NotFound:
            return ws.error(404, "Not found", "There is no item with that id.", session)
        if not posting and not item.open_to(session.user):
            return ws.error(
                403,
                "Someone else's item",
                f"This item is assigned to {item.owner}: only they and the managers see it.",
                session,
            )
        return item

    @protected.get("/items/{item_id}", response_class=HTMLResponse, include_in_schema=False)
    async def item_view(item_id: str, request: Request) -> Response:
        session = _session(request)
        item = await load_item(item_id, session)
        if isinstance(item, Response):
            return item
        return await item_page(session, item, saved=request.query_params.get("saved"))

    @protected.post("/items/{item_id}/work", response_class=HTMLResponse, include_in_schema=False)
    async def record_work(item_id: str, request: Request) -> Response:
        session = _session(request)
        form = await read_form(request)
        item = await load_item(item_id, session, posting=True)
        if isinstance(item, Response):
            return item
        if not session.user.can("work_items"):
            return forbidden(session, "work_items")
        typed = {k: form.get(k, "") for k in ("action", "minutes", "note", "then", "level")}
        version = _int(form.get("expected_version"), low=1, high=2**62)
        minutes = _int(typed["minutes"], low=0, high=MAX_MINUTES)
        level = _int(typed["level"], low=min(APPEAL_LEVELS), high=max(APPEAL_LEVELS)) if typed["level"] else None
        problem = None
        if version is None:
            problem = "The form was incomplete; reload the page and try again."
        elif typed["action"] not in WORK_ACTIONS:
            problem = "Choose what you did."
        elif typed["then"] not in NEXT_STEPS:
            problem = "Choose where the item stands now."
        elif typed["level"] and level is None:
            problem = "Appeal level must be 1, 2 or 3 (3 is external review), or “Not an appeal”."
        elif level is not None and typed["action"] not in LEVELED_ACTIONS:
            problem = "Appeal level applies to an appeal or a reconsideration only: choose “Not an appeal”."
        elif minutes is None:
            problem = f"Minutes must be a whole number from 0 to {MAX_MINUTES}."
        elif len(typed["note"]) > MAX_NOTE_CHARS:
            problem = f"The note is longer than {MAX_NOTE_CHARS} characters."
        if problem is not None:
            if not item.open_to(session.user):
                return kept_page(session, 422, problem, work=typed)
            return await item_page(session, item, status=422, error=problem, work=typed)
        assert version is not None and minutes is not None
        try:
            await _call(
                backend.record_work,
                item_id,
                version,
                session.user,
                action=typed["action"],
                minutes=minutes,
                note=typed["note"],
                then=typed["then"],
                level=level,
            )
        except EditConflict as exc:
            current = exc.current
            assert isinstance(current, WorkItem)
            text = _conflict_text(exc, current, session.user)
            if not current.open_to(session.user):
                return kept_page(session, 409, text, work=typed)
            return await item_page(session, current, status=409, conflict=text, work=typed)
        except (NotPermitted, InvalidChange) as exc:
            status = 403 if isinstance(exc, NotPermitted) else 422
            if not item.open_to(session.user):
                return kept_page(session, status, _refusal(exc), work=typed)
            return await item_page(session, item, status=status, error=_refusal(exc), work=typed)
        return _see_other(ws.url(f"/items/{item_id}", saved="work"))

    @protected.post("/items/{item_id}/draft", response_class=HTMLResponse, include_in_schema=False)
    async def save_draft(item_id: str, request: Request) -> Response:
        session = _session(request)
        form = await read_form(request)
        item = await load_item(item_id, session, posting=True)
        if isinstance(item, Response):
            return item
        if not session.user.can("work_items"):
            return forbidden(session, "work_items")
        kind = _draft_kind(form.get("kind", "appeal_letter"))
        if kind is None:
            return ws.error(422, "Unknown draft", "The form was incomplete; reload the page and try again.", session)
        field_name, title = DRAFT_FORMS[kind]
        text = form.get(field_name, "")
        raw_version = form.get("expected_draft_version")
        version = None if raw_version == "" else _int(raw_version, low=1, high=2**62)
        if (raw_version != "" and version is None) or len(text) > MAX_LETTER_CHARS:
            problem = (
                f"The {title.lower()} is longer than {MAX_LETTER_CHARS} characters."
                if len(text) > MAX_LETTER_CHARS
                else "The form was incomplete; reload the page and try again."
            )
            if not item.open_to(session.user):
                return kept_page(session, 422, problem, letter=text)
            return await item_page(session, item, status=422, draft_text=text, draft_kind=kind, draft_error=problem)
        try:
            await _call(backend.save_draft, item_id, version, session.user, text, kind=kind)
        except EditConflict as exc:
            current = exc.current
            assert isinstance(current, WorkItem)
            conflict = _conflict_text(exc, current, session.user)
            if not current.open_to(session.user):
                return kept_page(session, 409, conflict, letter=text)
            return await item_page(session, current, status=409, conflict=conflict, draft_text=text, draft_kind=kind)
        except (NotPermitted, InvalidChange) as exc:
            status = 403 if isinstance(exc, NotPermitted) else 422
            if not item.open_to(session.user):
                return kept_page(session, status, _refusal(exc), letter=text)
            return await item_page(
                session, item, status=status, draft_text=text, draft_kind=kind, draft_error=_refusal(exc)
            )
        return _see_other(ws.url(f"/items/{item_id}", saved="checklist" if kind != "appeal_letter" else "draft"))

    @protected.post("/items/{item_id}/assign", response_class=HTMLResponse, include_in_schema=False)
    async def assign(item_id: str, request: Request) -> Response:
        session = _session(request)
        form = await read_form(request)
        if not session.user.can("assign_items"):
            return forbidden(session, "assign_items")
        item = await load_item(item_id, session)
        if isinstance(item, Response):
            return item
        version = _int(form.get("expected_version"), low=1, high=2**62)
        owner = form.get("owner", "").strip() or None
        if version is None:
            return await item_page(session, item, status=422, error="The form was incomplete; reload the page.")
        try:
            await _call(backend.assign, item_id, version, session.user, owner)
        except EditConflict as exc:
            current = exc.current
            assert isinstance(current, WorkItem)
            return await item_page(session, current, status=409, conflict=_conflict_text(exc, current, session.user))
        except (NotPermitted, InvalidChange) as exc:
            return await item_page(session, item, status=422, error=_refusal(exc))
        return _see_other(ws.url(f"/items/{item_id}", saved="assign"))

    @protected.post("/items/{item_id}/reopen", response_class=HTMLResponse, include_in_schema=False)
    async def reopen(item_id: str, request: Request) -> Response:
        session = _session(request)
        form = await read_form(request)
        if not session.user.can("work_items"):
            return forbidden(session, "work_items")
        item = await load_item(item_id, session)
        if isinstance(item, Response):
            return item
        version = _int(form.get("expected_version"), low=1, high=2**62)
        note = form.get("note", "")
        problem = None
        if version is None:
            problem = "The form was incomplete; reload the page and try again."
        elif not note.strip():
            problem = "Give the reason for reopening: the note is required."
        elif len(note) > MAX_NOTE_CHARS:
            problem = f"The note is longer than {MAX_NOTE_CHARS} characters."
        if problem is not None:
            return await item_page(session, item, status=422, reopen_error=problem, reopen_note=note)
        assert version is not None
        try:
            await _call(backend.reopen, item_id, version, session.user, note)
        except EditConflict as exc:
            current = exc.current
            assert isinstance(current, WorkItem)
            text = _reopen_conflict_text(exc, current, session.user)
            if not current.open_to(session.user):
                return kept_page(session, 409, text)
            return await item_page(session, current, status=409, conflict=text, reopen_note=note)
        except (NotPermitted, InvalidChange) as exc:
            status = 403 if isinstance(exc, NotPermitted) else 422
            return await item_page(session, item, status=status, reopen_error=_refusal(exc), reopen_note=note)
        return _see_other(ws.url(f"/items/{item_id}", saved="reopen"))

    @protected.get("/items/{item_id}/letter", response_class=HTMLResponse, include_in_schema=False)
    async def letter(item_id: str, request: Request) -> Response:
        session = _session(request)
        item = await load_item(item_id, session)
        if isinstance(item, Response):
            return item
        kind = _draft_kind(request.query_params.get("kind", "appeal_letter"))
        if kind is None:
            return ws.error(404, "Not found", "There is no draft of that kind.", session)
        saved_text, _ = item.saved_draft(kind)
        text = saved_text or draft_start(kind, item, session.user, ws.options.today())
        await seen(session, "/items/{item_id}/letter", [item.claim_id], item.item_id)
        return ws.render(
            "letter.html",
            session=session,
            nav="queue",
            item=item,
            text=text,
            saved=saved_text is not None,
            title=DRAFT_FORMS[kind][1],
        )

    # ------------------------------------------------------------------------------- team capacity
    async def team_page(
        session: Session, *, status: int = 200, saved: bool = False, error: str | None = None
    ) -> Response:
        people = await _call(backend.team_capacity, session.user)
        total = sum(m or 0 for _, m in people)
        return ws.render(
            "team.html", status=status, session=session, nav="team", people=people, total=total, saved=saved,
            error=error, max_minutes=MAX_CAPACITY,
        )  # fmt: skip

    @protected.get("/team", response_class=HTMLResponse, include_in_schema=False)
    async def team(request: Request) -> Response:
        session = _session(request)
        if not session.user.can("set_capacity"):
            return forbidden(session, "set_capacity")
        return await team_page(session, saved=request.query_params.get("saved") == "capacity")

    @protected.post("/team/capacity", response_class=HTMLResponse, include_in_schema=False)
    async def set_capacity(request: Request) -> Response:
        session = _session(request)
        form = await read_form(request)
        if not session.user.can("set_capacity"):
            return forbidden(session, "set_capacity")
        minutes = _int(form.get("minutes"), low=0, high=MAX_CAPACITY)
        username = form.get("username", "").strip()
        if minutes is None or not username:
            return await team_page(
                session, status=422, error=f"Minutes per day must be a whole number from 0 to {MAX_CAPACITY}."
            )
        try:
            await _call(backend.set_capacity, session.user, username, minutes)
        except InvalidChange as exc:
            return await team_page(session, status=422, error=str(exc))
        return _see_other(ws.url("/team", saved="capacity"))

    # ------------------------------------------------------------------------------- review
    async def review_page(
        session: Session, *, status: int = 200, saved: str | None = None, conflict: str | None = None
    ) -> Response:
        claims = await _call(backend.review_claims, session.user)
        await seen(session, "/review", [c.claim_id for c in claims])
        return ws.render(
            "review.html",
            status=status,
            session=session,
            nav="review",
            claims=claims,
            decisions=REVIEW_DECISIONS,
            saved=SAVED_MESSAGES.get(saved or ""),
            conflict=conflict,
        )

    @protected.get("/review", response_class=HTMLResponse, include_in_schema=False)
    async def review(request: Request) -> Response:
        session = _session(request)
        if not session.user.can("review_claims"):
            return forbidden(session, "review_claims")
        return await review_page(session, saved=request.query_params.get("saved"))

    @protected.post("/review/{claim_id}", response_class=HTMLResponse, include_in_schema=False)
    async def decide(claim_id: str, request: Request) -> Response:
        session = _session(request)
        form = await read_form(request)
        if not session.user.can("review_claims"):
            return forbidden(session, "review_claims")
        version = _int(form.get("expected_version"), low=1, high=2**62)
        decision = form.get("decision", "")
        note = form.get("note", "")[:MAX_NOTE_CHARS]
        if version is None or decision not in REVIEW_DECISIONS:
            return ws.error(400, "Incomplete form", "Reload the review page and choose again.", session)
        try:
            await _call(backend.decide_review, claim_id, version, session.user, decision, note)
        except NotFound:
            return ws.error(404, "Not found", "There is no claim with that id in review.", session)
        except EditConflict as exc:
            current = exc.current
            assert isinstance(current, ReviewClaim)
            who = f" by {current.decided_by}" if current.decided_by else ""
            text = (
                f"Claim {current.claim_id} was changed{who} while you were deciding: it is now "
                f"{present.label(current.status).lower()}. Your choice was not saved; look again and choose."
            )
            return await review_page(session, status=409, conflict=text)
        except NotPermitted:
            return forbidden(session, "review_claims")
        return _see_other(ws.url("/review", saved="review"))

    add_dashboard_routes(protected, ws, forbidden=forbidden)
    return public, protected


def _draft_kind(value: str | None) -> DraftKind | None:
    """The draft kind a form or link names, or None for one that is not a kind."""
    return next((kind for kind in DRAFT_KINDS if kind == value), None)


def _session(request: Request) -> Session:
    """The session `current_session` (the protected router's dependency) found for this request."""
    session: Session = request.state.workspace_session
    return session


def _conflict_text(conflict: EditConflict, current: WorkItem, user: User) -> str:
    when = f" at {present.day(conflict.changed_at)}" if conflict.changed_at else ""
    who = f"{conflict.changed_by} saved this item{when}" if conflict.changed_by else f"This item was changed{when}"
    text = f"{who} while you were editing it. Your entry was not saved; it is kept below. "
    if current.owner not in (None, user.username):
        return text + f"The item is now {current.owner}'s: ask a manager to reassign it if you should work it."
    if current.status == "resolved":
        return text + "The item is resolved now."
    return text + "Check their change, then submit again."


def _reopen_conflict_text(conflict: EditConflict, current: WorkItem, user: User) -> str:
    """Someone changed the item since the page: if still resolved (reopened and closed again), the reason is
    kept in the form to send again; otherwise someone reopened it first and there is nothing left to do."""
    if current.status == "resolved":
        return _conflict_text(conflict, current, user)
    who = conflict.changed_by or "Someone"
    when = f" at {present.day(conflict.changed_at)}" if conflict.changed_at else ""
    status = present.label(current.status).lower()
    return f"{who} changed this item{when}: it is {status} now, so it needs no reopening."


def _refusal(exc: Exception) -> str:
    """The store's refusal as the page says it: its messages name items by number and people by username, never
    a claim or what was typed (serving.workspace.errors), so they are safe to show."""
    text = str(exc)
    return (text[:1].upper() + text[1:]).rstrip(".") + ". Your entry was not saved; it is kept below."


def _next_level(item: WorkItem) -> int:
    """The appeal level the work form suggests: the level being worked (a letter drafted in one sitting and sent
    in the next is one appeal), one above it once the item was reopened after it (the payer upheld that level),
    1 for a first appeal, never above the last (external review)."""
    last = max((n for n, e in enumerate(item.history) if e.level is not None), default=None)
    if last is None:
        return min(APPEAL_LEVELS)
    level = item.history[last].level or min(APPEAL_LEVELS)
    answered = any(e.event == "reopened" for e in item.history[last + 1 :])
    return min(level + 1 if answered else level, max(APPEAL_LEVELS))


def mount_workspace(app: FastAPI, options: WorkspaceOptions) -> Workspace:
    """Add the workspace to `app` under `options.prefix`: its pages, static assets, error pages and headers."""
    ws = Workspace(options)
    public, protected = build_routers(ws)
    app.include_router(public, prefix=ws.prefix)
    app.include_router(protected, prefix=ws.prefix)
    app.mount(ws.prefix + "/static", StaticFiles(directory=STATIC_DIR), name="workspace-static")
    app.state.workspace = ws

    async def login_required(request: Request, exc: Exception) -> Response:
        if request.method in ("GET", "HEAD"):
            path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            return _see_other(ws.url("/login", next=safe_next(path, prefix=ws.prefix, default="")))
        return ws.error(401, "Signed out", "Your session has ended. Sign in again, then repeat what you did.")

    async def csrf_rejected(request: Request, exc: Exception) -> Response:
        session = getattr(request.state, "workspace_session", None)
        return ws.error(
            403,
            "Form rejected",
            "This form did not come from your current session (it may be from an old page or another site), "
            "so nothing was changed. Go back, reload the page and try again.",
            session,
        )

    async def bad_form(request: Request, exc: Exception) -> Response:
        return ws.error(400, "Unreadable form", "The form could not be read. Reload the page and try again.")

    app.add_exception_handler(LoginRequired, login_required)
    app.add_exception_handler(CsrfRejected, csrf_rejected)
    app.add_exception_handler(BadForm, bad_form)
    app.add_middleware(SecurityHeadersMiddleware, prefix=ws.prefix, static_prefix=ws.prefix + "/static")
    if options.sso is not None:
        install_sso(app, ws)
    return ws


__all__ = ["PUBLIC_PATHS", "Workspace", "WorkspaceOptions", "build_routers", "mount_workspace"]
