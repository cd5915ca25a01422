"""Connect LinkedIn on the settings page: OAuth against the stand-in, a pasted token, disconnect."""
from __future__ import annotations

import dataclasses
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import sqlalchemy as sa

from extensions import db
from models import Credential, utcnow
from tests.conftest import TEST_SECRET, csrf_from
from workflows.integrations import linkedin

CALLBACK = "http://127.0.0.1:5000/settings/linkedin/callback"
HTMX = {"HX-Request": "true"}


def _query(url: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(url).query)


def _row(app) -> Credential | None:
    with app.app_context():
        row = db.session.scalar(sa.select(Credential))
        if row is not None:
            db.session.expunge(row)
        return row


def _connect(client, standin) -> str:
    """Click Connect and approve on the stand-in; the callback path the browser comes back to."""
    response = client.get("/settings/linkedin/connect")
    assert response.status_code == 302
    callback = standin.follow_authorization(response.headers["Location"])
    assert callback.startswith(CALLBACK + "?")
    return callback.removeprefix("http://127.0.0.1:5000")


def test_connect_redirects_to_linkedin_with_the_oauth_parameters(client, standin, user_id):
    response = client.get("/settings/linkedin/connect")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(standin.auth_base + "/oauth/v2/authorization?")
    assert "scope=openid%20profile%20w_member_social" in location
    params = _query(location)
    assert {k: v for k, v in params.items() if k != "state"} == {
        "response_type": ["code"], "client_id": [standin.client_id], "redirect_uri": [CALLBACK],
        "scope": ["openid profile w_member_social"]}
    assert len(params["state"][0]) >= 40
    assert _query(client.get("/settings/linkedin/connect").headers["Location"])["state"] != params["state"]


def test_connect_without_an_oauth_app_is_a_400_that_says_what_to_set(app, client, user_id):
    app.config["SETTINGS"] = dataclasses.replace(app.config["SETTINGS"], linkedin_client_secret=None)
    response = client.get("/settings/linkedin/connect")
    assert response.status_code == 400
    assert "set LINKEDIN_CLIENT_ID and LINKEDIN_CLIENT_SECRET" in response.get_data(as_text=True)
    page = client.get("/settings/linkedin").get_data(as_text=True)
    assert "Connect LinkedIn</a>" not in page and "Paste an access token" in page


def test_callback_success_stores_the_token_encrypted_with_its_expiry(app, client, standin, user_id):
    before = utcnow()
    response = client.get(_connect(client, standin))
    assert response.status_code == 302 and response.headers["Location"] == "/settings#linkedin"

    [exchange] = standin.received("/oauth/v2/accessToken")
    assert exchange.header("content-type") == "application/x-www-form-urlencoded"
    form = exchange.form()
    assert form.pop("code").startswith("AQT")
    assert form == {"grant_type": "authorization_code", "redirect_uri": CALLBACK,
                    "client_id": standin.client_id, "client_secret": standin.client_secret}
    [userinfo] = standin.received("/v2/userinfo")
    token = userinfo.header("authorization").removeprefix("Bearer ")

    row = _row(app)
    assert (row.provider, row.user_id, row.label) == ("linkedin", user_id, "Ada Lovelace")
    assert token not in row.secret and standin.member_id not in row.secret
    assert before + timedelta(days=60) <= row.expires_at <= utcnow() + timedelta(days=60)
    with app.app_context():
        stored = linkedin.load_credential(user_id, TEST_SECRET)
    assert stored == {"access_token": token, "member_id": standin.member_id, "expires_at": row.expires_at}

    page = client.get("/settings/linkedin").get_data(as_text=True)
    assert "LinkedIn connected as Ada Lovelace." in page  # the flash
    assert "as <strong>Ada Lovelace</strong>" in page and token not in page
    assert row.expires_at.strftime("%Y-%m-%d") in page and "within 7 days" not in page


def test_callback_with_a_bad_state_is_refused_and_stores_nothing(app, client, standin, user_id):
    callback = _connect(client, standin)
    forged = callback.replace("state=", "state=x")
    response = client.get(forged)
    assert response.status_code == 400
    assert "does not match a Connect LinkedIn started from your Settings page" in response.get_data(as_text=True)
    assert client.get(callback).status_code == 400  # the state was used up by the attempt
    assert standin.received("/oauth/v2/accessToken") == [] and _row(app) is None


def test_callback_without_a_connect_in_this_session_is_refused(app, client, standin, user_id):
    assert client.get("/settings/linkedin/callback?code=AQTabc&state=whatever").status_code == 400
    assert standin.received("/oauth/v2/accessToken") == [] and _row(app) is None


def test_a_refusal_on_linkedin_is_shown_as_linkedin_phrased_it(app, client, standin, user_id):
    standin.deny_authorization("user_cancelled_login", "The user cancelled LinkedIn login")
    response = client.get(_connect(client, standin), follow_redirects=True)
    assert "LinkedIn did not connect: The user cancelled LinkedIn login" in response.get_data(as_text=True)
    assert _row(app) is None


