"""``verify``: run schemathesis against any server with the bundled spec of one provider.

    >>> from contracts.verify import verify
    >>> report = verify("modelslab", "http://127.0.0.1:4010/modelslab/api", max_requests=60, seed=7)
    >>> print(report.render())                       # per operation: requests, failures, skips
    >>> report.exit_code                             # 0 clean, 1 failures

What runs, per operation of the spec, in this order: the *positive* phase (schema-valid
requests, the API key added), the *negative* phase (schema-invalid requests the server must
refuse) and then the *stateful* phase (the spec's OpenAPI ``links``: a generation, then the
operation that fetches/gets/deletes what it made). Every response goes through the checks in
:data:`DEFAULT_CHECKS`; a failing check becomes a :class:`Failure` with the check's name, the
difference in one line and the request that triggered it.

Safety: every HTTP call goes through one counting session, so ``max_requests`` is a hard cap
(the run stops cleanly when it is reached and the report says so); a base URL off loopback is
refused unless ``allow_remote=True``; ``dry_run=True`` plans and sends nothing.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import random
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import requests

import specs

if TYPE_CHECKING:
    import hypothesis

PhaseName = Literal["positive", "negative", "stateful"]
PHASES: tuple[PhaseName, ...] = ("positive", "negative", "stateful")
DEFAULT_MAX_REQUESTS = 100
DEFAULT_MAX_EXAMPLES = 10
DEFAULT_API_KEY = "headshot-mock-verify"
"""Sent when no key is given: the mock accepts any key; a real provider answers 401."""
DEFAULT_CHECKS: tuple[str, ...] = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "negative_data_rejection",
)
"""What every response is checked for. ``positive_data_acceptance`` is available but not a
default: image APIs rightly refuse schema-valid but meaningless input (an image that is not
one, an unknown file extension) with a documented 400/422, which that check calls a failure."""
OPTIONAL_CHECKS: tuple[str, ...] = ("positive_data_acceptance",)
STEPS_PER_SCENARIO = 4
"""Longest stateful scenario (generation → fetch → ...): a Hypothesis step count."""
TIMEOUT_SECONDS = 30.0
_REDACTED = "[redacted]"
_BODY_LIMIT = 500


class VerifyError(ValueError):
    """Misuse: an unknown provider, a bad URL, a remote target without ``allow_remote``."""


class BudgetExhausted(Exception):
    """Raised by the counting session instead of sending request ``max_requests + 1``."""


@dataclass(frozen=True, slots=True)
class SentRequest:
    """What triggered a failure: enough to reproduce it (the API key is redacted)."""

    method: str
    url: str
    body: str | None
    status: int | None

    def __str__(self) -> str:
        body = f" {self.body}" if self.body else ""
        status = f" -> {self.status}" if self.status is not None else ""
        return f"{self.method} {self.url}{body}{status}"


@dataclass(frozen=True, slots=True)
class Failure:
    check: str
    """The schemathesis check (``response_schema_conformance``) or ``transport`` / ``error``."""
    difference: str
    """One line: ``response body: 'id' is a required property``, ``status 418 not documented``."""
    phase: str
    request: SentRequest | None
    detail: str = ""
    """The check's full message."""
    occurrences: int = 1


@dataclass(slots=True)
class OperationResult:
    operation_id: str
    method: str
    path: str
    requests: int = 0
    phases: dict[str, int] = field(default_factory=dict)
    """Requests per phase."""
    failures: list[Failure] = field(default_factory=list)
    skipped: str | None = None
    """Why the operation was not tested at all (another host; the budget ran out first)."""

    @property
    def status(self) -> Literal["passed", "failed", "skipped"]:
        if self.failures:
            return "failed"
        return "skipped" if self.skipped is not None and self.requests == 0 else "passed"

    def _record(self, failure: Failure) -> None:
        for i, known in enumerate(self.failures):
            if (known.check, known.difference) == (failure.check, failure.difference):
                self.failures[i] = _replace(known, occurrences=known.occurrences + 1)
                return
        self.failures.append(failure)


