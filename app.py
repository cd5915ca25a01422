"""The application factory: `flask --app app run`, `create_app(test_config=None)`."""
from __future__ import annotations

import ctypes
from typing import Any, Mapping

from flask import Flask, jsonify, render_template, request
from flask_wtf.csrf import CSRFError
from sqlalchemy import event
from sqlalchemy.exc import DataError, OperationalError
from werkzeug.exceptions import HTTPException

from config import ROOT, ConfigError, environment, load_settings
from extensions import csrf, db, htmx, init_migrations, login_manager, mail
from workflows import transactions
from workflows.integrations.accounts import SESSION_MAX_AGE

# Browsers may run only our own scripts and styles: no inline script anywhere in the templates.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)
MAX_REQUEST_BYTES = 1024 * 1024
SQLITE_CACHE_KIB = 512
MALLOC_ARENAS = 2
M_ARENA_MAX = -8  # mallopt's parameter number (glibc malloc.h)


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app. `test_config` keys that are variable names override the environment."""
    _cap_malloc_arenas()
    app = Flask(__name__, instance_path=str(ROOT / "instance"))
    overrides = dict(test_config or {})
    env = {**environment(), **{k: str(v) for k, v in overrides.items() if isinstance(v, (str, int, float))}}
    try:
        settings = load_settings(env, instance=ROOT / "instance")
    except ConfigError as exc:
        # One line naming the variable, not a traceback: this is an operator's typo.
        raise SystemExit(f"stepwise: configuration error: {exc}") from None

    app.config.update(
        SECRET_KEY=settings.secret_key,
        SQLALCHEMY_DATABASE_URI=settings.database_url,
        SQLALCHEMY_ENGINE_OPTIONS=_engine_options(settings.database_url),
        MAX_CONTENT_LENGTH=MAX_REQUEST_BYTES,
        WTF_CSRF_CHECK_DEFAULT=False,  # checked in _check_csrf, which knows the exemptions
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.production,
        REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_DURATION=SESSION_MAX_AGE,  # the session row lives as long
        REMEMBER_COOKIE_SECURE=settings.production,
        MAIL_SERVER=settings.mail_server or "localhost",
        MAIL_PORT=settings.mail_port,
        MAIL_USE_TLS=settings.mail_use_tls,
        MAIL_USERNAME=settings.mail_username,
        MAIL_PASSWORD=settings.mail_password,
        MAIL_DEFAULT_SENDER=settings.mail_default_sender,
        MAIL_SUPPRESS_SEND=False,  # whether to send is decided by Services.mailer (MAIL_SERVER set)
        SETTINGS=settings,
    )
    app.config.update(overrides)

    db.init_app(app)
    if app.testing:  # tests drive migrations through flask_migrate's functions; `flask db` wires them itself
        init_migrations(app)
    login_manager.init_app(app)
    mail.init_app(app)
    csrf.init_app(app)
    htmx.init_app(app)
    with app.app_context():
        # How long a writer waits for SQLite's lock before giving up (503); tests shorten it.
        _configure_sqlite(db.engine, int(app.config.get("SQLITE_BUSY_TIMEOUT_MS", 30_000)))

    from blueprints import api, auth, cli, dashboard, linkedin, qstash, routing
    from workflows.ports import build_services

    routing.install(app)  # before any blueprint adds a rule

    app.extensions["stepwise"] = build_services(settings)
    app.register_blueprint(auth.bp)
    app.register_blueprint(dashboard.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(linkedin.bp)
    app.register_blueprint(qstash.bp)
    cli.register(app)

    _register_hooks(app)
    _register_error_handlers(app)
    return app


def _cap_malloc_arenas() -> None:
    """At most MALLOC_ARENAS glibc malloc arenas (what MALLOC_ARENA_MAX=2 would set).

    glibc gives each thread that allocates under contention an arena of its own, up to 8 per
    core, and memory freed in one is seldom returned: with 16 request threads the worker's RSS
    grew by 6 to 8 MiB more than with 2 arenas, for the same work (docs/architecture.md,
    *Serving layout*). Python holds the GIL around almost every allocation, so fewer arenas
    cost no throughput. Set at start-up, before the request threads exist; a no-op off glibc.
    """
    try:
        ctypes.CDLL(None).mallopt(M_ARENA_MAX, MALLOC_ARENAS)  # the process's own symbols: libc's
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to cap
        pass


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30}}
    return {"pool_pre_ping": True}


def _configure_sqlite(engine: Any, busy_timeout_ms: int) -> None:
    """WAL, a long busy timeout, foreign keys, and IMMEDIATE write transactions
    (docs/architecture.md, *Transactions on SQLite and PostgreSQL*).

    pysqlite's own transaction handling is switched off so that we choose how each transaction
    begins: IMMEDIATE unless the request is known never to write (`workflows/transactions.py`), so two
    writers queue on the lock instead of failing with "database is locked" when a read
    transaction tries to upgrade, and pages never wait for a writer.
    """
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={busy_timeout_ms}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA synchronous=NORMAL")
        # 512 KiB of page cache per connection instead of 2 MiB: every list reads a few dozen
        # rows through an index, the file's pages stay in the OS cache anyway, and 16 threads'
        # connections each kept their own 2 MiB (docs/architecture.md, *Serving layout*).
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql(transactions.begin_statement())


def _register_hooks(app: Flask) -> None:
    from blueprints import transaction_mode
    from blueprints.security import check_csrf, refuse_nul, refuse_oversized_stream

    transaction_mode.register(app)  # first: every later hook may read the database
    app.before_request(refuse_oversized_stream)
    app.before_request(refuse_nul)
    app.before_request(check_csrf)

    @app.after_request
    def _security_headers(response):  # type: ignore[no-untyped-def]
        response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        # Approval links carry a token in the path: never leak it to another site.
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if request.endpoint != "static":
            # Pages and API answers hold private data (a new API token, approval inputs): a shared
            # or back-button cache must never keep them.
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.teardown_request
    def _rollback_on_error(exc: BaseException | None) -> None:
        if exc is not None:
            db.session.rollback()


def wants_json() -> bool:
    """JSON for the API and for clients that ask for it; HTML pages for browsers."""
    if request.path.startswith("/api/") or request.path == "/healthz":
        return True
    return request.accept_mimetypes.best == "application/json"


def _error(code: int, title: str, message: str, headers: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    """An error as JSON for the API, as the error page for browsers; the session rolled back."""
    db.session.rollback()
    if wants_json():
        return jsonify(error=message), code, headers or {}
    return render_template("error.html", code=code, title=title, message=message), code, headers or {}


def _register_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):  # type: ignore[no-untyped-def]
        message = exc.description or exc.name
        if exc.code == 413:
            message = f"request body too large (limit {MAX_REQUEST_BYTES // 1024} KiB)"
        return _error(exc.code, exc.name, message)

    @app.errorhandler(CSRFError)
    def _csrf_refused(exc: CSRFError):  # type: ignore[no-untyped-def]
        # Checked before the view: nothing was done. Say so, and what to do about it.
        return _error(400, "Bad request", f"{exc.description} Nothing was changed: reload the page and try again.")

    @app.errorhandler(OperationalError)
    def _database_unavailable(exc: OperationalError):  # type: ignore[no-untyped-def]
        # Gone, restarting or locked: a dependency is unavailable, so QStash and clients retry.
        app.logger.warning("database unavailable on %s %s: %s", request.method, request.path, str(exc.orig)[:200])
        return _error(503, "Unavailable", "the database is unavailable; try again shortly", {"Retry-After": "5"})

    @app.errorhandler(DataError)
    def _value_out_of_range(exc: DataError):  # type: ignore[no-untyped-def]
        # The database refused a value (a number beyond its column, say) that slipped past the
        # checks at the edge: the request was wrong, so a 400, and a log line to close the gap.
        app.logger.warning("value refused by the database on %s %s: %s", request.method, request.path,
                           str(exc.orig)[:200])
        return _error(400, "Bad request", "a value in this request is out of range")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):  # type: ignore[no-untyped-def]
        db.session.rollback()
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        return _error(500, "Something went wrong", "internal error; it has been logged")
