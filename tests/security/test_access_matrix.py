"""Every route x every actor, generated from the app's URL map: a route without a row fails.

Only the owner reaches the owner's objects; the others get what ARCHITECTURE.md section 4 says:
401 from the API without a live token or session, the login redirect from a page, 404 for
another user's object (the same as one that does not exist). Routes public by design (the
emailed approval and reset links, the verification link, `/healthz`, `/auth/*`, static files)
have rows of their own. The actors, the owner's objects and the rows are in tests/security/matrix.py.
"""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from tests.reliability.figures import record
from tests.security.matrix import ACTORS, CANARY, LOGIN, ROWS, build_world, fill, routes


def test_every_route_has_a_row(app):
    missing = routes(app) - set(ROWS)
    assert not missing, f"routes without an access-matrix row: {sorted(missing)}"
    assert not set(ROWS) - routes(app), "rows for routes that no longer exist"


@pytest.mark.parametrize("route", sorted(ROWS), ids=[f"{m} {e}" for e, m in sorted(ROWS)])
def test_each_actor_gets_exactly_what_section_4_says(app, route):
    endpoint, method = route
    row = ROWS[route]
    world = build_world(app)
    got = {}
    for actor in ACTORS:
        client, headers = world.clients[actor]
        objects = world.objects()
        kwargs = row.request(objects, headers)
        response = client.open(method=method, **kwargs)
        got[actor] = response.status_code
        record("access matrix cells")
        where = urlsplit(response.headers.get("Location", "")).path
        if response.status_code == LOGIN and row.kind == "page" and not actor.endswith("session"):
            assert where == "/auth/login", (actor, where)
        elif response.status_code == 302 and row.location and actor.endswith("session"):
            assert where.startswith(fill(row.location, objects)), (actor, where)
        if row.says and actor.startswith("owner") and response.status_code == row.owner:
            assert row.says in response.get_data(as_text=True), (actor, response.get_data(as_text=True)[:2000])
        if not actor.startswith("owner") and not row.public_data:
            leaked = CANARY in response.get_data(as_text=True)
            record("leaks", int(leaked))
            assert not leaked, f"{actor} saw the owner's workflow on {method} {kwargs['path']}"
    assert got == {actor: row.expected(actor) for actor in ACTORS}