@dataclass(slots=True)
class Report:
    provider: str
    base_url: str
    seed: int
    max_requests: int
    max_examples: int
    phases: tuple[PhaseName, ...]
    checks: tuple[str, ...]
    operations: list[OperationResult]
    links: list[tuple[str, str]]
    """(source operationId, target operationId) pairs the stateful phase can follow."""
    credential: str
    """Where the key travels, for the plan (``body field `key```, ``Authorization: Bearer``)."""
    dry_run: bool = False
    requests_sent: int = 0
    budget_exhausted: bool = False
    aborted: str | None = None
    """Why the run stopped before the end other than the budget (server unreachable)."""

    @property
    def failures(self) -> list[tuple[OperationResult, Failure]]:
        return [(op, f) for op in self.operations for f in op.failures]

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def operation(self, operation_id: str) -> OperationResult:
        for op in self.operations:
            if op.operation_id == operation_id:
                return op
        raise KeyError(operation_id)

    def render(self) -> str:
        """The human report the CLI prints."""
        lines = [
            f"{'DRY RUN: would verify' if self.dry_run else 'verify'} {self.provider} against "
            f"{self.base_url}",
            f"  phases {', '.join(self.phases)}; up to {self.max_examples} examples per operation and "
            f"phase; budget {self.max_requests} requests; seed {self.seed}; key in {self.credential}",
            f"  checks {', '.join(self.checks)}",
        ]
        if self.links and "stateful" in self.phases:
            lines.append("  links " + ", ".join(f"{a} -> {b}" for a, b in self.links))
        width = max((len(op.operation_id) for op in self.operations), default=0)
        for op in self.operations:
            where = f"{op.method} {op.path}"
            if self.dry_run:
                mark = "SKIP" if op.skipped else "PLAN"
                tail = f"skipped: {op.skipped}" if op.skipped else ""
            else:
                mark = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP"}[op.status]
                per_phase = ", ".join(f"{k} {v}" for k, v in op.phases.items() if v)
                tail = f"{op.requests} requests" + (f" ({per_phase})" if per_phase else "")
                if op.skipped:
                    tail += f"; {op.skipped}"
            lines.append(f"  {mark}  {op.operation_id:<{width}}  {where}  {tail}".rstrip())
            for failure in op.failures:
                times = f" (x{failure.occurrences})" if failure.occurrences > 1 else ""
                lines.append(f"        {failure.check} [{failure.phase}]: {failure.difference}{times}")
                if failure.request is not None:
                    lines.append(f"          request: {failure.request}")
        if self.dry_run:
            lines.append("Nothing was sent (--dry-run).")
            return "\n".join(lines)
        budget = f"{self.requests_sent} of {self.max_requests} requests sent"
        if self.budget_exhausted:
            budget += "; the budget was reached and the run stopped there (raise --max-requests to go on)"
        lines.append(f"Budget: {budget}.")
        if self.aborted:
            lines.append(f"Stopped: {self.aborted}")
        failed = [op for op in self.operations if op.failures]
        if failed:
            count = sum(len(op.failures) for op in failed)
            lines.append(f"Result: {count} failure(s) in {len(failed)} operation(s).")
        else:
            lines.append("Result: no failures.")
        return "\n".join(lines)

    def junit_xml(self) -> str:
        """A JUnit report: one ``testcase`` per operation."""
        suite = ET.Element(
            "testsuite",
            name=f"headshot-mock verify {self.provider}",
            tests=str(len(self.operations)),
            failures=str(sum(1 for op in self.operations if op.failures)),
            skipped=str(sum(1 for op in self.operations if op.status == "skipped")),
            errors="0",
        )
        suite.set("hostname", self.base_url)
        for op in self.operations:
            case = ET.SubElement(suite, "testcase", classname=f"verify.{self.provider}", name=op.operation_id)
            case.set("file", f"{op.method} {op.path}")
            if op.failures:
                first = op.failures[0]
                node = ET.SubElement(case, "failure", message=f"{first.check}: {first.difference}")
                node.set("type", first.check)
                node.text = "\n".join(
                    f"{f.check} [{f.phase}]: {f.difference}"
                    + (f"\n  request: {f.request}" if f.request else "")
                    for f in op.failures
                )
            elif op.status == "skipped":
                ET.SubElement(case, "skipped", message=op.skipped or "skipped")
            out = ET.SubElement(case, "system-out")
            out.text = f"{op.requests} requests"
        for node in suite.iter():
            node.text = _xml_text(node.text)
            for name, value in node.attrib.items():
                node.set(name, _xml_text(value) or "")
        return ET.tostring(suite, encoding="unicode", xml_declaration=True)


