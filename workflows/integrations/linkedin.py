"""LinkedIn: a member's stored connection, the OAuth 2.0 sign-in, and the text format of posts.

Calls go to LinkedIn's own fixed hosts (`LINKEDIN_AUTH_BASE`, `LINKEDIN_API_BASE`) with httpx
directly: the guarded client is for URLs that users supply, and these are not.
"""
from __future__ import annotations

import re
import threading
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote, urlencode

import httpx
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from config import Settings
from extensions import db
from models import Credential, utcnow
from workflows.errors import Invalid, Unavailable
from workflows.integrations.crypto import DecryptionError, decrypt_json, encrypt_json

PROVIDER = "linkedin"
SCOPES = ("openid", "profile", "w_member_social")
# LinkedIn's REST API is versioned by month and each version lives about a year: bump this
# (and re-run the tests) at least yearly. The /v2 endpoints (userinfo) take no version.
LINKEDIN_VERSION = "202511"
RESTLI_PROTOCOL_VERSION = "2.0.0"
MAX_POST_CHARS = 3000
EXPIRY_WARNING = timedelta(days=7)
MAX_PASTED_DAYS = 365
HTTP_TIMEOUT = 15.0  # seconds, for each call to LinkedIn's sign-in and profile endpoints
FEED_URL = "https://www.linkedin.com/feed/update/{post_id}/"

# The "little text format" of `commentary`: these characters start mentions, hashtags and
# templates; unescaped, LinkedIn may drop everything after one, cutting the post short.
RESERVED = re.compile(r"([|{}@\[\]()<>#\\*_~])")
MEMBER_ID = re.compile(r"^[A-Za-z0-9_-]{1,100}$")
PERSON_URN = "urn:li:person:"


class CredentialUnreadable(Invalid):
    """The stored connection cannot be decrypted (SECRET_KEY changed): connect again."""


class TokenFormError(Invalid):
    """A pasted token was refused; `errors` has one message per form field at fault."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__(" ".join(errors.values()), field=next(iter(errors)))
        self.errors = errors


def escape_commentary(text: str) -> str:
    """Backslash-escape every reserved character so LinkedIn shows the text as written."""
    return RESERVED.sub(r"\\\1", text)


def feed_url(post_id: str) -> str:
    """The public feed URL of a post, e.g. for `urn:li:share:123`."""
    return FEED_URL.format(post_id=post_id)


def error_message(response: httpx.Response) -> str:
    """LinkedIn's own words for an error: `error_description`, `message` or `error`."""
    try:
        data = response.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("error_description", "message", "error"):
            if isinstance(data.get(key), str) and data[key].strip():
                return data[key].strip()
    text = " ".join(response.text[:200].split())
    return text or f"HTTP {response.status_code}"


# --- the stored connection -------------------------------------------------------------

def _row(user_id: int) -> Credential | None:
    return db.session.scalar(
        sa.select(Credential).where(Credential.user_id == user_id, Credential.provider == PROVIDER)
    )


def save_credential(user_id: int, access_token: str, member_id: str, expires_at: datetime | None,
                    label: str | None, secret_key: str) -> Credential:
    """Store (or replace) the user's LinkedIn token, encrypted, with its expiry."""
    secret = encrypt_json(secret_key, {"access_token": access_token, "member_id": member_id})
    values = {"secret": secret, "label": label[:200] if label else None, "expires_at": expires_at}
    row = _row(user_id)
    if row is None:
        row = Credential(user_id=user_id, provider=PROVIDER, **values)
        db.session.add(row)
        try:
            db.session.commit()
            return row
        except IntegrityError:  # a concurrent connect inserted first: replace its row
            db.session.rollback()
            row = _row(user_id)
            assert row is not None
    for key, value in values.items():
        setattr(row, key, value)
    db.session.commit()
    return row


