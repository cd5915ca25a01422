"""The command line contract: users create, tokens create."""
import sqlalchemy as sa

from extensions import db
from models import User
from tests.conftest import bearer


def test_users_create(runner, app):
    result = runner.invoke(args=["users", "create", "Cli@Example.com", "--password", "correct-horse-1"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert db.session.scalar(sa.select(User.email)) == "cli@example.com"


def test_users_create_refuses_taken_and_invalid(runner):
    runner.invoke(args=["users", "create", "cli@example.com", "--password", "correct-horse-1"])
    taken = runner.invoke(args=["users", "create", "cli@example.com", "--password", "correct-horse-1"])
    assert taken.exit_code == 1 and "already exists" in taken.output
    invalid = runner.invoke(args=["users", "create", "nope", "--password", "correct-horse-1"])
    assert invalid.exit_code == 1 and "valid email" in invalid.output
    short = runner.invoke(args=["users", "create", "ok@example.com", "--password", "short"])
    assert short.exit_code == 1 and "at least 10" in short.output


def test_tokens_create_prints_only_the_token(runner, client):
    runner.invoke(args=["users", "create", "cli@example.com", "--password", "correct-horse-1"])
    result = runner.invoke(args=["tokens", "create", "cli@example.com"])
    assert result.exit_code == 0
    token = result.output.strip()
    assert result.output == token + "\n" and token.startswith("sw_")
    assert client.get("/api/workflows", headers=bearer(token)).status_code == 200


def test_tokens_create_unknown_user(runner):
    result = runner.invoke(args=["tokens", "create", "ghost@example.com"])
    assert result.exit_code == 1 and "no user" in result.output
