"""Domain errors. Services raise these; the API renders them as one JSON shape.

{"code": "validation_error", "message": "...", "errors": {"field": ["reason"]},
 "request_id": "..."}
"""

from __future__ import annotations

from typing import Any


class FusionError(Exception):
    status = 400
    code = "bad_request"

    def __init__(
        self,
        message: str,
        errors: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        **details: Any,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.errors = errors or {}
        self.headers = headers or {}
        self.details = details


class ValidationFailed(FusionError):
    status = 422
    code = "validation_error"


class Unauthorized(FusionError):
    status = 401
    code = "unauthorized"


class Forbidden(FusionError):
    status = 403
    code = "forbidden"


class NotFound(FusionError):
    status = 404
    code = "not_found"


class Conflict(FusionError):
    status = 409
    code = "conflict"


class PreconditionFailed(FusionError):
    status = 412
    code = "precondition_failed"


class TooManyRequests(FusionError):
    status = 429
    code = "too_many_requests"
