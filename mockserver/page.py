"""The web page at ``/__mock/``: the journal, jobs, webhooks and rules, live, for people.

The page is plain HTML, CSS and JavaScript modules shipped as package data (``web/``): no CDN, no
build step. It reads and steers the mock through the admin API alone, like any other client;
what this module adds to that API is what a page needs and a script may use too:

- ``GET /__mock/``: the page for a browser (``Accept: text/html``), a JSON index of the admin
  routes for anyone else;
- ``GET /__mock/journal/summaries?after=SEQ&wait=S&limit=N``: the (newest ``N``) entries after
  ``SEQ`` without their bodies, waiting up to ``S`` seconds for one (long polling: a page stays
  live without a stream that would hold a stopping server up for longer than ``S``);
- ``GET /__mock/journal/{seq}``: one whole entry;
- ``GET /__mock/webhooks/deliveries/{id}/signature``: whether a delivery's signature headers
  verify against a secret the mock knows for its URL.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.resources
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from headshot_mock.mockserver.config import parse_endpoint
from headshot_mock.mockserver.control import Control
from headshot_mock.mockserver.engine import Engine
from headshot_mock.mockserver.errors import AdminError
from headshot_mock.mockserver.store import Record
from headshot_mock.mockserver.validation import cut

ASSETS = {"app.js": "text/javascript; charset=utf-8", "app.css": "text/css; charset=utf-8"}
MAX_WAIT = 10.0
"""The longest a summaries call waits (so a server stops within this long of being asked)."""
POLL = 0.1
"""How often (real seconds) a waiting summaries call looks for new entries."""
SUMMARY_FIELDS = (
    "seq",
    "kind",
    "time",
    "provider",
    "operation",
    "method",
    "path",
    "scenario",
    "scenario_source",
    "level",
    "status",
    "rejected",
    "duration_ms",
    "delivery",
    "attempt",
    "state",
    "error",
    "latency_ms",
)
# The page runs nothing but its own files; it may show images the mock serves, and data: URLs.
SECURITY_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'none'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}
Endpoint = Callable[[Request], Awaitable[Response]]


@functools.cache
def asset(name: str) -> bytes:
    """One of the page's files, read from the installed package."""
    return (importlib.resources.files("headshot_mock.mockserver") / "web" / name).read_bytes()


def wants_html(accept: str) -> bool:
    """Whether an ``Accept`` header prefers ``text/html`` to JSON (browsers do; API clients not)."""
    quality: dict[str, float] = {}
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        q = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        quality[media.lower()] = max(q, quality.get(media.lower(), 0.0))
    html = quality.get("text/html", 0.0)
    return html > 0 and html >= quality.get("application/json", 0.0)


def summary(entry: Record) -> Record:
    """An entry without its request and response: what a list of calls shows."""
    out = {name: entry[name] for name in SUMMARY_FIELDS if name in entry}
    out.setdefault("kind", "request")
    if "findings" in entry:
        out["finding_count"] = len(entry["findings"])
    return out