def save_pasted_token(user_id: int, access_token: str, member_id: str, expires_in_days: str | int | None,
                      secret_key: str, now: datetime) -> Credential:
    """Check and store a token pasted by hand; TokenFormError names every field at fault."""
    errors: dict[str, str] = {}
    token = (access_token or "").strip()
    if not token:
        errors["access_token"] = "Paste the access token."
    elif len(token) > 4000 or any(c.isspace() for c in token):
        errors["access_token"] = "An access token is one word of at most 4000 characters."
    member = (member_id or "").strip().removeprefix(PERSON_URN)
    if not MEMBER_ID.match(member):
        errors["member_id"] = ("Enter the member id (the `sub` of /v2/userinfo, e.g. 782bbtaQ), "
                               "with or without urn:li:person:.")
    days = str(expires_in_days if expires_in_days is not None else "").strip()
    if days and not (days.isdigit() and 1 <= int(days) <= MAX_PASTED_DAYS):
        errors["expires_in_days"] = f"Enter a whole number of days from 1 to {MAX_PASTED_DAYS}, or leave it empty."
    if errors:
        raise TokenFormError(errors)
    expires_at = now + timedelta(days=int(days)) if days else None
    return save_credential(user_id, token, member, expires_at, None, secret_key)


def load_credential(user_id: int, secret_key: str) -> dict[str, Any] | None:
    """`{access_token, member_id, expires_at}` decrypted, or None when not connected."""
    row = _row(user_id)
    if row is None:
        return None
    try:
        data = decrypt_json(secret_key, row.secret)
    except DecryptionError:
        raise CredentialUnreadable(
            "The saved LinkedIn connection can no longer be read (the app's SECRET_KEY changed): "
            "connect LinkedIn again on the Settings page"
        ) from None
    return {"access_token": data["access_token"], "member_id": data["member_id"], "expires_at": row.expires_at}


def step_credentials(services: Any, user_id: int) -> dict[str, Any]:
    """The step runner's loader for `linkedin_post`: `{"linkedin": {...}}`, or `{}`.

    An unreadable credential becomes `{"linkedin": {"error": ...}}` so the tool fails the step
    with that message instead of the runner crashing before the tool runs.
    """
    try:
        credential = load_credential(user_id, services.settings.secret_key)
    except CredentialUnreadable as exc:
        return {PROVIDER: {"error": exc.message}}
    return {PROVIDER: credential} if credential else {}


def credential_status(user_id: int, now: datetime) -> dict[str, Any]:
    """What the settings page shows: connected, label, expiry and warnings; never the token."""
    row = _row(user_id)
    if row is None:
        return {"connected": False, "label": None, "expires_at": None, "expires_soon": False, "expired": False}
    expires_at = row.expires_at
    expired = expires_at is not None and expires_at <= now
    soon = expires_at is not None and not expired and expires_at <= now + EXPIRY_WARNING
    return {"connected": True, "label": row.label, "expires_at": expires_at,
            "expires_soon": soon, "expired": expired}


def disconnect(user_id: int) -> bool:
    """Forget the user's LinkedIn token; True when there was one."""
    deleted = db.session.execute(
        sa.delete(Credential).where(Credential.user_id == user_id, Credential.provider == PROVIDER)
    ).rowcount
    db.session.commit()
    return deleted > 0


# --- the HTTP client ---------------------------------------------------------------------

_client: httpx.Client | None = None
_client_lock = threading.Lock()


def http_client() -> httpx.Client:
    """One client per process for LinkedIn's fixed hosts (thread-safe): its connections and CA
    bundle are reused instead of rebuilt for every call (~50 ms each). Timeouts are per request."""
    global _client
    with _client_lock:
        if _client is None:
            from workflows.integrations.guarded_http import shared_ssl_context

            _client = httpx.Client(verify=shared_ssl_context(), follow_redirects=False, trust_env=False)
        return _client


# --- OAuth 2.0 authorization code flow -------------------------------------------------

