"""References to earlier step outputs: Jinja templates in a step's input, rendered in a sandbox."""
from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from jinja2 import StrictUndefined, TemplateError, TemplateSyntaxError, Undefined, nodes
from jinja2.environment import Template, TemplateExpression
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from models import iso
from workflows.engine import bounded
from workflows.errors import ToolError

if TYPE_CHECKING:  # tools import this module to render their templates
    from workflows.tools.base import Tool, ToolContext

MAX_RENDERED_CHARS = 200_000  # one rendered string; stops a runaway loop from filling memory
MAX_SEQUENCE_REPEAT = 100_000  # `'x' * n` and `[..] * n` in a template
MAX_EXPONENT = 1_000
MAX_TEMPLATE_DEPTH = 40  # nodes inside nodes; deeper ones would exhaust the parser or Python's compiler
# A template made only of these reads stored values and renders in-process; any other (loops,
# filters, calls, arithmetic) renders in a child process with CPU, memory and time limits.
PLAIN_NODES = (nodes.Template, nodes.Output, nodes.TemplateData, nodes.Name, nodes.Getattr,
               nodes.Getitem, nodes.Const)

LATER_STEP = "steps[{i}] refers to the current or a later step; a step can only use earlier steps' outputs"
NOT_LITERAL = "steps must be used with a literal step number, like steps[0].output"


class _Environment(ImmutableSandboxedEnvironment):
    """The sandbox, with dict keys winning over dict methods and bounded `*` and `**`."""

    intercepted_binops = frozenset({"*", "**"})

    def getattr(self, obj: Any, attribute: str) -> Any:
        # `steps[0].output.items` must be the output's "items", not the dict's items() method.
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, (int, float)) and abs(right) > MAX_EXPONENT:
            raise SecurityError(f"exponent larger than {MAX_EXPONENT}")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, (str, list, tuple)) and isinstance(n, int):
                    if len(seq) * n > MAX_SEQUENCE_REPEAT:
                        raise SecurityError(f"repeated sequence longer than {MAX_SEQUENCE_REPEAT}")
        return super().call_binop(context, operator, left, right)


def _finalize(value: Any) -> Any:
    """How a value prints inside text: JSON for containers, ISO for times, nothing for null."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return iso(value, "auto")
    if isinstance(value, (dict, list, tuple)):
        return json.dumps(_to_json(value), ensure_ascii=False)
    return value


# optimized=False: Jinja's optimizer folds constant expressions while compiling, which would run
# `{{ 'a'|center(10**9) }}` in this process, outside every limit of the bounded render.
_env = _Environment(
    undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True, finalize=_finalize,
    optimized=False,
)


def namespace(ctx: ToolContext) -> dict[str, Any]:
    """The names a template may use: steps, workflow, run and now."""
    return {
        "steps": [{"output": output} for output in ctx.step_outputs],
        "workflow": {"id": ctx.workflow_id, "goal": ctx.workflow_goal},
        "run": {"id": ctx.run_id, "startedAt": _utc(ctx.run_started_at)},
        "now": _utc(ctx.now),
    }


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value


def is_template(value: str) -> bool:
    """True when a string holds a Jinja expression or statement."""
    return "{{" in value or "{%" in value


def has_templates(value: Any) -> bool:
    """True when any string inside a step's input is a template (it needs the reference names)."""
    return any(is_template(source) for _, source in _strings(value, ""))


def render_input(tool: Tool, tool_input: dict[str, Any], ns: dict[str, Any]) -> dict[str, Any]:
    """Render every templated string of a step's input, except the tool's raw fields."""
    rendered: dict[str, Any] = {}
    for key, value in tool_input.items():
        if key in tool.raw_fields:
            rendered[key] = value
        else:
            rendered[key] = _map_strings(value, f"toolInput.{key}", lambda s, p: _render_value(s, ns, p))
    return rendered


def render_template(template: str, ns: dict[str, Any]) -> str:
    """Render a whole template to text (compose's template)."""
    return _render_text(template, ns, "toolInput.template")


