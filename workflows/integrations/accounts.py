"""Accounts: users, passwords, sessions, login throttling and API tokens."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta
from functools import cache

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email
from werkzeug.security import check_password_hash, generate_password_hash

from extensions import db
from models import PASSWORD_HASH, ApiToken, LoginAttempt, User, UserSession, utcnow
from workflows import transactions
from workflows.errors import Invalid

MIN_PASSWORD_LENGTH = 10
MAX_FAILED_LOGINS = 5
FAILED_LOGIN_WINDOW = timedelta(minutes=15)
TOKEN_PREFIX = "sw_"
SESSION_MAX_AGE = timedelta(days=30)  # also the remember-me cookie's lifetime (app.py)
TOKEN_USE_RESOLUTION = timedelta(minutes=1)


def normalize_email(email: str) -> str:
    """Check the syntax of an address (no DNS lookups) and return it normalized."""
    try:
        return validate_email((email or "").strip(), check_deliverability=False).normalized.lower()
    except EmailNotValidError as exc:
        raise Invalid(f"Enter a valid email address ({exc}).", field="email") from None


def check_password_rules(password: str) -> None:
    """Raise Invalid unless the password is long enough."""
    if len(password or "") < MIN_PASSWORD_LENGTH:
        raise Invalid(
            f"Password must be at least {MIN_PASSWORD_LENGTH} characters.", field="password"
        )


def create_user(email: str, password: str) -> User:
    """Register a user; raises Invalid naming `email` or `password`."""
    address = normalize_email(email)
    check_password_rules(password)
    if db.session.scalar(sa.select(User.id).where(User.email == address)) is not None:
        raise Invalid("An account with this email already exists.", field="email")
    user = User(email=address)
    user.set_password(password)
    db.session.add(user)
    db.session.commit()
    return user


def authenticate(email: str, password: str, now: datetime | None = None) -> User:
    """Return the user for these credentials, counting attempts to throttle guessing."""
    now = now or utcnow()
    address = (email or "").strip().lower()[:254]
    throttle(address, "login", now, field="password", what="failed attempts")
    user = db.session.scalar(sa.select(User).where(User.email == address))
    if not _password_matches(user, password or ""):
        db.session.rollback()  # the attempt's row stays: it is this failure
        raise Invalid("Wrong email or password.", field="password")
    db.session.execute(sa.delete(LoginAttempt).where(LoginAttempt.email == address, LoginAttempt.kind == "login"))
    db.session.commit()
    return user


@cache
def _dummy_hash() -> str:
    """A hash of a random password, made like every new password's (PASSWORD_HASH)."""
    return generate_password_hash(secrets.token_urlsafe(16), PASSWORD_HASH)


def _password_matches(user: User | None, password: str) -> bool:
    """Check the password, hashing just as much when no account has the address: otherwise the
    answer's time would tell who has an account (a wrong password costs a hash, an unknown
    address nothing)."""
    if user is None:
        check_password_hash(_dummy_hash(), password)
        return False
    return user.check_password(password)


