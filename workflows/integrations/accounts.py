"""Accounts: users, passwords, login throttling and API tokens."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

import sqlalchemy as sa
from email_validator import EmailNotValidError, validate_email

from extensions import db
from models import ApiToken, LoginAttempt, User, utcnow
from workflows import transactions
from workflows.errors import Invalid

MIN_PASSWORD_LENGTH = 10
MAX_FAILED_LOGINS = 5
FAILED_LOGIN_WINDOW = timedelta(minutes=15)
TOKEN_PREFIX = "sw_"
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
    """Return the user for these credentials, counting failures to throttle guessing."""
    now = now or utcnow()
    address = (email or "").strip().lower()
    since = now - FAILED_LOGIN_WINDOW
    failures = db.session.scalars(
        sa.select(LoginAttempt.created_at)
        .where(LoginAttempt.email == address, LoginAttempt.created_at > since)
        .order_by(LoginAttempt.created_at)
    ).all()
    if len(failures) >= MAX_FAILED_LOGINS:
        wait = failures[0] + FAILED_LOGIN_WINDOW - now
        minutes = max(1, int(wait.total_seconds() // 60) + 1)
        raise Invalid(
            f"Too many failed attempts. Try again in {minutes} minute{'s' if minutes > 1 else ''}.",
            field="password",
        )
    user = db.session.scalar(sa.select(User).where(User.email == address))
    if user is None or not user.check_password(password or ""):
        db.session.add(LoginAttempt(email=address, created_at=now))
        db.session.commit()
        raise Invalid("Wrong email or password.", field="password")
    db.session.execute(sa.delete(LoginAttempt).where(LoginAttempt.email == address))
    db.session.commit()
    return user


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


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
