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
import math
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from headshot_mock import specs
from headshot_mock.mockserver import codec, forms
from headshot_mock.mockserver.config import Level

MAX_DEPTH = 64
"""Deepest nesting of arrays and objects a JSON body may have (no provider schema needs 5)."""
MESSAGE_LIMIT = 300
"""Longest finding message kept; longer ones (a whole body echoed back) are cut."""
_LONG_TOKEN = re.compile(r"[^\s\"',:]{120,}")
"""A run long enough to be a base64 image or a key: shown as its head and its length."""
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_DIGITS_EXACT = 300
"""JSON integers with up to this many digits are taken as they are; longer ones must fit a double."""


def _shown_safely(text: str) -> str:
    """A finding's field or message: a lone surrogate (in a key) escaped, long runs cut."""
    if not _is_text(text):
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return cut(text) if len(text) > 120 else text


def cut(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """``text`` with long runs (base64, keys) replaced by their head and size, and capped."""
    text = _LONG_TOKEN.sub(lambda m: f"{m[0][:12]}…({len(m[0])} chars)", text)
    return text if len(text) <= limit else f"{text[: limit - 20]}…({len(text)} chars)"


@dataclass(frozen=True, slots=True)
class Finding:
    location: str
    """``body``, ``query``, ``path``, ``header`` or ``security``."""
    field: str
    """Dotted path of the offending value (``items[0].extension``); empty for the whole part."""
    message: str
    level: Level
    """The weakest level that rejects it: ``lenient`` findings are rejected by both levels."""

    def __post_init__(self) -> None:
        # Findings travel in answers, headers and the journal: never a whole image or key.
        # The common case, short ASCII, is kept as it is.
        if len(self.field) > 120 or not self.field.isascii():
            object.__setattr__(self, "field", _shown_safely(self.field))
        if len(self.message) > 120 or not self.message.isascii():
            object.__setattr__(self, "message", _shown_safely(self.message))

    def __str__(self) -> str:
        sep = "" if self.field.startswith("[") else "."
        where = f"{self.location}{sep}{self.field}" if self.field else self.location
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
    validator: Any, value: Any, location: str, level: Level, secrets: frozenset[str] = frozenset()
) -> list[Finding]:
    findings: list[Finding] = []
    try:
        if validator.is_valid(value):  # the common case: no error objects built (half the time)
            return findings
        errors = list(validator.iter_errors(value))
    except ValueError as exc:  # the validator's own recursion limit (deeper than MAX_DEPTH got here)
        return [Finding(location, "", f"cannot be validated: {exc}", "lenient")]
    for error in errors:
        for path, message in _explained(error):
            if path and path[0] in secrets:
                # A credential sent with the wrong type: say so without echoing it.
                shown = _shown(error.instance)
                message = message.replace(shown, "the value") if shown in message else "is not valid"
            findings.append(Finding(location, dotted(path), message, level))
    return findings


def _shown(value: Any) -> str:
    try:
        return json.dumps(value, ensure_ascii=False)
    except ValueError:
        return repr(value)


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
        cred = spec.credential
        self._secrets = frozenset({cred.name} if cred.location == "body" else ())

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
        body, problem = parse_json(raw)
        if problem is not None:
            findings.append(problem)
            return _MALFORMED, findings
        return body, findings

    def check_body(self, body: Any) -> list[Finding]:
        """Schema findings for a body that was sent and parsed (a JSON ``null``, array or scalar
        included: where the schema wants an object, they are findings like any other)."""
        if isinstance(body, forms.FormBody):
            return _schema_findings(
                self._forms[body.media_type][1], dict(body), "body", "lenient", self._secrets
            )
        if self._strict is None or body is _MALFORMED or isinstance(body, bytes):
            return []
        secrets = self._secrets
        if self._accepted is None:
            return _schema_findings(self._strict, body, "body", "lenient", secrets)
        accepted = _schema_findings(self._accepted, body, "body", "lenient", secrets)
        strict = _schema_findings(self._strict, body, "body", "strict", secrets)
        if not accepted:
            return strict
        seen = {(f.field, f.message) for f in accepted}
        return accepted + [f for f in strict if (f.field, f.message) not in seen]

    def check_parameters(
        self, path: Mapping[str, str], query: Mapping[str, str], headers: Mapping[str, str]
    ) -> list[Finding]:
        findings: list[Finding] = []
        if not self._params:  # most provider operations: nothing to look at (cookies unparsed)
            return findings
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


