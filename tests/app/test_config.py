"""Configuration: defaults, one-line errors naming the variable, production refusals."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from app import create_app
from config import (
    DEV_CURRENT_SIGNING_KEY,
    DEV_QSTASH_TOKEN,
    ConfigError,
    load_settings,
)

ROOT = Path(__file__).resolve().parents[2]
PROD = {
    "STEPWISE_ENV": "production",
    "SECRET_KEY": "s" * 40,
    "APP_BASE_URL": "https://stepwise.example.com",
    "QSTASH_TOKEN": "prod-token",
    "QSTASH_CURRENT_SIGNING_KEY": "sig_prod_current",
    "QSTASH_NEXT_SIGNING_KEY": "sig_prod_next",
}


def test_factory_is_not_in_testing_mode_by_default(migrated):
    assert not create_app({"DATABASE_URL": migrated, "SECRET_KEY": "x"}).testing
    assert create_app({"DATABASE_URL": migrated, "SECRET_KEY": "x", "TESTING": True}).testing


def test_defaults_point_at_the_embedded_stack(tmp_path):
    settings = load_settings({}, instance=tmp_path)
    assert settings.env == "development"
    assert settings.qstash_url == "http://127.0.0.1:8080"
    assert settings.qstash_token == DEV_QSTASH_TOKEN
    assert settings.app_base_url == "http://127.0.0.1:5000"
    assert settings.database_url.endswith("/instance/stepwise.db")
    assert settings.step_retries == 3 and settings.step_timeout_seconds == 300
    assert settings.approval_ttl_hours == 72 and settings.allow_private_urls is True
    assert not settings.llm_configured


def test_development_secret_key_is_generated_once(tmp_path):
    first = load_settings({}, instance=tmp_path).secret_key
    assert len(first) >= 32
    assert (tmp_path / "secret_key").read_text() == first
    assert load_settings({}, instance=tmp_path).secret_key == first


@pytest.mark.parametrize(
    "env, variable",
    [
        ({"STEPWISE_ENV": "staging"}, "STEPWISE_ENV"),
        ({"STEP_RETRIES": "three"}, "STEP_RETRIES"),
        ({"STEP_RETRIES": "-1"}, "STEP_RETRIES"),
        ({"STEP_TIMEOUT_SECONDS": "0"}, "STEP_TIMEOUT_SECONDS"),
        ({"APPROVAL_TTL_HOURS": "soon"}, "APPROVAL_TTL_HOURS"),
        ({"MAIL_PORT": "smtp"}, "MAIL_PORT"),
        ({"MAIL_USE_TLS": "maybe"}, "MAIL_USE_TLS"),
        ({"ALLOW_PRIVATE_URLS": "2"}, "ALLOW_PRIVATE_URLS"),
        ({"APP_BASE_URL": "localhost:5000"}, "APP_BASE_URL"),
        ({"QSTASH_URL": "ftp://q"}, "QSTASH_URL"),
        ({"OPENAI_BASE_URL": "not a url"}, "OPENAI_BASE_URL"),
        ({"DATABASE_URL": "mysql://x"}, "DATABASE_URL"),
        ({**PROD, "SECRET_KEY": ""}, "SECRET_KEY"),
        ({**PROD, "QSTASH_TOKEN": DEV_QSTASH_TOKEN}, "QSTASH_TOKEN"),
        ({**PROD, "QSTASH_CURRENT_SIGNING_KEY": DEV_CURRENT_SIGNING_KEY}, "QSTASH_CURRENT_SIGNING_KEY"),
        ({**{k: v for k, v in PROD.items() if k != "QSTASH_NEXT_SIGNING_KEY"}}, "QSTASH_NEXT_SIGNING_KEY"),
        ({**PROD, "APP_BASE_URL": "http://stepwise.example.com"}, "APP_BASE_URL"),
    ],
)
def test_each_config_error_is_one_line_naming_the_variable(tmp_path, env, variable):
    with pytest.raises(ConfigError) as caught:
        load_settings(env, instance=tmp_path)
    message = str(caught.value)
    assert message.startswith(variable)
    assert "\n" not in message


def test_production_accepts_real_credentials(tmp_path):
    settings = load_settings(PROD, instance=tmp_path)
    assert settings.production and settings.allow_private_urls is False


def test_factory_stops_with_one_line_on_a_bad_value(migrated):
    with pytest.raises(SystemExit) as caught:
        create_app({"DATABASE_URL": migrated, "STEP_RETRIES": "lots"})
    assert str(caught.value).count("\n") == 0
    assert "STEP_RETRIES" in str(caught.value)


@pytest.mark.stack  # runs the real `flask` command in a process
def test_flask_cli_prints_one_line_on_a_bad_value(tmp_path):
    env = {**os.environ, "STEP_TIMEOUT_SECONDS": "soon", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "routes"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "STEP_TIMEOUT_SECONDS" in lines[0] and "Traceback" not in result.stderr


def test_dotenv_is_read_and_environment_wins(tmp_path, monkeypatch):
    from config import environment

    (tmp_path / ".env").write_text("STEP_RETRIES=7\nAPPROVAL_TTL_HOURS=5\n")
    monkeypatch.setenv("APPROVAL_TTL_HOURS", "9")
    env = environment(tmp_path / ".env")
    settings = load_settings(env, instance=tmp_path)
    assert settings.step_retries == 7 and settings.approval_ttl_hours == 9
