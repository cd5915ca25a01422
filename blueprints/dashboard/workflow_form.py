"""The workflow form: fields drawn from each tool's JSON Schema, and the form read back into the
API's data shape, so saving goes through the same validation as `POST /api/workflows`.

Form field names: `goal`, `schedule`, `timezone`, `overlap`, `budgetUsd`, and per step i `steps-{i}-toolName`,
`steps-{i}-instruction`, `steps-{i}-needsApproval` and `steps-{i}-input-{field}`. An error the
domain names `steps[1].toolInput.url` is shown beside the field whose id is `steps-1-input-url`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Mapping

from models import Overlap, Workflow
from workflows.authoring import definitions, editing
from workflows.errors import DomainError
from workflows.ports import Services
from workflows.tools import REGISTRY, get_tool
from workflows.tools.base import Tool

STEP_KEY = re.compile(r"^steps-(\d+)-toolName$")
STEP_PATH = re.compile(r"^steps\[(\d+)\]\.(toolName|instruction|needsApproval|toolInput)(?:[.\[]([^.\[\]]+))?")
LONG_TEXT = 500  # strings that may be longer than this get a textarea
OVERLAP_LABELS = {"skip": "skip: no new run while one is active",
                  "queue": "queue: one run waits behind the active one",
                  "allow": "allow: every tick starts a run",
                  "supersede": "supersede: the next tick replaces a run still awaiting approval"}


@dataclass(frozen=True)
class InputField:
    """One input field of a tool, as the form draws it."""

    name: str
    kind: str  # text, textarea, number, checkbox, select, json
    hint: str
    required: bool
    options: tuple[str, ...] = ()
    default: Any = None

    @property
    def choices(self) -> list[tuple[str, str]]:
        """A select's options: empty (the tool's default), then each allowed value."""
        empty = f"default: {self.default}" if self.default is not None else "—"
        return [("", empty), *((str(o), str(o)) for o in self.options)]


def _kind(prop: dict[str, Any]) -> str:
    types = prop.get("type")
    types = [types] if isinstance(types, str) else list(types or [])
    if "enum" in prop:
        return "select"
    if types == ["boolean"]:
        return "checkbox"
    if types in (["integer"], ["number"]):
        return "number"
    if types == ["string"]:
        long = prop.get("maxLength", 0) > LONG_TEXT and "format" not in prop  # a URL stays one line
        return "textarea" if long else "text"
    return "json"  # any JSON value, an object, a list, or a mix of types


@lru_cache(maxsize=None)
def _fields(tool_name: str) -> tuple[InputField, ...]:
    schema = REGISTRY[tool_name].input_schema
    required = set(schema.get("required", []))
    fields = []
    for name, prop in schema.get("properties", {}).items():
        kind = _kind(prop)
        hint = prop.get("description", "")
        if kind == "json":
            hint = (hint + " JSON; text that is not JSON is sent as a string.").strip()
        if name in required:
            hint = (hint + " Required.").strip()
        fields.append(InputField(name, kind, hint, name in required, tuple(prop.get("enum", ())), prop.get("default")))
    return tuple(fields)


def input_fields(tool: Tool | None) -> tuple[InputField, ...]:
    """The form fields of a tool's input, in the schema's order."""
    return _fields(tool.name) if tool is not None else ()


@dataclass
class StepState:
    """One step as the form holds it: the raw text of each field, as typed."""

    tool_name: str
    values: dict[str, str] = field(default_factory=dict)
    instruction: str = ""
    needs_approval: bool = False

    @property
    def tool(self) -> Tool | None:
        """The chosen tool (None for a name that is not one)."""
        return get_tool(self.tool_name)

    @property
    def fields(self) -> tuple[InputField, ...]:
        """The chosen tool's input fields."""
        return input_fields(self.tool)

    @classmethod
    def new(cls, tool_name: str) -> StepState:
        """A fresh step of this tool: empty fields, approval from the tool's policy."""
        tool = get_tool(tool_name)
        return cls(tool_name, {}, "", bool(tool and tool.needs_approval))

    @classmethod
    def from_data(cls, step: Mapping[str, Any]) -> StepState:
        """A step in the API's shape (a workflow, a recipe, a plan) as form text."""
        tool = get_tool(str(step.get("toolName")))
        tool_input = step.get("toolInput") or {}
        values = {f.name: _text(f, tool_input[f.name]) for f in input_fields(tool) if f.name in tool_input}
        needs = step.get("needsApproval")
        return cls(str(step.get("toolName") or ""), values, step.get("instruction") or "",
                   bool(tool and tool.needs_approval) if needs is None else bool(needs))


