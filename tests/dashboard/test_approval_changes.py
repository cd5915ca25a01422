"""What changed since the last approved version: the word diff and the similarity measure, then
the comparison on the approvals page, the emailed link page, in the approval email and in
`GET /api/approvals/<id>`."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
import sqlalchemy as sa

from extensions import db
from models import Outbox
from tests.conftest import bearer
from tests.dashboard.conftest import HX, statements, text_of
from tests.support.approvals import EMAIL, POST, approved_before, seed
from workflows.authoring import changes
from workflows.authoring.changes import Piece, Previous, word_diff
from workflows.engine import outbox
from workflows.integrations import accounts

LAST_WEEK = {**POST, "text": POST["text"].replace("this week", "last week")}  # 11 of 12 words in order
OTHER = {**POST, "text": "Robots fold laundry now.\n\nA short thread on why it matters."}  # no word in common
APPROVED_AT = datetime(2026, 5, 4, 7, 30, tzinfo=timezone.utc)


# --- the diff and the measure ---------------------------------------------------------------

@pytest.mark.parametrize("old, new, pieces", [
    ("a last week", "a this week", [("same", "a "), ("removed", "last"), ("added", "this"), ("same", " week")]),
    ("a foo b", "a b", [("same", "a "), ("removed", "foo"), ("same", " b")]),
    ("a week", "a new week", [("same", "a "), ("added", "new"), ("same", " week")]),
    ("Hi\n\nthere friend", "Hi\n\nyou friend", [("same", "Hi\n\n"), ("removed", "there"), ("added", "you"),
                                                ("same", " friend")]),
    ("old first", "first", [("removed", "old"), ("same", " first")]),
    ("same words", "same words", [("same", "same words")]),
])
def test_word_diff_marks_whole_words_and_keeps_line_breaks(old, new, pieces):
    assert [(p.kind, p.text) for p in word_diff(old, new)] == pieces


@pytest.mark.parametrize("old, new, expected", [
    ("Three things we learned", "Three things we learned", 1.0),
    ("Hello World", "hello   world", 1.0),  # case and spacing do not count
    ("alpha beta", "gamma delta", 0.0),
    (LAST_WEEK["text"], POST["text"], 2 * 11 / 24),  # 2·M/T: 11 matching words of 12 + 12
    ("", "", 1.0),
])
def test_similarity_is_difflibs_ratio_over_words(old, new, expected):
    assert changes.similarity([old], [new]) == pytest.approx(expected)


def test_what_is_compared_is_what_a_person_reads():
    assert changes.texts("linkedin_post", POST) == [("Post", POST["text"])]
    assert changes.texts("send_email", EMAIL) == [("Subject", "Weekly digest"), ("Body", EMAIL["body"])]
    assert changes.texts("http_request", {"url": "https://x.example", "json": {"text": "hi"}}) == [
        ("Body", '{\n  "text": "hi"\n}')]
    previous = Previous(1, {**EMAIL, "subject": "Weekly digest (old)"}, APPROVED_AT)
    comparison = changes.compare("send_email", previous, EMAIL)
    assert [(part.label, part.changed) for part in comparison.parts] == [("Subject", True), ("Body", False)]
    assert comparison.parts[0].pieces[-1] == Piece("removed", "(old)")


def test_a_version_too_long_to_compare_has_no_diff_and_no_similarity():
    long = " ".join(["word"] * (changes.MAX_WORDS + 1))
    comparison = changes.compare("linkedin_post", Previous(1, {"text": long}, APPROVED_AT), {"text": "short"})
    assert comparison.parts == () and comparison.similarity is None and not comparison.near_duplicate


# --- the approvals page, the card, the link page ------------------------------------------

def _seed_with_history(ada: str, previous: dict, **kwargs) -> tuple[int, int, str]:
    approval_id, run_id, workflow_id = seed(ada, "linkedin_post", **kwargs)
    approved_before(workflow_id, "linkedin_post", previous, APPROVED_AT)
    return approval_id, run_id, workflow_id


def _card(html: str, approval_id: int) -> str:
    start = html.index(f'id="approval-{approval_id}"')
    end = html.find("<article", start + 1)
    return html[start:end if end > 0 else None]


def test_the_card_shows_the_word_diff_beside_the_proposal(app, client, ada):
    with app.app_context():
        approval_id, _, _ = _seed_with_history(ada, OTHER)
    card = _card(client.get("/approvals").get_data(as_text=True), approval_id)
    assert '<div class="proposal-compare with-changes">' in card
    assert "Since the version approved on 2026-05-04 07:30 UTC" in card
    assert "<del>Robots fold laundry now.\n\nA short thread on why it matters.</del><ins>Three things we learned" in card
    assert "very similar" not in card


def test_a_near_duplicate_is_flagged_with_the_date_it_was_approved(app, client, ada):
    with app.app_context():
        approval_id, _, _ = _seed_with_history(ada, LAST_WEEK)
    card = text_of(_card(client.get("/approvals").get_data(as_text=True), approval_id))
    assert "very similar to what you approved on 2026-05-04 07:30 UTC (92% the same words, in order)" in card
    assert "similarity 0.92" in card


def test_a_step_never_approved_before_shows_no_comparison(app, client, ada):
    with app.app_context():
        approval_id, _, workflow_id = seed(ada, "linkedin_post")
        approved_before(workflow_id, "send_email", EMAIL, APPROVED_AT)  # same index, another tool
    card = _card(client.get("/approvals").get_data(as_text=True), approval_id)
    assert 'class="changes"' not in card and '<div class="proposal-compare">' in card


def test_the_htmx_card_and_the_emailed_link_page_show_the_comparison_too(app, client, ada):
    with app.app_context():
        approval_id, _, _ = _seed_with_history(ada, LAST_WEEK)
        link = outbox.approval_link(app.extensions["stepwise"], approval_id).removeprefix(
            app.extensions["stepwise"].settings.app_base_url)
    fragment = client.get(f"/approvals/{approval_id}/card", headers=HX).get_data(as_text=True)
    assert "<nav" not in fragment and "very similar to what you approved on" in fragment
    page = text_of(client.get(link).get_data(as_text=True))
    assert "very similar to what you approved on 2026-05-04 07:30 UTC" in page


def test_comparing_a_whole_page_costs_one_statement_however_many_cards(app, client, ada):
    def count(cards: int) -> int:
        with app.app_context():
            for _ in range(cards):
                _seed_with_history(ada, OTHER)
        with statements(app) as seen:
            assert client.get("/approvals").status_code == 200
        return len(seen)

    few = count(2)
    assert count(8) == few  # 10 cards now, each with its own workflow and history


# --- the JSON API -----------------------------------------------------------------------------

def _token(app, email: str) -> str:
    with app.app_context():
        return accounts.create_token(accounts.user_by_email(email), "test")[1]


def test_get_approval_has_previous_approved_and_similarity(app, client, ada):
    with app.app_context():
        approval_id, _, _ = _seed_with_history(ada, LAST_WEEK)
        first_seen, _, _ = seed(ada, "linkedin_post")
    token = _token(app, ada)
    body = client.get(f"/api/approvals/{approval_id}", headers=bearer(token)).get_json()
    assert body["id"] == approval_id and body["proposedInput"] == POST
    assert body["previousApproved"] == LAST_WEEK and body["previousApprovedAt"] == "2026-05-04T07:30:00.000Z"
    assert body["similarity"] == pytest.approx(0.9167, abs=1e-4)
    fresh = client.get(f"/api/approvals/{first_seen}", headers=bearer(token)).get_json()
    assert fresh["previousApproved"] is None and fresh["similarity"] is None
    listed = client.get("/api/approvals", headers=bearer(token)).get_json()["items"]
    assert "similarity" not in listed[0]  # the list stays cheap: one comparison per GET of one approval


def test_a_decided_approval_is_compared_with_the_one_approved_before_it(app, client, ada):
    with app.app_context():
        approval_id, _, _ = _seed_with_history(ada, LAST_WEEK)
    token = _token(app, ada)
    decided = client.post(f"/api/approvals/{approval_id}", json={"decision": "approve"}, headers=bearer(token))
    assert decided.status_code == 200
    body = client.get(f"/api/approvals/{approval_id}", headers=bearer(token)).get_json()
    assert body["status"] == "approved" and body["previousApproved"] == LAST_WEEK  # not itself


def test_another_users_approval_is_404(app, client, ada):
    with app.app_context():
        approval_id, _, _ = _seed_with_history(ada, LAST_WEEK)
        accounts.create_user("bob@example.com", "correct-horse-1")
    response = client.get(f"/api/approvals/{approval_id}", headers=bearer(_token(app, "bob@example.com")))
    assert response.status_code == 404 and response.get_json() == {"error": f"approval {approval_id} not found"}


# --- the approval email ------------------------------------------------------------------------

def test_the_approval_email_carries_the_diff_and_the_warning(app, ada):
    with app.app_context():
        approval_id, _, _ = _seed_with_history(ada, LAST_WEEK)
        outbox.queue_approval_request(app.extensions["stepwise"], approval_id)
        db.session.commit()
        email = db.session.scalar(sa.select(Outbox).where(Outbox.dedup_key == f"approval-{approval_id}-request"))
    assert "very similar to what you approved on 2026-05-04 07:30 UTC (92% the same words, in order)" in email.text
    assert "about AI [-last-]{+this+} week." in email.text
    assert "<del>last</del> <ins>this</ins>" in email.html and "very similar to what you approved on" in email.html


def test_an_email_for_a_step_never_approved_has_no_comparison(app, ada):
    with app.app_context():
        approval_id, _, _ = seed(ada, "linkedin_post")
        outbox.queue_approval_request(app.extensions["stepwise"], approval_id)
        db.session.commit()
        email = db.session.scalar(sa.select(Outbox).where(Outbox.dedup_key == f"approval-{approval_id}-request"))
    assert "Since the version approved" not in email.text and "<ins>" not in email.html
    assert POST["text"].splitlines()[0] in email.text


def test_an_unknown_approval_is_404_json(app, client, ada):
    response = client.get("/api/approvals/999999", headers=bearer(_token(app, ada)))
    assert response.status_code == 404 and response.get_json()["error"] == "approval 999999 not found"

