"""RFC 9457 problem details: how the mock reports failures of its own (never a provider's)."""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import Response

from headshot_mock.mockserver.validation import cut

MEDIA_TYPE = "application/problem+json"


def problem(
    status: int, title: str, detail: str, *, headers: dict[str, str] | None = None, **extra: Any
) -> Response:
    # A detail may quote what the client sent: never a whole image or key, never megabytes.
    body = {"type": "about:blank", "title": title, "status": status, "detail": cut(detail, 2000), **extra}
    return Response(json.dumps(body), status_code=status, media_type=MEDIA_TYPE, headers=headers)
