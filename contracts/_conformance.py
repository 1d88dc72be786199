"""Driving schemathesis for ``verify``: the counting session, the three phases, failure wording."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import requests

from headshot_mock import specs
from headshot_mock.contracts.report import Failure, Report, SentRequest, closest_error, describe_failure
from headshot_mock.contracts.verify_settings import (
    BODY_LIMIT,
    DEFAULT_CHECKS,
    OPTIONAL_CHECKS,
    REDACTED,
    STEPS_PER_SCENARIO,
    TIMEOUT_SECONDS,
    BudgetExhausted,
    PhaseName,
    VerifyError,
)

if TYPE_CHECKING:
    import hypothesis


def _checks(names: Sequence[str]) -> list[tuple[str, Callable[..., Any]]]:
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi import checks

    known: dict[str, Callable[..., Any]] = {
        "not_a_server_error": not_a_server_error,
        **{name: getattr(checks, name) for name in (*DEFAULT_CHECKS[1:], *OPTIONAL_CHECKS)},
    }
    for name in names:
        if name not in known:
            from headshot_mock.specs.errors import did_you_mean

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
        if spec.credential.location == "header" and spec.credential.name:
            config["auth"] = {"openapi": {spec.credential.name: _auth(spec, api_key)}}
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

        # A negative phase with nothing to break (only string parameters) is not a failure.
        self._hypothesis(
            test, self.results.get(op.definition.raw.get("operationId", "")), negative=phase == "negative"
        )

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

    def _hypothesis(self, test: Callable[[], None], result: Any = None, *, negative: bool = False) -> None:
        """Run one Hypothesis test; the budget and an unreachable server end the run, anything
        else the test raises is recorded (against ``result``'s operation), never raised."""
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
            from hypothesis.errors import Unsatisfiable

            if negative and isinstance(exc, Unsatisfiable):
                return
            (result or self.results[next(iter(self.results))])._record(
                Failure("error", f"{type(exc).__name__}: {exc}".splitlines()[0], "run", None, str(exc))
            )

    # -- one request --------------------------------------------------------------------------

    def _call_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"base_url": self.report.base_url, "session": self.session}
        if self.spec.credential.location == "header" and self.spec.credential.name:
            scheme = _scheme(self.spec)
            if scheme.get("type") == "apiKey" and scheme.get("in") == "header":
                kwargs["headers"] = {scheme["name"]: self.api_key}
            elif scheme.get("type") != "apiKey" and scheme.get("scheme", "bearer").lower() != "basic":
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
                difference = describe_failure(name, failure, response)
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
        return closest_error(self.spec, self.spec.resolve(media["schema"]), body)

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
                data[self.spec.credential.name] = REDACTED
            text = json.dumps(data, ensure_ascii=False)
        text = text.replace(self.api_key, REDACTED)
        return text if len(text) <= BODY_LIMIT else text[:BODY_LIMIT] + "..."


def _scheme(spec: specs.ProviderSpec) -> dict[str, Any]:
    schemes = (spec.document.get("components") or {}).get("securitySchemes") or {}
    return dict(spec.resolve(schemes.get(spec.credential.name) or {}))


def _auth(spec: specs.ProviderSpec, api_key: str) -> dict[str, str]:
    """schemathesis' auth settings for the scheme the key travels in (bearer, API key, basic)."""
    scheme = _scheme(spec)
    if scheme.get("type") == "apiKey":
        return {"api_key": api_key}
    if scheme.get("scheme", "bearer").lower() == "basic":
        return {"username": api_key, "password": api_key}
    return {"bearer": api_key}


def _rejected_in_body(response: Any) -> bool:
    """ModelsLab refuses a request with HTTP 200 and ``{"status": "error", ...}`` (its spec documents
    "Parameter check failed, HTTP 200"): for a negative request that is a rejection, not a failure."""
    try:
        body = response.json()
    except Exception:
        return False
    return isinstance(body, dict) and body.get("status") == "error"


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