@dataclass
class FormState:
    """The whole form as typed: re-drawn after every edit, saved through the domain."""

    goal: str = ""
    schedule: str = ""
    timezone: str = "UTC"
    overlap: str = Overlap.SKIP.value
    steps: list[StepState] = field(default_factory=list)
    budget: str = ""  # "Monthly budget (USD)" as typed; empty: no budget

    @classmethod
    def from_data(cls, data: Mapping[str, Any], timezone: str) -> FormState:
        """A form prefilled from the API's shape (a recipe, a copy)."""
        return cls(data.get("goal") or "", data.get("schedule") or "", data.get("timezone") or timezone,
                   data.get("overlap") or Overlap.SKIP.value, [StepState.from_data(s) for s in data.get("steps", [])],
                   budget_text(data.get("budgetUsd")))

    @classmethod
    def from_workflow(cls, workflow: Workflow) -> FormState:
        """The form of a stored workflow."""
        steps = [StepState.from_data({"toolName": s.tool_name, "toolInput": s.tool_input,
                                      "instruction": s.instruction, "needsApproval": s.needs_approval})
                 for s in workflow.steps]
        return cls(workflow.goal, workflow.schedule or "", workflow.timezone, workflow.overlap.value, steps,
                   budget_text(workflow.budget_usd))

    @classmethod
    def from_form(cls, form: Mapping[str, str]) -> FormState:
        """The posted form, steps renumbered 0..n-1 in the order they were drawn."""
        indexes = sorted(int(m.group(1)) for key in form if (m := STEP_KEY.match(key)))
        steps = []
        for i in indexes:
            prefix = f"steps-{i}-"
            state = StepState(form.get(prefix + "toolName", ""), instruction=form.get(prefix + "instruction", ""),
                              needs_approval=bool(form.get(prefix + "needsApproval")))
            state.values = {f.name: form.get(f"{prefix}input-{f.name}", "") for f in state.fields}
            steps.append(state)
        return cls(form.get("goal", ""), form.get("schedule", ""), form.get("timezone", "UTC"),
                   form.get("overlap", Overlap.SKIP.value), steps, form.get("budgetUsd", ""))

    def data(self) -> tuple[dict[str, Any], dict[str, str]]:
        """The API's workflow body, and the fields that could not be read (form id -> message)."""
        errors: dict[str, str] = {}
        steps = [_step_data(i, step, errors) for i, step in enumerate(self.steps)]
        body = {"goal": self.goal, "schedule": self.schedule.strip() or None, "timezone": self.timezone,
                "overlap": self.overlap, "steps": steps, "budgetUsd": _budget(self.budget)}
        return body, errors

    def edit(self, action: str) -> None:
        """Apply a step-list edit: add, tool-N (the tool changed), remove-N, up-N, down-N."""
        verb, _, number = action.partition("-")
        if verb == "add":
            self.steps.append(StepState.new(next(iter(REGISTRY))))
            return
        if not number.isdigit() or int(number) >= len(self.steps):
            return
        i = int(number)
        if verb == "tool":
            step = self.steps[i]
            step.needs_approval = bool(step.tool and step.tool.needs_approval)
            step.values = {k: v for k, v in step.values.items() if k in {f.name for f in step.fields}}
        elif verb == "remove":
            del self.steps[i]
        elif verb == "up" and i > 0:
            self.steps[i - 1], self.steps[i] = self.steps[i], self.steps[i - 1]
        elif verb == "down" and i + 1 < len(self.steps):
            self.steps[i + 1], self.steps[i] = self.steps[i], self.steps[i + 1]


