"""Settings from the environment and `.env` (docs/architecture.md, *Configuration*).

Every value is parsed once at start-up; a malformed one stops the app with a single line that
names the variable, so a typo in production fails loudly instead of at 3 a.m.
"""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping
from urllib.parse import urlparse

from dotenv import dotenv_values

ROOT = Path(__file__).resolve().parent

# Public facts from Upstash's docs: the credentials of the official local QStash server.
DEV_QSTASH_TOKEN = "eyJVc2VySUQiOiJkZWZhdWx0VXNlciIsIlBhc3N3b3JkIjoiZGVmYXVsdFBhc3N3b3JkIn0="
DEV_CURRENT_SIGNING_KEY = "sig_7kYjw48mhY7kAjqNGcy6cr29RJ6r"
DEV_NEXT_SIGNING_KEY = "sig_5ZB6DVzB1wjE8S6rZ7eenA8Pdnhs"

DEFAULT_LLM_MODEL = "gpt-4o-mini"

# USD per 1M tokens (prompt, completion), from the providers' public price lists; a run's
# `costUsd` comes from here. A dated or provider-prefixed name ("gpt-4o-mini-2024-07-18",
# "openai/gpt-4o") costs what its base model costs; a model missing here (a local one) costs 0.
LLM_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1": (2.00, 8.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1-nano": (0.10, 0.40),
    "o4-mini": (1.10, 4.40),
    "o3-mini": (1.10, 4.40),
    "o3": (2.00, 8.00),
    "gpt-5": (1.25, 10.00),
    "gpt-5-mini": (0.25, 2.00),
    "gpt-5-nano": (0.05, 0.40),
}


class ConfigError(Exception):
    """A setting is missing or malformed; the message is one line naming the variable."""


@dataclass(frozen=True)
class Settings:
    """Typed, validated configuration; the only place the environment is read."""

    env: str = "development"
    secret_key: str = ""
    database_url: str = ""
    app_base_url: str = "http://127.0.0.1:5000"
    qstash_url: str = "http://127.0.0.1:8080"
    qstash_token: str = DEV_QSTASH_TOKEN
    qstash_current_signing_key: str = DEV_CURRENT_SIGNING_KEY
    qstash_next_signing_key: str = DEV_NEXT_SIGNING_KEY
    step_retries: int = 3
    step_timeout_seconds: int = 300
    # Most steps of all runs executing at once (one QStash flow-control key); None: no limit.
    step_parallelism: int | None = None
    openai_api_key: str | None = None
    openai_base_url: str | None = None
    llm_model: str = DEFAULT_LLM_MODEL
    mail_server: str | None = None
    mail_port: int = 25
    mail_use_tls: bool = False
    mail_username: str | None = None
    mail_password: str | None = None
    mail_default_sender: str = "Stepwise <stepwise@localhost>"
    approval_ttl_hours: float = 72.0
    allow_private_urls: bool = True
    linkedin_api_base: str = "https://api.linkedin.com"
    linkedin_client_id: str | None = None
    linkedin_client_secret: str | None = None
    linkedin_auth_base: str = "https://www.linkedin.com"

    @property
    def production(self) -> bool:
        """True when running with `STEPWISE_ENV=production`."""
        return self.env == "production"

    @property
    def llm_configured(self) -> bool:
        """A model is configured when a key or a base URL (a local server) is given."""
        return bool(self.openai_api_key or self.openai_base_url)


