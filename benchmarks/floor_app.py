"""The floor: the least work a Python mock of ``flux_headshot`` can do on raw Starlette and still
give headshot-mock's answer. Not a mock anyone should use; a bound for the benchmark
(``scripts/bench --floor``, ``benchmarks/instructions.py --floor``).

Per request it does only what no mock of this endpoint can leave out: read and parse the body
(msgspec), check it against both of the spec's schemas (the documented one and what the provider
accepts; jsonschema-rs ``is_valid``), then either an error envelope naming each violation at its
field (400; both schemas' errors, as headshot-mock's answer names them) or a job id,
three blake2b tokens (the file name, the file's token, ``meta.file_prefix``), the answer with its
links and ``meta`` echo, the job record encoded, and the journal keeping the request and answer.
Everything else headshot-mock does is left out: the guard (Host, origin, sizes), the deadlines,
scenario choice, rate limits, findings and their headers, the store with its limits, expiry and
admin API, redaction, the plug-in interface. Served as raw Starlette is:
``uvicorn floor_app:app --app-dir benchmarks``.
"""

import collections
import hashlib
import itertools
from typing import Any

import msgspec
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from headshot_mock import specs

_spec = specs.load("modelslab")
_media = _spec.resolve(_spec.operation("fluxHeadshot").definition["requestBody"])["content"][
    "application/json"
]
SCHEMAS = (_spec.validator(_media["schema"]), _spec.validator(_media["x-accepted-schema"]))
_decode, _encode = msgspec.json.Decoder().decode, msgspec.json.Encoder().encode
_ids = itertools.count(12_200_001)
_journal: collections.deque[tuple[Any, ...]] = collections.deque(maxlen=1000)


def _token(*parts: object) -> str:
    return hashlib.blake2b(repr(parts).encode(), digest_size=16).hexdigest()


def _message(body: Any) -> str:
    """What the error envelope says: each schema violation at its field (as the mock's does)."""
    if body is None:
        return "body: is not valid JSON"
    found = {
        f"{'.'.join(map(str, error.instance_path)) or 'body'}: {error.message}"
        for schema in SCHEMAS
        for error in schema.iter_errors(body)
    }
    return "; ".join(sorted(found))


async def flux_headshot(request: Request) -> Response:
    raw = await request.body()
    try:
        body = _decode(raw)
    except msgspec.DecodeError:
        body = None
    if not isinstance(body, dict) or not all(schema.is_valid(body) for schema in SCHEMAS):
        content = _encode({"status": "error", "message": _message(body)})
        _journal.append((raw, content, dict(request.headers)))
        return Response(content, 400, media_type="application/json")
    job = next(_ids)
    link = f"http://127.0.0.1:4010/files/{_token('file', job)}/{_token('gen', job)}-0.png"
    prefix = _token("prefix", job)
    meta = {
        "prompt": body.get("prompt", ""),
        "negative_prompt": body.get("negative_prompt") or "",
        "face_image": body.get("face_image", ""),
        "width": body.get("width", 1024),
        "height": body.get("height", 1024),
        "samples": 1,
        "base64": "yes" if body.get("base64") in (True, "true", "yes") else "no",
        "safety_checker": "yes" if body.get("safety_checker") in (True, "true", "yes") else "no",
        "seed": body.get("seed"),
        "file_prefix": f"{prefix[:8]}-{prefix[8:12]}-{prefix[12:16]}-{prefix[16:20]}-{prefix[20:]}",
        "outdir": "out",
        "temp": "no",
    }
    for key in ("guidance_scale", "num_inference_steps", "safety_checker_type"):
        if key in body:
            meta[key] = body[key]
    answer = {
        "status": "success",
        "generationTime": 4.7,
        "id": job,
        "output": [link],
        "proxy_links": [link],
        "meta": meta,
    }
    content = _encode(answer)
    record = _encode({"id": job, "output": [link], "webhook": body.get("webhook"), "meta": meta})
    _journal.append((raw, content, dict(request.headers), record))
    return Response(content, media_type="application/json")


app = Starlette(
    routes=[Route("/modelslab/api/v6/image_editing/flux_headshot", flux_headshot, methods=["POST"])]
)
