"""Command line (contract): `flask --app app users create`, `tokens create`."""
from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from workflows.engine import schedules
from workflows.errors import Invalid, Unavailable
from workflows.integrations import accounts

users = AppGroup("users", help="Manage user accounts.")
tokens = AppGroup("tokens", help="Manage API tokens.")
schedules_group = AppGroup("schedules", help="Manage QStash schedules.")


@users.command("create")
@click.argument("email")
@click.option("--password", required=True, help="At least 10 characters.")
def create_user(email: str, password: str) -> None:
    """Create a user account."""
    try:
        user = accounts.create_user(email, password)
    except Invalid as error:
        raise click.ClickException(f"{error.field}: {error.message}") from None
    click.echo(f"created user {user.email}")


@tokens.command("create")
@click.argument("email")
@click.option("--name", default="CLI token", help="A label shown on the settings page.")
def create_token(email: str, name: str) -> None:
    """Create an API token for a user and print only the token."""
    user = accounts.user_by_email(email)
    if user is None:
        raise click.ClickException(f"no user with email {email}")
    _, plaintext = accounts.create_token(user, name)
    click.echo(plaintext)


@schedules_group.command("sync")
def sync_schedules() -> None:
    """Re-create every active workflow's QStash schedule and the stepwise-sweep schedule."""
    try:
        lines = schedules.sync(current_app.extensions["stepwise"])
    except Unavailable as error:
        raise click.ClickException(error.message) from None
    for line in lines:
        click.echo(line)
    if not lines:
        click.echo("schedules are in sync")


def register(app: Flask) -> None:
    """Attach the command groups to the app's CLI."""
    app.cli.add_command(users)
    app.cli.add_command(tokens)
    app.cli.add_command(schedules_group)
