"""What the journal records of each request, with secrets and image payloads redacted.

Entries are plain dicts (any store can keep them). Redaction happens when the entry is made,
so neither memory nor a shared store ever holds a real API key or a megabyte of base64.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from headshot_mock.mockserver.scenarios import KEY_PREFIX

REDACTED = "***"
LONG_STRING = 256
"""Strings longer than this (base64 images, photos_json) are replaced by a note of their size."""
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "key", "cookie"})


def redact_key(value: str | None) -> str | None:
    """API keys are secrets, except the ``mock-<scenario>`` keys that only steer the mock."""
    if value is None or value.startswith(KEY_PREFIX):
        return value
    return REDACTED


def redact(value: Any, secret_fields: Iterable[str] = ()) -> Any:
    """A copy of a JSON value with secret fields masked and long strings summarised."""
    secrets = frozenset(secret_fields)

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: (redact_key(v) if k in secrets and isinstance(v, str) else walk(v))
                for k, v in node.items()
            }
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, str) and len(node) > LONG_STRING:
            kind = "image" if node.startswith("data:image/") else "text"
            return f"<{kind}: {len(node)} chars redacted>"
        return node

    return walk(value)


def redact_headers(headers: Mapping[str, str], extra: Iterable[str] = ()) -> dict[str, str]:
    """Headers with API keys masked: the usual ones, and ``extra`` (a spec's apiKey headers)."""
    secret = SECRET_HEADERS | {e.lower() for e in extra}
    out = {}
    for name, value in headers.items():
        if name.lower() in secret:
            scheme, _, token = value.partition(" ")
            value = f"{scheme} {redact_key(token)}" if token else (redact_key(value) or "")
        out[name.lower()] = value
    return out


def redact_query(query: str, secret: Iterable[str]) -> str:
    """A query string with the values of ``secret`` parameters (apiKey in query) masked."""
    names = frozenset(secret)
    if not names:
        return query
    parts = []
    for part in query.split("&"):
        name, sep, value = part.partition("=")
        parts.append(f"{name}={redact_key(value)}" if sep and name in names else part)
    return "&".join(parts)


def summarise_body(body: Any, encoded: bytes, secret_fields: Iterable[str] = ()) -> Any:
    """``body`` as the journal keeps it. ``encoded`` is its wire form: when no run between two
    quotes is longer than a kept string (the common case), no walk over the value is needed."""
    if isinstance(body, bytes | bytearray):
        return f"<{len(body)} bytes>"
    if len(encoded) > LONG_STRING and max(map(len, encoded.split(b'"'))) > LONG_STRING:
        return redact(body, secret_fields)
    if isinstance(body, dict):
        secrets = [k for k in secret_fields if isinstance(body.get(k), str)]
        if secrets:
            return {**body, **{k: redact_key(body[k]) for k in secrets}}
    return body


def matches(entry: Mapping[str, Any], filters: Mapping[str, str | None]) -> bool:
    return all(v is None or str(entry.get(k)) == v for k, v in filters.items())
