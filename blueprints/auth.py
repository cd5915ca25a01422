"""Accounts: register, log in, log out, reset a forgotten password (docs/architecture.md, *HTTP surface*).

Every login opens a session row whose key is part of the id Flask-Login keeps in the session
and remember-me cookies (User.get_id); logging out deletes the row, so a copied cookie opens
nothing afterwards.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import InputRequired

from blueprints.common import services
from extensions import login_manager
from models import User
from workflows.errors import Invalid, NotFound
from workflows.integrations import accounts, profile

bp = Blueprint("auth", __name__, url_prefix="/auth")


class RegisterForm(FlaskForm):
    email = EmailField("Email", validators=[InputRequired("Enter your email address.")])
    password = PasswordField("Password", validators=[InputRequired("Choose a password.")])


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[InputRequired("Enter your email address.")])
    password = PasswordField("Password", validators=[InputRequired("Enter your password.")])
    remember = BooleanField("Remember me")


class ResetRequestForm(FlaskForm):
    email = EmailField("Email", validators=[InputRequired("Enter your email address.")])


class NewPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[InputRequired("Choose a new password.")])


@login_manager.user_loader
def load_user(user_id: str) -> User | None:
    return accounts.session_user(user_id)


login_manager.login_view = "auth.login"
login_manager.login_message = "Log in to continue."
login_manager.login_message_category = "info"


def _attach(form: FlaskForm, error: Invalid) -> None:
    """Show a domain validation error next to the field it names."""
    field = getattr(form, error.field or "", None) or next(iter(f for f in form if f.name != "csrf_token"))
    field.errors = [*field.errors, error.message]


def _safe_next(target: str | None) -> str:
    """Only follow a relative `next` URL, so a login link cannot send users elsewhere."""
    if target and not urlsplit(target).netloc and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("dashboard.index")


def _log_in(user: User, remember: bool = False) -> None:
    accounts.start_session(user)
    login_user(user, remember=remember)


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
            _log_in(user)
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
            _log_in(user, remember=form.remember.data)
            return redirect(_safe_next(request.args.get("next")))
    status = 422 if form.errors else 200
    return render_template("auth/login.html", form=form), status


@bp.post("/logout")
@login_required
def logout():
    """End the session (and the remember-me cookie) here and in any copy of its cookies."""
    accounts.end_session(current_user)
    logout_user()
    flash("You have been logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/reset", methods=["GET", "POST"])
def reset_request():
    """"Forgot password?": mail a reset link; the answer never tells whether the address exists."""
    form = ResetRequestForm()
    if form.validate_on_submit():
        try:
            link = profile.request_password_reset(services(), form.email.data)
        except Invalid as error:
            _attach(form, error)
        else:
            # In development with no mail server the email can only sit in the outbox, and the dev
            # mailbox needs the very login that was forgotten: show the link here instead.
            dev_link = link if services().mailer is None and not services().settings.production else None
            return render_template("auth/reset_sent.html", email=form.email.data.strip(),
                                   mail_configured=services().mailer is not None, dev_link=dev_link)
    status = 422 if form.errors else 200
    return render_template("auth/reset_request.html", form=form), status


@bp.route("/reset/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    """The emailed reset link: choose a new password; every session of the account ends."""
    try:
        user = profile.reset_link_user(services(), token)
    except NotFound as error:
        abort(404, description=error.message)
    except Invalid as error:
        return render_template("auth/reset_invalid.html", message=error.message), 410
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            profile.reset_password(services(), token, form.password.data)
        except Invalid as error:
            _attach(form, error)
        else:
            if current_user.is_authenticated:
                logout_user()
            flash("Your password has been changed. Log in with the new one.", "success")
            return redirect(url_for("auth.login"))
    status = 422 if form.errors else 200
    return render_template("auth/reset_password.html", form=form, email=user.email), status
