"""CSRF: forms and cookie-authenticated requests need the token; Bearer API requests don't."""
from tests.conftest import csrf_from


def test_form_post_without_token_is_refused(client, app):
    response = client.post("/auth/register", data={"email": "ada@example.com", "password": "correct-horse-1"})
    assert response.status_code == 400
    assert "CSRF" in response.get_data(as_text=True)
    assert client.get("/").status_code == 302  # not logged in: nothing was created


def test_form_post_with_token_is_accepted(client, auth):
    assert auth.register().status_code == 302


def test_htmx_post_sends_token_in_header(client, auth):
    auth.register()
    page = client.get("/settings").get_data(as_text=True)
    token = csrf_from(page)
    assert f'hx-headers=\'{{"X-CSRFToken": "{token}"}}\'' in page
    without = client.post("/settings/tokens", data={"name": "x"}, headers={"HX-Request": "true"})
    assert without.status_code == 400
    with_header = client.post(
        "/settings/tokens", data={"name": "x"}, headers={"HX-Request": "true", "X-CSRFToken": token}
    )
    assert with_header.status_code == 200


def test_logout_needs_the_token(client, auth):
    auth.register()
    assert client.post("/auth/logout").status_code == 400
    assert client.get("/").status_code == 200  # still logged in
