"""linkedin_post against the stand-in Posts API over real sockets."""
from __future__ import annotations

import re
import socket
from datetime import timedelta

import pytest

from workflows.errors import RetryableToolError, ToolError
from workflows.integrations import linkedin
from workflows.tools import REGISTRY, validate_input
from workflows.tools import linkedin_post as module
from workflows.tools.base import Delivery

tool = REGISTRY["linkedin_post"]


def test_is_registered_as_an_approved_at_most_once_tool():
    assert tool.delivery == Delivery.AT_MOST_ONCE and tool.needs_approval is True
    assert tool.output_fields == ("postId", "url")
    assert tool.input_schema["required"] == ["text"]


def test_posts_with_every_header_and_field_and_returns_the_post_id_and_url(standin, make_ctx, connected):
    result = tool.run({"text": "Three AI trends this week"}, make_ctx(credentials=connected))

    [request] = standin.received("/rest/posts")
    assert request.method == "POST"
    assert request.header("authorization") == f"Bearer {connected['linkedin']['access_token']}"
    assert re.fullmatch(r"20\d\d(0[1-9]|1[0-2])", request.header("linkedin-version"))
    assert request.header("linkedin-version") == linkedin.LINKEDIN_VERSION
    assert request.header("x-restli-protocol-version") == "2.0.0"
    assert request.header("content-type") == "application/json"
    assert request.json() == {
        "author": "urn:li:person:782bbtaQ",
        "commentary": "Three AI trends this week",
        "visibility": "PUBLIC",
        "distribution": {"feedDistribution": "MAIN_FEED", "targetEntities": [],
                         "thirdPartyDistributionChannels": []},
        "lifecycleState": "PUBLISHED",
        "isReshareDisabledByAuthor": False,
    }
    [post] = standin.posts  # posted once
    assert result.output == {"postId": post["id"],
                             "url": f"https://www.linkedin.com/feed/update/{post['id']}/"}
    assert post["id"].startswith("urn:li:share:")


def test_reserved_characters_arrive_escaped_and_show_as_written(standin, make_ctx, connected):
    text = "Read this (really) #AI @team [1] <3 *wow* _x_ ~y~ a|b {c} \\o/"
    tool.run({"text": text}, make_ctx(credentials=connected))
    [post] = standin.posts
    assert post["body"]["commentary"] == linkedin.escape_commentary(text)
    assert post["text"] == text  # nothing cut short


def test_a_link_post_carries_an_article(standin, make_ctx, connected):
    tool.run({"text": "Worth reading", "link": "https://example.com/ai/trends/"}, make_ctx(credentials=connected))
    tool.run({"text": "Again", "link": "https://example.com/x", "linkTitle": "AI trends"},
             make_ctx(credentials=connected))
    first, second = (p["body"]["content"] for p in standin.posts)
    assert first == {"article": {"source": "https://example.com/ai/trends/", "title": "example.com/ai/trends"}}
    assert second == {"article": {"source": "https://example.com/x", "title": "AI trends"}}


def test_text_over_3000_characters_is_refused_at_validation():
    assert validate_input(tool, {"text": "x" * 3001}, partial=False) == [
        ("toolInput.text", "must be at most 3000 characters")]
    assert validate_input(tool, {"text": "x" * 3000}, partial=False) == []


def test_3000_reserved_characters_fit_although_escaping_doubles_them(standin, make_ctx, connected):
    assert validate_input(tool, {"text": "#" * 3000}, partial=False) == []
    tool.run({"text": "#" * 3000}, make_ctx(credentials=connected))
    assert standin.posts[0]["text"] == "#" * 3000


@pytest.mark.parametrize("tool_input, problem", [
    ({}, ("toolInput.text", "is required")),
    ({"text": ""}, ("toolInput.text", "must not be empty")),
    ({"text": "  \n "}, ("toolInput.text", "must not be blank")),
    ({"text": "hi", "link": "ftp://example.com/x"}, ("toolInput.link", "must be an http or https URL")),
    ({"text": "hi", "visibility": "CONNECTIONS"},
     ("toolInput.visibility", "is not a field of this tool (fields: text, link, linkTitle)")),
])
def test_invalid_input_is_refused_at_validation(tool_input, problem):
    assert problem in validate_input(tool, tool_input, partial=False)


