"""send_email: one email, written to the outbox in the step's own commit."""
from __future__ import annotations

import re
from typing import Any

from email_validator import EmailNotValidError, validate_email

from workflows.errors import ToolError
from workflows.tools.base import Delivery, EmailSpec, Tool, ToolContext, ToolResult
from workflows.tools.schema import ONE_LINE

MAX_SUBJECT_CHARS = 200
MAX_BODY_CHARS = 50_000
NOT_ATEXT = re.compile(r"[^A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]")  # what a Message-ID's left part allows

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "to": {"type": "string", "format": "email", "maxLength": 254, "description": "One recipient address."},
        "subject": {"type": "string", "minLength": 1, "maxLength": MAX_SUBJECT_CHARS,
                    "pattern": ONE_LINE, "x-message": "must be a single line"},
        "body": {"type": "string", "minLength": 1, "maxLength": MAX_BODY_CHARS,
                 "description": "Plain text body."},
    },
    "required": ["to", "subject", "body"],
    "additionalProperties": False,
}


def message_id(dedup_id: str) -> str:
    """The Message-ID of a step's email: the same on every attempt of the step."""
    return f"<{NOT_ATEXT.sub('-', dedup_id)}@stepwise>"


def run(tool_input: dict[str, Any], ctx: ToolContext) -> ToolResult:
    """Return the email for the runner to write to the outbox; nothing is sent from here."""
    try:
        to = validate_email(tool_input["to"], check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ToolError(f"toolInput.to: {exc}", field="toolInput.to") from None
    mid = message_id(ctx.dedup_id)
    email = EmailSpec(to=to, subject=tool_input["subject"], text=tool_input["body"], message_id=mid)
    return ToolResult(output={"messageId": mid}, emails=[email])


TOOL = Tool(
    name="send_email",
    description="Send one plain-text email to one address.",
    input_schema=SCHEMA,
    needs_approval=True,
    delivery=Delivery.OUTBOX,
    run=run,
    output_fields=("messageId",),
)
