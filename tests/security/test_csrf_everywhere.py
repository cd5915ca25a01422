"""CSRF on every state-changing route, generated from the URL map (through the access matrix's
rows, which cover every route): each POST, PATCH and DELETE that is not a signed QStash consumer
refuses a request without this session's token with a clear 400, and changes nothing at all.

Bearer-authenticated API calls are exempt by design (a browser cannot forge the header); so are
the signed consumers, whose signature is checked instead. Each route is tried by a logged-in
session with no token, a wrong one and another session's; the forms anonymous visitors post
(log in, register, reset, the emailed approval link) also anonymously.
"""
from __future__ import annotations

import pytest

from blueprints.security import SIGNED_ENDPOINTS
from tests.reliability.figures import record
from tests.security.conftest import table_rows
from tests.security.matrix import ROWS, build_world, routes

UNSAFE = {"POST", "PATCH", "DELETE"}
CHECKED = sorted(route for route, row in ROWS.items() if route[1] in UNSAFE and row.kind != "signed")
TOKENS = {"no token": None, "a wrong token": "IjEyMzQ1Njc4OTAi.ZmFrZQ.bm90LWEtc2lnbmF0dXJl",
          "another session's token": "other"}


def test_every_state_changing_route_is_checked_or_signed(app):
    unsafe = {route for route in routes(app) if route[1] in UNSAFE}
    signed = {route for route in unsafe if route[0] in SIGNED_ENDPOINTS}
    assert unsafe - signed == set(CHECKED)
    # A route excused as "signed" must really be a signed consumer, not a route that skips CSRF.
    assert signed == {route for route, row in ROWS.items() if row.kind == "signed"}
    assert signed and all(endpoint.startswith("qstash.") for endpoint, _ in signed)


def _refused(app, world, route, actor: str, token: str | None) -> None:  # type: ignore[no-untyped-def]
    endpoint, method = route
    row = ROWS[route]
    client, headers = world.clients[actor]
    if token == "other":
        token = world.clients["other session"][1]["X-CSRFToken"]
    kwargs = row.request(world.objects(), {} if token is None else {"X-CSRFToken": token})
    before, published = table_rows(app), len(world.queue.published)
    response = client.open(method=method, **kwargs)
    record("CSRF cases")
    text = response.get_data(as_text=True)
    assert response.status_code == 400, (actor, token, response.status_code, text[:300])
    assert "CSRF" in text and "Nothing was changed: reload the page and try again." in text, text[:500]
    unchanged = table_rows(app) == before and len(world.queue.published) == published
    record("rows written by rejected requests", int(not unchanged))
    assert unchanged, f"{method} {kwargs['path']} without a valid CSRF token changed something"


@pytest.mark.parametrize("route", CHECKED, ids=[f"{m} {e}" for e, m in CHECKED])
def test_a_session_without_its_csrf_token_is_refused_and_nothing_changes(app, route):
    world = build_world(app)
    for token in TOKENS.values():
        _refused(app, world, route, "owner session", token)
    if ROWS[route].kind == "public":  # posted by anonymous visitors too
        for token in (None, "other"):
            _refused(app, world, route, "anonymous", token)
