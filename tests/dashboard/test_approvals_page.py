"""The approvals inbox: content to read, inline decisions as htmx fragments, Edit & approve,
Request changes, Reject, the badge, History, ownership and CSRF."""
from __future__ import annotations

import re

import pytest

from extensions import db
from models import Approval, ApprovalStatus, PendingPublish
from tests.dashboard.conftest import HX, token_of
from tests.support.approvals import EMAIL, POST, WEBHOOK, seed
from workflows.integrations import accounts


def _approval(approval_id: int) -> Approval:
    return db.session.get(Approval, approval_id)


def test_pending_approvals_show_their_content_to_read(app, client, ada):
    with app.app_context():
        post_id, run_id, workflow_id = seed(ada, "linkedin_post", instruction="Write about AI")
        email_id, _, _ = seed(ada, "send_email", goal="Send the weekly digest")
        hook_id, _, _ = seed(ada, "http_request", goal="Tell Slack")
    html = client.get("/approvals").get_data(as_text=True)
    post = html[html.index(f'id="approval-{post_id}"'):]
    assert f'href="/workflows/{workflow_id}"' in post and f'href="/runs/{run_id}"' in post
    assert f"{len(POST['text'])} / 3,000 characters" in post
    assert "Time left: <strong>23 hours 59 minutes</strong>" in post or "Time left: <strong>1 day" in post
    card = html[html.index(f'id="approval-{email_id}"'):html.index(f'id="approval-{post_id}"')]
    assert "<dt>To</dt><dd>team@example.com</dd>" in card and "Weekly digest" in card
    hook = html[html.index(f'id="approval-{hook_id}"'):html.index(f'id="approval-{email_id}"')]
    assert "POST</code> <code class=\"url\">https://hooks.example.com/weekly" in hook
    assert '&#34;text&#34;: &#34;Report ready&#34;,\n  &#34;n&#34;: 3' in hook  # indented JSON
    for name in ("Approve", "Edit &amp; approve", "Reject"):
        assert name in hook
    # Only a step with an instruction can be revised.
    assert "Request changes" in post and "Request changes" not in hook
    assert re.search(r'<span class="badge" title="3 pending">3</span>', html)


def test_approve_inline_returns_the_decided_card_and_the_badge_out_of_band(app, client, ada, queue):
    with app.app_context():
        approval_id, _, _ = seed(ada, "http_request")
        seed(ada, "send_email")
    token = token_of(client, "/approvals")
    response = client.post(f"/approvals/{approval_id}/decision", data={"decision": "approve", "csrf_token": token}, headers=HX)
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "<nav" not in html  # a fragment, not the layout
    assert f'<article id="approval-{approval_id}" class="approval approval-approved">' in html
    assert ">Approved</span>" in html and "by <strong>ada@example.com</strong>" in html and "via the dashboard" in html
    assert 'id="approvals-badge"' in html and 'hx-swap-oob="true"' in html and 'title="1 pending">1<' in html
    with app.app_context():
        approval = _approval(approval_id)
        assert approval.status == ApprovalStatus.APPROVED and approval.channel.value == "app"
        assert approval.decided_input == WEBHOOK
    assert [m.dedup_id.endswith(f"-decision-{approval_id}") for m in queue.published] == [True]


def test_edit_and_approve_shows_fields_named_as_in_the_form_and_runs_the_edit(app, client, ada):
    with app.app_context():
        approval_id, _, _ = seed(ada, "send_email")
    edit = client.get(f"/approvals/{approval_id}/edit", headers=HX).get_data(as_text=True)
    assert "<nav" not in edit and "Approve edited" in edit
    for name in ("to", "subject", "body"):
        assert re.search(rf'<label for="approval-{approval_id}-{name}">{name}</label>', edit)
    assert 'name="input.subject" type="text" value="Weekly digest"' in edit
    data = {"decision": "approve", "edited": "1", "csrf_token": token_of(client, "/approvals"),
            "input.to": "boss@example.com", "input.subject": "Digest (edited)", "input.body": "Shorter."}
    html = client.post(f"/approvals/{approval_id}/decision", data=data, headers=HX).get_data(as_text=True)
    assert ">Approved</span>" in html
    with app.app_context():
        assert _approval(approval_id).decided_input == {"to": "boss@example.com", "subject": "Digest (edited)", "body": "Shorter."}


@pytest.mark.parametrize("field, value, message", [
    ("input.to", "not an address", "to must be a valid email address"),
    ("input.subject", "", "subject must not be empty"),
])
def test_edit_and_approve_errors_sit_beside_the_field_and_nothing_changes(app, client, ada, queue, field, value, message):
    with app.app_context():
        approval_id, _, _ = seed(ada, "send_email")
    data = {"decision": "approve", "edited": "1", "csrf_token": token_of(client, "/approvals"),
            "input.to": EMAIL["to"], "input.subject": EMAIL["subject"], "input.body": EMAIL["body"], field: value}
    response = client.post(f"/approvals/{approval_id}/decision", data=data, headers=HX)
    html = response.get_data(as_text=True)
    name = field.removeprefix("input.")
    assert response.status_code == 200 and "Approve edited" in html
    assert re.search(rf'id="approval-{approval_id}-{name}-error" class="field-error">{message}', html), html
    assert f'value="{value}"' in html or value == ""  # what was typed is kept
    with app.app_context():
        assert _approval(approval_id).status == ApprovalStatus.PENDING
        assert db.session.query(PendingPublish).count() == 0
    assert queue.published == []


