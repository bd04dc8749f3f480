"""Path ids: any segment reaches the view, which answers 404 naming `id` when it is no UUID."""

from __future__ import annotations

import uuid

from werkzeug.routing import BaseConverter


class IdConverter(BaseConverter):
    regex = "[^/]+"

    def to_python(self, value: str) -> uuid.UUID | str:
        try:
            return uuid.UUID(value)
        except ValueError:
            return value

    def to_url(self, value) -> str:
        return str(value)
