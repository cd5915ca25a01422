"""SSRF with ALLOW_PRIVATE_URLS=0: fetch_page, fetch_feed and http_request refuse every private,
loopback, link-local and metadata address, however it is spelled, redirected to or resolved.

Real requests go only to loopback servers here. Addresses that are not this machine's are tested
through the guard's decision with a stub resolver, and, where a failing guard must be shown to
send nothing, inside a loopback-only network namespace where those addresses are served locally.
"""
from __future__ import annotations

import ipaddress
import json
import subprocess
import sys
import textwrap
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.reliability.figures import record
from tests.support.recorder import Recorder
from workflows.errors import ToolError
from workflows.integrations import guarded_http
from workflows.tools import get_tool
from workflows.tools.base import ToolContext

pytestmark = pytest.mark.stack  # starts servers (app, qstash_dev, sinks) on loopback

ROOT = Path(__file__).resolve().parents[2]
NOW = datetime(2026, 3, 1, tzinfo=timezone.utc)
GUARDED = ToolContext(workflow_id="w", workflow_goal="g", run_id=1, run_started_at=NOW, step_index=0,
                      dedup_id="wf-w-run-1-step-0", owner_email="o@example.com", now=NOW,
                      allow_private_urls=False)
TOOLS = {
    "fetch_page": lambda url: {"url": url},
    "fetch_feed": lambda url: {"url": url},
    "http_request": lambda url: {"url": url, "json": {"a": 1}},
}


@pytest.fixture(scope="module")
def server():
    with Recorder() as recorder:
        yield recorder


def loopback_spellings(port: int) -> list[str]:
    """This machine, spelled every way a URL parser or resolver accepts."""
    return [f"http://{host}:{port}/x" for host in (
        "127.0.0.1", "localhost", "localhost.", "127.1", "127.0.1", "2130706433", "0x7f000001",
        "0x7f.0.0.1", "0177.0.0.1", "017700000001", "[::1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]",
        "0.0.0.0", "0", "[::]", "127.255.255.254")]


@pytest.mark.parametrize("tool", TOOLS)
def test_every_spelling_of_this_machine_is_refused_and_nothing_is_sent(server, tool):
    before = len(server.requests)
    for url in loopback_spellings(int(server.url.rsplit(":", 1)[1])):
        # Refused, or not even a URL or a name (httpx rejects "0177.0.0.1"): either way nothing is sent.
        with pytest.raises(ToolError, match="refused|no such name|invalid URL"):
            get_tool(tool).run(TOOLS[tool](url), GUARDED)
        record("SSRF cases")
    assert len(server.requests) == before


@pytest.mark.parametrize("tool", TOOLS)
def test_a_redirect_from_a_public_server_to_this_machine_is_refused(server, tool, monkeypatch):
    """The first hop is 'public' (the test server, let through by name); its redirect is not."""
    real = guarded_http.resolve
    monkeypatch.setattr(guarded_http, "resolve", lambda host, port: (
        [ipaddress.ip_address("93.184.216.34")] if host == "public.example" else real(host, port)))
    monkeypatch.setattr(guarded_http._GuardedBackend, "connect_tcp", _connect_public_to(server))
    port = int(server.url.rsplit(":", 1)[1])
    for target in (f"http://127.0.0.1:{port}/secret", f"http://[::ffff:127.0.0.1]:{port}/secret",
                   "http://169.254.169.254/latest/meta-data/", f"http://2130706433:{port}/secret"):
        server.respond("/hop", status=302, headers={"Location": target}, times=1)
        with pytest.raises(ToolError, match="refused"):
            get_tool(tool).run(TOOLS[tool](f"http://public.example:{port}/hop"), GUARDED)
        record("SSRF cases")
    assert not server.received("/secret")


def _connect_public_to(server: Recorder):  # type: ignore[no-untyped-def]
    """A backend that checks like the real one but connects 'public.example' to the test server."""
    real_connect = guarded_http._GuardedBackend.connect_tcp

    def connect(self, host, port, timeout=None, local_address=None, socket_options=None):  # type: ignore[no-untyped-def]
        if host == "public.example":
            return self._backend.connect_tcp("127.0.0.1", port, timeout, local_address, socket_options)
        return real_connect(self, host, port, timeout, local_address, socket_options)

    return connect