_XML_INVALID = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str | None) -> str | None:
    """Generated bodies hold control characters XML 1.0 cannot carry: escape them visibly."""
    if text is None:
        return None
    return _XML_INVALID.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def verify(
    provider: str,
    base_url: str,
    *,
    api_key: str | None = None,
    max_requests: int = DEFAULT_MAX_REQUESTS,
    max_examples: int = DEFAULT_MAX_EXAMPLES,
    phases: Sequence[PhaseName] = PHASES,
    checks: Sequence[str] = DEFAULT_CHECKS,
    allow_remote: bool = False,
    dry_run: bool = False,
    seed: int | None = None,
    junit_xml: str | Path | None = None,
    session: requests.Session | None = None,
) -> Report:
    """Check the server at ``base_url`` against the bundled spec of ``provider``.

    ``base_url`` replaces the spec's ``servers[0].url``. Operations on another host (an
    operation-level ``servers`` entry, such as a presigned upload) are reported as skipped.
    ``session`` is a ``requests.Session`` to send through (an adapter, a proxy); the budget
    is enforced on top of it. Raises :class:`VerifyError` on misuse; never raises for what the
    server answers.
    """
    spec = _spec(provider)
    base_url = check_target(base_url, allow_remote=allow_remote)
    if max_requests < 1:
        raise VerifyError(f"--max-requests must be at least 1, got {max_requests}.")
    if max_examples < 1:
        raise VerifyError(f"max_examples must be at least 1, got {max_examples}.")
    unknown_phases = [p for p in phases if p not in PHASES]
    if unknown_phases:
        raise VerifyError(f"Unknown phase {unknown_phases[0]!r}. Valid values: {', '.join(PHASES)}.")
    check_functions = _checks(checks)
    report = Report(
        provider=provider,
        base_url=base_url,
        seed=seed if seed is not None else random.SystemRandom().randrange(2**32),
        max_requests=max_requests,
        max_examples=max_examples,
        phases=tuple(p for p in PHASES if p in phases),
        checks=tuple(checks),
        operations=[OperationResult(op.operation_id, op.method, op.path) for op in spec.operations],
        links=[(op.operation_id, target) for op in spec.operations for target in op.links.values()],
        credential=_credential_label(spec),
        dry_run=dry_run,
    )
    for op, result in zip(spec.operations, report.operations, strict=True):
        if op.server_url != spec.server_url:
            result.skipped = (
                f"lives on {op.server_url} (a signed URL the server hands out), not on the base URL"
            )
    if not dry_run:
        _Run(spec, report, api_key or DEFAULT_API_KEY, check_functions, session).execute()
    if junit_xml is not None:
        Path(junit_xml).write_text(report.junit_xml(), encoding="utf-8")
    return report


def check_target(base_url: str, *, allow_remote: bool) -> str:
    """``base_url`` without a trailing slash; :class:`VerifyError` when it is not an http(s) URL,
    or not on loopback (127.0.0.0/8, ::1, localhost) and ``allow_remote`` is false. No name is
    resolved: the decision is made on the URL alone, without any traffic."""
    parts = urlsplit(base_url)
    try:
        host = parts.hostname
        _ = parts.port
    except ValueError as exc:
        raise VerifyError(f"Bad base URL {base_url!r}: {exc}.") from None
    if parts.scheme not in ("http", "https") or not host:
        raise VerifyError(
            f"Bad base URL {base_url!r}: give an http(s) URL such as http://127.0.0.1:4010/modelslab/api."
        )
    if not allow_remote and not is_loopback(host):
        raise VerifyError(
            f"Refusing to send test traffic to {host}: it is not loopback and a real provider bills every "
            "call. Pass --allow-remote (allow_remote=True) to verify a remote server on purpose, "
            "with a small --max-requests."
        )
    return base_url.rstrip("/")


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _spec(provider: str) -> specs.ProviderSpec:
    try:
        return specs.load(provider)
    except specs.UnknownProvider as exc:
        raise VerifyError(str(exc)) from None


def _credential_label(spec: specs.ProviderSpec) -> str:
    if spec.credential.location == "body":
        return f"body field `{spec.credential.name}`"
    return "Authorization: Bearer"


def _checks(names: Sequence[str]) -> list[tuple[str, Callable[..., Any]]]:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi import checks

    known: dict[str, Callable[..., Any]] = {
        "not_a_server_error": not_a_server_error,
        **{name: getattr(checks, name) for name in (*DEFAULT_CHECKS[1:], *OPTIONAL_CHECKS)},
    }
    for name in names:
        if name not in known:
            from specs.errors import did_you_mean

            raise VerifyError(f"Unknown check {name!r}.{did_you_mean(name, known)}")
    return [(name, known[name]) for name in names]