def test_edit_with_invalid_json_names_the_field(app, client, ada):
    with app.app_context():
        approval_id, _, _ = seed(ada, "http_request")
    data = {"decision": "approve", "edited": "1", "csrf_token": token_of(client, "/approvals"),
            "input.url": WEBHOOK["url"], "input.method": "POST", "input.json": "{not json"}
    html = client.post(f"/approvals/{approval_id}/decision", data=data, headers=HX).get_data(as_text=True)
    assert f'id="approval-{approval_id}-json-error" class="field-error">json must be valid JSON' in html


def test_request_changes_needs_feedback_then_sends_the_step_back(app, client, ada):
    with app.app_context():
        approval_id, _, _ = seed(ada, "linkedin_post", instruction="Write about AI")
    token = token_of(client, "/approvals")
    empty = client.post(f"/approvals/{approval_id}/decision", data={"decision": "revise", "feedback": " ", "csrf_token": token}, headers=HX)
    assert "feedback is required" in empty.get_data(as_text=True)
    html = client.post(f"/approvals/{approval_id}/decision",
                       data={"decision": "revise", "feedback": "Shorter, please", "csrf_token": token}, headers=HX).get_data(as_text=True)
    assert ">Revise</span>" in html and "changes requested" in html and "Shorter, please" in html
    with app.app_context():
        assert _approval(approval_id).status == ApprovalStatus.REVISE


def test_reject_ends_the_run(app, client, ada):
    with app.app_context():
        approval_id, run_id, _ = seed(ada, "http_request")
    html = client.post(f"/approvals/{approval_id}/decision",
                       data={"decision": "reject", "csrf_token": token_of(client, "/approvals")}, headers=HX).get_data(as_text=True)
    assert ">Rejected</span>" in html
    with app.app_context():
        assert _approval(approval_id).run.status.value == "rejected"


def test_a_second_decision_shows_who_decided_first(app, client, ada):
    with app.app_context():
        approval_id, _, _ = seed(ada, "http_request")
    token = token_of(client, "/approvals")
    client.post(f"/approvals/{approval_id}/decision", data={"decision": "reject", "csrf_token": token}, headers=HX)
    html = client.post(f"/approvals/{approval_id}/decision", data={"decision": "approve", "csrf_token": token},
                       headers=HX).get_data(as_text=True)
    assert ">Rejected</span>" in html and "Your decision was not recorded: already rejected by ada@example.com" in html


def test_without_htmx_a_decision_redirects_back_with_a_message(app, client, ada):
    with app.app_context():
        approval_id, _, _ = seed(ada, "http_request")
    response = client.post(f"/approvals/{approval_id}/decision", data={"decision": "approve", "csrf_token": token_of(client, "/approvals")})
    assert response.status_code == 302 and response.headers["Location"] == "/approvals"
    assert "approved" in client.get("/approvals").get_data(as_text=True)


def test_edit_without_htmx_is_the_page_with_that_card_editable(app, client, ada):
    with app.app_context():
        approval_id, _, _ = seed(ada, "send_email")
    html = client.get(f"/approvals/{approval_id}/edit").get_data(as_text=True)
    assert "<nav" in html and "Approve edited" in html


def test_history_lists_decided_expired_and_cancelled_with_who_and_when(app, client, ada):
    with app.app_context():
        pending, _, _ = seed(ada, "http_request")
        decided, _, _ = seed(ada, "send_email")
        expired, _, _ = seed(ada, "http_request", status=ApprovalStatus.EXPIRED)
        cancelled, _, _ = seed(ada, "http_request", status=ApprovalStatus.CANCELLED)
    client.post(f"/approvals/{decided}/decision", data={"decision": "approve", "csrf_token": token_of(client, "/approvals")}, headers=HX)
    html = client.get("/approvals?tab=history").get_data(as_text=True)
    assert f'id="history-{pending}"' not in html
    row = html[html.index(f'id="history-{decided}"'):]
    assert "Approved" in row[:600] and "ada@example.com" in row[:600] and re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC", row[:800])
    for approval_id, word in ((expired, "Expired"), (cancelled, "Cancelled")):
        assert word in html[html.index(f'id="history-{approval_id}"'):][:500]


def test_another_users_approval_is_a_404_and_stays_pending(app, client, ada):
    with app.app_context():
        accounts.create_user("bob@example.com", "correct-horse-2")
        bobs, _, _ = seed("bob@example.com", "http_request")
    assert f'id="approval-{bobs}"' not in client.get("/approvals").get_data(as_text=True)
    token = token_of(client, "/approvals")
    assert client.get(f"/approvals/{bobs}/edit", headers=HX).status_code == 404
    assert client.post(f"/approvals/{bobs}/decision", data={"decision": "approve", "csrf_token": token}, headers=HX).status_code == 404
    with app.app_context():
        assert _approval(bobs).status == ApprovalStatus.PENDING


def test_a_decision_without_the_csrf_token_is_refused(app, client, ada):
    with app.app_context():
        approval_id, _, _ = seed(ada, "http_request")
    assert client.post(f"/approvals/{approval_id}/decision", data={"decision": "approve"}, headers=HX).status_code == 400
    with app.app_context():
        assert _approval(approval_id).status == ApprovalStatus.PENDING


def test_badge_fragment_counts_pending_and_stops_polling_when_logged_out(app, client, ada, auth):
    with app.app_context():
        seed(ada, "http_request")
    html = client.get("/approvals/badge", headers=HX).get_data(as_text=True)
    assert html.startswith('<span id="approvals-badge"') and 'title="1 pending">1<' in html and "hx-swap-oob" not in html
    auth.logout()
    assert client.get("/approvals/badge", headers=HX).status_code == 286

