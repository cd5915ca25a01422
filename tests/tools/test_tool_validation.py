"""validate_input: readable (field, message) pairs, strict at run time, lenient at creation."""
from __future__ import annotations

import pytest
from jsonschema import Draft202012Validator

from workflows.tools import REGISTRY, get_tool, validate_input

MINE = ("fetch_feed", "fetch_page", "compose", "send_email", "http_request")  # write, linkedin_post: tests/llm


def test_registry_holds_the_built_in_tools_with_their_policies():
    policies = {name: (tool.needs_approval, tool.delivery.value) for name, tool in REGISTRY.items()}
    assert {name: policies.get(name) for name in MINE} == {
        "fetch_feed": (False, "read-only"),
        "fetch_page": (False, "read-only"),
        "compose": (False, "read-only"),
        "send_email": (True, "outbox"),
        "http_request": (True, "idempotency-key"),
    }
    assert get_tool("compose") is REGISTRY["compose"]
    assert get_tool("no_such_tool") is None


@pytest.mark.parametrize("name", sorted(MINE))
def test_every_schema_is_valid_and_closed(name):
    schema = REGISTRY[name].input_schema
    Draft202012Validator.check_schema(schema)
    assert schema["additionalProperties"] is False
    assert validate_input(REGISTRY[name], {"surprise": 1}, partial=True, allow_missing=True) == [
        ("toolInput.surprise", f"is not a field of this tool (fields: {', '.join(schema['properties'])})")]


VALID = {
    "fetch_feed": {"url": "https://news.example/feed.xml", "limit": 50, "sinceLastRun": True},
    "fetch_page": {"url": "http://news.example/a?b=c"},
    "compose": {"template": "Hello {{ workflow.goal }}"},
    "send_email": {"to": "ana@example.com", "subject": "Digest", "body": "Hi"},
    "http_request": {"url": "https://hooks.example/T1", "method": "PUT", "json": [1, {"a": None}],
                     "headers": {"X-Token": "abc", "Content-Type": "application/json"}},
}


@pytest.mark.parametrize("name", sorted(VALID))
def test_valid_inputs_pass(name):
    assert validate_input(REGISTRY[name], VALID[name], partial=False) == []


@pytest.mark.parametrize("name, tool_input, expected", [
    ("fetch_feed", {"url": "ftp://files.example/feed"}, ("toolInput.url", "must be an http or https URL")),
    ("fetch_feed", {"url": "https://"}, ("toolInput.url", "must be an http or https URL")),
    ("fetch_feed", {"url": "https://x.example/" + "a" * 2100}, ("toolInput.url", "must be at most 2048 characters")),
    ("fetch_feed", {"url": "https://x.example/", "limit": 51}, ("toolInput.limit", "must be at most 50")),
    ("fetch_feed", {"url": "https://x.example/", "limit": 0}, ("toolInput.limit", "must be at least 1")),
    ("fetch_feed", {"url": "https://x.example/", "limit": "5"}, ("toolInput.limit", "must be a whole number")),
    ("fetch_feed", {"url": "https://x.example/", "sinceLastRun": "yes"}, ("toolInput.sinceLastRun", "must be true or false")),
    ("fetch_page", {}, ("toolInput.url", "is required")),
    ("compose", {"template": ""}, ("toolInput.template", "must not be empty")),
    ("send_email", {"to": "nobody", "subject": "s", "body": "b"},
     ("toolInput.to", "must be a valid email address: An email address must have an @-sign.")),
    ("send_email", {"to": "a@example.com", "subject": "s" * 201, "body": "b"}, ("toolInput.subject", "must be at most 200 characters")),
    ("send_email", {"to": "a@example.com", "subject": "a\r\nBcc: x@evil.example", "body": "b"}, ("toolInput.subject", "must be a single line")),
    ("send_email", {"to": "a@example.com", "subject": "s", "body": "b" * 50_001}, ("toolInput.body", "must be at most 50000 characters")),
    ("http_request", {"url": "https://h.example/", "method": "TRACE"}, ("toolInput.method", "must be one of GET, POST, PUT, PATCH, DELETE")),
    ("http_request", {"url": "https://h.example/", "headers": {"X-A": 1}}, ("toolInput.headers.X-A", "must be a string")),
    ("http_request", {"url": "https://h.example/", "headers": {"X-A": "a\nb"}}, ("toolInput.headers.X-A", "must be a single line")),
    ("http_request", {"url": "https://h.example/", "headers": {"Content-Length": "1"}},
     ("toolInput.headers.Content-Length", "is not a header you can set (Host, Content-Length, Idempotency-Key and hop-by-hop headers are set by Stepwise)")),
    ("http_request", {"url": "https://h.example/", "headers": {"host": "x"}},
     ("toolInput.headers.host", "is not a header you can set (Host, Content-Length, Idempotency-Key and hop-by-hop headers are set by Stepwise)")),
    ("http_request", {"url": "https://h.example/", "headers": {"Transfer-Encoding": "chunked"}},
     ("toolInput.headers.Transfer-Encoding", "is not a header you can set (Host, Content-Length, Idempotency-Key and hop-by-hop headers are set by Stepwise)")),
    ("http_request", {"url": "https://h.example/", "headers": {f"X-{i}": "v" for i in range(21)}},
     ("toolInput.headers", "must have at most 20 entries")),
])
def test_invalid_inputs_name_the_field(name, tool_input, expected):
    assert validate_input(REGISTRY[name], tool_input, partial=False) == [expected]


def test_not_an_object():
    assert validate_input(REGISTRY["compose"], ["x"], partial=True) == [("toolInput", "must be an object")]


TEMPLATED = {
    "fetch_feed": {"url": "{{ steps[0].output.items[0].link }}", "limit": "{{ 3 }}", "sinceLastRun": "{{ true }}"},
    "send_email": {"to": "{{ steps[0].output.email }}", "subject": "{{ steps[0].output.title }}", "body": "b"},
    "http_request": {"url": "{{ steps[0].output.hook }}", "method": "{{ steps[0].output.verb }}",
                     "headers": "{{ steps[0].output.headers }}"},
}


@pytest.mark.parametrize("name", sorted(TEMPLATED))
def test_templates_stand_for_any_type_or_format_at_creation_only(name):
    tool = REGISTRY[name]
    assert validate_input(tool, TEMPLATED[name], partial=True) == []
    assert validate_input(tool, TEMPLATED[name], partial=False) != []


def test_templates_do_not_excuse_unknown_fields_or_lengths():
    tool = REGISTRY["send_email"]
    tool_input = {"to": "{{ x }}", "subject": "{{ x }}" + "s" * 200, "body": "b", "cc": "{{ x }}"}
    assert validate_input(tool, tool_input, partial=True) == [
        ("toolInput.cc", "is not a field of this tool (fields: to, subject, body)"),
        ("toolInput.subject", "must be at most 200 characters"),
    ]


@pytest.mark.parametrize("partial, allow_missing, expected", [
    (True, True, []),
    (True, False, [("toolInput.body", "is required"), ("toolInput.subject", "is required")]),
    (False, True, [("toolInput.body", "is required"), ("toolInput.subject", "is required")]),
])
def test_missing_fields_are_allowed_only_when_the_agent_will_fill_them(partial, allow_missing, expected):
    tool_input = {"to": "a@example.com"}
    assert validate_input(REGISTRY["send_email"], tool_input, partial=partial, allow_missing=allow_missing) == expected
