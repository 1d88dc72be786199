"""What the journal records of each request, with secrets and image payloads redacted.

Entries are plain dicts (any store can keep them). Redaction happens when the entry is made,
so neither memory nor a shared store ever holds a real API key or a megabyte of base64.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, cast
from urllib.parse import unquote_plus

from headshot_mock.mockserver import codec
from headshot_mock.mockserver.scenarios import KEY_PREFIX

Record = dict[str, Any]
REDACTED = "***"
LONG_STRING = 256
"""Strings longer than this (base64 images, photos_json) are replaced by a note of their size."""
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "key", "cookie"})
_LONG_RUN = re.compile(b'"[^"]{%d}' % (LONG_STRING + 1))
"""A quote followed by more than LONG_STRING bytes without one: the encoded value may hold a
long string (one regex search, a third of the time of splitting the bytes at every quote)."""


SECRET_QUERY = frozenset(
    {"key", "api_key", "apikey", "api-key", "token", "access_token", "secret", "password"}
)
"""Query parameters kept as ``***`` (a client that puts its key in the URL)."""


def redact_key(value: Any) -> Any:
    """API keys are secrets, except the ``mock-<scenario>`` keys that only steer the mock.
    A key sent as a number, list or object is a secret too."""
    if value is None or (isinstance(value, str) and value.startswith(KEY_PREFIX)):
        return value
    return REDACTED


def redact_query(query: str, secret_fields: Iterable[str] = ()) -> str:
    """A raw query string with the values of secret parameters masked: the usual names
    (``?key=…``) and ``secret_fields`` (a spec's apiKey-in-query scheme, the body credential's name)."""
    if "=" not in query:
        return query
    names = SECRET_QUERY | {n.lower() for n in secret_fields}
    parts = []
    for part in query.split("&"):
        name, sep, value = part.partition("=")
        if sep and unquote_plus(name).lower() in names:
            value = redact_key(unquote_plus(value))
        parts.append(f"{name}{sep}{value}")
    return "&".join(parts)


def sanitise(entry: Record) -> Record:
    """``entry`` as it can always be served back as JSON: what no JSON encoder takes (NaN and
    infinities, lone surrogates, integers past the digit limit, non-string keys) is replaced by
    text saying what it was. The check is one encode; only a failing entry is walked."""
    if codec.round_trips(entry):  # the common case, in a tenth of the time of json.dumps
        return entry
    try:
        json.dumps(entry, ensure_ascii=False, allow_nan=False).encode()
    except (ValueError, TypeError, RecursionError):  # UnicodeEncodeError is a ValueError
        return cast(Record, _clean(entry, 0))
    return entry


def _clean(node: Any, depth: int) -> Any:
    if depth > 64:
        return "<nested too deep>"
    if isinstance(node, dict):
        return {_clean_text(str(k)): _clean(v, depth + 1) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_clean(v, depth + 1) for v in node]
    if isinstance(node, str):
        return _clean_text(node)
    if isinstance(node, float) and not math.isfinite(node):
        return repr(node)  # "nan", "inf"
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return node if node.bit_length() < 1024 else f"<integer of {node.bit_length()} bits>"
    if isinstance(node, float):
        return node
    return f"<{type(node).__name__}>"


def _clean_text(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def redact(value: Any, secret_fields: Iterable[str] = ()) -> Any:
    """A copy of a JSON value with secret fields masked and long strings summarised."""
    secrets = frozenset(secret_fields)

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: (redact_key(v) if k in secrets else walk(v)) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, str) and len(node) > LONG_STRING:
            kind = "image" if node.startswith("data:image/") else "text"
            return f"<{kind}: {len(node)} chars redacted>"
        return node

    return walk(value)


def redact_headers(headers: Mapping[str, str], extra: Iterable[str] = ()) -> dict[str, str]:
    """Headers with API keys masked: the usual ones, and ``extra`` (a spec's apiKey headers)."""
    secret = SECRET_HEADERS | {e.lower() for e in extra} if extra else SECRET_HEADERS
    out = {name.lower(): value for name, value in headers.items()}
    for name in secret.intersection(out):  # usually none: one set operation
        scheme, _, token = out[name].partition(" ")
        out[name] = f"{scheme} {redact_key(token)}" if token else (redact_key(out[name]) or "")
    return out


def summarise_body(body: Any, encoded: bytes, secret_fields: Iterable[str] = ()) -> Any:
    """``body`` as the journal keeps it. ``encoded`` is its wire form: when no run between two
    quotes is longer than a kept string (the common case), no walk over the value is needed."""
    if isinstance(body, bytes | bytearray):
        return f"<{len(body)} bytes>"
    if len(encoded) > LONG_STRING and _LONG_RUN.search(encoded) is not None:
        return redact(body, secret_fields)
    if isinstance(body, dict):
        secrets = [k for k in secret_fields if k in body]
        if secrets:
            return {**body, **{k: redact_key(body[k]) for k in secrets}}
    return body


def timestamp(ts: float) -> str:
    """RFC 3339 UTC with milliseconds (``runtime.iso``), with the date and time of day formatted
    once a second instead of once an entry."""
    fraction, whole = math.modf(ts)  # rounded as datetime.fromtimestamp rounds
    second, micro = divmod(int(whole) * 1_000_000 + round(fraction * 1_000_000), 1_000_000)
    if _second[0] != second:
        _second[:] = [second, datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")]
    return f"{_second[1]}.{micro // 1000:03d}Z"


_second: list[Any] = [None, ""]


def matches(entry: Mapping[str, Any], filters: Mapping[str, str | None]) -> bool:
    return all(v is None or str(entry.get(k)) == v for k, v in filters.items())
