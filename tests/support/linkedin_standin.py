"""Local stand-ins for LinkedIn's OAuth and REST endpoints, strict about every header and field.

    with LinkedInStandIn() as li:
        app = make_app(db_url, LINKEDIN_AUTH_BASE=li.auth_base, LINKEDIN_API_BASE=li.api_base,
                       LINKEDIN_CLIENT_ID=li.client_id, LINKEDIN_CLIENT_SECRET=li.client_secret)
        token = li.issue_token()            # a live token for li.member_id, no browser needed
        ... run linkedin_post with it ...
        assert len(li.posts) == 1           # posted once
        li.fail_posts(500)                  # the next post answers 500 (and is not created)
        li.expire(token)                    # 401 "The token used in the request has expired"

Two servers, like LinkedIn's two hosts: `auth_base` serves `/oauth/v2/authorization` (it
approves at once, or as told refuses, by redirecting to `redirect_uri` as LinkedIn does after the
member's click) and `/oauth/v2/accessToken`; `api_base` serves `/v2/userinfo` and `/rest/posts`.
A request that misses or gets wrong any header or field gets a 4xx in LinkedIn's error shape
`{"status", "code", "message"}` (OAuth errors: `{"error", "error_description"}`).
"""
from __future__ import annotations

import json
import re
import secrets
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx

from tests.support.loopback import ServerThread

__all__ = ["LinkedInStandIn", "StandInRequest"]

SCOPES = {"openid", "profile", "w_member_social"}
RESERVED = set("|{}@[]()<>#\\*_~")
MAX_COMMENTARY = 3000
DISTRIBUTION = {"feedDistribution": "MAIN_FEED", "targetEntities": [], "thirdPartyDistributionChannels": []}
POST_FIELDS = {"author", "commentary", "visibility", "distribution", "lifecycleState",
               "isReshareDisabledByAuthor", "content"}
VERSION = re.compile(r"^20\d\d(0[1-9]|1[0-2])$")
INVALID_TOKEN = (401, {"status": 401, "serviceErrorCode": 65600, "code": "INVALID_ACCESS_TOKEN",
                       "message": "Invalid access token"})
EXPIRED_TOKEN = (401, {"status": 401, "serviceErrorCode": 65601, "code": "EXPIRED_ACCESS_TOKEN",
                       "message": "The token used in the request has expired"})
BAD_CODE = ("Unable to retrieve access token: appid/redirect uri/code verifier does not match "
            "authorization code. Or authorization code expired. Or external member binding exists")


@dataclass(frozen=True)
class StandInRequest:
    """One request a stand-in received; `side` is "auth" or "api"."""

    side: str
    method: str
    path: str  # with the query string
    headers: dict[str, str]  # names lower-cased
    body: bytes

    @property
    def route(self) -> str:
        return self.path.partition("?")[0]

    @property
    def query(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(urlsplit(self.path).query).items()}

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())

    def json(self) -> Any:
        return json.loads(self.body)

    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode()).items()}


class _Refused(Exception):
    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(body)
        self.status, self.body = status, body


def _unprocessable(path: str, reason: str) -> _Refused:
    return _Refused(422, {"status": 422, "code": "UNPROCESSABLE_ENTITY", "message": f"ERROR :: {path} :: {reason}"})


def _bad_request(code: str, message: str) -> _Refused:
    return _Refused(400, {"status": 400, "code": code, "message": message})


def unescape(commentary: str) -> str:
    """The text LinkedIn shows; raises ValueError at an unescaped reserved character."""
    shown, i = [], 0
    while i < len(commentary):
        char = commentary[i]
        if char == "\\" and i + 1 < len(commentary) and commentary[i + 1] in RESERVED:
            shown.append(commentary[i + 1])
            i += 2
            continue
        if char in RESERVED:
            raise ValueError(f"unescaped reserved character {char!r} at {i}: the post would be cut short there")
        shown.append(char)
        i += 1
    return "".join(shown)


