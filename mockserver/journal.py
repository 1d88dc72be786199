"""What the journal records of each request, with secrets and image payloads redacted.

Entries are plain dicts (any store can keep them). Redaction happens when the entry is written
out: a shared store never holds a real API key or a megabyte of base64, and no reader ever sees
one. A request's entry starts as a :class:`Draft`; the memory store writes a small one out when
it is first read (most never are), every other store at once.

Each entry is also bounded in bytes (``journal_entry_bytes``, default 64 KiB): its headers,
request body and response body get a quarter of the budget each. A header value, a header
list or a body larger than its share is cut where it is recorded, and the cut says how much is
missing: ``{"a": [1, 2, …[cut 1.2 MB]``. The answer the client gets is never cut.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
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
ENTRY_BYTES = 64 * 1024
"""The default per-entry budget (``MockConfig.journal_entry_bytes``)."""
CUT_HEADERS = "…"
"""The header name under which a cut header list says how many headers were left out."""


def cut_marker(missing: int) -> str:
    """``…[cut 1.2 MB]``: how much of a recorded value was left out."""
    size = float(missing)
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


SECRET_QUERY = frozenset(
    {
        "key",
        "api_key",
        "apikey",
        "api-key",
        "token",
        "access_token",
        "secret",
        "password",
        "signature",
        "sig",
    }
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


def redact_url(url: str) -> str:
    """A URL (a webhook target) with its secrets masked: the userinfo (``https://***@host/``),
    the values of secret query parameters (as :func:`redact_query`) and a fragment (the
    ``URL#SECRET`` form of ``--webhook``). Works on text that does not parse as a URL too."""
    rest, hash_, fragment = url.partition("#")
    rest, mark, query = rest.partition("?")
    scheme, sep, after = rest.partition("://")
    if sep:
        authority, slash, path = after.partition("/")
        if "@" in authority:
            authority = f"{REDACTED}@{authority.rpartition('@')[2]}"
        rest = f"{scheme}{sep}{authority}{slash}{path}"
    return f"{rest}{mark}{redact_query(query)}{hash_}{REDACTED if fragment else ''}"


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


def redact_headers(
    headers: Mapping[str, str], extra: Iterable[str] = (), budget: int = ENTRY_BYTES
) -> dict[str, str]:
    """Headers with API keys masked (the usual ones, and ``extra``: a spec's apiKey headers),
    within a quarter of ``budget`` bytes (cut with a marker)."""
    secret = SECRET_HEADERS | {e.lower() for e in extra}
    share = budget // 4
    out: dict[str, str] = {}
    used = 0
    items = list(headers.items())
    for i, (name, value) in enumerate(items):
        if name.lower() in secret:
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
    if len(encoded) > LONG_STRING and _LONG_RUN.search(encoded) is not None:
        kept = redact(body, secret_fields)
    elif isinstance(body, dict) and any(k in body for k in secret_fields):
        kept = {**body, **{k: redact_key(body[k]) for k in secret_fields if k in body}}
    else:
        kept = body
    if len(encoded) > budget // 4:
        try:
            text = json.dumps(kept)  # ASCII: a cut never splits a character
        except (ValueError, TypeError, RecursionError):  # what no JSON encoder takes: not kept
            return f"<{len(encoded)} bytes>{cut_marker(len(encoded))}"
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


DRAFT_BYTES = 8 * 1024
"""A draft whose bodies are larger than this is written out at once (see :class:`Draft`)."""


@dataclass(slots=True, eq=False)
class Draft:
    """A request's journal entry before it is written out: the values it is made of, as the
    request and its answer left them (never changed after the answer).

    Writing an entry out (:meth:`record`: headers and keys redacted, bodies summarised and cut
    to the budget, the sanitising check) is about an eighth of a mocked request's CPU, and most
    entries are never read. A store that keeps the journal in the serving process
    (``MemoryStore``) keeps a small draft as it is and writes it out when it is first read,
    so what any reader sees is the same redacted entry; a shared store writes it out before it
    leaves the process (:func:`written`), so no other process ever holds a real key. A draft
    with bodies larger than :data:`DRAFT_BYTES` is written out at once: a store never holds
    megabytes of base64 for an entry that keeps a line of them.
    """

    fields: Record
    """Every key of the entry in its order: the small values final (provider, operation, path,
    scenario, status, …), the others placeholders that :meth:`record` fills."""
    time: float
    query: str
    secret_query: tuple[str, ...]
    findings: list[dict[str, Any]]
    headers: Mapping[str, str]
    secret_headers: Iterable[str]
    body: Any
    malformed: bool
    """The body did not parse: the entry keeps none."""
    raw: bytes
    answer_body: Any
    content: bytes
    secret: tuple[str, ...]
    budget: int
    size: int = field(init=False)
    """The bytes it holds, about (what a store's byte limit counts until it is written out)."""

    def __post_init__(self) -> None:
        headers = sum(map(len, self.headers)) + sum(map(len, self.headers.values()))
        self.size = len(self.raw) + len(self.content) + headers + 256

    @property
    def small(self) -> bool:
        return len(self.raw) + len(self.content) <= DRAFT_BYTES

    def record(self) -> Record:
        """The entry as every reader sees it (and as a shared store keeps it). ``fields`` holds
        every key in its place; the written-out values replace the placeholders."""
        budget, secret = self.budget, self.secret
        entry = dict(self.fields)
        entry["time"] = timestamp(self.time)
        entry["query"] = cut_text(redact_query(self.query, (*secret, *self.secret_query)), budget // 8)
        entry["findings"] = bounded_findings(self.findings, budget)
        entry["request"] = {
            "headers": redact_headers(self.headers, self.secret_headers, budget),
            "body": None if self.malformed else summarise_body(self.body, self.raw, secret, budget),
        }
        entry["response"] = {"body": summarise_body(self.answer_body, self.content, secret, budget)}
        return sanitise(entry)


def written(entry: Record | Draft) -> Record:
    """``entry`` written out: a draft's record, a record itself."""
    return entry.record() if isinstance(entry, Draft) else entry
