"""Command line (contract): `flask --app app users create`, `tokens create`, `schedules sync`, `db ...`."""
from __future__ import annotations

import click
from flask import Flask, current_app, g
from flask.cli import AppGroup, ScriptInfo, with_appcontext

from extensions import init_migrations

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


class LazyMigrations(click.Group):
    """`flask db ...`: Flask-Migrate's commands, loaded (with Alembic) only when one is asked for."""

    def _group(self, ctx: click.Context) -> click.Group:
        init_migrations(ctx.ensure_object(ScriptInfo).load_app())
        from flask_migrate.cli import db as group

        return group

    def list_commands(self, ctx: click.Context) -> list[str]:
        return self._group(ctx).list_commands(ctx)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        return self._group(ctx).get_command(ctx, name)


# The same options and effect as Flask-Migrate's own `db` group, whose subcommands read them from g.
@click.group("db", cls=LazyMigrations)
@click.option("-d", "--directory", default=None, help='Migration script directory (default is "migrations")')
@click.option("-x", "--x-arg", multiple=True, help="Additional arguments consumed by custom env.py scripts")
@with_appcontext
def migrations(directory: str | None, x_arg: tuple[str, ...]) -> None:
    """Perform database migrations."""
    g.directory = directory
    g.x_arg = x_arg


def register(app: Flask) -> None:
    """Attach the command groups to the app's CLI."""
    app.cli.add_command(users)
    app.cli.add_command(tokens)
    app.cli.add_command(schedules_group)
    if "migrate" not in app.extensions:  # tests wired Flask-Migrate already, with its own `db` group
        app.cli.add_command(migrations)
