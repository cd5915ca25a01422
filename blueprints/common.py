"""Helpers shared by the blueprints: the domain's services, JSON bodies, domain errors."""
from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, request

from workflows.errors import DomainError, Malformed
from workflows.ports import Services


def services() -> Services:
    """The app's wired collaborators (queue, model, clock)."""
    return current_app.extensions["stepwise"]


def json_body() -> Any:
    """The request's JSON, or a 400 that says so."""
    data = request.get_json(silent=True)
    if data is None:
        raise Malformed("body must be JSON (Content-Type: application/json)")
    return data


def optional_json_body() -> Any:
    """The request's JSON, or None when it has no body (a 400 when it has one that is not JSON)."""
    return json_body() if request.get_data() else None


def domain_error(error: DomainError):  # type: ignore[no-untyped-def]
    """`{"error", "field"?}` with the error's status."""
    body = {"error": error.message}
    if error.field:
        body["field"] = error.field
    return jsonify(body), error.status