def _render_value(source: str, ns: dict[str, Any], path: str) -> Any:
    if not is_template(source):
        return source
    compiled = _compile(source, path)
    if compiled.expression:
        return _run(compiled, path, lambda: _capped_value(_to_json(compiled.runnable(**ns))))
    return _render_text(source, ns, path)


def _render_text(source: str, ns: dict[str, Any], path: str) -> str:
    compiled = _compile(source, path)
    if compiled.expression:
        return _run(compiled, path, lambda: _capped_text(str(_finalize(_to_json(compiled.runnable(**ns))))))
    return _run(compiled, path, lambda: _join_capped(compiled.runnable, ns))


def _run(compiled: _Compiled, path: str, render: Callable[[], Any]) -> Any:
    """Plain references render here; anything that computes renders in a bounded child process."""
    if compiled.plain:
        return _guard(path, render)
    return bounded.run_bounded(lambda: _guard(path, render), path)


def _join_capped(template: Template, ns: dict[str, Any]) -> str:
    parts, size = [], 0
    for chunk in template.generate(ns):
        size += len(chunk)
        if size > MAX_RENDERED_CHARS:
            raise ToolError(f"rendered text is longer than {MAX_RENDERED_CHARS} characters")
        parts.append(chunk)
    return "".join(parts)


def _capped_text(text: str) -> str:
    if len(text) > MAX_RENDERED_CHARS:
        raise ToolError(f"rendered text is longer than {MAX_RENDERED_CHARS} characters")
    return text


