"""One JSON error shape for every failure under /api and for /healthz:

    {"code": "validation_error", "message": "...", "errors": {"name": ["Missing data..."]},
     "request_id": "9f0c..."}

`errors` maps a field to its reasons; for a body field it is the field name, for a query
argument too (the location is given in `location` when it is not the JSON body).
"""

from __future__ import annotations

import logging
from typing import Any

from flask import g, jsonify
from marshmallow import Schema, fields
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from werkzeug.exceptions import HTTPException

from fusion_core.db import get_db
from fusion_core.errors import FusionError

log = logging.getLogger("fusion.api")

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    428: "precondition_required",
    429: "too_many_requests",
    500: "internal_error",
}


class ErrorSchema(Schema):
    code = fields.String(metadata={"description": "machine-readable error code"})
    message = fields.String(metadata={"description": "what went wrong, for people"})
    errors = fields.Dict(
        keys=fields.String(),
        metadata={"description": "per-field reasons: {field: [reason, ...]}"},
    )
    location = fields.String(metadata={"description": "where the fields are: json, query, path"})
    request_id = fields.String()


def error_response(status: int, message: str, errors: Any = None, headers=None, **extra: Any):
    body = {"code": extra.pop("code", None) or HTTP_CODES.get(status, "error"), "message": message}
    if errors:
        body["errors"] = errors
    body.update({k: v for k, v in extra.items() if v is not None})
    body["request_id"] = g.get("request_id")
    response = jsonify(body)
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def handle_fusion_error(error: FusionError):
    return error_response(
        error.status, error.message, error.errors, error.headers, code=error.code, **error.details
    )


def handle_http_exception(error: HTTPException):
    data = getattr(error, "data", None) or {}
    messages = data.get("messages")
    errors, location = None, None
    if isinstance(messages, dict) and messages:
        # webargs: {"json": {"field": [...]}} -> errors for that location
        location, errors = next(iter(messages.items()))
        if isinstance(errors, list):
            errors = {"_body": errors}
    status = error.code or 500
    message = data.get("message") or {
        422: "The request has invalid fields.",
        400: "The request is malformed.",
        404: "Not found.",
        405: "Method not allowed.",
        413: "The request body is too large.",
        415: "Send JSON with Content-Type: application/json.",
    }.get(status, error.description or error.name)
    if status == 400 and location == "json":
        message = "The request body is not valid JSON."
    return error_response(status, message, errors, headers=data.get("headers"), location=location)


def handle_stale(_error: StaleDataError):
    get_db().session.rollback()
    return error_response(
        412,
        "The resource was changed by someone else; fetch it again and retry.",
        code="precondition_failed",
    )


def handle_integrity(error: IntegrityError):
    get_db().session.rollback()
    log.warning("integrity error: %s", error.orig)
    return error_response(409, "The change conflicts with existing data.", code="conflict")


def handle_unexpected(error: Exception):
    get_db().session.rollback()
    log.exception("unhandled error")
    return error_response(500, "Internal error; the request id identifies it in the logs.")


def register(app) -> None:
    app.register_error_handler(FusionError, handle_fusion_error)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(StaleDataError, handle_stale)
    app.register_error_handler(IntegrityError, handle_integrity)
    if not app.config.get("PROPAGATE_EXCEPTIONS"):
        app.register_error_handler(Exception, handle_unexpected)
