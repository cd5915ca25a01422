"""The dev mailbox: mail addressed to you, newest first, HTML sanitised inline with working links;
someone else's mail never; a 404 in production."""
from __future__ import annotations

from extensions import db
from tests.conftest import AuthActions, clean_tables, make_app
from workflows.engine import outbox
from workflows.integrations import accounts


def test_mailbox_shows_only_your_mail_newest_first_with_safe_html(app, client, ada):
    base = app.extensions["stepwise"].settings.app_base_url
    with app.app_context():
        accounts.create_user("bob@example.com", "correct-horse-2")
        outbox.queue_email("a", "ada@example.com", "First", "one",
                           f'<p>Hi <a href="{base}/approvals/tok.en">decide</a> <a href="https://example.org/x">out</a></p>'
                           '<script>alert(1)</script><img src=x onerror="alert(2)"><p style="color:red" onclick="x()">styled</p>')
        outbox.queue_email("b", "ada@example.com", "Second", "plain text only")
        outbox.queue_email("c", "bob@example.com", "Bob's approval", "secret link")
        db.session.commit()
    html = client.get("/dev/mailbox").get_data(as_text=True)
    assert html.index("Second") < html.index("First")  # newest first
    assert "Bob&#39;s approval" not in html and "secret link" not in html
    assert '<a href="/approvals/tok.en" rel="noopener noreferrer">decide</a>' in html  # relative: works on this host
    assert '<a href="https://example.org/x" rel="noopener noreferrer">out</a>' in html
    assert "<script>alert" not in html and "onerror" not in html and "onclick" not in html and 'style="color' not in html
    assert "<iframe" not in html and '<pre class="email-text">plain text only</pre>' in html


def test_mailbox_needs_a_login(client):
    assert client.get("/dev/mailbox").status_code == 302


def test_mailbox_is_a_404_in_production(migrated):
    app = make_app(migrated, STEPWISE_ENV="production", APP_BASE_URL="https://stepwise.example.com",
                   QSTASH_TOKEN="t", QSTASH_CURRENT_SIGNING_KEY="k1", QSTASH_NEXT_SIGNING_KEY="k2")
    client = app.test_client()
    with app.app_context():
        clean_tables()
        accounts.create_user("ada@example.com", "correct-horse-1")
    AuthActions(client).login()
    assert client.get("/settings").status_code == 200
    assert client.get("/dev/mailbox").status_code == 404
    with app.app_context():
        clean_tables()
