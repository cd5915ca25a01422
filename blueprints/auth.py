"""Accounts: register, log in, log out (docs/architecture.md, *HTTP surface*)."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import InputRequired

from extensions import login_manager
from models import User
from workflows.errors import Invalid
from workflows.integrations import accounts

bp = Blueprint("auth", __name__, url_prefix="/auth")


class RegisterForm(FlaskForm):
    email = EmailField("Email", validators=[InputRequired("Enter your email address.")])
    password = PasswordField("Password", validators=[InputRequired("Choose a password.")])


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[InputRequired("Enter your email address.")])
    password = PasswordField("Password", validators=[InputRequired("Enter your password.")])
    remember = BooleanField("Remember me")


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    from extensions import db

    return db.session.get(User, int(user_id)) if user_id.isdigit() else None


login_manager.login_view = "auth.login"
login_manager.login_message = "Log in to continue."
login_manager.login_message_category = "info"


def _attach(form: FlaskForm, error: Invalid) -> None:
    """Show a domain validation error next to the field it names."""
    field = getattr(form, error.field or "", None) or form.email
    field.errors = [*field.errors, error.message]


def _safe_next(target: str | None) -> str:
    """Only follow a relative `next` URL, so a login link cannot send users elsewhere."""
    if target and not urlsplit(target).netloc and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("dashboard.index")


@bp.route("/register", methods=["GET", "POST"])
def register():
    """Create an account and log it in."""
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = RegisterForm()
    if form.validate_on_submit():
        try:
            user = accounts.create_user(form.email.data, form.password.data)
        except Invalid as error:
            _attach(form, error)
        else:
            login_user(user)
            flash("Welcome to Stepwise.", "success")
            return redirect(url_for("dashboard.index"))
    status = 422 if form.errors else 200
    return render_template("auth/register.html", form=form), status


@bp.route("/login", methods=["GET", "POST"])
def login():
    """Log in with email and password."""
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.index"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = accounts.authenticate(form.email.data, form.password.data)
        except Invalid as error:
            _attach(form, error)
        else:
            login_user(user, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")))
    status = 422 if form.errors else 200
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    """End the session (and the remember-me cookie)."""
    logout_user()
    flash("You have been logged out.", "info")
    return redirect(url_for("auth.login"))