def oauth_configured(settings: Settings) -> bool:
    """True when LINKEDIN_CLIENT_ID and LINKEDIN_CLIENT_SECRET are both set."""
    return bool(settings.linkedin_client_id and settings.linkedin_client_secret)


def authorization_url(settings: Settings, redirect_uri: str, state: str) -> str:
    """Where to send the browser so the member can approve Stepwise on LinkedIn."""
    query = urlencode({
        "response_type": "code", "client_id": settings.linkedin_client_id,
        "redirect_uri": redirect_uri, "state": state, "scope": " ".join(SCOPES),
    }, quote_via=quote)
    return f"{settings.linkedin_auth_base}/oauth/v2/authorization?{query}"


def _call(method: str, url: str, doing: str, **kwargs: Any) -> dict[str, Any]:
    """One call to LinkedIn; its JSON object, or Invalid/Unavailable in LinkedIn's words."""
    try:
        response = http_client().request(method, url, timeout=HTTP_TIMEOUT, **kwargs)
    except httpx.TimeoutException:
        raise Unavailable(f"LinkedIn did not answer within {HTTP_TIMEOUT:g} s ({doing}); try again") from None
    except httpx.HTTPError as exc:
        raise Unavailable(f"Could not reach LinkedIn ({doing}): {exc}") from None
    if response.status_code == 429 or response.status_code >= 500:
        raise Unavailable(f"LinkedIn is unavailable ({doing}, HTTP {response.status_code}): "
                          f"{error_message(response)}; try again later")
    if not response.is_success:
        raise Invalid(f"LinkedIn refused {doing}: {error_message(response)}")
    try:
        data = response.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise Unavailable(f"LinkedIn sent an unexpected answer ({doing}); try again")
    return data


def exchange_code(settings: Settings, code: str, redirect_uri: str,
                  now: datetime | None = None) -> tuple[str, datetime | None]:
    """Trade the authorization code for `(access_token, expires_at)`."""
    data = _call("POST", f"{settings.linkedin_auth_base}/oauth/v2/accessToken", "the sign-in", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
        "client_id": settings.linkedin_client_id, "client_secret": settings.linkedin_client_secret,
    })
    token = data.get("access_token")
    if not isinstance(token, str) or not token:
        raise Unavailable("LinkedIn's answer to the sign-in has no access token; try again")
    granted = set(re.split(r"[\s,]+", data.get("scope") or "")) - {""}
    if granted and "w_member_social" not in granted:
        raise Invalid("LinkedIn did not grant permission to post (w_member_social): add the "
                      "'Share on LinkedIn' product to the LinkedIn app, then connect again")
    seconds = data.get("expires_in")
    valid = isinstance(seconds, int) and not isinstance(seconds, bool) and seconds > 0
    return token, ((now or utcnow()) + timedelta(seconds=seconds)) if valid else None


def connect_with_code(settings: Settings, user_id: int, code: str, redirect_uri: str, secret_key: str,
                      now: datetime) -> Credential:
    """Finish the sign-in: trade the code, identify the member, store the token encrypted."""
    token, expires_at = exchange_code(settings, code, redirect_uri, now)
    member_id, name = fetch_member(settings, token)
    return save_credential(user_id, token, member_id, expires_at, name, secret_key)


def fetch_member(settings: Settings, access_token: str) -> tuple[str, str | None]:
    """`(member_id, name)` of the token's member, from OpenID Connect's /v2/userinfo."""
    data = _call("GET", f"{settings.linkedin_api_base}/v2/userinfo", "to share the profile",
                 headers={"Authorization": f"Bearer {access_token}"})
    member = data.get("sub")
    if not isinstance(member, str) or not MEMBER_ID.match(member):
        raise Unavailable("LinkedIn's profile answer has no member id; try again")
    name = data.get("name") or " ".join(
        part for part in (data.get("given_name"), data.get("family_name")) if isinstance(part, str) and part
    )
    return member, (name if isinstance(name, str) and name.strip() else None)
