"""The ceiling: raw Starlette on the same route, a fixed answer, no validation, no journal.

The body is read (the same I/O as the mock) but not parsed. Served with uvloop and httptools,
like ``headshot-mock serve``: ``uvicorn raw_app:app --app-dir benchmarks``.
"""

import json

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

FIXED = json.dumps(
    {
        "status": "success",
        "generationTime": 1.23,
        "id": 1,
        "output": ["https://example.com/out/1.png"],
        "proxy_links": ["https://example.com/proxy/1.png"],
        "meta": {},
    },
    separators=(",", ":"),
).encode()


async def flux_headshot(request: Request) -> Response:
    await request.body()
    return Response(FIXED, media_type="application/json")


app = Starlette(
    routes=[Route("/modelslab/api/v6/image_editing/flux_headshot", flux_headshot, methods=["POST"])]
)