def test_linkedins_error_message_is_passed_through(standin, make_ctx, connected):
    standin.expire(connected["linkedin"]["access_token"])
    with pytest.raises(ToolError) as error:
        tool.run({"text": "hello"}, make_ctx(credentials=connected))
    assert str(error.value) == ("LinkedIn refused the post (HTTP 401): The token used in the request has expired. "
                                "Connect LinkedIn again on the Settings page.")
    assert error.value.nothing_done  # a refusal posted nothing: a retry of the run asks no question
    assert standin.posts == []


def test_a_4xx_on_the_body_is_a_step_failure_in_linkedins_words(standin, make_ctx, connected):
    wrong_member = {"linkedin": {**connected["linkedin"], "member_id": "someoneElse"}}
    with pytest.raises(ToolError, match=r"\(HTTP 403\): Member urn:li:person:782bbtaQ cannot post as "
                                        r"urn:li:person:someoneElse$") as error:
        tool.run({"text": "hello"}, make_ctx(credentials=wrong_member))
    assert error.value.nothing_done
    assert len(standin.received("/rest/posts")) == 1 and standin.posts == []


def test_without_a_credential_nothing_is_sent(standin, make_ctx):
    with pytest.raises(ToolError, match="^LinkedIn is not connected: connect it on the Settings page$") as error:
        tool.run({"text": "hello"}, make_ctx())
    assert error.value.nothing_done and standin.requests == []


def test_a_token_past_its_stored_expiry_is_not_sent(standin, make_ctx, connected):
    now = make_ctx().now
    expired = {"linkedin": {**connected["linkedin"], "expires_at": now - timedelta(minutes=1)}}
    with pytest.raises(ToolError, match=f"The LinkedIn token expired on {now:%Y-%m-%d}. Connect LinkedIn again") as error:
        tool.run({"text": "hello"}, make_ctx(credentials=expired))
    assert error.value.nothing_done and standin.requests == []


def test_an_unreadable_stored_credential_fails_with_its_message(standin, make_ctx):
    credentials = {"linkedin": {"error": "The saved LinkedIn connection can no longer be read"}}
    with pytest.raises(ToolError, match="can no longer be read") as error:
        tool.run({"text": "hello"}, make_ctx(credentials=credentials))
    assert error.value.nothing_done and standin.requests == []


def test_a_5xx_fails_with_outcome_unknown_and_is_not_retried(standin, make_ctx, connected):
    standin.fail_posts(500, "Internal Server Error")
    with pytest.raises(ToolError) as error:  # a ToolError, not a RetryableToolError
        tool.run({"text": "hello"}, make_ctx(credentials=connected))
    assert str(error.value).startswith("Outcome unknown — check LinkedIn: LinkedIn answered HTTP 500: "
                                       "Internal Server Error.")
    assert "may or may not have been published" in str(error.value)
    assert not error.value.nothing_done  # the post may exist: a retry must ask first
    assert len(standin.received("/rest/posts")) == 1


def test_a_timeout_after_sending_is_outcome_unknown_and_the_post_may_exist(standin, make_ctx, connected,
                                                                            monkeypatch):
    monkeypatch.setattr(module, "POST_TIMEOUT", 0.3)
    standin.post_delay = 1.0
    with pytest.raises(ToolError, match="^Outcome unknown — check LinkedIn: the request failed after it was sent") as error:
        tool.run({"text": "hello"}, make_ctx(credentials=connected))
    assert not error.value.nothing_done
    assert len(standin.posts) == 1  # LinkedIn did create it: a retry would have posted twice


def test_a_refused_connection_is_retryable_because_nothing_was_sent(make_ctx, connected):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again below: nothing listens there
    with pytest.raises(RetryableToolError, match="nothing was sent"):
        tool.run({"text": "hello"}, make_ctx(credentials=connected, linkedin_api_base=f"http://127.0.0.1:{port}"))


def test_429_is_retryable_because_linkedin_did_not_act(standin, make_ctx, connected):
    standin.fail_posts(429, "Resource level throttle limit for calls to this resource is reached.")
    with pytest.raises(RetryableToolError, match=r"HTTP 429\): Resource level throttle limit .* nothing was posted"):
        tool.run({"text": "hello"}, make_ctx(credentials=connected))
    assert standin.posts == []
