"""The OpenAPI 3.1 description of the JSON API, kept equal to the routes by
tests/engine/test_engine_workflows_api.py."""
from __future__ import annotations

from typing import Any

STR = {"type": "string"}
INT = {"type": "integer"}
NULLABLE_STR = {"type": ["string", "null"]}
TIME = {"type": ["string", "null"], "format": "date-time"}
ERROR = {"type": "object", "required": ["error"],
         "properties": {"error": STR, "field": STR}}

STEP_IN = {
    "type": "object", "required": ["toolName"],
    "properties": {"toolName": STR, "toolInput": {"type": "object"}, "instruction": NULLABLE_STR,
                   "needsApproval": {"type": "boolean"}},
}
WORKFLOW_IN = {
    "type": "object", "required": ["goal"],
    "properties": {"goal": {"type": "string", "maxLength": 2000}, "schedule": NULLABLE_STR,
                   "timezone": STR, "overlap": {"enum": ["skip", "queue", "allow", "supersede"]},
                   "paused": {"type": "boolean"}, "steps": {"type": "array", "maxItems": 20, "items": STEP_IN},
                   "budgetUsd": {"type": ["number", "null"], "minimum": 0, "maximum": 1_000_000,
                                 "description": "Monthly budget for model calls (USD); null: none"}},
}
USD = {"type": "number"}
WORKFLOW = {
    "type": "object",
    "properties": {"id": STR, "goal": STR, "schedule": NULLABLE_STR, "timezone": STR,
                   "qstashScheduleId": NULLABLE_STR, "paused": {"type": "boolean"},
                   "overlap": STR, "steps": {"type": "array", "items": {
                       "type": "object", "properties": {"index": INT, **STEP_IN["properties"]}}},
                   "createdAt": TIME, "nextRuns": {"type": "array", "items": STR},
                   "budgetUsd": {"type": ["number", "null"]}, "monthSpendUsd": USD, "projectedRunCostUsd": USD},
}
APPROVAL = {
    "type": "object",
    "properties": {k: {} for k in ("id", "runId", "workflowId", "stepIndex", "toolName", "status",
                                   "proposedInput", "decidedInput", "feedback", "decidedBy",
                                   "decidedAt", "channel", "expiresAt")},
}
APPROVAL_DETAIL = {
    "type": "object",
    "properties": {**APPROVAL["properties"],
                   "previousApproved": {"type": ["object", "null"],
                                        "description": "The last approved input of the same step of the same workflow"},
                   "previousApprovedAt": TIME, "previousApprovalId": {"type": ["integer", "null"]},
                   "similarity": {"type": ["number", "null"], "minimum": 0, "maximum": 1,
                                  "description": "difflib's ratio over the words of both versions, case-insensitive"}},
}
RUN = {
    "type": "object",
    "properties": {**{k: {} for k in ("id", "workflowId", "conversationId", "status", "trigger",
                                      "createdAt", "finishedAt", "error", "promptTokens",
                                      "completionTokens", "costUsd", "supersededBy", "steps", "assets")},
                   "approvals": {"type": "array", "items": APPROVAL}},
}
SIGNED = "Called by QStash only; requires a valid `Upstash-Signature`."


def _list(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "object", "properties": {"items": {"type": "array", "items": item},
                                             "nextCursor": NULLABLE_STR}}


def _op(summary: str, ok: int, schema: dict | None = None, body: dict | None = None,
        params: list[str] = (), query: list[str] = (), security: bool = True,
        body_required: bool = True) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {
        str(ok): {"description": "success", **({"content": {"application/json": {"schema": schema}}} if schema else {})},
        "default": {"description": "error", "content": {"application/json": {"schema": ERROR}}},
    }}
    parameters = [{"name": p, "in": "path", "required": True, "schema": STR} for p in params]
    parameters += [{"name": q, "in": "query", "required": False, "schema": STR} for q in query]
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = {"required": body_required, "content": {"application/json": {"schema": body}}}
    if not security:
        op["security"] = []
    return op


PAGE = ["limit", "cursor"]
PATHS: dict[str, dict[str, Any]] = {
    "/api/workflows": {
        "get": _op("List your workflows", 200, _list(WORKFLOW), query=PAGE),
        "post": _op("Create a workflow (planned by the model when steps are omitted)", 201, WORKFLOW, WORKFLOW_IN),
    },
    "/api/workflows/plan": {
        "post": _op("Propose steps for a goal; nothing is stored", 200,
                    {"type": "object", "properties": {"steps": {"type": "array"}}},
                    {"type": "object", "required": ["goal"], "properties": {"goal": STR}}),
    },
    "/api/workflows/{workflowId}": {
        "get": _op("Read a workflow", 200, WORKFLOW, params=["workflowId"]),
        "patch": _op("Change a workflow", 200, WORKFLOW, {**WORKFLOW_IN, "required": []}, params=["workflowId"]),
        "delete": _op("Delete a workflow and its schedule", 204, params=["workflowId"]),
    },
    "/api/workflows/{workflowId}/runs": {
        "get": _op("List a workflow's runs", 200, _list(RUN), params=["workflowId"], query=PAGE + ["status"]),
        "post": _op("Run now", 202, {"type": "object", "properties": {"runId": INT, "status": STR}},
                    params=["workflowId"]),
    },
    "/api/runs/{runId}": {"get": _op("Read a run", 200, RUN, params=["runId"])},
    "/api/runs/{runId}/cancel": {"post": _op("Cancel a run", 200, RUN, params=["runId"])},
    "/api/runs/{runId}/retry": {"post": _op(
        "Retry a failed run from its failed step; 409 without confirmedOutcome when an at-most-once "
        "effect (a LinkedIn post) may have happened", 202, RUN,
        {"type": "object", "properties": {"confirmedOutcome": {"type": "boolean"}}}, params=["runId"],
        body_required=False)},
    "/api/runs/{runId}/resume": {"post": _op(
        "Resume a run the cost guard paused (409 while the budget is still too low)", 202, RUN, params=["runId"])},
    "/api/approvals": {"get": _op("List your approvals", 200, _list(APPROVAL), query=PAGE + ["status"])},
    "/api/approvals/{approvalId}": {
        "get": _op("Read an approval, beside the last approved version of its step", 200, APPROVAL_DETAIL,
                   params=["approvalId"]),
        "post": _op("Decide an approval", 200, APPROVAL, {
            "type": "object", "required": ["decision"],
            "properties": {"decision": {"enum": ["approve", "reject", "revise"]}, "feedback": STR,
                           "toolInput": {"type": "object"}}}, params=["approvalId"]),
    },
    "/api/openapi.json": {"get": _op("This document", 200, {"type": "object"}, security=False)},
    "/api/workflows/step": {"post": _op(f"Run one step. {SIGNED}", 200, security=False)},
    "/api/workflows/trigger": {"post": _op(f"Start a scheduled run. {SIGNED}", 200, security=False)},
    "/api/workflows/failed": {"post": _op(f"Failure callback. {SIGNED}", 200, security=False)},
    "/api/approvals/expire": {"post": _op(f"Expire an approval. {SIGNED}", 200, security=False)},
    "/api/maintenance/sweep": {"post": _op(f"Minute sweep. {SIGNED}", 200, security=False)},
}


def document() -> dict[str, Any]:
    """The whole OpenAPI document."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "Stepwise API", "version": "1.0.0",
                 "description": "Goals in plain language, run step by step through QStash."},
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
        "paths": PATHS,
    }
