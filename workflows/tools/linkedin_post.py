"""linkedin_post: publish text (and optionally a link) as the member, through LinkedIn's Posts API."""
from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx

from workflows.errors import RetryableToolError, ToolError
from workflows.integrations import linkedin
from workflows.tools.base import Delivery, Tool, ToolContext, ToolResult
from workflows.tools.schema import URL_SCHEMA

POST_TIMEOUT = 30.0  # seconds; past it the outcome is unknown (see `_send`)
MAX_LINK_TITLE_CHARS = 200
NOT_CONNECTED = "LinkedIn is not connected: connect it on the Settings page"
RECONNECT = "Connect LinkedIn again on the Settings page."

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "text": {
            "type": "string", "minLength": 1, "maxLength": linkedin.MAX_POST_CHARS,
            "pattern": "\\S", "x-message": "must not be blank",
            "description": "The post, as it should appear (at most 3,000 characters). Characters such "
                           "as # @ * _ are shown literally: hashtags and mentions are not created.",
        },
        "link": {**URL_SCHEMA, "description": "An optional link, shown as an article card under the text."},
        "linkTitle": {
            "type": "string", "minLength": 1, "maxLength": MAX_LINK_TITLE_CHARS,
            "description": "The title of the link's card (default: the link's address).",
        },
    },
    "required": ["text"],
    "additionalProperties": False,
}


def post_body(member_id: str, text: str, link: str | None = None, link_title: str | None = None) -> dict[str, Any]:
    """The Posts API request body of a public member post."""
    body: dict[str, Any] = {
        "author": f"{linkedin.PERSON_URN}{member_id}",
        "commentary": linkedin.escape_commentary(text),
        "visibility": "PUBLIC",
        "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [],
                         "thirdPartyDistributionChannels": []},
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
    }
    if link:
        # LinkedIn does not scrape the page for an API post: the card shows the title we send.
        body["content"] = {"article": {"source": link, "title": link_title or _short(link)}}
    return body


def _short(link: str) -> str:
    parts = urlsplit(link)
    return (parts.netloc + parts.path.rstrip("/"))[:MAX_LINK_TITLE_CHARS]


def run(tool_input: dict[str, Any], ctx: ToolContext) -> ToolResult:
    """Create the post once; the runner has committed `effect_started_at` before this call."""
    credential = ctx.credentials.get(linkedin.PROVIDER)
    if not credential:
        raise ToolError(NOT_CONNECTED, nothing_done=True)
    if credential.get("error"):  # stored but unreadable (see linkedin.step_credentials)
        raise ToolError(credential["error"], nothing_done=True)
    expires_at = credential.get("expires_at")
    if isinstance(expires_at, datetime) and expires_at <= ctx.now:
        raise ToolError(f"The LinkedIn token expired on {expires_at:%Y-%m-%d}. {RECONNECT}", nothing_done=True)
    body = post_body(credential["member_id"], tool_input["text"], tool_input.get("link"),
                     tool_input.get("linkTitle"))
    response = _send(f"{ctx.linkedin_api_base}/rest/posts", credential["access_token"], body)
    post_id = response.headers.get("x-restli-id", "").strip()
    if not post_id:
        raise ToolError(f"LinkedIn accepted the post (HTTP {response.status_code}) but sent no post id: "
                        "check LinkedIn to see it")
    return ToolResult(output={"postId": post_id, "url": linkedin.feed_url(post_id)})


def _send(url: str, access_token: str, body: dict[str, Any]) -> httpx.Response:
    """POST the post; a 2xx response, or the error that says what a retry could do.

    At most once: a retry is only safe when LinkedIn certainly did not create the post. That is
    so when the connection was never made (refused, DNS, TLS: nothing was sent) and for 429
    (LinkedIn throttled the request without acting on it). After the request left, a timeout, a
    dropped connection or a 5xx leaves the outcome unknown — the post may exist — so the step
    fails with a message that says so instead of risking a second, duplicate post. A 4xx is a
    refusal: nothing was posted (`nothing_done`), and retrying the run needs no check.
    """
    headers = {
        "Authorization": f"Bearer {access_token}",
        "LinkedIn-Version": linkedin.LINKEDIN_VERSION,
        "X-Restli-Protocol-Version": linkedin.RESTLI_PROTOCOL_VERSION,
        "Content-Type": "application/json",
    }
    try:
        response = linkedin.http_client().post(url, headers=headers, timeout=POST_TIMEOUT,
                                               content=json.dumps(body, ensure_ascii=False).encode())
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise RetryableToolError(f"Could not connect to LinkedIn ({exc or type(exc).__name__}); "
                                 "nothing was sent") from None
    except httpx.HTTPError as exc:
        raise ToolError(_unknown(f"the request failed after it was sent ({exc or type(exc).__name__})")) from None
    status = response.status_code
    if response.is_success:
        return response
    message = linkedin.error_message(response)
    if status == 429:
        retry_after = response.headers.get("retry-after", "").strip()
        raise RetryableToolError(f"LinkedIn is limiting requests (HTTP 429): {message}; nothing was posted",
                                 retry_after=float(retry_after) if retry_after.isdigit() else None)
    if status >= 500:
        raise ToolError(_unknown(f"LinkedIn answered HTTP {status}: {message}"))
    if status == 401:  # expired or revoked: only the member can fix it
        message = f"{message.rstrip('.')}. {RECONNECT}"
    raise ToolError(f"LinkedIn refused the post (HTTP {status}): {message}", nothing_done=True)


def _unknown(what: str) -> str:
    return (f"Outcome unknown — check LinkedIn: {what}. The post may or may not have been published; "
            "it was not retried, to avoid posting twice.")


TOOL = Tool(
    name="linkedin_post",
    description="Publish a public post on the owner's LinkedIn feed: text, optionally with a link.",
    input_schema=SCHEMA,
    needs_approval=True,
    delivery=Delivery.AT_MOST_ONCE,
    run=run,
    output_fields=("postId", "url"),
)