def budget_text(value: float | None) -> str:
    """A stored budget as the form shows it: 5, 12.5, 0.00001 (never 1e-05)."""
    return "" if value is None else format(value, "f").rstrip("0").rstrip(".") or "0"


def _budget(text: str) -> Any:
    """The typed budget: None when empty, a number when it reads as one ("$5" too), else the text
    (the domain's check then says what is wrong beside the field)."""
    text = text.strip().removeprefix("$").strip()
    return _number(text) if text else None


def _text(f: InputField, value: Any) -> str:
    """A stored value as the form shows it."""
    if value is None:
        return ""
    if f.kind == "checkbox":
        return "on" if value else ""
    if f.kind == "json":
        if isinstance(value, str) and not _is_json(value):
            return value  # a template such as {{ steps[0].output.items }}, shown without quotes
        return json.dumps(value, indent=2, ensure_ascii=False)
    return value if isinstance(value, str) else json.dumps(value)


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _step_data(i: int, step: StepState, errors: dict[str, str]) -> dict[str, Any]:
    tool_input: dict[str, Any] = {}
    for f in step.fields:
        raw = step.values.get(f.name, "")
        if f.kind == "checkbox":
            if raw or f.default is True:
                tool_input[f.name] = bool(raw)
            continue
        text = raw if f.kind in ("textarea", "json") else raw.strip()
        if not text.strip():
            continue
        if f.kind == "number":
            tool_input[f.name] = _number(text)
        elif f.kind == "json":
            try:
                tool_input[f.name] = json.loads(text)
            except ValueError as exc:
                if _meant_as_json(text):
                    errors[f"steps-{i}-input-{f.name}"] = f"{f.name} is not valid JSON: {exc}"
                else:
                    tool_input[f.name] = text
        else:
            tool_input[f.name] = text
    data: dict[str, Any] = {"toolName": step.tool_name, "toolInput": tool_input, "needsApproval": step.needs_approval}
    if step.instruction.strip():
        data["instruction"] = step.instruction
    return data


def _meant_as_json(text: str) -> bool:
    """Text that opens like an object, a list or a quoted string (not a {{ template }})."""
    start = text.lstrip()
    return start[:1] in ("[", '"') or (start[:1] == "{" and start[1:2] not in ("{", "%"))


def _number(text: str) -> Any:
    """A whole number or a number; anything else (a template, a typo) as typed, for the schema to judge."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def field_id(path: str | None) -> str:
    """The form id of a field the domain names: steps[1].toolInput.url -> steps-1-input-url."""
    match = STEP_PATH.match(path or "")
    if not match:
        return path or "form"
    i, part, name = match.groups()
    if part == "toolInput":
        return f"steps-{i}-input-{name}" if name else f"steps-{i}-toolInput"
    return f"steps-{i}-{part}"


def _message(path: str, message: str) -> str:
    """The domain's message, led by the field's own name when it doesn't already say it."""
    match = STEP_PATH.match(path)
    if path == "steps" and not message.startswith("steps"):
        return f"The workflow {message}"  # "needs at least one step"
    if not match or message.startswith("steps["):
        return message
    name = match.group(3) or match.group(2)
    return f"{name} {message}"


class FormInvalid(Exception):
    """The form cannot be saved; `errors` maps form ids to messages."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def save(services: Services, owner_id: int, state: FormState, workflow: Workflow | None = None) -> Workflow:
    """Create (or update) the workflow through the domain; FormInvalid with every problem otherwise."""
    data, errors = state.data()
    for path, message in definitions.workflow_problems(data):
        errors.setdefault(field_id(path), _message(path, message))
    if errors:
        raise FormInvalid(errors)
    try:
        if workflow is None:
            return editing.create_workflow(services, owner_id, data)
        return editing.update_workflow(services, workflow, data)
    except DomainError as exc:  # QStash unreachable, or a check the form cannot see
        raise FormInvalid({field_id(exc.field): exc.message}) from exc
