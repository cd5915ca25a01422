"""Request-level security shared by the blueprints: CSRF exemptions and API authentication."""
from __future__ import annotations

import io

from flask import abort, current_app, g, jsonify, request
from flask_login import current_user, login_required

from extensions import csrf
from models import User
from workflows.integrations import accounts

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})


# QStash consumers prove themselves with a signature instead of a session.
SIGNED_ENDPOINTS: set[str] = set()


def signed_endpoint(view):  # type: ignore[no-untyped-def]
    """Mark a view as a QStash consumer: CSRF-exempt because its signature is checked."""
    SIGNED_ENDPOINTS.add(f"{view.__module__.rsplit('.', 1)[-1]}.{view.__name__}")
    return view


def bearer_token() -> str | None:
    """The token of an `Authorization: Bearer` header, or None."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or ""


def check_csrf() -> None:
    """Every unsafe request needs the CSRF token, except signed consumers and Bearer API calls.

    A browser cannot attach an Authorization header to a cross-site request without CORS, so a
    Bearer-authenticated API request cannot be forged; it is exempt only on the JSON API, which
    then authenticates by that token alone.
    """
    if not current_app.config.get("WTF_CSRF_ENABLED", True):
        return
    if request.method in SAFE_METHODS or request.endpoint in SIGNED_ENDPOINTS:
        return
    if request.endpoint is None:  # no such route or method: the answer is 404/405, not "CSRF token missing"
        return
    if request.blueprint == "api" and bearer_token() is not None:
        return
    if not current_user.is_authenticated and (request.blueprint == "api" or _needs_login(request.endpoint)):
        # No session to ride on: the view itself answers 401 (or the login page) first. Forms that
        # anonymous visitors post (log in, register, reset, the emailed approval link) stay checked.
        return
    csrf.protect()


# Every view wrapped by Flask-Login's login_required shares this code object.
_LOGIN_REQUIRED_CODE = login_required(lambda: None).__code__


def _needs_login(endpoint: str) -> bool:
    """True when the endpoint's view is wrapped by login_required (it answers anonymous requests)."""
    view = current_app.view_functions.get(endpoint)
    return getattr(view, "__code__", None) is _LOGIN_REQUIRED_CODE


def refuse_oversized_stream() -> None:
    """A body without Content-Length (chunked) over the limit is a 413, not silently truncated.

    Werkzeug enforces MAX_CONTENT_LENGTH up front only when the length is declared; a chunked
    body it cuts off at the limit without a word, so a 2 MB webhook would arrive as a broken
    1 MB one. Read at most one byte past the limit and refuse, or hand on what was read.
    """
    if request.content_length is not None or not request.environ.get("wsgi.input_terminated"):
        return
    limit = current_app.config["MAX_CONTENT_LENGTH"]
    data = request.environ["wsgi.input"].read(limit + 1)
    if len(data) > limit:
        abort(413)
    request.environ["wsgi.input"] = io.BytesIO(data)


def refuse_nul() -> None:
    """A NUL character in a query parameter or form field is a 400: PostgreSQL cannot store or compare it."""
    values = list(request.args.values())
    if request.method not in SAFE_METHODS and request.mimetype in FORM_TYPES:
        values += list(request.form.values())
    if any("\x00" in value for value in values):
        abort(400, description="NUL characters are not allowed in query parameters or form fields")


def api_user() -> User:
    """Authenticate a JSON API request by Bearer token or session; abort 401 otherwise."""
    token = bearer_token()
    if token is not None:
        user = accounts.user_for_token(token)
        if user is None:
            abort(_unauthorized("invalid or revoked API token"))
        g.via_token = True
        return user
    if current_user.is_authenticated:
        g.via_token = False
        return current_user._get_current_object()
    abort(_unauthorized("authentication required: send 'Authorization: Bearer <token>' or log in"))


def _unauthorized(message: str):  # type: ignore[no-untyped-def]
    response = jsonify(error=message)
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Bearer realm="stepwise"'
    return response
