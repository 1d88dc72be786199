"""Request validation, compiled once per operation at start-up.

openapi-core is the reference semantics (the test suite checks that both agree on every
example and on a corpus of bad requests); on the hot path each operation keeps compiled
``jsonschema_rs`` validators, about a microsecond a body instead of milliseconds.

Two levels: a :class:`Finding` of level ``lenient`` breaks what the provider accepts in practice
(rejected at both levels); one of level ``strict`` breaks only the documented contract (rejected
at the strict level, reported at the lenient one).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from headshot_mock import specs
from headshot_mock.mockserver import codec
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
        field = dotted(error.instance_path)
        findings.append(Finding(location, f"{prefix}{field}" if prefix else field, error.message, level))
    return findings


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
            return codec.loads(raw), findings
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
