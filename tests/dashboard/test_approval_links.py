"""The emailed approval link: GET shows and changes nothing, POST decides once, as the owner,
through the email channel; decided, expired, tampered and unknown links get clear pages."""
from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from extensions import db
from models import Approval, ApprovalStatus, Outbox, PendingPublish
from tests.conftest import csrf_from
from tests.support.approvals import seed
from workflows.engine import outbox
from workflows.integrations import accounts, signed_links


def _link(app, approval_id: int) -> str:
    """The path the approval email links to."""
    return outbox.approval_link(app.extensions["stepwise"], approval_id).removeprefix(
        app.extensions["stepwise"].settings.app_base_url)


def _snapshot() -> tuple:
    approvals = [(a.id, a.status, a.decided_at) for a in db.session.scalars(sa.select(Approval))]
    return approvals, db.session.scalar(sa.select(sa.func.count(PendingPublish.id)))


def test_get_shows_the_proposal_and_buttons_without_logging_in_and_changes_nothing(app, client, queue):
    with app.app_context():
        accounts.create_user("ada@example.com", "correct-horse-1")
        approval_id, _, _ = seed("ada@example.com", "linkedin_post", instruction="Write about AI")
        before = _snapshot()
    path = _link(app, approval_id)
    for _ in range(3):  # a mail scanner, a preview, the person
        response = client.get(path)
        assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert "Approval needed" in html and "Three things we learned about AI this week." in html
    assert "/ 3,000 characters" in html
    buttons = [html.index(f">{name}</button>") for name in ("Approve", "Request changes", "Reject")]
    assert buttons == sorted(buttons)  # "Approve" first
    assert 'name="csrf_token"' in html
    with app.app_context():
        assert _snapshot() == before
    assert queue.published == []


def test_request_changes_is_offered_only_for_steps_with_an_instruction(app, client, queue):
    with app.app_context():
        accounts.create_user("ada@example.com", "correct-horse-1")
        approval_id, _, _ = seed("ada@example.com", "http_request")
    html = client.get(_link(app, approval_id)).get_data(as_text=True)
    assert ">Approve</button>" in html and ">Reject</button>" in html and "Request changes" not in html
    token = csrf_from(html)
    response = client.post(_link(app, approval_id), data={"decision": "revise", "feedback": "x", "csrf_token": token})
    assert response.status_code == 422 and "cannot be revised" in response.get_data(as_text=True)


def test_post_approves_as_the_owner_through_the_email_channel_once(app, client, queue):
    with app.app_context():
        accounts.create_user("ada@example.com", "correct-horse-1")
        approval_id, run_id, _ = seed("ada@example.com", "http_request")
    path = _link(app, approval_id)
    token = csrf_from(client.get(path).get_data(as_text=True))
    response = client.post(path, data={"decision": "approve", "csrf_token": token})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Approved: the run continues" in html
    with app.app_context():
        approval = db.session.get(Approval, approval_id)
        assert approval.status == ApprovalStatus.APPROVED and approval.channel.value == "email"
        assert approval.decided_by == "ada@example.com"
    assert len(queue.published) == 1

    # Single use: the same link now says who decided and when, and a second POST is a 409.
    again = client.get(path).get_data(as_text=True)
    assert "Already decided" in again and ">Approved</span>" in again and "by <strong>ada@example.com</strong>" in again
    assert "via the emailed link" in again and f'href="/runs/{run_id}"' in again and ">Approve</button>" not in again
    second = client.post(path, data={"decision": "reject", "csrf_token": token})
    assert second.status_code == 409 and "already approved by ada@example.com" in second.get_data(as_text=True)
    assert len(queue.published) == 1


def test_reject_by_link(app, client, queue):
    with app.app_context():
        accounts.create_user("ada@example.com", "correct-horse-1")
        approval_id, _, _ = seed("ada@example.com", "send_email")
    path = _link(app, approval_id)
    token = csrf_from(client.get(path).get_data(as_text=True))
    assert "Rejected: the run has ended." in client.post(path, data={"decision": "reject", "csrf_token": token}).get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Approval, approval_id).run.status.value == "rejected"


def test_expired_link_says_so_and_decides_nothing(app, client, queue):
    with app.app_context():
        accounts.create_user("ada@example.com", "correct-horse-1")
        approval_id, _, _ = seed("ada@example.com", "http_request", expires_in=timedelta(minutes=-1))
    path = _link(app, approval_id)
    html = client.get(path).get_data(as_text=True)
    assert ">Expired</span>" in html and ">Approve</button>" not in html
    token = csrf_from(client.get("/auth/login").get_data(as_text=True))
    response = client.post(path, data={"decision": "approve", "csrf_token": token})
    assert response.status_code == 409 and "expired" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Approval, approval_id).status == ApprovalStatus.PENDING
    assert queue.published == []


def test_tampered_and_unknown_tokens_are_a_404_page(app, client, queue):
    with app.app_context():
        accounts.create_user("ada@example.com", "correct-horse-1")
        approval_id, _, _ = seed("ada@example.com", "http_request")
    path = _link(app, approval_id)
    tampered = path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB")
    for bad in (tampered, "/approvals/not-a-token", _link(app, approval_id + 999)):
        response = client.get(bad)
        assert response.status_code == 404, bad
        assert "not valid" in response.get_data(as_text=True) or "no longer exists" in response.get_data(as_text=True)
    token = csrf_from(client.get(path).get_data(as_text=True))
    assert client.post(tampered, data={"decision": "approve", "csrf_token": token}).status_code == 404


def test_post_without_csrf_token_is_refused(app, client, queue):
    with app.app_context():
        accounts.create_user("ada@example.com", "correct-horse-1")
        approval_id, _, _ = seed("ada@example.com", "http_request")
    assert client.post(_link(app, approval_id), data={"decision": "approve"}).status_code == 400
    with app.app_context():
        assert db.session.get(Approval, approval_id).status == ApprovalStatus.PENDING


def test_approval_email_links_to_the_token_page(app, client, queue):
    """The request email (written when the engine pauses) carries the link and the content."""
    with app.app_context():
        accounts.create_user("ada@example.com", "correct-horse-1")
        approval_id, _, _ = seed("ada@example.com", "send_email", instruction="Summarise")
        approval = db.session.get(Approval, approval_id)
        outbox.queue_approval_request(app.extensions["stepwise"], approval.id)
        db.session.commit()
        row = db.session.scalar(sa.select(Outbox))
    # The token carries the second it was signed in, so it is read back rather than made again.
    settings = app.extensions["stepwise"].settings
    link = re.search(re.escape(settings.app_base_url) + r"/approvals/([\w.-]+)", row.text)
    assert link and signed_links.read(settings.secret_key, signed_links.APPROVAL, link.group(1)) == {"a": approval_id}
    assert row.to == "ada@example.com" and row.subject.startswith("Approval needed: send_email")
    assert f'href="{link.group(0)}"' in row.html
    assert "To: team@example.com" in row.text and "Subject: Weekly digest" in row.text
    # Seeded to expire in 24 hours; a slow machine may take a minute or two to get here.
    assert re.search(r"Time left to decide: (23 hours 5\d minutes|1 day)", row.text), row.text
    assert "request changes" in row.text
