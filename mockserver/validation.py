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
from headshot_mock.mockserver import forms
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
    items: str | None = None
    """The item type of an array parameter (``tags=a&tags=b``, or ``a,b`` when not exploded)."""
    explode: bool = True


class RequestValidator:
    """Everything needed to check one operation's requests, built once."""

    def __init__(self, spec: specs.ProviderSpec, op: specs.Operation) -> None:
        self._params = tuple(
            _Parameter(
                name=p["name"].lower() if p["in"] == "header" else p["name"],
                location=p["in"],
                required=bool(p.get("required", p["in"] == "path")),
                kind=_kind(spec.resolve(p.get("schema", {}))),
                validator=spec.validator(p.get("schema", {})),
                items=_kind(spec.resolve(spec.resolve(p.get("schema", {})).get("items") or {})),
                explode=bool(p.get("explode", p.get("style", "form") == "form")),
            )
            for p in op.parameters
        )
        body = spec.resolve(op.definition.get("requestBody")) if "requestBody" in op.definition else None
        self.body_required = bool(body and body.get("required"))
        content: Mapping[str, Any] = body["content"] if body else {}
        self.media_types = tuple(content)
        json_type = next((m for m in content if _is_json(forms.media_of(m))), "application/json")
        media = content.get(json_type)
        self.json = media is not None
        self._resolve = spec.resolve
        self._forms = {
            forms.media_of(m): (spec.resolve(c.get("schema") or {}), spec.validator(c.get("schema") or {}))
            for m, c in content.items()
            if forms.media_of(m) in forms.FORMS
        }
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
        media_type = forms.media_of(content_type)
        if media_type in self._forms:
            form = forms.parse(raw, content_type, self._forms[media_type][0], self._resolve)
            if form is None:
                return _MALFORMED, [Finding("body", "", f"is not a well-formed {media_type} body", "lenient")]
            return form, []
        if not self.json:
            return raw, []
        findings = []
        if not _is_json(media_type):
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
        if isinstance(body, forms.FormBody):
            return _schema_findings(self._forms[body.media_type][1], dict(body), "body", "lenient")
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
        sources = {"path": path, "query": query, "header": headers, "cookie": _cookies(headers)}
        for p in self._params:
            raw = sources[p.location].get(p.name)
            if raw is None:
                if p.required:
                    findings.append(Finding(p.location, p.name, "is required", "lenient"))
                continue
            value: Any
            if p.kind == "array":
                getlist = getattr(sources[p.location], "getlist", None)
                many = getlist(p.name) if getlist is not None and p.explode else [raw]
                if len(many) == 1 and (not p.explode or p.location != "query"):
                    many = many[0].split(",") if many[0] else []
                value = [_coerce(v, p.items) for v in many]
            else:
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


def _is_json(media_type: str) -> bool:
    return media_type == "application/json" or media_type.endswith("+json")


def _kind(schema: Any) -> str | None:
    kind = schema.get("type") if isinstance(schema, Mapping) else None
    if isinstance(kind, list):  # 3.1 type arrays (3.0 `nullable`): the first real type
        kind = next((k for k in kind if k != "null"), None)
    return kind if isinstance(kind, str) else None


def _cookies(headers: Mapping[str, str]) -> dict[str, str]:
    found: dict[str, str] = {}
    for part in headers.get("cookie", "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep:
            found[name] = value
    return found


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
