"""Form bodies (``application/x-www-form-urlencoded``, ``multipart/form-data``) as the values
their schema describes, so they are validated like JSON ones.

Fields arrive as text: a field the schema calls an integer, number, boolean or array is turned
into one where the text allows (an array from repeated fields); a file part becomes its file
name (or ``<n bytes>``), checked as the ``string`` a ``format: binary`` schema describes.
"""

from __future__ import annotations

import email.parser
import email.policy
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import parse_qsl

FORM = "application/x-www-form-urlencoded"
MULTIPART = "multipart/form-data"
FORMS = (FORM, MULTIPART)


class FormBody(dict[str, Any]):
    """A parsed form: the fields, and which of the operation's media types it was sent as."""

    def __init__(self, fields: Mapping[str, Any], media_type: str) -> None:
        super().__init__(fields)
        self.media_type = media_type


def media_of(content_type: str) -> str:
    return content_type.split(";", 1)[0].strip().lower()


def parse(
    raw: bytes, content_type: str, schema: Mapping[str, Any], resolve: Callable[[Any], Any]
) -> FormBody | None:
    """The form fields shaped by ``schema``; None when the body is not a form of that type."""
    media = media_of(content_type)
    if media == FORM:
        pairs = [(k, v) for k, v in parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)]
    elif media == MULTIPART:
        parts = _multipart(raw, content_type)
        if parts is None:
            return None
        pairs = parts
    else:
        return None
    props = (resolve(schema) or {}).get("properties") or {}
    fields: dict[str, Any] = {}
    for name, value in pairs:
        prop = resolve(props.get(name) or {})
        if _kind(prop) == "array":
            fields.setdefault(name, []).append(_coerce(value, _kind(resolve(prop.get("items") or {}))))
        else:
            fields[name] = _coerce(value, _kind(prop))
    return FormBody(fields, media)


def _multipart(raw: bytes, content_type: str) -> list[tuple[str, str]] | None:
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + raw)
    if not message.is_multipart():
        return None
    pairs: list[tuple[str, str]] = []
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        data = payload if isinstance(payload, bytes) else b""
        filename = part.get_filename()
        if filename is not None:
            pairs.append((name, filename or f"<{len(data)} bytes>"))
        else:
            pairs.append((name, data.decode(part.get_content_charset() or "utf-8", "replace")))
    return pairs


def _kind(schema: Any) -> str | None:
    kind = schema.get("type") if isinstance(schema, Mapping) else None
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    return kind if isinstance(kind, str) else None


def _coerce(text: str, kind: str | None) -> Any:
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text)
    except ValueError:
        return text
    if kind == "boolean" and text in ("true", "false"):
        return text == "true"
    return text
