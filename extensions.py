"""Extension instances, created unbound and attached to the app in `create_app`.

Flask-Migrate (and Alembic with it, ~11 MiB) is not among them: the serving process never
migrates, so `init_migrations` wires it only where migrations run (the `flask db` commands,
tests).
"""
from pathlib import Path

from flask import Flask
from flask_login import LoginManager
from flask_mail import Mail
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from htmx_flask import Htmx
from sqlalchemy.orm import DeclarativeBase


class Base(DeclarativeBase):
    """Declarative base shared by every model."""


db = SQLAlchemy(model_class=Base)
login_manager = LoginManager()
mail = Mail()
csrf = CSRFProtect()
htmx = Htmx()


def init_migrations(app: Flask) -> None:
    """Attach Flask-Migrate to the app (idempotent), importing it only now."""
    if "migrate" in app.extensions:
        return
    from flask_migrate import Migrate

    Migrate(app, db, directory=str(Path(__file__).resolve().parent / "migrations"))
