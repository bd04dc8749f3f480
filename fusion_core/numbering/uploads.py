"""How large an import's body may be: FUSION_MAX_IMPORT_BYTES (default 64 MiB), for the import
routes only (`POST /api/v1/number-imports`, the portal's Import numbers page); every other
request keeps FUSION_MAX_BODY_BYTES (1 MiB).

A CSV of 100,000 single numbers is 1.2 MiB, several MiB with a type and notes on each row. The limit is raised on the
request before anything reads its body (Flask's per-request `max_content_length`), and a body
that says it is larger is refused before it is read, with an error naming the field.
"""

from __future__ import annotations

from flask import current_app, request

from fusion_core.errors import FusionError

FORM_SLACK = 64 * 1024  # the form's other fields and the multipart framing around the file


class PayloadTooLarge(FusionError):
    status = 413
    code = "payload_too_large"


def max_import_bytes() -> int:
    """The MAX_IMPORT_BYTES setting (FUSION_MAX_IMPORT_BYTES, default 64 MiB)."""
    return int(current_app.config["FUSION"]["MAX_IMPORT_BYTES"])


def describe(size: int) -> str:
    if size >= 1024 * 1024 and size % (1024 * 1024) == 0:
        return f"{size // (1024 * 1024)} MiB"
    return f"{size:,} bytes"


def too_large(field: str, limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"The import is larger than {describe(limit)} (FUSION_MAX_IMPORT_BYTES).",
        errors={
            field: [
                f"Larger than {describe(limit)}: split the file, or import it with "
                "`fusion numbers import FILE`."
            ]
        },
    )


def allow_import_body(field: str) -> None:
    """Before the body is read: accept up to the import limit on this request (the whole body,
    and a pasted field of a form), or refuse at once a body that says it is larger."""
    limit = max_import_bytes() + FORM_SLACK
    request.max_content_length = limit
    request.max_form_memory_size = limit
    if request.content_length is not None and request.content_length > limit:
        raise too_large(field, max_import_bytes())