def _capped_value(value: Any) -> Any:
    """A native value (one `{{ expression }}`) is held to the same cap, measured as JSON text."""
    size, stack = 0, [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
            size += 2
        elif isinstance(item, list):
            stack.extend(item)
            size += 2
        else:
            size += len(item) + 2 if isinstance(item, str) else 8
        if size > MAX_RENDERED_CHARS:  # stops early: shared references cannot make this walk long
            raise ToolError(f"rendered value is larger than {MAX_RENDERED_CHARS} characters of JSON")
    return value


def _guard(path: str, render: Callable[[], Any]) -> Any:
    """Run a render, turning template failures into a ToolError naming the field."""
    try:
        return render()
    except ToolError as exc:
        raise ToolError(f"{path}: {exc}", field=path) from None
    except TemplateSyntaxError as exc:
        raise ToolError(f"{path}: {_syntax_message(exc)}", field=path) from None
    except TemplateError as exc:  # undefined names, sandbox refusals, syntax
        raise ToolError(f"{path}: {exc.message or exc}", field=path) from None
    except RecursionError:
        raise ToolError(f"{path}: the template recurses too deeply", field=path) from None
    except (ArithmeticError, LookupError, TypeError, ValueError) as exc:
        raise ToolError(f"{path}: {exc}", field=path) from None


def _syntax_message(exc: TemplateSyntaxError) -> str:
    return f"template error: {exc.message} (line {exc.lineno})"


@dataclass(frozen=True)
class _Compiled:
    """A compiled template; `expression` keeps its native type, `plain` only reads values."""

    runnable: Template | TemplateExpression
    expression: bool
    plain: bool


def _parse(source: str) -> nodes.Template:
    """Parse, refusing nesting that would exhaust the parser's or Python's compiler's stack."""
    try:
        ast = _env.parse(source)
    except RecursionError:
        raise TemplateSyntaxError(f"nested more than {MAX_TEMPLATE_DEPTH} levels deep", 1) from None
    if _depth(ast) > MAX_TEMPLATE_DEPTH:
        raise TemplateSyntaxError(f"nested more than {MAX_TEMPLATE_DEPTH} levels deep", 1)
    return ast


def _depth(ast: nodes.Node) -> int:
    deepest, stack = 0, [(ast, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > MAX_TEMPLATE_DEPTH:
            break
        stack.extend((child, depth + 1) for child in node.iter_child_nodes())
    return deepest


@lru_cache(maxsize=512)
def _compile_cached(source: str) -> _Compiled:
    ast = _parse(source)
    plain = all(isinstance(node, PLAIN_NODES) for node in ast.find_all(nodes.Node))
    expr = _single_expression(ast)
    if expr is None:
        return _Compiled(_env.from_string(ast), expression=False, plain=plain)
    # The same construction as Environment.compile_expression, from the node we already have.
    body = [nodes.Assign(nodes.Name("result", "store"), expr, lineno=1)]
    return _Compiled(TemplateExpression(_env.from_string(nodes.Template(body, lineno=1)), False),
                     expression=True, plain=plain)


def _compile(source: str, path: str) -> _Compiled:
    return _guard(path, lambda: _compile_cached(source))


def _single_expression(ast: nodes.Template) -> nodes.Expr | None:
    """The expression when the whole template is one `{{ ... }}` (whitespace around allowed)."""
    if len(ast.body) != 1 or not isinstance(ast.body[0], nodes.Output):
        return None
    exprs = [n for n in ast.body[0].nodes if not isinstance(n, nodes.TemplateData)]
    data = [n for n in ast.body[0].nodes if isinstance(n, nodes.TemplateData)]
    if len(exprs) != 1 or any(n.data.strip() for n in data):
        return None
    return exprs[0]


def _to_json(value: Any) -> Any:
    """A rendered native value as JSON data (what the runner stores as the step's input)."""
    if isinstance(value, Undefined):
        str(value)  # a StrictUndefined raises its own readable error here
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return str(value)  # Markup and other str subclasses become plain strings
    if isinstance(value, datetime):
        return iso(value, "auto")
    if isinstance(value, Mapping):
        return {str(k): _to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_json(v) for v in value]
    return str(value)


def _map_strings(value: Any, path: str, fn: Callable[[str, str], Any]) -> Any:
    """Apply fn(string, path) to every string inside dicts and lists."""
    if isinstance(value, str):
        return fn(value, path)
    if isinstance(value, dict):
        return {k: _map_strings(v, f"{path}.{k}", fn) for k, v in value.items()}
    if isinstance(value, list):
        return [_map_strings(v, f"{path}[{i}]", fn) for i, v in enumerate(value)]
    return value


def _strings(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Every (path, string) inside dicts and lists."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for k, v in value.items():
            yield from _strings(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _strings(v, f"{path}[{i}]")


def check_references(steps: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Validate every template of a workflow's steps: parseable, and only earlier steps used."""
    errors: list[tuple[str, str]] = []
    for index, step in enumerate(steps):
        tool_input = step.get("toolInput", step.get("tool_input"))
        for path, source in _strings(tool_input, f"steps[{index}].toolInput"):
            errors.extend((path, message) for message in _template_errors(source, index))
    return errors


def _template_errors(source: str, own_index: int) -> list[str]:
    try:
        ast = _parse(source)
    except TemplateSyntaxError as exc:
        return [_syntax_message(exc)]
    messages: list[str] = []
    indexed: set[int] = set()
    for item in ast.find_all(nodes.Getitem):
        if not (isinstance(item.node, nodes.Name) and item.node.name == "steps"):
            continue
        indexed.add(id(item.node))
        arg = item.arg
        if not (isinstance(arg, nodes.Const) and type(arg.value) is int and arg.value >= 0):
            messages.append(NOT_LITERAL)
        elif arg.value >= own_index:
            messages.append(LATER_STEP.format(i=arg.value))
    for name in ast.find_all(nodes.Name):
        if name.name == "steps" and name.ctx == "load" and id(name) not in indexed:
            messages.append(NOT_LITERAL)
    return list(dict.fromkeys(messages))


def uses_steps(value: Any) -> bool:
    """True when a template inside `value` reads `steps` (earlier outputs exist only in a run)."""
    for _, source in _strings(value, ""):
        if not is_template(source):
            continue
        try:
            ast = _env.parse(source)
        except TemplateSyntaxError:
            continue  # rendering names the syntax error
        if any(name.name == "steps" for name in ast.find_all(nodes.Name)):
            return True
    return False
