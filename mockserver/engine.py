"""The generic request pipeline every provider operation goes through.

    read body → parse → credential → scenario → validate → answer → headers → journal

Nothing here knows a provider by name: the spec says where the key travels and what each
answer looks like; the plug-in fills in what a spec cannot (ids, images, jobs).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import QueryParams
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from headshot_mock import specs
from headshot_mock.mockserver import codec, faults, journal
from headshot_mock.mockserver.config import LEVELS, Level
from headshot_mock.mockserver.errors import AdminError, StoreUnavailable, UnknownScenario
from headshot_mock.mockserver.guard import request_headers
from headshot_mock.mockserver.problems import problem
from headshot_mock.mockserver.providers.base import Answer, Call, Provider, Rejected
from headshot_mock.mockserver.ratelimits import ANSWER, Limits
from headshot_mock.mockserver.runtime import Runtime
from headshot_mock.mockserver.scenarios import (
    BEFORE_VALIDATION,
    FAULTS,
    HEADER,
    KEY_PREFIX,
    Example,
    Selection,
    parse_prefer,
)
from headshot_mock.mockserver.stores import Stale
from headshot_mock.mockserver.validation import Finding, RequestValidator, cut, is_malformed

MAX_BODY = 32 * 1024 * 1024
"""Largest request body read (uploads and data-URI images included); larger ones are refused."""
LEVEL_HEADER = "x-mock-validation"
VIOLATIONS_HEADER_LIMIT = 2000
_NO_QUERY = QueryParams()
"""The query of a request without one (most of them): not parsed again each time."""
STALE_RUNS = 3
"""Runs of one request at most when a shared store refuses what it assumed (stores.Stale)."""
MISSING_KEY_ANSWERS = ("missing_key", "unauthorized")
"""The example answering a request without a key: ``missing_key`` where a provider tells the
two apart (agent.ai: 401 without a token, 403 with a wrong one), else ``unauthorized``."""


@dataclass(frozen=True, slots=True)
class Bound:
    """An operation compiled for serving: its validator and where its credential travels."""

    provider: Provider
    op: specs.Operation
    validator: RequestValidator
    credential_required: bool
    mount: str
    secret_headers: tuple[str, ...] = ()
    """Header and query parameter names the spec's apiKey schemes use: redacted in the journal."""
    secret_query: tuple[str, ...] = ()
    limits: Limits | None = None
    """The provider's rate limits, where this operation answers ``rate_limited``."""

    @classmethod
    def build(cls, provider: Provider, op: specs.Operation, mount: str) -> Bound:
        spec = provider.spec
        cred = spec.credential
        if cred.location == "header":
            security = op.definition.get("security", spec.document.get("security", []))
            # Required when every alternative names it (an empty `{}` alternative makes it optional).
            required = bool(cred.name and security) and all(cred.name in r for r in security)
        else:
            body = spec.resolve(op.definition.get("requestBody", {}))
            media = (body.get("content") or {}).get("application/json")
            schema = spec.resolve(media["schema"]) if media else {}
            required = cred.name in schema.get("required", ())
        limited = ANSWER in provider.scenarios.examples(op.operation_id)
        schemes = [
            spec.resolve(s)
            for s in ((spec.document.get("components") or {}).get("securitySchemes") or {}).values()
        ]
        keys = [s for s in schemes if s.get("type") == "apiKey" and s.get("name")]
        return cls(
            provider,
            op,
            RequestValidator(spec, op),
            required,
            mount,
            tuple(s["name"] for s in keys if s.get("in") == "header"),
            tuple(s["name"] for s in keys if s.get("in") == "query"),
            (Limits(spec) if limited else None) or None,
        )

    def credential(
        self, headers: Mapping[str, str], body: Any, query: Mapping[str, str] | None = None
    ) -> str | None:
        cred = self.provider.spec.credential
        if cred.location == "body":
            value = body.get(cred.name) if isinstance(body, dict) else None
            return value if isinstance(value, str) and value else None
        schemes = (self.provider.spec.document.get("components") or {}).get("securitySchemes") or {}
        scheme = self.provider.spec.resolve(schemes.get(cred.name)) if cred.name in schemes else None
        if scheme is None:
            return None
        if scheme.get("type") == "apiKey":
            if scheme.get("in") == "query":
                return (query or {}).get(scheme["name"]) or None
            return headers.get(scheme["name"].lower()) or None
        kind, _, token = headers.get("authorization", "").partition(" ")
        return token.strip() or None if kind.lower() == scheme.get("scheme", "bearer").lower() else None