def _str(env: Mapping[str, str], name: str, default: str | None = None) -> str | None:
    value = env.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    raw = _str(env, name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None
    if value < minimum:
        raise ConfigError(f"{name} must be at least {minimum}, got {value}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = _str(env, name)
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None
    if not value > 0:
        raise ConfigError(f"{name} must be greater than 0, got {raw!r}")
    return value


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = _str(env, name)
    if raw is None:
        return default
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be 1/0, true/false, yes/no or on/off, got {raw!r}")


def _url(env: Mapping[str, str], name: str, default: str) -> str:
    value = _str(env, name, default)
    assert value is not None
    parsed = urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"{name} must be an http(s) URL, got {value!r}")
    return value.rstrip("/")


def _database_url(env: Mapping[str, str]) -> str:
    """Resolve a relative SQLite path against the project root, not the working directory."""
    url = _str(env, "DATABASE_URL", "sqlite:///instance/stepwise.db")
    assert url is not None
    if url.startswith("postgres://"):  # Heroku-style URLs that SQLAlchemy no longer accepts
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    if url.startswith("sqlite:///") and not url.startswith("sqlite:////"):
        relative = url[len("sqlite:///"):]
        if relative and relative != ":memory:":
            url = f"sqlite:///{ROOT / relative}"
    if not (url.startswith("sqlite:") or url.startswith("postgresql")):
        raise ConfigError(f"DATABASE_URL must be a sqlite:// or postgresql:// URL, got {url.split(':')[0]!r}")
    return url


def _dev_secret_key(instance: Path) -> str:
    """Generate the development secret once and keep it, so sessions survive restarts."""
    path = instance / "secret_key"
    if path.exists():
        return path.read_text().strip()
    instance.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    path.write_text(key)
    path.chmod(0o600)
    return key


def environment(dotenv_path: Path | None = None) -> dict[str, str]:
    """The process environment over the values of `.env` (the environment wins)."""
    path = dotenv_path or Path.cwd() / ".env"
    values = {k: v for k, v in dotenv_values(path).items() if v is not None} if path.exists() else {}
    values.update(os.environ)
    return values


def load_settings(env: Mapping[str, str], instance: Path = ROOT / "instance") -> Settings:
    """Parse and check every variable; raise ConfigError naming the first bad one."""
    stage = _str(env, "STEPWISE_ENV", "development")
    if stage not in ("development", "production"):
        raise ConfigError(f"STEPWISE_ENV must be 'development' or 'production', got {stage!r}")
    production = stage == "production"

    secret_key = _str(env, "SECRET_KEY")
    if secret_key is None:
        if production:
            raise ConfigError("SECRET_KEY is required in production")
        secret_key = _dev_secret_key(instance)

    settings = Settings(
        env=stage,
        secret_key=secret_key,
        database_url=_database_url(env),
        app_base_url=_url(env, "APP_BASE_URL", "http://127.0.0.1:5000"),
        qstash_url=_url(env, "QSTASH_URL", "http://127.0.0.1:8080"),
        qstash_token=_str(env, "QSTASH_TOKEN", DEV_QSTASH_TOKEN),
        qstash_current_signing_key=_str(env, "QSTASH_CURRENT_SIGNING_KEY", DEV_CURRENT_SIGNING_KEY),
        qstash_next_signing_key=_str(env, "QSTASH_NEXT_SIGNING_KEY", DEV_NEXT_SIGNING_KEY),
        step_retries=_int(env, "STEP_RETRIES", 3),
        step_timeout_seconds=_int(env, "STEP_TIMEOUT_SECONDS", 300, minimum=1),
        step_parallelism=_int(env, "STEP_PARALLELISM", 0, minimum=1) if _str(env, "STEP_PARALLELISM") else None,
        openai_api_key=_str(env, "OPENAI_API_KEY"),
        openai_base_url=_str(env, "OPENAI_BASE_URL") and _url(env, "OPENAI_BASE_URL", ""),
        llm_model=_str(env, "LLM_MODEL", DEFAULT_LLM_MODEL),
        mail_server=_str(env, "MAIL_SERVER"),
        mail_port=_int(env, "MAIL_PORT", 25, minimum=1),
        mail_use_tls=_bool(env, "MAIL_USE_TLS", False),
        mail_username=_str(env, "MAIL_USERNAME"),
        mail_password=_str(env, "MAIL_PASSWORD"),
        mail_default_sender=_str(env, "MAIL_DEFAULT_SENDER", "Stepwise <stepwise@localhost>"),
        approval_ttl_hours=_float(env, "APPROVAL_TTL_HOURS", 72.0),
        allow_private_urls=_bool(env, "ALLOW_PRIVATE_URLS", not production),
        linkedin_api_base=_url(env, "LINKEDIN_API_BASE", "https://api.linkedin.com"),
        linkedin_client_id=_str(env, "LINKEDIN_CLIENT_ID"),
        linkedin_client_secret=_str(env, "LINKEDIN_CLIENT_SECRET"),
        linkedin_auth_base=_url(env, "LINKEDIN_AUTH_BASE", "https://www.linkedin.com"),
    )
    if production:
        _check_production(settings)
    return settings


def _check_production(settings: Settings) -> None:
    """Refuse the public development credentials and plain-http callbacks in production."""
    if settings.qstash_token == DEV_QSTASH_TOKEN:
        raise ConfigError("QSTASH_TOKEN is the public development token; set your Upstash token")
    if settings.qstash_current_signing_key == DEV_CURRENT_SIGNING_KEY:
        raise ConfigError("QSTASH_CURRENT_SIGNING_KEY is the public development key")
    if settings.qstash_next_signing_key == DEV_NEXT_SIGNING_KEY:
        raise ConfigError("QSTASH_NEXT_SIGNING_KEY is the public development key")
    if not settings.app_base_url.startswith("https://"):
        raise ConfigError(f"APP_BASE_URL must be https in production, got {settings.app_base_url!r}")