def table(engine: Engine, control: Control, document: Callable[[], dict[str, Any]]) -> list[Any]:
    """The page's admin routes, as ``(path, endpoint, methods)`` rows for the admin table."""

    async def index(request: Request) -> Response:
        if wants_html(request.headers.get("accept", "")):
            return Response(asset("index.html"), media_type="text/html", headers=SECURITY_HEADERS)
        doc = document()
        routes = [
            {
                "method": method.upper(),
                "path": f"/__mock{path}",
                "operationId": op["operationId"],
                "summary": op.get("summary", ""),
            }
            for path, item in doc["paths"].items()
            for method, op in item.items()
            if method in ("get", "post", "put", "patch", "delete")
        ]
        return JSONResponse(
            {
                "title": doc["info"]["title"],
                "version": doc["info"]["version"],
                "page": "/__mock/",
                "openapi": "/__mock/openapi.json",
                "routes": routes,
            },
            headers={"vary": "accept"},
        )

    async def web_asset(request: Request) -> Response:
        name = request.path_params["name"]
        if name not in ASSETS:
            raise AdminError(404, "No such page file", f"{name!r}; the page has {', '.join(ASSETS)}.")
        return Response(asset(name), media_type=ASSETS[name], headers=SECURITY_HEADERS)

    async def summaries(request: Request) -> Response:
        after = int(_number(request.query_params.get("after"), "after", whole=True) or 0)
        wait = _number(request.query_params.get("wait"), "wait", whole=False) or 0.0
        limit = _number(request.query_params.get("limit"), "limit", whole=True)
        if wait > MAX_WAIT:
            raise AdminError(400, "Bad wait", f"wait must be at most {MAX_WAIT:g} seconds, got {wait:g}.")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        store = engine.runtime.store
        while True:  # each look reads only what is newer than `after` (and the newest entry)
            entries = await store.journal_entries(after=after, newest=None if limit is None else int(limit))
            newest = entries[-1:] or await store.journal_entries(newest=1)
            last = int(newest[0]["seq"]) if newest else 0
            if entries or last < after or loop.time() >= deadline:
                break
            if await request.is_disconnected():
                break
            await asyncio.sleep(POLL)
        fresh = [summary(e) for e in entries]
        return JSONResponse({"summaries": fresh, "last_seq": last, "count": await store.journal_count()})

    async def entry(request: Request) -> Response:
        seq = _number(request.path_params["seq"], "seq", whole=True)
        if seq is None:
            raise AdminError(400, "Bad seq", "seq must be a whole number >= 1 (a call's X-Mock-Request-Id).")
        store = engine.runtime.store  # read from the newest down to `seq`, no further
        found = await store.journal_entries(where=lambda e: e.get("seq") == seq, newest=1, after=int(seq) - 1)
        if not found:
            raise AdminError(
                404, "Unknown journal entry", f"no entry {seq} in the journal (it keeps the last ones only)."
            )
        return JSONResponse(found[0])

    async def signature(request: Request) -> Response:
        delivery_id = _number(request.path_params["delivery_id"], "delivery_id", whole=True)
        found = [d for d in await control.deliveries() if d["id"] == delivery_id]
        if not found:
            raise AdminError(
                404,
                "Unknown delivery",
                f"no delivery {delivery_id}; GET /__mock/webhooks/deliveries lists them.",
            )
        return JSONResponse(await _verdict(engine, control, found[0]))

    return [
        ("/", index, ["GET"]),
        ("/web/{name}", web_asset, ["GET"]),
        ("/journal/summaries", summaries, ["GET"]),
        ("/journal/{seq}", entry, ["GET"]),
        ("/webhooks/deliveries/{delivery_id}/signature", signature, ["GET"]),  # parsed here: a 400
    ]


PROBE_TIME = 1_234_567_890


async def _verdict(engine: Engine, control: Control, delivery: Record) -> Record:
    """Whether the delivery's signature headers are what a secret known for its URL gives."""
    pid = delivery["provider"]
    plugin = engine.providers[pid]
    verdict: Record = {"delivery": delivery["id"], "provider": pid}
    probe = plugin.webhook_headers("probe", PROBE_TIME, b"")
    if not probe:
        return {
            **verdict,
            "verdict": "unsigned",
            "headers": [],
            "detail": f"{pid} does not sign its webhooks.",
        }
    sent = {k.lower(): v for k, v in delivery["headers"].items()}
    # The header carrying the timestamp is the one whose value is the probe's time.
    stamp_names = [name.lower() for name, value in probe.items() if value == str(PROBE_TIME)]
    stamp = sent.get(stamp_names[0], "") if stamp_names else str(PROBE_TIME)
    names = sorted(name.lower() for name in probe)
    if not stamp.isascii() or not stamp.isdigit():
        detail = f"the timestamp header is missing or not a number: {stamp!r}."
        return {**verdict, "verdict": "invalid", "headers": names, "detail": detail}
    candidates = [
        (f"endpoint #{e['id']}'s secret", e["secret"])
        for e in await control.endpoints(pid)
        if e["url"] == delivery["url"] and e.get("secret")
    ]
    for text in engine.runtime.config.webhooks:
        url, secret = parse_endpoint(text)
        if url == delivery["url"] and secret:
            candidates.append(("the configured endpoint's secret", secret))
    candidates.append(("the mock's default secret", plugin.default_secret))
    body = delivery["body"].encode()
    for label, secret in candidates:
        expected = plugin.webhook_headers(secret, int(stamp), body)
        if all(sent.get(name.lower()) == value for name, value in expected.items()):
            detail = f"{', '.join(names)} verify against the body with {label}."
            return {**verdict, "verdict": "valid", "headers": names, "detail": detail}
    tried = ", ".join(label for label, _ in candidates)
    detail = f"{', '.join(names)} do not verify with any secret known for this URL ({tried})."
    return {**verdict, "verdict": "invalid", "headers": names, "detail": detail}


def _number(value: str | None, name: str, *, whole: bool) -> float | None:
    if value is None or value == "":
        return None
    ok = value.isascii() and (value.isdigit() if whole else value.replace(".", "", 1).isdigit())
    if not ok or len(value) > 18:  # int() refuses 4,300 digits and more: a 400, never a 500
        kind = "a whole number >= 0" if whole else "a number of seconds >= 0"
        raise AdminError(
            400, f"Bad {name}", f"{name} must be {kind} of at most 18 digits, got {cut(value)!r}."
        )
    return int(value) if whole else float(value)
