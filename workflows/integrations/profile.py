"""What a person changes about their own account: password, email, where and when Stepwise
mails them, their time zone, and a forgotten password reset by an emailed link.

Links are signed (signed_links) and single use through the state they point at: a reset link
carries a fingerprint of the password hash it may replace, a verification link the address
that is still pending.
"""
from __future__ import annotations

import hashlib
import secrets

from extensions import db
from models import User
from workflows.authoring.definitions import known_timezone
from workflows.engine import outbox, sending
from workflows.errors import Invalid, NotFound
from workflows.integrations import accounts, signed_links
from workflows.ports import Services

RESET_MAX_AGE = 3600  # seconds a password-reset link works
VERIFY_MAX_AGE = 2 * 24 * 3600  # seconds a verification link works


def change_password(user: User, current: str, new: str) -> int:
    """Set a new password; every other session of the user ends. Returns how many ended."""
    accounts.check_current_password(user, current)
    try:
        accounts.check_password_rules(new)
    except Invalid as exc:
        raise Invalid(exc.message, field="new_password") from None
    user.set_password(new)
    ended = accounts.end_other_sessions(user)
    db.session.commit()
    return ended


def change_email(user: User, password: str, new_email: str) -> None:
    """Change the account's (login) email, after checking the password."""
    accounts.check_current_password(user, password)
    address = accounts.normalize_email(new_email)
    if address == user.email:
        return
    other = accounts.user_by_email(address)
    if other is not None:
        raise Invalid("An account with this email already exists.", field="email")
    user.email = address
    if user.notification_email == address:
        user.notification_email = None  # the account address is the default anyway
    db.session.commit()


def set_notification_email(services: Services, user: User, address: str) -> str:
    """Choose where notifications go: 'account' (the account email), 'unchanged', or 'pending'
    when a different address must first be verified through the link mailed to it."""
    address = (address or "").strip()
    if not address or address.lower() == user.email:
        user.notification_email = user.pending_notification_email = None
        db.session.commit()
        return "account"
    normalized = accounts.normalize_email(address)
    if normalized == user.notification_email:
        user.pending_notification_email = None
        db.session.commit()
        return "unchanged"
    user.pending_notification_email = normalized
    token = signed_links.make(services.settings.secret_key, signed_links.VERIFY_EMAIL,
                              {"u": user.id, "e": normalized})
    outbox.queue_rendered(f"verify-{user.id}-{secrets.token_hex(8)}", user, "verify_email",
                          "Confirm your notification address for Stepwise", to=normalized,
                          address=normalized, link=services.url(f"/settings/verify/{token}"))
    sending.commit_and_send(services)
    return "pending"


def _link_user(services: Services, purpose: str, token: str, max_age: int,
               expired: str) -> tuple[User | None, dict]:
    """The user an emailed link names (None if gone) and its payload; Invalid(expired) when too
    old, NotFound when tampered with."""
    try:
        payload = signed_links.read(services.settings.secret_key, purpose, token, max_age)
    except signed_links.ExpiredLink:
        raise Invalid(expired) from None
    except signed_links.BadLink:
        raise NotFound("This link is not valid: it may have been cut short by your mail program.") from None
    user_id = payload.get("u")
    return (db.session.get(User, user_id) if isinstance(user_id, int) else None), payload


def verify_notification_email(services: Services, token: str) -> User:
    """Make the pending address the notification address; NotFound for a bad or used link."""
    user, payload = _link_user(services, signed_links.VERIFY_EMAIL, token, VERIFY_MAX_AGE,
                               "This verification link has expired. Enter the address again in Settings to get a new one.")
    if user is None or user.pending_notification_email != payload.get("e"):
        raise NotFound("This verification link was already used or replaced by a newer one.")
    user.notification_email, user.pending_notification_email = user.pending_notification_email, None
    db.session.commit()
    return user


def set_notifications(user: User, on_failure: bool, on_completion: bool) -> None:
    """Whether to email when a run fails and when one completes."""
    user.notify_on_failure, user.notify_on_completion = on_failure, on_completion
    db.session.commit()


def set_timezone(user: User, name: str) -> None:
    """The zone pages and emails show times in; empty: the browser's."""
    name = (name or "").strip()
    if name and not known_timezone(name):
        raise Invalid(f"{name!r} is not a time zone Stepwise knows (IANA names such as Europe/Berlin).",
                      field="timezone")
    user.timezone = name or None
    db.session.commit()


def _fingerprint(user: User) -> str:
    """Changes whenever the password does, so a used reset link stops working."""
    return hashlib.sha256(user.password_hash.encode()).hexdigest()[:20]


def request_password_reset(services: Services, email: str) -> str | None:
    """Mail a reset link if an account has this address; the caller answers the same either way.

    Returns the link (None when no account has the address), for the one page allowed to show
    it: development without a mail server, where nobody could read the email otherwise.
    """
    address = (email or "").strip().lower()
    if not address:
        raise Invalid("Enter your email address.", field="email")
    now = services.clock()
    accounts.throttle(address, "reset", now, field="email", what="reset requests")  # records it too
    user = accounts.user_by_email(address)
    link = None
    if user is not None:
        token = signed_links.make(services.settings.secret_key, signed_links.PASSWORD_RESET,
                                  {"u": user.id, "p": _fingerprint(user)})
        link = services.url(f"/auth/reset/{token}")
        outbox.queue_rendered(f"reset-{user.id}-{secrets.token_hex(8)}", user, "password_reset",
                              "Reset your Stepwise password", to=user.email,
                              link=link, minutes=RESET_MAX_AGE // 60)
    sending.commit_and_send(services)
    return link


def reset_link_user(services: Services, token: str) -> User:
    """The user a reset link is for; Invalid when expired or already used, NotFound when bad."""
    user, payload = _link_user(services, signed_links.PASSWORD_RESET, token, RESET_MAX_AGE,
                               "This reset link has expired. Ask for a new one.")
    if user is None:
        raise NotFound("This reset link is not valid.")
    if payload.get("p") != _fingerprint(user):
        raise Invalid("This reset link was already used. Ask for a new one if you need to.")
    return user


def reset_password(services: Services, token: str, new_password: str) -> User:
    """Set the password a reset link allows; every session of the user ends."""
    user = reset_link_user(services, token)
    try:
        accounts.check_password_rules(new_password)
    except Invalid as exc:
        raise Invalid(exc.message, field="password") from None
    user.set_password(new_password)
    user.session_key = None
    accounts.end_other_sessions(user)
    db.session.commit()
    return user