class _Refused(ValueError):
    """A JSON value Python would parse but no provider can take (NaN, 1e400, 10**400)."""


def _no_constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused(f"the number {cut(text)} is out of range (larger than a double)")
    return value


def _bounded_int(text: str) -> int:
    if len(text) <= _DIGITS_EXACT:
        return int(text)
    if len(text.lstrip("-")) > 309:  # past 1.8e308 whatever the digits: no double holds it
        raise _Refused(f"the integer of {len(text)} digits is out of range (larger than a double)")
    value = int(text)
    if abs(value) >= 2**1024:
        raise _Refused(f"the integer of {len(text)} digits is out of range (larger than a double)")
    return value


def parse_json(raw: bytes | str) -> tuple[Any, Finding | None]:
    """Parse a JSON request body as providers do: the value, or ``(None, finding)`` naming why not.

    Refused beyond what :func:`json.loads` refuses: ``NaN``/``Infinity``, numbers outside a double's
    range, nesting deeper than :data:`MAX_DEPTH`, and lone UTF-16 surrogates (``"\\ud800"``),
    which are not Unicode text and cannot be stored, validated or echoed.
    """
    data = _bytes(raw)
    fast, value = (False, None) if _LONG_INT.search(data) else codec.try_loads(raw)
    try:
        if not fast:  # what msgspec refuses (NaN, 1e400, bad bytes) gets json's words, or ours
            value = json.loads(
                raw, parse_constant=_no_constant, parse_float=_finite_float, parse_int=_bounded_int
            )
    except _Refused as exc:
        return None, Finding("body", "", f"malformed JSON: {exc}", "lenient")
    except RecursionError:
        return None, Finding("body", "", f"malformed JSON: nested deeper than {MAX_DEPTH} levels", "lenient")
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
        return None, Finding("body", "", f"malformed JSON: {exc}", "lenient")
    deep = data.count(b"[") + data.count(b"{") > MAX_DEPTH
    if deep or _SURROGATE_ESCAPE.search(data):
        for path, node, depth in _walk(value):
            if depth > MAX_DEPTH:
                message = f"malformed JSON: nested deeper than {MAX_DEPTH} levels"
                return None, Finding("body", dotted(path[:8]), message, "lenient")
            if isinstance(node, str) and not _is_text(node):
                message = "holds a lone UTF-16 surrogate escape (\\ud800-\\udfff): not Unicode text"
                return None, Finding("body", dotted(path), message, "lenient")
    return value, None


_LONG_INT = re.compile(rb"\d{%d}" % (_DIGITS_EXACT + 1))
"""A run of digits :func:`_bounded_int` must look at (msgspec takes any integer as it is)."""


def _bytes(raw: bytes | str) -> bytes:
    return raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _walk(value: Any) -> Iterator[tuple[list[Any], Any, int]]:
    """Every node of a JSON value (object keys included, as strings), depth first, no recursion."""
    stack: list[tuple[list[Any], Any, int]] = [([], value, 0)]
    while stack:
        path, node, depth = stack.pop()
        yield path, node, depth
        if isinstance(node, dict):
            for key, item in node.items():
                yield [*path, key], key, depth + 1
                stack.append(([*path, key], item, depth + 1))
        elif isinstance(node, list):
            stack.extend(([*path, i], item, depth + 1) for i, item in enumerate(node))


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
        if kind == "integer" and len(raw) <= _DIGITS_EXACT:
            return int(raw)
        if kind == "number" and math.isfinite(value := float(raw)):
            return value
    except ValueError:
        return raw
    if kind == "boolean" and raw in ("true", "false"):
        return raw == "true"
    return raw
