"""Validating a step's tool input against its tool's JSON Schema, with messages people can read."""
from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from email_validator import EmailNotValidError, validate_email
from jsonschema import Draft202012Validator, FormatChecker, ValidationError

from workflows.engine import references
from workflows.tools.base import Tool

URL_SCHEMA: dict[str, Any] = {
    "type": "string", "format": "uri", "minLength": 1, "maxLength": 2048,
    "description": "An http or https URL.",
}
ONE_LINE = "^[^\\r\\n]*$"  # header injection: no CR or LF in a header value or subject

# Where a templated string ("{{ steps[0].output.link }}") may stand at creation time: it is
# rendered before the run-time check, which then applies these keywords to the real value.
DEFERRED_FOR_TEMPLATES = {"type", "format", "enum", "const", "pattern", "minimum", "maximum",
                          "exclusiveMinimum", "exclusiveMaximum", "multipleOf"}
TYPE_NAMES = {"string": "a string", "integer": "a whole number", "number": "a number",
              "boolean": "true or false", "object": "an object", "array": "a list", "null": "null"}

FORMATS = FormatChecker(formats=())


@FORMATS.checks("uri")
def _is_web_url(value: object) -> bool:
    if not isinstance(value, str):
        return True
    try:
        parts = urlsplit(value)
        return parts.scheme in ("http", "https") and bool(parts.hostname) and not any(c.isspace() for c in value)
    except ValueError:  # a malformed port or IPv6 literal
        return False


@FORMATS.checks("email", raises=EmailNotValidError)
def _is_email(value: object) -> bool:
    if isinstance(value, str):
        validate_email(value, check_deliverability=False)
    return True


def validate_input(tool: Tool, tool_input: Any, *, partial: bool,
                   allow_missing: bool = False) -> list[tuple[str, str]]:
    """(field path, message) pairs for everything wrong with a tool input; empty when valid.

    `partial` (workflow creation): a templated string may stand where another type or format
    is wanted, and with `allow_missing` required fields may be absent (the agent fills them).
    """
    if not isinstance(tool_input, dict):
        return [("toolInput", "must be an object")]
    validator = Draft202012Validator(tool.input_schema, format_checker=FORMATS)
    problems: list[tuple[str, str]] = []
    for error in validator.iter_errors(tool_input):
        if partial and allow_missing and error.validator == "required":
            continue
        if partial and error.validator in DEFERRED_FOR_TEMPLATES and \
                isinstance(error.instance, str) and references.is_template(error.instance):
            continue
        problems.extend(_describe(error))
    return sorted(dict.fromkeys(problems))


def _path(error: ValidationError) -> str:
    return "toolInput" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)


def _describe(error: ValidationError) -> list[tuple[str, str]]:
    """One or more readable (path, message) pairs for a jsonschema error."""
    path, kind, value, schema = _path(error), error.validator, error.validator_value, error.schema
    if kind == "required":
        return [(f"{path}.{name}", "is required") for name in value if name not in error.instance]
    if kind == "additionalProperties" and value is False:
        known = ", ".join(schema.get("properties", {}))
        extra = [k for k in error.instance if k not in schema.get("properties", {})]
        return [(f"{path}.{k}", f"is not a field of this tool (fields: {known})") for k in extra]
    if "propertyNames" in error.schema_path:
        return [(f"{path}.{error.instance}", schema.get("x-message", "is not an allowed name"))]
    if kind == "type":
        wanted = [value] if isinstance(value, str) else value
        return [(path, "must be " + " or ".join(TYPE_NAMES.get(t, t) for t in wanted))]
    if kind == "format":
        if value == "email":
            cause = f": {error.cause}" if error.cause else ""
            return [(path, f"must be a valid email address{cause}")]
        return [(path, "must be an http or https URL")]
    if kind == "enum":
        return [(path, "must be one of " + ", ".join(map(str, value)))]
    messages = {
        "maxLength": f"must be at most {value} characters",
        "minLength": "must not be empty" if value == 1 else f"must be at least {value} characters",
        "maximum": f"must be at most {value}",
        "minimum": f"must be at least {value}",
        "maxProperties": f"must have at most {value} entries",
        "pattern": schema.get("x-message", "has an invalid form"),
    }
    return [(path, messages.get(kind) or error.message)]
