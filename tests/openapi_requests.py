"""Valid requests for any operation of a served spec, built from its schemas (the tests' side
of the generator): path, query and header parameters, and a JSON or form body."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from headshot_mock import specs
from headshot_mock.mockserver.generate import Generator


def request_for(spec: specs.ProviderSpec, op: specs.Operation, seed: int = 0) -> dict[str, Any]:
    """``method``, ``url`` (below the provider's mount), ``headers``, ``content`` of a valid call."""
    gen = Generator(spec.resolve, hidden="readOnly")
    path = op.base_path + op.path
    query: list[tuple[str, str]] = []
    headers: dict[str, str] = {}
    for p in op.parameters:
        schema = p.get("schema") or {"type": "string"}
        if not p.get("required", p["in"] == "path"):
            continue
        value = gen.generate(schema, spec.validator(schema), seed, op.operation_id, p["name"])
        if p["in"] == "path":
            path = path.replace("{" + p["name"] + "}", quote(_text(value), safe=""))
        elif p["in"] == "query":
            values = value if isinstance(value, list) else [value]
            query.extend((p["name"], _text(v)) for v in values)
        elif p["in"] == "header":
            headers[p["name"]] = ",".join(map(_text, value)) if isinstance(value, list) else _text(value)
    content = b""
    body = spec.resolve(op.definition.get("requestBody") or {})
    media_types = list(body.get("content") or {})
    if media_types:
        media = next((m for m in media_types if "json" in m), media_types[0])
        schema = spec.resolve(body["content"][media]).get("schema") or {}
        value = gen.generate(schema, _request_validator(spec, schema), seed, op.operation_id, "body")
        headers["content-type"] = media
        if "json" in media:
            content = json.dumps(value).encode()
        elif media == "application/x-www-form-urlencoded":
            from urllib.parse import urlencode

            content = urlencode(value, doseq=True).encode()
        else:
            content = value.encode() if isinstance(value, str) else json.dumps(value).encode()
    scheme = spec.credential.name
    if scheme:
        definition = spec.resolve(spec.document["components"]["securitySchemes"][scheme])
        if definition.get("type") == "apiKey" and definition.get("in") == "header":
            headers[definition["name"]] = "test-key"
        elif definition.get("type") == "apiKey" and definition.get("in") == "query":
            query.append((definition["name"], "test-key"))
        elif definition.get("scheme", "bearer").lower() == "basic":
            headers["authorization"] = "Basic dGVzdDp0ZXN0"
        else:
            headers["authorization"] = "Bearer test-key"
    from urllib.parse import urlencode

    url = path + ("?" + urlencode(query) if query else "")
    return {"method": op.method, "url": url, "headers": headers, "content": content}


def _request_validator(spec: specs.ProviderSpec, schema: Any) -> Any:
    if isinstance(spec, specs.UserSpec):
        return spec.validator(schema, "request")
    return spec.validator(schema)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return value if isinstance(value, str) else json.dumps(value)