class Engine:
    def __init__(self, runtime: Runtime, providers: Mapping[str, Provider]) -> None:
        self.runtime = runtime
        self.providers = providers
        self.latency = faults.Latency(runtime.config, runtime.store)

    async def handle(self, request: Request, bound: Bound) -> Response:
        started = time.perf_counter()
        runs = 0
        try:
            while True:
                try:
                    # the request's writes go with its journal entry
                    async with self.runtime.store.deferring():
                        return await self._handle(request, bound, started)
                except Stale:  # a shared store's state moved under it, nothing written: run it again
                    runs += 1
                    if runs >= STALE_RUNS:
                        raise
        except AdminError as exc:
            return problem(exc.status, exc.title, exc.detail)
        except StoreUnavailable as exc:
            return problem(503, "State store unavailable", f"{exc} The mock answers again once it is back.")
        except Stale:
            detail = f"The shared state changed under this request {STALE_RUNS} times; send it again."
            return problem(503, "State store busy", detail)
        # Anything else is the mock's own failure: the outermost guard (guard.py) journals it
        # with an id and answers 500 problem+json.

    async def _handle(self, request: Request, bound: Bound, started: float) -> Response:
        provider, op, config = bound.provider, bound.op, self.runtime.config
        headers = request_headers(request.scope)
        raw, too_big = await _read(request, headers)
        if too_big:
            body, findings = None, [Finding("body", "", f"is larger than {MAX_BODY} bytes", "lenient")]
        else:
            body, findings = bound.validator.parse_body(raw, headers.get("content-type", ""))
        query = request.query_params if request.scope["query_string"] else _NO_QUERY
        findings += bound.validator.check_parameters(request.path_params, query, headers)
        credential = bound.credential(headers, body, query)
        level = _level(headers.get(LEVEL_HEADER), config.level)
        unusable = is_malformed(body) or too_big
        missing_key = bound.credential_required and credential is None and not unusable
        if not unusable and raw:  # a JSON null, array or scalar is checked like any body sent
            findings += bound.validator.check_body(body)
        if not unusable and not missing_key and not _rejected(findings, level):
            findings += await provider.refusals(op.operation_id, body)  # deeper than the schema
        named = self._named(headers, bound, credential)  # a bad name: 400 before anything is counted
        enforce = config.enforce_rate_limits
        usage = await bound.limits.take(self.runtime, credential, enforce=enforce) if bound.limits else None
        if usage is not None and usage.exceeded and enforce:
            selection = Selection(ANSWER, "rate_limit")
        elif named is not None:
            selection = named
        else:  # an admin rule is spent only by a call whose answer it decides (docs/scenarios.md)
            if unusable or missing_key:
                rules: bool | frozenset[str] = False  # refused whatever the scenario
            elif _rejected(findings, level):
                answered = BEFORE_VALIDATION & provider.scenarios.examples(op.operation_id).keys()
                rules = frozenset(answered | FAULTS.keys())  # what still answers, and every fault
            else:
                rules = True
            selection = await self._stored(bound, rules=rules)
        if missing_key:
            findings.append(
                Finding("security", provider.spec.credential.name, "no API key was sent", "lenient")
            )

        book = provider.scenarios
        scenario = selection.scenario
        examples = book.examples(op.operation_id)
        call = Call(
            provider=provider.id,
            operation_id=op.operation_id,
            method=op.method,
            body=body,
            path_params=request.path_params,
            query=query,
            headers=headers,
            credential=credential,
            scenario=scenario,
            example=book.example_for(op.operation_id, scenario),
            examples=examples,
            base_url=config.public_url or _base_url(request, headers),
            mount=bound.mount,
        )
        rejected = [f for f in findings if f.rejected_at(level)] if findings else []
        refused = False
        auth_failure = _auth_failure(examples) if missing_key else None
        if unusable:
            refused = True
            answer = provider.reject(call, rejected)
        elif missing_key and auth_failure is not None:
            call.scenario, call.example = auth_failure.name, auth_failure
            answer = provider.example_answer(call)
        elif scenario in BEFORE_VALIDATION and scenario in examples:
            answer = provider.example_answer(call)
        elif rejected:
            refused = True
            answer = provider.reject(call, rejected)
        else:
            if scenario in faults.HELD:
                await faults.hold(scenario, config, self.runtime.now)
            try:
                answer = await provider.answer(call)
            except Rejected as exc:
                findings += exc.findings
                refused = True
                answer = provider.reject(call, exc.findings)
        answer.headers.update(await provider.headers(call, answer))
        if usage is not None:
            usage.apply(answer.headers, answer.status)
        answer.scenario = answer.scenario or call.scenario
        if not self.latency.idle:
            await self.latency.wait(provider.id, op.operation_id)
        response = await self._respond(
            request, bound, call, raw, selection, level, findings, answer, refused, started
        )
        return faults.apply(selection.scenario, response, config)

    def _named(self, headers: Mapping[str, str], bound: Bound, credential: str | None) -> Selection | None:
        """The scenario the request names (header, ``Prefer``, a ``mock-`` key), if it names one."""
        book = bound.provider.scenarios
        op_id = bound.op.operation_id
        where = f"provider {book.provider!r}"
        named = headers.get(HEADER)
        if named:
            return Selection(_not_on_a_poll(bound, _checked(book, named.strip(), where)), "header")
        prefer = headers.get("prefer")
        if prefer:
            wanted = parse_prefer(prefer)
            if "example" in wanted:
                return Selection(_not_on_a_poll(bound, _checked(book, wanted["example"], where)), "prefer")
            if "code" in wanted:
                code = wanted["code"]
                status = code.isascii() and code.isdigit() and len(code) == 3
                name = book.by_status(op_id, int(code)) if status else None
                if name is None:
                    statuses = sorted({ex.status for ex in book.examples(op_id).values()})
                    raise AdminError(
                        400,
                        "No example for the preferred status",
                        f"{op_id} has no response example with status {cut(code)}; "
                        f"it has {', '.join(map(str, statuses))}.",
                    )
                return Selection(name, "prefer")
        if credential and credential.startswith(KEY_PREFIX):
            name = credential[len(KEY_PREFIX) :]
            if name in book.summaries:
                return Selection(name, "key")
        return None

    async def _stored(self, bound: Bound, *, rules: bool | frozenset[str]) -> Selection:
        """The first queued rule's scenario (used up when ``rules`` is True, or names it), else the
        provider's default: one store step (two when only some rules may be used: a refused call)."""
        book = bound.provider.scenarios
        op_id = bound.op.operation_id
        opening = await self.runtime.opening(book.provider, op_id, take_rule=rules is True)
        rule = opening.rule
        if isinstance(rules, frozenset):
            rule = await self.runtime.store.rule_take(book.provider, op_id, scenarios=rules)
        if rule is not None:
            return Selection(rule["scenario"], "rule")
        chosen = opening.default
        if chosen is None or chosen not in book.summaries:
            chosen = (
                self.runtime.config.scenario if self.runtime.config.scenario in book.summaries else "success"
            )
        return Selection(chosen, "default")

    async def _respond(
        self,
        request: Request,
        bound: Bound,
        call: Call,
        raw: bytes,
        selection: Selection,
        level: Level,
        findings: list[Finding],
        answer: Answer,
        refused: bool,
        started: float,
    ) -> Response:
        if isinstance(answer.body, bytes | bytearray):
            content: bytes = bytes(answer.body)
        elif isinstance(answer.body, str) and not (answer.media_type or "").endswith("json"):
            content = answer.body.encode()
        elif answer.body is None and answer.media_type is None:
            content = b""
        else:
            content = codec.dumps(answer.body)
        budget = self.runtime.config.journal_entry_bytes
        fields = {
            "time": None,
            "provider": call.provider,
            "operation": call.operation_id,
            "method": request.method,
            "path": journal.cut_text(request.scope["path"], budget // 8),
            "query": None,
            "scenario": answer.scenario,
            "scenario_source": selection.source,
            "requested_scenario": selection.scenario,
            "level": level,
            "status": answer.status,
            "findings": None,
            "rejected": refused,
            "request": None,
            "response": None,
            "duration_ms": round((time.perf_counter() - started) * 1000, 3),
        }
        entry = journal.Draft(
            fields,
            time=await self.runtime.now(),
            query=request.scope["query_string"].decode("latin-1"),
            secret_query=bound.secret_query,
            findings=[f.as_dict() for f in findings],
            headers=call.headers,
            secret_headers=bound.secret_headers,
            body=call.body,
            malformed=is_malformed(call.body),
            raw=raw,
            answer_body=answer.body,
            content=content,
            secret=(bound.provider.spec.credential.name,),
            budget=budget,
        )
        seq = await self.runtime.store.journal_append(entry)
        own = [
            (b"x-mock-scenario", str(answer.scenario).encode("latin-1")),
            (b"x-mock-validation", f"{level}; violations={len(findings)}".encode()),
            (b"x-mock-request-id", b"%d" % seq),
        ]
        if findings:
            own.append((b"x-mock-violations", _header_text(" | ".join(map(str, findings))).encode()))
        return _Answered(content, answer.status, answer.headers, answer.media_type, own)


class _Answered(Response):
    """Starlette's :class:`Response` of the engine's answer, its headers encoded in one pass
    (Starlette's ``init_headers`` builds a list of names and scans it twice): the provider's
    ``headers`` with lower-case names, then the mock's ``own`` (``x-mock-*``, encoded already),
    then ``content-length`` and ``content-type`` as Starlette adds them when the provider's
    headers have none."""

    def __init__(
        self,
        content: bytes,
        status: int,
        headers: Mapping[str, str],
        media_type: str | None,
        own: list[tuple[bytes, bytes]],
    ) -> None:
        self.status_code = status
        self.body = content
        self.background = None
        if media_type is not None:
            self.media_type = media_type
        raw = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        named = {k for k, _ in raw} if raw else _NONE
        raw += own
        if b"content-length" not in named and not (status < 200 or status in (204, 304)):
            raw.append((b"content-length", b"%d" % len(content)))
        if media_type is not None and b"content-type" not in named:
            if media_type.startswith("text/") and "charset=" not in media_type.lower():
                media_type += "; charset=" + self.charset
            raw.append((b"content-type", media_type.encode("latin-1")))
        self.raw_headers = raw


_NONE: frozenset[bytes] = frozenset()


async def _read(request: Request, headers: Mapping[str, str]) -> tuple[bytes, bool]:
    """The body, up to :data:`MAX_BODY` bytes; the flag says it was cut. Read from the ASGI
    ``receive`` itself (a body usually arrives in one message; Starlette's ``stream()`` is an async
    generator around the same loop); a client gone mid-body raises ``ClientDisconnect`` as there."""
    if hasattr(request, "_body"):  # run again (stores.Stale): the body its first run read
        return request._body, False
    declared = headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return b"", True
    receive = request.receive
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # http.disconnect
            raise ClientDisconnect()
        chunk: bytes = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            return b"", True
        chunks.append(chunk)
        if not message.get("more_body", False):
            body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            request._body = body  # a request run again (stores.Stale) reads it from there
            return body, False


def _base_url(request: Request, headers: Mapping[str, str]) -> str:
    """Scheme and host the client used, from the scope (cheaper than building ``request.url``)."""
    host = headers.get("host")
    if host is None:
        server = request.scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{request.scope.get('scheme', 'http')}://{host}"


def _rejected(findings: list[Finding], level: Level) -> bool:
    """Whether a finding rejects the request at ``level`` (most requests have none at all)."""
    return bool(findings) and any(f.rejected_at(level) for f in findings)


def _auth_failure(examples: Mapping[str, Example]) -> Example | None:
    """The operation's own answer to a call without a key, if its spec has one."""
    return next((examples[n] for n in MISSING_KEY_ANSWERS if n in examples), None)


def _level(value: str | None, default: Level) -> Level:
    if value is None:
        return default
    value = value.strip().lower()
    if value not in LEVELS:
        raise AdminError(
            400,
            "Unknown validation level",
            f"{LEVEL_HEADER} must be one of {', '.join(LEVELS)}, got {cut(value)!r}.",
        )
    return value


def _not_on_a_poll(bound: Bound, scenario: str) -> str:
    """A job's outcome asked for on a poll would change nothing (the job's outcome was decided
    when it was created): refuse it, saying where to ask."""
    provider, op_id = bound.provider, bound.op.operation_id
    if scenario not in provider.job_scenarios:
        return scenario
    # the operations a spec link leads from to this one: those that create what it reports
    creators = [op.operation_id for op in provider.spec.operations if op_id in op.links.values()]
    if creators:
        raise AdminError(
            400,
            "Scenario asked for on a poll",
            f"{scenario!r} decides how a {provider.id} job ends, and {op_id} only reports the job: "
            f"ask for it on the call that creates the job ({', '.join(creators)}), with "
            f"X-Mock-Scenario, Prefer: example={scenario} or the key mock-{scenario}.",
        )
    return scenario


def _checked(book: Any, name: str, where: str) -> str:
    try:
        return str(book.check(name, where=where))
    except UnknownScenario as exc:
        raise AdminError(400, "Unknown scenario", cut(str(exc))) from None


def _header_text(text: str) -> str:
    """Header values must be printable ASCII here (h11 refuses control characters): escape the
    rest as Python would, and cut the tail."""
    text = text.encode("ascii", "backslashreplace").decode("ascii")
    if not text.isprintable():  # for ASCII text: a control character somewhere (rare)
        text = "".join(c if " " <= c <= "~" else f"\\x{ord(c):02x}" for c in text)
    return text if len(text) <= VIOLATIONS_HEADER_LIMIT else text[: VIOLATIONS_HEADER_LIMIT - 3] + "..."