def throttle(address: str, kind: str, now: datetime, field: str, what: str = "attempts") -> int:
    """Record an attempt of `kind` for `address`, then refuse it (Invalid) if more than
    MAX_FAILED_LOGINS fall in the window; returns the attempt's row id.

    Recorded and committed *before* counted, never counted then inserted: of any number of
    attempts in parallel (from any number of processes), the k-th to get through saw the rows of
    all k, so no more than MAX_FAILED_LOGINS ever do. A refused attempt leaves no row, so the lock
    lifts when the window of the counted ones ends.
    """
    attempt = LoginAttempt(email=address[:254], kind=kind, created_at=now)
    db.session.add(attempt)
    db.session.flush()
    attempt_id = attempt.id
    db.session.commit()
    since = now - FAILED_LOGIN_WINDOW
    attempts = db.session.scalars(
        sa.select(LoginAttempt.created_at)
        .where(LoginAttempt.email == address[:254], LoginAttempt.kind == kind, LoginAttempt.created_at > since)
        .order_by(LoginAttempt.created_at)
    ).all()
    if len(attempts) > MAX_FAILED_LOGINS:
        db.session.execute(sa.delete(LoginAttempt).where(LoginAttempt.id == attempt_id))
        db.session.commit()
        wait = attempts[0] + FAILED_LOGIN_WINDOW - now
        minutes = max(1, int(wait.total_seconds() // 60) + 1)
        raise Invalid(
            f"Too many {what}. Try again in {minutes} minute{'s' if minutes > 1 else ''}.",
            field=field,
        )
    return attempt_id


def start_session(user: User) -> None:
    """A new session row for a login; its key goes into the cookies through `user.get_id()`."""
    key = secrets.token_urlsafe(32)
    db.session.add(UserSession(user_id=user.id, key_hash=_hash_token(key)))
    db.session.commit()
    user.session_key = key


def end_session(user: User) -> None:
    """Log out: the session's row goes, so a copy of its cookies opens nothing."""
    if user.session_key:
        db.session.execute(sa.delete(UserSession).where(UserSession.key_hash == _hash_token(user.session_key)))
    db.session.commit()


def end_other_sessions(user: User) -> int:
    """Every session of the user but this one ends (after a password change)."""
    query = sa.delete(UserSession).where(UserSession.user_id == user.id)
    if user.session_key:
        query = query.where(UserSession.key_hash != _hash_token(user.session_key))
    return db.session.execute(query).rowcount or 0


def session_user(identifier: str, now: datetime | None = None) -> User | None:
    """The user of a live session named by '<user id>:<key>' (Flask-Login's user loader)."""
    user_id, _, key = (identifier or "").partition(":")
    if not user_id.isdigit() or not key:
        return None
    since = (now or utcnow()) - SESSION_MAX_AGE
    user = db.session.scalar(
        sa.select(User).join(UserSession, UserSession.user_id == User.id)
        .where(User.id == int(user_id), UserSession.key_hash == _hash_token(key), UserSession.created_at > since)
    )
    if user is not None:
        user.session_key = key
    return user


def prune_sessions(now: datetime) -> int:
    """Forget sessions older than SESSION_MAX_AGE (their cookies stopped working already)."""
    result = db.session.execute(sa.delete(UserSession).where(UserSession.created_at <= now - SESSION_MAX_AGE))
    db.session.commit()
    return result.rowcount or 0


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def check_current_password(user: User, password: str, field: str = "current_password") -> None:
    """Invalid naming `field` unless `password` is the user's password."""
    if not user.check_password(password or ""):
        raise Invalid("That is not your current password.", field=field)


def create_token(user: User, name: str) -> tuple[ApiToken, str]:
    """Create an API token; the plaintext is returned once and only its hash is stored."""
    name = (name or "").strip() or "API token"
    if len(name) > 100:
        raise Invalid("Name must be at most 100 characters.", field="name")
    plaintext = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user_id=user.id, name=name, token_hash=_hash_token(plaintext), prefix=plaintext[:10]
    )
    db.session.add(token)
    db.session.commit()
    return token, plaintext


def user_tokens(user: User) -> list[ApiToken]:
    """The user's tokens, newest first, revoked ones included."""
    return list(
        db.session.scalars(
            sa.select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())
        )
    )


def revoke_token(user: User, token_id: int) -> bool:
    """Revoke one of the user's tokens; False when it is not theirs or already revoked."""
    result = db.session.execute(
        sa.update(ApiToken)
        .where(ApiToken.id == token_id, ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow())
    )
    db.session.commit()
    return result.rowcount == 1


def user_for_token(plaintext: str) -> User | None:
    """The owner of a live token, or None for a missing, wrong or revoked one."""
    if not plaintext.startswith(TOKEN_PREFIX):
        return None
    token = db.session.execute(
        sa.select(ApiToken.id, ApiToken.user_id, ApiToken.last_used_at).where(
            ApiToken.token_hash == _hash_token(plaintext), ApiToken.revoked_at.is_(None)
        )
    ).first()
    if token is None:
        return None
    now = utcnow()
    # Record use at most once a minute so reads do not turn into writes on every request; a
    # read-only request does it in a write transaction of its own.
    if token.last_used_at is None or now - token.last_used_at > TOKEN_USE_RESOLUTION:
        with transactions.writing():
            db.session.execute(
                sa.update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now)
            )
            db.session.commit()
    return db.session.get(User, token.user_id)


def user_by_email(email: str) -> User | None:
    """Look a user up by address (case-insensitive)."""
    return db.session.scalar(sa.select(User).where(User.email == (email or "").strip().lower()))
