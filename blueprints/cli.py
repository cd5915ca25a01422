"""Command line (contract): `flask --app app users create`, `tokens create`."""
from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from workflows import accounts
from workflows.errors import Invalid

users = AppGroup("users", help="Manage user accounts.")
tokens = AppGroup("tokens", help="Manage API tokens.")


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


def register(app: Flask) -> None:
    """Attach the command groups to the app's CLI."""
    app.cli.add_command(users)
    app.cli.add_command(tokens)
