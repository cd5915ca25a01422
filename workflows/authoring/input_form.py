"""A tool's input as form fields, generated from its JSON Schema, and the form read back.

Fields are labelled with the input's field names (`to`, `subject`, `body`), as in the workflow
form; a field whose value is JSON (an object, a list, any value) is a JSON textarea. Reading
the form back validates against the tool's schema and reports every problem by field name.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import Any, Mapping

from workflows.tools import Tool, validate_input

PREFIX = "input."  # form names: input.<field>, so they never collide with the form's own fields
LONG_TEXT = 300  # strings allowed to be longer than this get a textarea


@dataclass(frozen=True)
class InputField:
    """One field of a tool input as a form control."""

    name: str
    kind: str  # text, url, email, textarea, select, number, checkbox, json
    value: str
    required: bool
    options: tuple[str, ...] = ()
    hint: str | None = None

    @property
    def choices(self) -> list[tuple[str, str]]:
        """(value, text) options of a select (an optional one may be left empty)."""
        if self.kind == "checkbox":
            return [("true", "true"), ("", "false")]
        options = [(option, option) for option in self.options]
        return options if self.required else [("", "")] + options

    @property
    def form_name(self) -> str:
        """The control's name in the form."""
        return PREFIX + self.name


def _kind(schema: dict[str, Any]) -> str:
    kind = schema.get("type")
    if "enum" in schema:
        return "select"
    if kind == "string":
        if schema.get("format") == "uri":
            return "url"
        if schema.get("format") == "email":
            return "email"
        return "textarea" if schema.get("maxLength", 0) > LONG_TEXT else "text"
    if kind in ("integer", "number"):
        return "number"
    if kind == "boolean":
        return "checkbox"
    return "json"


def _shown(kind: str, value: Any) -> str:
    if value is None:
        return ""
    if kind == "json":
        return json.dumps(value, indent=2, ensure_ascii=False)
    if kind == "checkbox":
        return "true" if value else ""
    return str(value)


def input_fields(tool: Tool, values: Mapping[str, Any]) -> list[InputField]:
    """The tool's input fields, in schema order, filled with `values`."""
    schema = tool.input_schema
    required = set(schema.get("required", []))
    fields = []
    for name, prop in schema.get("properties", {}).items():
        kind = _kind(prop)
        value = values.get(name, prop.get("default") if kind == "select" else None)
        hint = "JSON" if kind == "json" else None
        fields.append(InputField(name, kind, _shown(kind, value), name in required,
                                 tuple(map(str, prop.get("enum", ()))), hint))
    return fields


def typed_fields(tool: Tool, form: Mapping[str, str]) -> list[InputField]:
    """The tool's fields holding what was typed into a submitted form (shown again with errors)."""
    return [replace(f, value=form.get(f.form_name, "")) for f in input_fields(tool, {})]


def _parse(field: InputField, raw: str) -> Any:
    if field.kind == "json":
        return json.loads(raw)
    if field.kind == "number":
        return float(raw) if "." in raw else int(raw)
    if field.kind == "checkbox":
        return raw not in ("", "false", "0")
    return raw


def parse_input_form(tool: Tool, form: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """(tool input, errors by field name) from a submitted form; errors empty when valid."""
    data: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for field in input_fields(tool, {}):
        raw = form.get(field.form_name, "")
        if field.kind != "checkbox" and raw.strip() == "" and not field.required:
            continue  # an optional field left empty is left out
        try:
            data[field.name] = _parse(field, raw if field.kind in ("textarea", "text") else raw.strip())
        except ValueError as exc:
            problem = f"must be valid JSON ({exc})" if field.kind == "json" else "must be a number"
            errors[field.name] = f"{field.name} {problem}"
    if not errors:
        for path, message in validate_input(tool, data, partial=False):
            name = path.removeprefix("toolInput").lstrip(".").split(".")[0].split("[")[0] or "_form"
            errors.setdefault(name, f"{path.removeprefix('toolInput.')} {message}")
    return data, errors
