"""Request validation, compiled once per operation at start-up.

openapi-core is the reference semantics (the test suite checks that both agree on every
example and on a corpus of bad requests); on the hot path each operation keeps compiled
``jsonschema_rs`` validators, about a microsecond a body instead of milliseconds.

Two levels: a :class:`Finding` of level ``lenient`` breaks what the provider accepts in practice
(rejected at both levels); one of level ``strict`` breaks only the documented contract (rejected
at the strict level, reported at the lenient one).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from headshot_mock import specs
from headshot_mock.mockserver.config import Level


@dataclass(frozen=True, slots=True)
class Finding:
    location: str
    """``body``, ``query``, ``path``, ``header`` or ``security``."""
    field: str
    """Dotted path of the offending value (``items[0].extension``); empty for the whole part."""
    message: str
    level: Level
    """The weakest level that rejects it: ``lenient`` findings are rejected by both levels."""

    def __str__(self) -> str:
        where = f"{self.location}.{self.field}" if self.field else self.location
        return f"{where}: {self.message}"

    def rejected_at(self, level: Level) -> bool:
        return level == "strict" or self.level == "lenient"

    def as_dict(self) -> dict[str, str]:
        return {"location": self.location, "field": self.field, "message": self.message, "level": self.level}


def dotted(path: Any) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _schema_findings(
    validator: Any, value: Any, location: str, level: Level, prefix: str = ""
) -> list[Finding]:
    findings = []
    for error in validator.iter_errors(value):
        for path, message in _explained(error):
            field = dotted(path)
            findings.append(Finding(location, f"{prefix}{field}" if prefix else field, message, level))
    return findings


_ALTERNATIVES = ("AnyOf", "OneOfNotValid")


def _explained(error: Any) -> list[tuple[Any, str]]:
    """(instance path, message) for one validation error. An ``anyOf``/``oneOf`` that no branch
    accepts is explained by the branch the value came closest to, so the message names the limit
    that was broken ("5000 is greater than the maximum of 2048"), not "not valid under any of the
    given schemas": a branch whose type the value has beats one it fails on type alone."""
    branches = getattr(error.kind, "context", None) if type(error.kind).__name__ in _ALTERNATIVES else None
    if not branches:
        return [(error.instance_path, error.message)]
    depth = len(error.instance_path)

    def distance(branch: list[Any]) -> tuple[int, int]:
        on_type = sum(1 for e in branch if type(e.kind).__name__ == "Type" and len(e.instance_path) == depth)
        return on_type, len(branch)

    ranked = sorted(branches, key=distance)
    closest = ranked[0]
    if distance(closest)[0] and all(distance(b)[0] for b in ranked):  # wrong type for every branch
        messages = list(dict.fromkeys(e.message for b in ranked for e in b))
        types = [m.rpartition(" is not of type ") for m in messages]
        if all(sep and value == types[0][0] for value, sep, _ in types):
            messages = [f"{types[0][0]} is not of type {' or '.join(t for _, _, t in types)}"]
        return [(error.instance_path, " or ".join(messages))]
    return [explained for e in closest for explained in _explained(e)]


@dataclass(frozen=True, slots=True)
class _Parameter:
    name: str
    location: str
    required: bool
    kind: str | None
    validator: Any


class RequestValidator:
    """Everything needed to check one operation's requests, built once."""

    def __init__(self, spec: specs.ProviderSpec, op: specs.Operation) -> None:
        self._params = tuple(
            _Parameter(
                name=p["name"].lower() if p["in"] == "header" else p["name"],
                location=p["in"],
                required=bool(p.get("required", p["in"] == "path")),
                kind=spec.resolve(p.get("schema", {})).get("type"),
                validator=spec.validator(p.get("schema", {})),
            )
            for p in op.parameters
        )
        body = spec.resolve(op.definition.get("requestBody")) if "requestBody" in op.definition else None
        self.body_required = bool(body and body.get("required"))
        content: Mapping[str, Any] = body["content"] if body else {}
        self.media_types = tuple(content)
        media = content.get("application/json")
        self.json = media is not None
        self._strict = spec.validator(media["schema"]) if media is not None else None
        accepted = media.get("x-accepted-schema") if media is not None else None
        self._accepted = spec.validator(accepted) if accepted is not None else None

    def parse_body(self, raw: bytes, content_type: str) -> tuple[Any, list[Finding]]:
        """The body as the operation expects it (parsed JSON, or the raw bytes), and its findings."""
        if not self.media_types:
            return raw, []
        if not raw:
            if self.body_required:
                return None, [Finding("body", "", "a request body is required", "lenient")]
            return None, []
        if not self.json:
            return raw, []
        findings = []
        media_type = content_type.split(";", 1)[0].strip().lower()
        if media_type != "application/json" and not media_type.endswith("+json"):
            shown = media_type or "no Content-Type"
            findings.append(
                Finding("header", "content-type", f"expected application/json, got {shown}", "strict")
            )
        try:
            return json.loads(raw), findings
        except (ValueError, RecursionError) as exc:
            findings.append(Finding("body", "", f"malformed JSON: {exc}", "lenient"))
            return _MALFORMED, findings

    def check_body(self, body: Any) -> list[Finding]:
        if self._strict is None or body is None or body is _MALFORMED:
            return []
        if self._accepted is None:
            return _schema_findings(self._strict, body, "body", "lenient")
        accepted = _schema_findings(self._accepted, body, "body", "lenient")
        strict = _schema_findings(self._strict, body, "body", "strict")
        if not accepted:
            return strict
        seen = {(f.field, f.message) for f in accepted}
        return accepted + [f for f in strict if (f.field, f.message) not in seen]

    def check_parameters(
        self, path: Mapping[str, str], query: Mapping[str, str], headers: Mapping[str, str]
    ) -> list[Finding]:
        findings: list[Finding] = []
        sources = {"path": path, "query": query, "header": headers, "cookie": {}}
        for p in self._params:
            raw = sources[p.location].get(p.name)
            if raw is None:
                if p.required:
                    findings.append(Finding(p.location, p.name, "is required", "lenient"))
                continue
            value = _coerce(raw, p.kind)
            findings.extend(
                Finding(p.location, p.name, f.message, "lenient")
                for f in _schema_findings(p.validator, value, p.location, "lenient")
            )
        return findings


class _Malformed:
    """Marks a body that did not parse (distinct from a JSON ``null``)."""

    def __repr__(self) -> str:
        return "<malformed body>"


_MALFORMED: Any = _Malformed()


def is_malformed(body: Any) -> bool:
    return body is _MALFORMED


def _coerce(raw: str, kind: str | None) -> Any:
    """Parameters arrive as text; give the schema the type it describes when the text allows."""
    try:
        if kind == "integer":
            return int(raw)
        if kind == "number":
            return float(raw)
    except ValueError:
        return raw
    if kind == "boolean" and raw in ("true", "false"):
        return raw == "true"
    return raw
