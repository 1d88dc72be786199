"""The plug-in interface: what a provider's spec cannot say.

A plug-in answers an operation by defining ``on_<operationId>(call)``; operations without a
handler answer the spec's example for the chosen scenario. Plug-ins keep no state: they read
and write through ``self.runtime`` (clock, ids, files, store).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar
from urllib.parse import urlsplit

from headshot_mock import specs
from headshot_mock.mockserver.runtime import Runtime
from headshot_mock.mockserver.scenarios import Example, ScenarioBook
from headshot_mock.mockserver.validation import Finding


@dataclass(slots=True)
class Answer:
    status: int
    body: Any = None
    """A JSON value, or ``bytes`` sent as they are."""
    media_type: str | None = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    scenario: str | None = None
    """The scenario (example name) that answered; the chosen one when None."""


@dataclass(slots=True)
class Call:
    """One request to a provider operation, as the plug-in sees it."""

    provider: str
    operation_id: str
    method: str
    body: Any
    """Parsed JSON (or raw bytes for binary operations); None when there was none."""
    path_params: Mapping[str, str]
    query: Mapping[str, str]
    headers: Mapping[str, str]
    credential: str | None
    scenario: str
    example: Example | None
    """The spec example the scenario selects for this operation (``success`` where it does not apply)."""
    examples: Mapping[str, Example]
    base_url: str
    """Scheme and host links are built on (``http://127.0.0.1:4010``)."""
    mount: str
    """Where the provider is mounted (``/modelslab``, or empty at the root)."""

    @property
    def succeeds(self) -> bool:
        """Whether the chosen scenario answers this operation with its ``success`` example."""
        return self.example is not None and self.example.name == "success"

    def url(self, path: str) -> str:
        """An absolute URL on this mock for a path under the server root."""
        return f"{self.base_url}{path}"


Handler = Callable[[Call], Awaitable[Answer]]
REJECTION_EXAMPLES = ("invalid_request", "validation_error", "error")


class Rejected(Exception):
    """Raised by a handler for a request its spec's schema cannot refuse (a malformed
    ``photos_json`` string); the engine answers with the provider's rejection envelope."""

    def __init__(self, *findings: Finding) -> None:
        super().__init__("; ".join(map(str, findings)))
        self.findings = list(findings)


class Provider:
    """Base plug-in: example answers, the provider's rejection envelope, no extra headers."""

    id: ClassVar[str] = ""
    lifecycles: ClassVar[Mapping[str, str]] = {}
    """Scenario names the plug-in implements beyond the spec's examples, with summaries."""
    final_states: ClassVar[tuple[str, ...]] = ()
    """States a job can end in (what the admin API accepts when finishing one)."""
    job_scenarios: ClassVar[frozenset[str]] = frozenset()
    """Scenarios that decide a job's outcome. They are asked for on the call that creates the job;
    a poll answers from the job, so asking for one there is refused (it would change nothing)."""
    webhook_events: ClassVar[tuple[str, ...]] = ()
    """Events a registered webhook endpoint can subscribe to (none: nothing to register)."""

    def __init__(self, spec: specs.ProviderSpec, runtime: Runtime) -> None:
        self.spec = spec
        self.runtime = runtime
        self.scenarios = self.book(spec)

    @classmethod
    def book(cls, spec: specs.ProviderSpec) -> ScenarioBook:
        """The scenarios this plug-in serves for ``spec`` (no server needed)."""
        return ScenarioBook(spec, cls.lifecycles)

    def operation_url(self, call: Call, operation_id: str, **params: str) -> str:
        """The absolute URL of one of this provider's operations on this mock.

        Reached at the provider's real host (the respx interceptor), an operation with a host
        of its own (Magic Hour's upload host) is addressed there, as the provider does.
        """
        op = self.spec.operation(operation_id)
        path = op.path
        for name, value in params.items():
            path = path.replace(f"{{{name}}}", value)
        real = urlsplit(self.spec.server_url)
        if op.server_url != self.spec.server_url and call.base_url == f"{real.scheme}://{real.netloc}":
            own = urlsplit(op.server_url)
            return f"{own.scheme}://{own.netloc}{op.base_path}{path}"
        return call.url(f"{call.mount}{op.base_path}{path}")

    async def refusals(self, operation_id: str, body: Any) -> list[Finding]:
        """What the provider refuses in a body its schema accepts (a webhook URL no request could
        reach, an upload the mock no longer has), as lenient findings. The engine asks before it
        chooses the scenario, so these refuse a call exactly as a schema violation does: only a
        scenario that answers before validation, or a fault, still answers it, and only such a
        rule is spent by it."""
        return []

    def handler(self, operation_id: str) -> Handler | None:
        found: Handler | None = getattr(self, f"on_{operation_id}", None)
        return found

    async def answer(self, call: Call) -> Answer:
        handler = self.handler(call.operation_id)
        if handler is not None:
            return await handler(call)
        return self.example_answer(call)

    def example_answer(
        self, call: Call, name: str | None = None, *, fill: Mapping[str, Any] | None = None
    ) -> Answer:
        """The answer of the call's example (or the operation's example ``name``): a fresh copy
        of its body, with ``fill``'s values put at its top level (an object example)."""
        example = call.examples.get(name) if name else call.example
        if example is None:
            raise LookupError(f"{self.id}.{call.operation_id} has no example {name or call.scenario!r}")
        body = example.body() if fill is None else example.filled(fill)
        return Answer(example.status, body, example.media_type, dict(example.headers), example.name)

    def example_answer_body(self, operation_id: str, name: str) -> Any:
        """A fresh copy of one of an operation's named response examples."""
        return self.scenarios.examples(operation_id)[name].body()

    def reject(self, call: Call, findings: list[Finding]) -> Answer:
        """The provider's own answer to a request it refuses, naming the offending fields.

        The operation's ``invalid_request`` example, else its ``validation_error`` or ``error``
        one, else its first 4xx: the envelope the provider uses on that endpoint.
        """
        examples = call.examples
        example = next((examples[n] for n in REJECTION_EXAMPLES if n in examples), None)
        if example is None:
            example = next(ex for ex in examples.values() if 400 <= ex.status < 500)
        answer = Answer(
            example.status, example.body(), example.media_type, dict(example.headers), "invalid_request"
        )
        answer.body = self.with_message(answer.body, "; ".join(str(f) for f in findings))
        return answer

    def with_message(self, body: Any, message: str) -> Any:
        """Put ``message`` where the provider's error envelope carries its text."""
        if isinstance(body, dict):
            for key in ("message", "error", "detail"):
                if isinstance(body.get(key), str):
                    body[key] = message
                    return body
        return body

    @staticmethod
    def webhook_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
        """The headers that sign a webhook delivery (none: the provider does not sign)."""
        return {}

    @property
    def default_secret(self) -> str:
        """The webhook secret of endpoints registered without one (deterministic from the seed)."""
        return f"whsec_{self.runtime.token('webhook-secret', self.id, length=32)}"

    async def on_job_state(self, job: dict[str, Any], state: str) -> None:
        """A job of this provider entered ``state`` (its final one included): send webhooks."""

    def webhook_example(self, webhook: str, name: str) -> Any:
        """A fresh copy of a named example of one of the spec's ``webhooks`` request bodies."""
        item = self.spec.resolve(self.spec.document["webhooks"][webhook])
        media = self.spec.resolve(item["post"]["requestBody"])["content"]["application/json"]
        return json.loads(json.dumps(self.spec.resolve(media["examples"][name])["value"]))

    async def headers(self, call: Call, answer: Answer) -> dict[str, str]:
        """Headers the provider adds to every answer (agent.ai's rate-limit headers)."""
        return {}