STUB_ANSWERS = {
    "metadata.internal": "169.254.169.254", "ecs.internal": "169.254.170.2", "alibaba.internal": "100.100.100.200",
    "intranet.example": "10.1.2.3", "router.example": "192.168.1.1", "cgnat.example": "100.64.1.1",
    "v6metadata.example": "fd00:ec2::254", "mapped.example": "::ffff:169.254.169.254",
    "nat64.example": "64:ff9b::a9fe:a9fe", "sixtofour.example": "2002:a9fe:a9fe::1",
    "linklocal.example": "fe80::1", "zero.example": "0.0.0.0", "rebind.example": "127.0.0.1",
}


@pytest.mark.parametrize("host, address", STUB_ANSWERS.items())
def test_names_resolving_to_private_addresses_are_refused_before_connecting(monkeypatch, host, address):
    monkeypatch.setattr(guarded_http, "resolve", lambda h, p: [ipaddress.ip_address(address)])
    connected = []
    monkeypatch.setattr(guarded_http.httpcore.SyncBackend, "connect_tcp",
                        lambda *a, **k: connected.append(a) or (_ for _ in ()).throw(AssertionError("connected")))
    for tool in TOOLS:
        with pytest.raises(ToolError, match=f"refused: {host} resolves to"):
            get_tool(tool).run(TOOLS[tool](f"http://{host}/"), GUARDED)
        record("SSRF cases")
    assert connected == []


def test_one_private_answer_among_public_ones_is_refused(monkeypatch):
    """DNS answers can mix; a rebinding attacker needs only one of them to be internal."""
    monkeypatch.setattr(guarded_http, "resolve", lambda h, p: [
        ipaddress.ip_address("93.184.216.34"), ipaddress.ip_address("10.0.0.7")])
    with pytest.raises(ToolError, match="private address 10.0.0.7"):
        get_tool("fetch_page").run({"url": "http://mixed.example/"}, GUARDED)
    record("SSRF cases")


NAMESPACE_SCRIPT = textwrap.dedent('''
    import json, subprocess, sys, threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    sys.path.insert(0, sys.argv[1])
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    for address in ("169.254.169.254", "10.1.2.3", "192.168.7.7"):
        subprocess.run(["ip", "addr", "add", address + "/32", "dev", "lo"], check=True)
    hits = []
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            hits.append(self.server.server_address[0] + self.path)
            body = b'{"secret": "instance credentials"}'
            self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
            self.wfile.write(body)
        do_POST = do_GET
        def log_message(self, *args): pass
    for address in ("169.254.169.254", "10.1.2.3", "192.168.7.7"):
        server = ThreadingHTTPServer((address, 80), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
    from workflows.errors import ToolError
    from workflows.tools import get_tool
    from tests.security.test_ssrf import GUARDED, TOOLS
    from dataclasses import replace
    results = {}
    for allow in (False, True):
        ctx = replace(GUARDED, allow_private_urls=allow)
        for url in ("http://169.254.169.254/latest/meta-data/iam", "http://10.1.2.3/admin",
                    "http://2852039166/latest/meta-data/iam", "http://0xa9fea9fe/x", "http://192.168.7.7/"):
            for tool in TOOLS:
                before = len(hits)
                try:
                    get_tool(tool).run(TOOLS[tool](url), ctx)
                    outcome = "fetched"
                except ToolError as exc:
                    outcome = "refused" if str(exc).startswith("refused") else "error: " + str(exc)
                results[f"{allow}|{tool}|{url}"] = [outcome, len(hits) - before]
    print(json.dumps(results))
''')


def test_in_a_loopback_only_namespace_the_guard_sends_nothing_to_metadata_or_private_hosts():
    """Inside `unshare -n` nothing can leave the machine; the metadata and private addresses are
    served there on lo, so a guard that let a request through would be seen by these servers."""
    completed = subprocess.run(["unshare", "-n", sys.executable, "-c", NAMESPACE_SCRIPT, str(ROOT)],
                               capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert completed.returncode == 0, completed.stderr[-3000:]
    results = json.loads(completed.stdout.strip().splitlines()[-1])
    for key, (outcome, hits) in results.items():
        allow = key.startswith("True")
        record("SSRF cases")
        if allow:  # the control: with the guard lifted, the same request does arrive
            assert hits == 1, (key, outcome)
        else:
            assert (outcome, hits) == ("refused", 0), key