class _CountingSession(requests.Session):
    """Every HTTP call, redirects included, passes through ``send``: the hard budget lives here."""

    def __init__(self, limit: int, inner: requests.Session | None) -> None:
        super().__init__()
        self.limit = limit
        self.sent = 0
        self.exhausted = False
        self.inner = inner

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        if self.sent >= self.limit:
            self.exhausted = True
            raise BudgetExhausted(f"budget of {self.limit} requests reached")
        self.sent += 1
        kwargs.setdefault("timeout", TIMEOUT_SECONDS)
        if self.inner is not None:
            return self.inner.send(request, **kwargs)
        return super().send(request, **kwargs)


class _Unreachable(Exception):
    pass


class _Run:
    """One verification: the schemathesis schema, the counting session, the report to fill."""

    def __init__(
        self,
        spec: specs.ProviderSpec,
        report: Report,
        api_key: str,
        checks: list[tuple[str, Callable[..., Any]]],
        inner: requests.Session | None,
    ) -> None:
        import schemathesis

        self.spec = spec
        self.report = report
        self.api_key = api_key
        self.checks = checks
        self.session = _CountingSession(report.max_requests, inner)
        self.results = {r.operation_id: r for r in report.operations}
        document = copy.deepcopy(dict(spec.document))
        document["servers"] = [{"url": report.base_url}]
        config: dict[str, Any] = {"base-url": report.base_url}
        if spec.credential.location == "header":
            config["auth"] = {"openapi": {spec.credential.name: {"bearer": api_key}}}
        self.schema: Any = schemathesis.openapi.from_dict(
            document, config=schemathesis.Config.from_dict(config)
        )
        skipped = [r.operation_id for r in report.operations if r.skipped]
        if skipped:
            self.schema = self.schema.exclude(operation_id=skipped)

    # -- running ----------------------------------------------------------------------------

    def execute(self) -> None:
        operations = [r.ok() for r in self.schema.get_all_operations()]
        units: list[tuple[PhaseName, Any]] = [
            (phase, op) for phase in self.report.phases if phase != "stateful" for op in operations
        ]
        stateful = "stateful" in self.report.phases and bool(self.report.links)
        # The stateful phase weighs as much as two operation units, so it gets a share too.
        remaining_units = len(units) + (2 if stateful else 0)
        try:
            for phase, op in units:
                share = max(1, (self.report.max_requests - self.session.sent) // max(1, remaining_units))
                remaining_units -= 1
                if phase == "positive":
                    share -= self._examples(op, share)
                if share > 0:
                    self._fuzz(op, phase, min(self.report.max_examples, share))
            if stateful:
                self._stateful()
        except BudgetExhausted:
            pass
        except _Unreachable as exc:
            self.report.aborted = str(exc)
        self.report.requests_sent = self.session.sent
        self.report.budget_exhausted = self.session.exhausted
        if self.session.exhausted:
            for result in self.report.operations:
                if result.requests == 0 and result.skipped is None:
                    result.skipped = "not reached: the request budget ran out first"

    def _settings(self, max_examples: int) -> hypothesis.settings:
        from hypothesis import HealthCheck, Phase, Verbosity, settings

        return settings(
            max_examples=max_examples,
            phases=[Phase.generate],  # no shrinking: every failure is recorded, never re-run
            database=None,
            deadline=None,
            derandomize=False,
            verbosity=Verbosity.quiet,
            report_multiple_bugs=False,
            stateful_step_count=STEPS_PER_SCENARIO,
            suppress_health_check=[
                HealthCheck.too_slow,
                HealthCheck.filter_too_much,
                HealthCheck.data_too_large,
                HealthCheck.large_base_example,
            ],
        )

    def _fuzz(self, op: Any, phase: PhaseName, max_examples: int) -> None:
        from hypothesis import given
        from hypothesis import seed as seed_test
        from schemathesis import GenerationMode

        mode = GenerationMode.POSITIVE if phase == "positive" else GenerationMode.NEGATIVE

        @seed_test(self.report.seed)
        @self._settings(max_examples)
        @given(case=op.as_strategy(generation_mode=mode))
        def test(case: Any) -> None:
            self._prepare(case, phase)
            response = self._call(case, phase, self._call_kwargs())
            self._validate(case, response, phase)

        self._hypothesis(test)

    def _examples(self, op: Any, limit: int) -> int:
        """The spec's own request examples first (realistic bodies: real URLs, known ids); returns
        how many were sent."""
        from hypothesis import given

        strategies = self.schema.get_strategies_from_examples(op)[: max(0, limit - 1)]
        for strategy in strategies:

            @self._settings(1)
            @given(case=strategy)
            def test(case: Any) -> None:
                self._prepare(case, "positive")
                response = self._call(case, "positive", self._call_kwargs())
                self._validate(case, response, "positive")

            self._hypothesis(test)
        return len(strategies)

    def _stateful(self) -> None:
        run = self

        class Machine(self.schema.as_state_machine()):  # type: ignore[misc]
            def before_call(self, case: Any) -> None:
                run._prepare(case, "stateful")

            def get_call_kwargs(self, case: Any) -> dict[str, Any]:
                return run._call_kwargs()

            def call(self, case: Any, **kwargs: Any) -> Any:
                return run._call(case, "stateful", kwargs)

            def validate_response(self, response: Any, case: Any, *args: Any, **kwargs: Any) -> None:
                run._validate(case, response, "stateful")

        remaining = self.report.max_requests - self.session.sent
        examples = max(1, min(self.report.max_examples, remaining // STEPS_PER_SCENARIO))
        Machine._hypothesis_internal_use_seed = self.report.seed
        self._hypothesis(lambda: Machine.run(settings=self._settings(examples)))

    def _hypothesis(self, test: Callable[[], None]) -> None:
        """Run one Hypothesis test; the budget and an unreachable server end the run, anything
        else the test raises is recorded, never raised."""
        try:
            test()
        except (BudgetExhausted, _Unreachable):
            raise
        except BaseException as exc:  # an ExceptionGroup of the above, or a Hypothesis error
            inner = _find(exc, (BudgetExhausted, _Unreachable))
            if inner is not None:
                raise inner from None
            if not isinstance(exc, Exception):
                raise
            self.results[next(iter(self.results))]._record(
                Failure("error", f"{type(exc).__name__}: {exc}".splitlines()[0], "run", None, str(exc))
            )

    # -- one request --------------------------------------------------------------------------

    def _call_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"base_url": self.report.base_url, "session": self.session}
        if self.spec.credential.location == "header":
            kwargs["headers"] = {"Authorization": f"Bearer {self.api_key}"}
        return kwargs

    def _prepare(self, case: Any, phase: PhaseName) -> None:
        """Body providers read the key from the JSON body: add it to positive bodies; in negative
        ones only replace a non-empty string already there (a missing, empty or mistyped key may be
        the very mutation under test)."""
        name = self.spec.credential.name
        if self.spec.credential.location != "body" or not isinstance(case.body, dict):
            return
        value = case.body.get(name)
        if phase != "negative" or (isinstance(value, str) and value):
            case.body[name] = self.api_key

    def _call(self, case: Any, phase: PhaseName, kwargs: dict[str, Any]) -> Any:
        result = self.results[self._operation_id(case)]
        if self.report.aborted:
            raise _Unreachable(self.report.aborted)
        try:
            response = case.call(**kwargs)
        except BudgetExhausted:
            raise
        except requests.RequestException as exc:
            result.requests += 1
            result.phases[phase] = result.phases.get(phase, 0) + 1
            result._record(
                Failure("transport", f"no response: {type(exc).__name__}", phase, self._sent(case, None))
            )
            self.report.aborted = f"{self.report.base_url} did not answer ({type(exc).__name__}: {exc})."
            raise _Unreachable(self.report.aborted) from exc
        result.requests += 1
        result.phases[phase] = result.phases.get(phase, 0) + 1
        return response

    def _validate(self, case: Any, response: Any, phase: PhaseName) -> None:
        from schemathesis.core.failures import Failure as CheckFailure
        from schemathesis.core.failures import FailureGroup

        result = self.results[self._operation_id(case)]
        for name, check in self.checks:
            try:
                case.validate_response(response, checks=[check])
            except FailureGroup as group:
                found: Sequence[CheckFailure] = group.exceptions
            except CheckFailure as single:
                found = [single]
            else:
                continue
            if name == "negative_data_rejection" and _rejected_in_body(response):
                continue
            for failure in found:
                difference = _difference(name, failure, response)
                if name == "response_schema_conformance":
                    difference = self._explain(case, response) or difference
                result._record(
                    Failure(
                        check=name,
                        difference=difference,
                        phase=phase,
                        request=self._sent(case, response),
                        detail=f"{failure.title}\n{failure.message}".strip(),
                    )
                )

    def _explain(self, case: Any, response: Any) -> str | None:
        """For a body that matches none of a ``oneOf``, the error of the closest branch (schemathesis
        only says "not valid under any of the schemas"): ``response body at /id: ...``."""
        try:
            body = response.json()
        except Exception:
            return None
        op = self.spec.operation(self._operation_id(case))
        responses = op.definition.get("responses", {})
        declared = responses.get(str(response.status_code)) or responses.get("default")
        media = (self.spec.resolve(declared or {}).get("content") or {}).get("application/json")
        if not media or "schema" not in media:
            return None
        return _closest_error(self.spec, self.spec.resolve(media["schema"]), body)

    def _operation_id(self, case: Any) -> str:
        return str(case.operation.definition.raw["operationId"])

    def _sent(self, case: Any, response: Any) -> SentRequest:
        request = getattr(response, "request", None)
        if request is not None:
            method, url, body = str(request.method), str(request.url), request.body
        else:
            method, url, body = case.method.upper(), self.report.base_url + case.formatted_path, None
        return SentRequest(method, url, self._redact(body), getattr(response, "status_code", None))

    def _redact(self, body: Any) -> str | None:
        if body is None:
            return None
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else str(body)
        try:
            data = json.loads(text)
        except ValueError:
            pass
        else:
            if isinstance(data, dict) and self.spec.credential.name in data:
                data[self.spec.credential.name] = _REDACTED
            text = json.dumps(data, ensure_ascii=False)
        text = text.replace(self.api_key, _REDACTED)
        return text if len(text) <= _BODY_LIMIT else text[:_BODY_LIMIT] + "..."


def _closest_error(spec: specs.ProviderSpec, schema: Any, body: Any) -> str | None:
    schema = spec.resolve(schema)
    branches = [spec.resolve(b) for b in (schema.get("oneOf") or schema.get("anyOf") or ())]
    if branches:
        scored = sorted(
            ((len(list(spec.validator(b).iter_errors(body))), i, b) for i, b in enumerate(branches)),
            key=lambda item: (item[0], item[1]),
        )
        if scored[0][0] > 0:
            return _closest_error(spec, scored[0][2], body)
    errors = list(spec.validator(schema).iter_errors(body))
    if not errors:
        return None
    error = errors[0]
    path = "/".join(str(p) for p in error.instance_path)
    return f"response body{f' at /{path}' if path else ''}: {error.message}"


def _rejected_in_body(response: Any) -> bool:
    """ModelsLab refuses a request with HTTP 200 and ``{"status": "error", ...}`` (its spec documents
    "Parameter check failed, HTTP 200"): for a negative request that is a rejection, not a failure."""
    try:
        body = response.json()
    except Exception:
        return False
    return isinstance(body, dict) and body.get("status") == "error"


def _difference(check: str, failure: Any, response: Any) -> str:
    """The failure in one line, in terms of the spec."""
    status = getattr(response, "status_code", None)
    if check == "status_code_conformance":
        documented = ", ".join(str(s) for s in getattr(failure, "defined_status_codes", ()))
        return f"status {status} not documented (documented: {documented})"
    if check in ("response_schema_conformance", "response_headers_conformance") and hasattr(
        failure, "validation_message"
    ):
        where = "response body" if check == "response_schema_conformance" else "response header"
        path = "/".join(str(p) for p in getattr(failure, "instance_path", ()) or ())
        at = f" at /{path}" if path else ""
        return f"{where}{at}: {failure.validation_message}"
    if check == "not_a_server_error":
        return f"server error: status {status}"
    if check == "negative_data_rejection":
        return f"schema-invalid request accepted with status {status}"
    if check == "positive_data_acceptance":
        return f"schema-valid request rejected with status {status}"
    message = str(failure.message).strip().splitlines()
    return f"{failure.title}: {message[0]}" if message else str(failure.title)


def _find(exc: BaseException, kinds: tuple[type[BaseException], ...]) -> BaseException | None:
    if isinstance(exc, kinds):
        return exc
    for inner in _walk(exc):
        if isinstance(inner, kinds):
            return inner
    return None


def _walk(exc: BaseException) -> Iterator[BaseException]:
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            yield inner
            yield from _walk(inner)
    if exc.__cause__ is not None:
        yield exc.__cause__
    if exc.__context__ is not None and exc.__context__ is not exc.__cause__:
        yield exc.__context__


def _replace(failure: Failure, **changes: Any) -> Failure:
    import dataclasses

    return dataclasses.replace(failure, **changes)
