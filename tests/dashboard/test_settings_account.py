"""Settings: change email and password, the notification address (verified first), failure and
completion emails, the viewer's time zone; every form as an htmx fragment with errors beside
their fields."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from extensions import db
from models import Outbox, User
from tests.dashboard.conftest import HX, token_of
from tests.support.approvals import seed
from workflows.integrations import accounts


def _user() -> User:
    return db.session.scalar(sa.select(User).where(User.id.is_not(None)))


def test_settings_page_has_every_section(client, ada):
    html = client.get("/settings").get_data(as_text=True)
    for section in ("notifications", "timezone", "account", "password", "tokens", "linkedin"):
        assert f'<section id="{section}">' in html
    for label in ("Notification email", "Your time zone", "Email", "Current password", "New password"):
        assert f">{label}</label>" in html
    assert 'name="notify_on_failure" value="1" role="switch" checked' in html
    assert re.search(r'name="notify_on_completion" value="1" role="switch">', html)  # off by default
    assert "dev mailbox" in html  # no SMTP configured


@pytest.mark.parametrize("current, new, field, message", [
    ("wrong-password", "a-new-password-2", "current_password", "That is not your current password."),
    ("correct-horse-1", "short", "new_password", "Password must be at least 10 characters."),
])
def test_password_change_errors_sit_beside_their_field(app, client, ada, current, new, field, message):
    response = client.post("/settings/password", headers=HX,
                           data={"current_password": current, "new_password": new, "csrf_token": token_of(client)})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and html.lstrip().startswith('<section id="password">')
    field_id = {"current_password": "password-current", "new_password": "password-new"}[field]
    assert f'id="{field_id}-error" class="field-error">{message}' in html
    with app.app_context():
        assert _user().check_password("correct-horse-1")


def test_password_change_without_htmx_is_a_422_page_on_error(client, ada):
    response = client.post("/settings/password", data={"current_password": "nope", "new_password": "x" * 12,
                                                       "csrf_token": token_of(client)})
    assert response.status_code == 422 and "<nav" in response.get_data(as_text=True)


def test_change_email_needs_the_password_and_a_free_address(app, client, ada, auth):
    with app.app_context():
        accounts.create_user("bob@example.com", "correct-horse-2")
    token = token_of(client)
    taken = client.post("/settings/email", headers=HX, data={"email": "bob@example.com", "current_password": "correct-horse-1", "csrf_token": token})
    assert "An account with this email already exists." in taken.get_data(as_text=True)
    wrong = client.post("/settings/email", headers=HX, data={"email": "ada@new.example", "current_password": "nope", "csrf_token": token})
    assert 'id="account-current-password-error" class="field-error">That is not your current password.' in wrong.get_data(as_text=True)
    ok = client.post("/settings/email", headers=HX, data={"email": "Ada@New.example", "current_password": "correct-horse-1", "csrf_token": token})
    assert "Your account email is now ada@new.example." in ok.get_data(as_text=True)
    auth.logout()
    assert auth.login("ada@new.example", "correct-horse-1").status_code == 302


def test_a_new_notification_address_is_used_only_after_its_link_is_opened(app, client, ada):
    response = client.post("/settings/notifications", headers=HX, data={
        "notification_email": "ada@phone.example", "notify_on_failure": "1", "csrf_token": token_of(client)})
    html = response.get_data(as_text=True)
    assert "We sent a link to ada@phone.example" in html and "Until then they go to ada@example.com" in html
    with app.app_context():
        user = _user()
        assert user.notify_address == "ada@example.com" and user.pending_notification_email == "ada@phone.example"
        (mail,) = db.session.scalars(sa.select(Outbox)).all()
        assert mail.to == "ada@phone.example" and "Confirm this address" in mail.html
    link = re.search(r"http://[^/]+(/settings/verify/\S+)", mail.text).group(1)
    logged_out = app.test_client()  # the link works on another device, without logging in
    assert "Stepwise now sends your notifications to <strong>ada@phone.example</strong>" in logged_out.get(link).get_data(as_text=True)
    with app.app_context():
        assert _user().notify_address == "ada@phone.example"
    assert logged_out.get(link).status_code == 404  # single use
    assert logged_out.get(link[:-4] + "abcd").status_code == 404


def test_notification_choices_are_saved(app, client, ada):
    client.post("/settings/notifications", headers=HX, data={"notification_email": "", "notify_on_completion": "1",
                                                             "csrf_token": token_of(client)})
    with app.app_context():
        user = _user()
        assert (user.notify_on_failure, user.notify_on_completion) == (False, True)


def test_an_invalid_notification_address_is_refused_beside_the_field(app, client, ada):
    html = client.post("/settings/notifications", headers=HX, data={"notification_email": "not-an-address",
                                                                    "csrf_token": token_of(client)}).get_data(as_text=True)
    assert 'id="notification-email-error" class="field-error">Enter a valid email address' in html
    with app.app_context():
        assert _user().pending_notification_email is None and db.session.scalar(sa.select(sa.func.count(Outbox.id))) == 0


def test_the_time_zone_setting_changes_how_times_are_shown(app, client, ada):
    response = client.post("/settings/timezone", headers=HX, data={"timezone": "Asia/Tokyo", "csrf_token": token_of(client)})
    assert "Times are now shown in Asia/Tokyo." in response.get_data(as_text=True)
    bad = client.post("/settings/timezone", headers=HX, data={"timezone": "Mars/Base", "csrf_token": token_of(client)})
    assert "is not a time zone Stepwise knows" in bad.get_data(as_text=True)
    with app.app_context():
        assert _user().timezone == "Asia/Tokyo"
    client.set_cookie("tz", "Europe/Berlin")  # the setting wins over the browser's zone
    assert '<option value="Asia/Tokyo" selected>' in client.get("/settings").get_data(as_text=True)
    with app.app_context():
        seed("ada@example.com", "http_request")
    assert re.search(r"\(until \d{4}-\d\d-\d\d \d\d:\d\d JST\)", client.get("/approvals").get_data(as_text=True))
    client.post("/settings/timezone", headers=HX, data={"timezone": "", "csrf_token": token_of(client)})
    assert "Your browser&#39;s (Europe/Berlin)" in client.get("/settings").get_data(as_text=True)
