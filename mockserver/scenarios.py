"""Scenarios: the shared vocabulary that chooses what a provider answers.

A scenario is the name of a response example in the provider's spec (``rate_limited`` names
the 429 example of every operation that has one), a behaviour every operation shares (``slow``,
``timeout``, and the faults ``connection_reset``, ``dribble``, …), or a job lifecycle a plug-in
declares (``stuck``, ``canceled``). One is chosen per request, highest first: ``X-Mock-Scenario``
/ Prism's ``Prefer`` header, the API key ``mock-<scenario>``, a queued admin rule, the server
default. A scenario that does not apply to an operation (``no_face`` on an upload) leaves that
operation at ``success``, so an SDK sending the same ``mock-no_face`` key on every call still
walks the whole flow.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from headshot_mock import specs
from headshot_mock.mockserver import codec
from headshot_mock.mockserver.errors import UnknownScenario

KEY_PREFIX = "mock-"
HEADER = "x-mock-scenario"

BEHAVIOURS: Mapping[str, str] = {
    "slow": "answers success after an added latency (--slow-seconds)",
    "timeout": "holds the request past a client's timeout (--timeout-seconds), then answers success",
}
"""Scenarios every operation has: they delay the ``success`` answer."""

FAULTS: Mapping[str, str] = {
    "connection_reset": "the connection is reset (TCP RST) instead of an answer",
    "empty_response": "the connection is closed without an answer",
    "truncated_body": "the success answer's headers and half its body, then the connection closes",
    "dribble": "the success answer, its body sent slowly in pieces (--dribble-seconds in all)",
    "malformed_json": "the success answer's status with a body that is not valid JSON",
}
"""Faults every operation has: the network or the provider's edge misbehaving (``faults.py``)."""

VOCABULARY: Mapping[str, str] = {
    "success": "the operation succeeds, with generated ids, timestamps and real images",
    "processing": "the job is accepted and at least one poll sees it in progress before it completes",
    "error": "the provider's own error answer for a failed generation",
    "unauthorized": "the API key is refused (the provider's auth error)",
    "rate_limited": "too many requests (429)",
    "insufficient_credits": "the account has no credits left",
    "server_error": "the provider fails internally (5xx)",
    "invalid_request": "the provider's validation error answer",
    "not_found": "the id or resource does not exist",
}
"""The shared vocabulary: the same name means the same thing for every provider."""

BEFORE_VALIDATION = frozenset({"unauthorized", "forbidden", "rate_limited"})
"""Answers a provider gives before it reads the body: they win over a validation rejection."""


@dataclass(frozen=True, slots=True)
class Example:
    name: str
    status: int
    media_type: str | None
    value: Any = field(repr=False)
    summary: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    _text: str = field(default="", repr=False, compare=False)
    _fields: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)
    """An object example's top-level values: strings, numbers, booleans and nulls as they are
    (never changed), arrays and objects as their JSON bytes (decoded afresh for each answer)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "_text", json.dumps(self.value))
        if isinstance(self.value, dict):
            kept = {k: v if _plain(v) else json.dumps(v).encode() for k, v in self.value.items()}
            object.__setattr__(self, "_fields", kept)

    def body(self) -> Any:
        """A fresh copy of the example value, safe to fill in (a JSON round trip: ~8x deepcopy)."""
        return codec.loads(self._text)

    def filled(self, fields: Mapping[str, Any]) -> Any:
        """``body()`` updated with ``fields``, without copying what ``fields`` replaces: a
        handler that fills in most of an answer (ids, links, the echo) does not pay to copy the
        example's own (decoding ModelsLab's 900-byte success example cost ~2% of a request).
        Keys in the example's order, new ones last, as ``dict.update`` leaves them."""
        if not isinstance(self.value, dict):
            raise TypeError(f"the {self.name!r} example is not a JSON object: it has no fields to fill")
        body = {
            key: fields[key] if key in fields else codec.loads(v) if type(v) is bytes else v
            for key, v in self._fields.items()
        }
        body.update(fields)
        return body


def _plain(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float)  # bool is an int


@dataclass(frozen=True, slots=True)
class Selection:
    scenario: str
    source: str
    """``header``, ``prefer``, ``key``, ``rule`` or ``default``."""


class ScenarioBook:
    """The scenarios of one provider, indexed per operation, built once from the spec."""

    def __init__(self, spec: specs.ProviderSpec, lifecycles: Mapping[str, str]) -> None:
        self.provider = spec.id
        self._examples: dict[str, dict[str, Example]] = {
            op.operation_id: _examples(spec, op) for op in spec.operations
        }
        summaries: dict[str, str] = {}
        for examples in self._examples.values():
            for ex in examples.values():
                summaries.setdefault(ex.name, ex.summary)
        summaries.update(lifecycles)
        summaries.update({k: v for k, v in VOCABULARY.items() if k in summaries})
        summaries.update(BEHAVIOURS)
        summaries.update(FAULTS)
        self.summaries: Mapping[str, str] = dict(sorted(summaries.items()))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(self.summaries)

    def examples(self, operation_id: str) -> Mapping[str, Example]:
        return self._examples[operation_id]

    def operations_with(self, scenario: str) -> tuple[str, ...]:
        return tuple(op for op, examples in self._examples.items() if scenario in examples)

    def check(self, scenario: str, *, where: str | None = None) -> str:
        if scenario not in self.summaries:
            raise UnknownScenario(scenario, self.summaries, where=where or f"provider {self.provider!r}")
        return scenario

    def example_for(self, operation_id: str, scenario: str) -> Example | None:
        """The example answering ``scenario`` on this operation (``success`` where it does not apply)."""
        examples = self._examples[operation_id]
        return examples.get(scenario) or examples.get("success")

    def by_status(self, operation_id: str, status: int) -> str | None:
        for ex in self._examples[operation_id].values():
            if ex.status == status:
                return ex.name
        return None


def parse_prefer(value: str) -> dict[str, str]:
    """``Prefer: code=429, example=rate_limited`` (Prism's syntax) as a dict."""
    out: dict[str, str] = {}
    for part in value.replace(";", ",").split(","):
        key, sep, val = part.partition("=")
        if sep:
            out[key.strip().lower()] = val.strip().strip('"')
    return out


def _examples(spec: specs.ProviderSpec, op: specs.Operation) -> dict[str, Example]:
    found: dict[str, Example] = {}
    for status, response in op.definition.get("responses", {}).items():
        if not str(status).isdigit():
            continue
        response = spec.resolve(response)
        headers = {
            name.lower(): str(spec.resolve(h).get("example", ""))
            for name, h in (response.get("headers") or {}).items()
            if "example" in spec.resolve(h)
        }
        content = response.get("content") or {}
        if not content:
            # A body-less answer (204) is its own example, named by the response's x-scenario.
            name = response.get("x-scenario", "success" if str(status).startswith("2") else None)
            if name:
                found[name] = Example(name, int(status), None, None, response.get("description", ""), headers)
            continue
        for media_type, media in content.items():
            for name, ex in (media.get("examples") or {}).items():
                ex = spec.resolve(ex)
                found.setdefault(
                    name,
                    Example(name, int(status), media_type, ex.get("value"), ex.get("summary", ""), headers),
                )
    return found
