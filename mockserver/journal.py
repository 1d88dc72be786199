"""What the journal records of each request, with secrets and image payloads redacted.

Entries are plain dicts (any store can keep them). Redaction happens when the entry is made,
so neither memory nor a shared store ever holds a real API key or a megabyte of base64.

Each entry is also bounded in bytes (``journal_entry_bytes``, default 64 KiB): its headers,
request body and response body get a quarter of the budget each. A header value, a header
list or a body larger than its share is cut where it is recorded, and the cut says how much is
missing: ``{"a": [1, 2, …[cut 1.2 MB]``. The answer the client gets is never cut.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from headshot_mock.mockserver.scenarios import KEY_PREFIX

REDACTED = "***"
LONG_STRING = 256
"""Strings longer than this (base64 images, photos_json) are replaced by a note of their size."""
SECRET_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "key", "cookie"})
ENTRY_BYTES = 64 * 1024
"""The default per-entry budget (``MockConfig.journal_entry_bytes``)."""
CUT_HEADERS = "…"
"""The header name under which a cut header list says how many headers were left out."""


def cut_marker(missing: int) -> str:
    """``…[cut 1.2 MB]``: how much of a recorded value was left out."""
    size: float = missing
    for unit in ("B", "kB", "MB"):
        if size < 1000 or unit == "MB":
            number = f"{size:.0f}" if unit == "B" else f"{size:.1f}"
            return f"…[cut {number} {unit}]"
        size /= 1000
    raise AssertionError("unreachable")  # pragma: no cover


def cut_text(text: str, limit: int) -> str:
    """``text`` itself when it is at most ``limit`` characters, else its head and a cut marker."""
    if len(text) <= limit:
        return text
    head = text[: max(0, limit - 16)]
    return head + cut_marker(len(text) - len(head))


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


def redact_headers(headers: Mapping[str, str], budget: int = ENTRY_BYTES) -> dict[str, str]:
    """Headers with secrets masked, within a quarter of ``budget`` bytes (cut with a marker)."""
    share = budget // 4
    out: dict[str, str] = {}
    used = 0
    items = list(headers.items())
    for i, (name, value) in enumerate(items):
        if name.lower() in SECRET_HEADERS:
            scheme, _, token = value.partition(" ")
            value = f"{scheme} {redact_key(token)}" if token else (redact_key(value) or "")
        size = len(name) + len(value)
        if used + size > share:
            room = share - used - len(name)
            if room > 64:  # the first header that does not fit is kept in part
                out[name.lower()] = cut_text(value, room)
                i += 1
            rest = items[i:]
            if rest:
                missing = sum(len(n) + len(v) for n, v in rest)
                out[CUT_HEADERS] = f"{len(rest)} more headers{cut_marker(missing)}"
            break
        out[name.lower()] = value
        used += size
    return out


def summarise_body(
    body: Any, encoded: bytes, secret_fields: Iterable[str] = (), budget: int = ENTRY_BYTES
) -> Any:
    """``body`` as the journal keeps it. ``encoded`` is its wire form: when no run between two
    quotes is longer than a kept string (the common case), no walk over the value is needed.
    A body still over a quarter of ``budget`` once redacted is kept as the head of its
    redacted JSON text and a cut marker."""
    if isinstance(body, bytes | bytearray):
        return f"<{len(body)} bytes>"
    if len(encoded) > LONG_STRING and max(map(len, encoded.split(b'"'))) > LONG_STRING:
        kept = redact(body, secret_fields)
    elif isinstance(body, dict) and any(isinstance(body.get(k), str) for k in secret_fields):
        kept = {**body, **{k: redact_key(body[k]) for k in secret_fields if isinstance(body.get(k), str)}}
    else:
        kept = body
    if len(encoded) > budget // 4:
        text = json.dumps(kept)  # ASCII: a cut never splits a character
        if len(text) > budget // 4:
            return cut_text(text, budget // 4)
    return kept


def bounded_findings(findings: list[dict[str, Any]], budget: int = ENTRY_BYTES) -> list[dict[str, Any]]:
    """The findings that fit in an eighth of ``budget``; a last one says how many were cut."""
    share, used = budget // 8, 0
    for i, finding in enumerate(findings):
        used += sum(len(str(v)) for v in finding.values())
        if used > share:
            cut = {"location": "journal", "field": "", "message": f"…[cut {len(findings) - i} more findings]"}
            return [*findings[:i], {**findings[i], **cut}]
    return findings


def matches(entry: Mapping[str, Any], filters: Mapping[str, str | None]) -> bool:
    return all(v is None or str(entry.get(k)) == v for k, v in filters.items())
