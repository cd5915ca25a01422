"""Settings of one qstash_dev process: command line, environment and `.env`."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from dotenv import dotenv_values

__all__ = ["Config", "DEV_TOKEN", "DEV_CURRENT_SIGNING_KEY", "DEV_NEXT_SIGNING_KEY", "load_config"]

# The public defaults of Upstash's own local server, so SDK examples work unchanged.
DEV_TOKEN = "eyJVc2VySUQiOiJkZWZhdWx0VXNlciIsIlBhc3N3b3JkIjoiZGVmYXVsdFBhc3N3b3JkIn0="
DEV_CURRENT_SIGNING_KEY = "sig_7kYjw48mhY7kAjqNGcy6cr29RJ6r"
DEV_NEXT_SIGNING_KEY = "sig_5ZB6DVzB1wjE8S6rZ7eenA8Pdnhs"

DEFAULT_DB = "instance/qstash_dev.db"
DEFAULT_TIMEOUT_SECONDS = 300.0  # per attempt; matches Stepwise's STEP_TIMEOUT_SECONDS default
DEFAULT_WORKERS = 32
DEFAULT_RETENTION_SECONDS = 3 * 86400.0  # finished messages (readable by id) and log entries
RETENTION_ENV = "QSTASH_DEV_RETENTION"


@dataclass(frozen=True)
class Config:
    """Everything the server needs to run."""

    host: str = "127.0.0.1"
    port: int = 8080
    db: str = DEFAULT_DB
    dedup_window: float = 600.0
    retry_scale: float = 1.0
    token: str = DEV_TOKEN
    current_signing_key: str = DEV_CURRENT_SIGNING_KEY
    next_signing_key: str = DEV_NEXT_SIGNING_KEY
    workers: int = DEFAULT_WORKERS
    default_timeout: float = DEFAULT_TIMEOUT_SECONDS
    retention: float = DEFAULT_RETENTION_SECONDS


def _non_negative(text: str) -> float:
    """argparse type: a number >= 0."""
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text} is negative")
    return value


def _positive(text: str) -> float:
    """argparse type: a number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text} is not positive")
    return value


def _parser() -> argparse.ArgumentParser:
    """The command line (contract: flag names)."""
    parser = argparse.ArgumentParser(
        prog="python -m qstash_dev",
        description="A local, persistent, QStash-compatible server.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8080, help="port to listen on (8080)")
    parser.add_argument("--db", default=DEFAULT_DB, help=f"SQLite file ({DEFAULT_DB})")
    parser.add_argument("--dedup-window", type=_non_negative, default=600.0,
                        help="deduplication window in seconds (600)")
    parser.add_argument("--retry-scale", type=_non_negative, default=1.0,
                        help="factor applied to the default retry backoff (1; tests use 0.01)")
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS,
                        help=f"deliveries in flight at most ({DEFAULT_WORKERS})")
    parser.add_argument("--default-timeout", type=_non_negative, default=DEFAULT_TIMEOUT_SECONDS,
                        help="per-attempt timeout in seconds when Upstash-Timeout is absent (300)")
    parser.add_argument("--retention", type=_positive, default=None,
                        help=f"seconds finished messages stay readable, with their log entries "
                             f"(${RETENTION_ENV}, else {DEFAULT_RETENTION_SECONDS:g})")
    return parser


def load_config(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None,
                cwd: Path | None = None) -> Config:
    """Build the Config from arguments, the environment and `.env` (environment wins)."""
    parser = _parser()
    args = parser.parse_args(argv)
    if args.db.strip() == ":memory:" or args.db.startswith("file::memory:"):
        parser.error("--db must be a file: qstash_dev keeps messages and schedules across restarts")
    env = dict(environ if environ is not None else os.environ)
    dotenv_path = (cwd or Path.cwd()) / ".env"
    file_values = {k: v for k, v in dotenv_values(dotenv_path).items() if v} if dotenv_path.is_file() else {}

    def setting(name: str, default: str) -> str:
        """An empty value counts as unset, so `QSTASH_TOKEN=` falls back to the dev default."""
        return env.get(name) or file_values.get(name) or default

    retention = args.retention
    if retention is None:
        try:
            retention = _positive(setting(RETENTION_ENV, str(DEFAULT_RETENTION_SECONDS)))
        except argparse.ArgumentTypeError as exc:
            parser.error(f"{RETENTION_ENV}: {exc} (seconds, e.g. 3600)")

    return Config(
        host=args.host,
        port=args.port,
        db=args.db,
        dedup_window=args.dedup_window,
        retry_scale=args.retry_scale,
        token=setting("QSTASH_TOKEN", DEV_TOKEN),
        current_signing_key=setting("QSTASH_CURRENT_SIGNING_KEY", DEV_CURRENT_SIGNING_KEY),
        next_signing_key=setting("QSTASH_NEXT_SIGNING_KEY", DEV_NEXT_SIGNING_KEY),
        workers=max(1, args.workers),
        default_timeout=args.default_timeout or DEFAULT_TIMEOUT_SECONDS,
        retention=retention,
    )