@dataclass
class LinkedInStandIn:
    """LinkedIn's sign-in and REST endpoints on two loopback ports."""

    client_id: str = "stepwise-test-client"
    client_secret: str = "stepwise-test-secret"
    member_id: str = "782bbtaQ"
    given_name: str = "Ada"
    family_name: str = "Lovelace"
    expires_in: int = 60 * 24 * 3600  # LinkedIn's member tokens live 60 days
    granted_scope: str = "openid,profile,w_member_social"
    post_delay: float = 0.0  # seconds between creating a post and answering (a slow LinkedIn)
    posts: list[dict[str, Any]] = field(default_factory=list)
    requests: list[StandInRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _codes: dict[str, str] = field(default_factory=dict, repr=False)  # code -> redirect_uri
    _tokens: dict[str, dict[str, Any]] = field(default_factory=dict, repr=False)
    _post_failures: list[tuple[int, dict[str, Any]]] = field(default_factory=list, repr=False)
    _denial: tuple[str, str] | None = field(default=None, repr=False)
    _servers: dict[str, ServerThread] = field(default_factory=dict, repr=False)

    # --- lifecycle ---------------------------------------------------------------------
    def start(self) -> LinkedInStandIn:
        """Serve both hosts, each from a daemon thread."""
        for side in ("auth", "api"):
            server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self, side))
            server.daemon_threads = True
            self._servers[side] = ServerThread(server).start()
        return self

    def stop(self) -> None:
        """Stop both hosts."""
        for server in self._servers.values():
            server.stop()

    def __enter__(self) -> LinkedInStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _base(self, side: str) -> str:
        return self._servers[side].url

    @property
    def auth_base(self) -> str:
        return self._base("auth")

    @property
    def api_base(self) -> str:
        return self._base("api")

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    # --- what tests tell it ------------------------------------------------------------
    def issue_token(self, member_id: str | None = None) -> str:
        """A live access token for a member (default: `member_id`), as if OAuth had run."""
        token = "AQV" + secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = {"member_id": member_id or self.member_id, "expired": False}
        return token

    def expire(self, token: str) -> None:
        """From now on the token answers 401 "The token used in the request has expired"."""
        with self._lock:
            self._tokens[token]["expired"] = True

    def fail_posts(self, status: int, message: str = "Internal Server Error", times: int = 1) -> None:
        """The next `times` post requests answer `status` and create nothing."""
        with self._lock:
            self._post_failures += [(status, {"status": status, "code": "SERVER_ERROR", "message": message})] * times

    def deny_authorization(self, error: str = "user_cancelled_authorize",
                           description: str = "The user cancelled the authorization") -> None:
        """The next authorization redirects back with `error` instead of a code."""
        self._denial = (error, description)

    def follow_authorization(self, url: str) -> str:
        """Open the authorization URL as the member's browser would; the callback URL it redirects to."""
        response = httpx.get(url, follow_redirects=False)
        assert response.status_code == 302, f"authorization refused: {response.status_code} {response.text}"
        return response.headers["location"]

    def received(self, route: str) -> list[StandInRequest]:
        """The requests received on a route (path without query)."""
        with self._lock:
            return [r for r in self.requests if r.route == route]

    # --- the endpoints -----------------------------------------------------------------
    def handle(self, side: str, request: StandInRequest) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            self.requests.append(request)
        routes = {("auth", "GET", "/oauth/v2/authorization"): self._authorize,
                  ("auth", "POST", "/oauth/v2/accessToken"): self._access_token,
                  ("api", "GET", "/v2/userinfo"): self._userinfo,
                  ("api", "POST", "/rest/posts"): self._create_post}
        endpoint = routes.get((side, request.method, request.route))
        if endpoint is None:
            return _json(404, {"status": 404, "code": "NOT_FOUND", "message": f"No resource at {request.route}"})
        try:
            return endpoint(request)
        except _Refused as refused:
            return _json(refused.status, refused.body)

    def _authorize(self, request: StandInRequest) -> tuple[int, dict[str, str], bytes]:
        q = request.query
        for name in ("response_type", "client_id", "redirect_uri", "state", "scope"):
            if not q.get(name):
                raise _Refused(400, {"error": "invalid_request", "error_description": f"missing {name}"})
        if q["response_type"] != "code" or q["client_id"] != self.client_id:
            raise _Refused(400, {"error": "invalid_request", "error_description": "invalid client_id or response_type"})
        if set(q["scope"].split(" ")) != SCOPES:
            raise _Refused(400, {"error": "unauthorized_scope_error",
                                 "error_description": f"Scope {q['scope']!r} is not the space-separated {sorted(SCOPES)}"})
        if self._denial:
            (error, description), self._denial = self._denial, None
            answer = {"error": error, "error_description": description, "state": q["state"]}
        else:
            code = "AQT" + secrets.token_urlsafe(16)
            with self._lock:
                self._codes[code] = q["redirect_uri"]
            answer = {"code": code, "state": q["state"]}
        return 302, {"Location": f"{q['redirect_uri']}?{urlencode(answer)}"}, b""

    def _access_token(self, request: StandInRequest) -> tuple[int, dict[str, str], bytes]:
        if request.header("content-type") != "application/x-www-form-urlencoded":
            raise _Refused(400, {"error": "invalid_request", "error_description": "Content-Type must be form-encoded"})
        form = request.form()
        for name in ("grant_type", "code", "redirect_uri", "client_id", "client_secret"):
            if not form.get(name):
                raise _Refused(400, {"error": "invalid_request",
                                     "error_description": f'A required parameter "{name}" is missing'})
        if form["grant_type"] != "authorization_code":
            raise _Refused(400, {"error": "unsupported_grant_type", "error_description": "grant_type"})
        if form["client_id"] != self.client_id or form["client_secret"] != self.client_secret:
            raise _Refused(401, {"error": "invalid_client", "error_description": "Client authentication failed"})
        with self._lock:
            redirect_uri = self._codes.pop(form["code"], None)  # single use
        if redirect_uri is None or redirect_uri != form["redirect_uri"]:
            raise _Refused(400, {"error": "invalid_request", "error_description": BAD_CODE})
        return _json(200, {"access_token": self.issue_token(), "expires_in": self.expires_in,
                           "scope": self.granted_scope, "token_type": "Bearer", "id_token": "eyJ.stand-in.jwt"})

    def _member(self, request: StandInRequest) -> str:
        scheme, _, token = (request.header("authorization") or "").partition(" ")
        with self._lock:
            grant = self._tokens.get(token) if scheme == "Bearer" else None
        if grant is None:
            raise _Refused(*INVALID_TOKEN)
        if grant["expired"]:
            raise _Refused(*EXPIRED_TOKEN)
        return grant["member_id"]

    def _userinfo(self, request: StandInRequest) -> tuple[int, dict[str, str], bytes]:
        member = self._member(request)
        return _json(200, {"sub": member, "name": self.name, "given_name": self.given_name,
                           "family_name": self.family_name, "locale": {"country": "US", "language": "en"},
                           "picture": "https://media.licdn.com/stand-in.jpg"})

    def _create_post(self, request: StandInRequest) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            failure = self._post_failures.pop(0) if self._post_failures else None
        if failure:
            return _json(*failure)
        member = self._member(request)
        version = request.header("linkedin-version")
        if not version:
            raise _bad_request("VERSION_MISSING", "A version must be present. Please specify a version by "
                                                  "adding the LinkedIn-Version header.")
        if not VERSION.match(version):
            raise _bad_request("NONEXISTENT_VERSION", f"Requested version {version} is not active")
        if request.header("x-restli-protocol-version") != "2.0.0":
            raise _bad_request("INVALID_PROTOCOL_VERSION", "X-Restli-Protocol-Version must be 2.0.0")
        if (request.header("content-type") or "").split(";")[0] != "application/json":
            raise _bad_request("UNSUPPORTED_MEDIA_TYPE", "Content-Type must be application/json")
        body = _check_post(request.body, member)
        with self._lock:
            post_id = f"urn:li:share:{7_300_000_000_000_000_000 + len(self.posts) + 1}"
            self.posts.append({"id": post_id, "body": body, "text": unescape(body["commentary"])})
        time.sleep(self.post_delay)
        return 201, {"x-restli-id": post_id, "x-linkedin-id": post_id}, b""


