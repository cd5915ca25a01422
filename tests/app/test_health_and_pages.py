"""Health check, security headers, layout, and the no-inline-script rule."""
import re
from pathlib import Path

from tests.conftest import make_app

ROOT = Path(__file__).resolve().parents[2]


def test_healthz_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}


def test_healthz_503_when_database_unreachable(tmp_path):
    app = make_app(f"sqlite:///{tmp_path}/missing-dir/nowhere/db.sqlite")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["status"] == "unavailable"


def test_security_headers(client):
    response = client.get("/auth/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_layout_has_navigation_and_pinned_htmx(auth, client):
    auth.register()
    html = client.get("/").get_data(as_text=True)
    for label in ("Workflows", "Approvals", "Settings", "Log out"):
        assert label in html
    assert "vendor/htmx-2.0.11.min.js" in html
    assert (ROOT / "static/vendor/htmx-2.0.11.min.js").read_text().find('version:"2.0.11"') != -1


def test_no_inline_scripts_or_styles_in_templates():
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text()
        for tag in re.findall(r"<script[^>]*>", text):
            assert "src=" in tag, f"inline script in {template}"
        assert "<style" not in text, f"inline style element in {template}"
        assert not re.search(r"\sstyle=", text), f"style attribute in {template}"
        assert not re.search(r"\son[a-z]+=", text), f"inline event handler in {template}"
        assert "hx-on" not in text, f"hx-on needs eval in {template}"


def test_unknown_page_is_a_friendly_404(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404 and "Back to your workflows" in response.get_data(as_text=True)
    api = client.get("/api/nothing-here")
    assert api.status_code == 404 and "error" in api.json


def test_oversized_request_is_413(client, api_user):
    response = client.post(
        "/api/workflows", data=b"x" * (1024 * 1024 + 1),
        headers={"Authorization": f"Bearer {api_user[1]}", "Content-Type": "application/json"},
    )
    assert response.status_code == 413 and "too large" in response.json["error"]