def test_a_failed_code_exchange_shows_linkedins_error_description(app, client, standin, user_id):
    app.config["SETTINGS"] = dataclasses.replace(app.config["SETTINGS"], linkedin_client_secret="wrong")
    response = client.get(_connect(client, standin), follow_redirects=True)
    assert "LinkedIn refused the sign-in: Client authentication failed" in response.get_data(as_text=True)
    assert _row(app) is None


def test_pasted_token_errors_are_shown_next_to_each_field(app, client, user_id):
    page = client.get("/settings/linkedin").get_data(as_text=True)
    response = client.post("/settings/linkedin/token", headers=HTMX, data={
        "csrf_token": csrf_from(page), "access_token": "has spaces in it", "member_id": "not valid!",
        "expires_in_days": "0"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and html.startswith('<section id="linkedin">')
    for field, message in [("access_token", "An access token is one word"),
                           ("member_id", "Enter the member id"),
                           ("expires_in_days", "Enter a whole number of days from 1 to 365")]:
        assert f'id="linkedin-{field}-error" class="field-error">{message}' in html
        assert f'aria-describedby="linkedin-{field}-error"' in html
    assert "has spaces in it" not in html and 'value="not valid!"' in html
    assert _row(app) is None

    response = client.post("/settings/linkedin/token", data={"csrf_token": csrf_from(page)})
    assert response.status_code == 422 and "Paste the access token." in response.get_data(as_text=True)


def test_a_pasted_token_is_saved_encrypted_and_can_post(app, client, standin, user_id, make_ctx):
    from workflows.tools import REGISTRY

    token = standin.issue_token()
    page = client.get("/settings/linkedin").get_data(as_text=True)
    response = client.post("/settings/linkedin/token", headers=HTMX, data={
        "csrf_token": csrf_from(page), "access_token": f" {token} ",
        "member_id": f"urn:li:person:{standin.member_id}", "expires_in_days": "30"})
    html = response.get_data(as_text=True)
    assert "LinkedIn token saved." in html and "token pasted by hand" in html and token not in html
    row = _row(app)
    assert token not in row.secret and row.label is None
    assert abs(row.expires_at - (utcnow() + timedelta(days=30))) < timedelta(minutes=1)

    with app.app_context():  # what the step runner hands the tool
        services = type("Services", (), {"settings": app.config["SETTINGS"]})()
        credentials = linkedin.step_credentials(services, user_id)
    assert credentials["linkedin"]["access_token"] == token
    REGISTRY["linkedin_post"].run({"text": "Pasted by hand"}, make_ctx(credentials=credentials))
    assert [p["text"] for p in standin.posts] == ["Pasted by hand"]


def test_settings_warn_when_the_token_expires_within_7_days(app, client, user_id):
    now = utcnow()
    with app.app_context():
        linkedin.save_credential(user_id, "AQVtoken", "782bbtaQ", now + timedelta(days=5), "Ada", TEST_SECRET)
        assert linkedin.credential_status(user_id, now)["expires_soon"] is True
        assert linkedin.credential_status(user_id, now - timedelta(days=3))["expires_soon"] is False
    html = client.get("/settings/linkedin").get_data(as_text=True)
    assert "Your LinkedIn token expires within 7 days" in html and "AQVtoken" not in html

    with app.app_context():
        linkedin.save_credential(user_id, "AQVtoken", "782bbtaQ", now - timedelta(hours=1), "Ada", TEST_SECRET)
        status = linkedin.credential_status(user_id, now)
    assert status == {"connected": True, "label": "Ada", "expires_at": status["expires_at"],
                      "expires_soon": False, "expired": True}
    html = client.get("/settings/linkedin").get_data(as_text=True)
    assert "Your LinkedIn token has expired" in html and "within 7 days" not in html


def test_disconnect_forgets_the_token(app, client, user_id):
    with app.app_context():
        linkedin.save_credential(user_id, "AQVtoken", "782bbtaQ", None, "Ada", TEST_SECRET)
    page = client.get("/settings/linkedin").get_data(as_text=True)
    assert 'hx-confirm="Disconnect LinkedIn?' in page
    response = client.post("/settings/linkedin/disconnect", headers=HTMX, data={"csrf_token": csrf_from(page)})
    html = response.get_data(as_text=True)
    assert html.startswith('<section id="linkedin">') and "not connected" in html and "LinkedIn disconnected." in html
    assert _row(app) is None


def test_linkedin_settings_need_a_login_and_the_csrf_token(client, user_id):
    assert client.post("/settings/linkedin/disconnect").status_code == 400  # no CSRF token
    client.post("/auth/logout", data={"csrf_token": csrf_from(client.get("/settings").get_data(as_text=True))})
    for path in ("/settings/linkedin", "/settings/linkedin/connect", "/settings/linkedin/callback"):
        response = client.get(path)
        assert response.status_code == 302 and "/auth/login" in response.headers["Location"], path