def _check_post(raw: bytes, member: str) -> dict[str, Any]:
    """The body of a member's public text or article post, checked field by field."""
    try:
        body = json.loads(raw)
    except ValueError:
        raise _bad_request("MALFORMED_JSON", "Request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise _unprocessable("/", "must be an object")
    unknown = set(body) - POST_FIELDS
    if unknown:
        raise _unprocessable(f"/{sorted(unknown)[0]}", "unrecognized field")
    for name in POST_FIELDS - {"content"}:
        if name not in body:
            raise _unprocessable(f"/{name}", "field is required but not found and has no default value")
    if body["author"] != f"urn:li:person:{member}":
        raise _Refused(403, {"status": 403, "code": "ACCESS_DENIED",
                             "message": f"Member urn:li:person:{member} cannot post as {body['author']}"})
    expected = {"visibility": "PUBLIC", "distribution": DISTRIBUTION, "lifecycleState": "PUBLISHED"}
    for name, value in expected.items():
        if body[name] != value:
            raise _unprocessable(f"/{name}", f"expected {json.dumps(value)}")
    if not isinstance(body["isReshareDisabledByAuthor"], bool):
        raise _unprocessable("/isReshareDisabledByAuthor", "must be a boolean")
    commentary = body["commentary"]
    if not isinstance(commentary, str):
        raise _unprocessable("/commentary", "must be a string")
    try:
        shown = unescape(commentary)
    except ValueError as exc:
        raise _unprocessable("/commentary", str(exc)) from None
    if not 1 <= len(shown) <= MAX_COMMENTARY:
        raise _unprocessable("/commentary", f"length {len(shown)} is outside 1..{MAX_COMMENTARY}")
    if "content" in body:
        _check_article(body["content"])
    return body


def _check_article(content: Any) -> None:
    article = content.get("article") if isinstance(content, dict) and set(content) == {"article"} else None
    if not isinstance(article, dict) or not set(article) <= {"source", "title", "description"}:
        raise _unprocessable("/content", "expected {article: {source, title?, description?}}")
    source = article.get("source")
    if not isinstance(source, str) or urlsplit(source).scheme not in ("http", "https"):
        raise _unprocessable("/content/article/source", "must be an http(s) URL")
    if not isinstance(article.get("title", ""), str):
        raise _unprocessable("/content/article/title", "must be a string")


def _json(status: int, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(body).encode()


def _handler(standin: LinkedInStandIn, side: str) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = StandInRequest(side, self.command, self.path,
                                     {k.lower(): v for k, v in self.headers.items()},
                                     self.rfile.read(length) if length else b"")
            status, headers, body = standin.handle(side, request)
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
                pass

        do_GET = do_POST = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler
