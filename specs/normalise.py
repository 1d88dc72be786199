"""One shape for every user document: OpenAPI 3.0 schemas become 3.1 (JSON Schema 2020-12),
so the compiled validators, openapi-core and the generator read a single dialect.

- ``nullable: true`` → ``"null"`` added to ``type`` (or to ``enum``; ``anyOf`` with null when
  the schema has no type), boolean ``exclusiveMinimum``/``exclusiveMaximum`` → numbers;
- no ``servers`` → ``/``; server variables → their defaults; relative server URLs are on
  ``http://localhost`` (the path is what the mock mounts); an operation without
  ``operationId`` gets ``<method>_<path>``; a media type's single ``example`` becomes a named
  example (``success`` for 2xx, the shared scenario name of the status otherwise);
- :func:`view` drops ``readOnly`` properties from what a request must send and ``writeOnly``
  ones from what a response must hold.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Mapping
from typing import Any

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
_SCHEMA_MAPS = ("properties", "patternProperties", "$defs", "definitions", "dependentSchemas")
_SCHEMA_LISTS = ("allOf", "oneOf", "anyOf", "prefixItems")
_SCHEMA_ONE = (
    "items", "additionalProperties", "not", "contains", "propertyNames", "if", "then", "else",
    "unevaluatedProperties", "unevaluatedItems", "additionalItems",
)  # fmt: skip
_DATA_KEYS = frozenset({"example", "examples", "value", "default", "enum", "const", "x-examples"})

STATUS_SCENARIOS = {
    400: "invalid_request",
    401: "unauthorized",
    402: "insufficient_credits",
    403: "forbidden",
    404: "not_found",
    409: "conflict",
    422: "validation_error",
    429: "rate_limited",
}


def status_scenario(status: int) -> str:
    """The shared scenario name of a status: ``success`` for 2xx, ``not_found`` for 404, …"""
    if 200 <= status < 300:
        return "success"
    if status >= 500:
        return "server_error" if status == 500 else f"status_{status}"
    return STATUS_SCENARIOS.get(status, f"status_{status}")


def schema_30_to_31(schema: Any) -> Any:
    """A 3.0 Schema Object as JSON Schema 2020-12 (a new object; the input is left alone)."""
    if not isinstance(schema, Mapping):
        return schema
    out = dict(schema.items())
    for key in _SCHEMA_MAPS:
        if isinstance(out.get(key), Mapping):
            out[key] = {name: schema_30_to_31(s) for name, s in out[key].items()}
    for key in _SCHEMA_LISTS:
        if isinstance(out.get(key), list):
            out[key] = [schema_30_to_31(s) for s in out[key]]
    for key in _SCHEMA_ONE:
        if isinstance(out.get(key), Mapping):
            out[key] = schema_30_to_31(out[key])
    for bound, edge in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        if isinstance(out.get(bound), bool) and out.pop(bound) and edge in out:
            out[bound] = out.pop(edge)
    if out.pop("nullable", False) is True:
        kind = out.get("type")
        if isinstance(kind, str):
            out["type"] = [kind, "null"]
        elif isinstance(kind, list) and "null" not in kind:
            out["type"] = [*kind, "null"]
        elif kind is None and "$ref" not in out and not any(k in out for k in _SCHEMA_LISTS):
            pass  # no type: null is already allowed
        else:
            inner = {k: v for k, v in out.items() if k not in ("description", "title", "default")}
            out = {k: v for k, v in out.items() if k in ("description", "title", "default")}
            out["anyOf"] = [inner, {"type": "null"}]
        if isinstance(out.get("enum"), list) and None not in out["enum"]:
            out["enum"] = [*out["enum"], None]
    return out


def _schemas_in(node: Any, convert: Callable[[Any], Any]) -> Any:
    """Apply ``convert`` to every Schema Object of a document part (not inside example data)."""
    if isinstance(node, list):
        return [_schemas_in(v, convert) for v in node]
    if not isinstance(node, Mapping):
        return node
    out: dict[str, Any] = {}
    for key, value in node.items():
        if key in _DATA_KEYS:
            out[key] = value
        elif key in ("schema", "x-accepted-schema") and isinstance(value, Mapping):
            out[key] = convert(value)
        elif key == "schemas" and isinstance(value, Mapping):
            out[key] = {name: convert(s) for name, s in value.items()}
        else:
            out[key] = _schemas_in(value, convert)
    return out


def _server(url: str, variables: Mapping[str, Any] | None) -> str:
    """The URL with its variables' defaults; a relative URL (``/v1``) on ``http://localhost``."""
    for name, var in (variables or {}).items():
        url = url.replace(f"{{{name}}}", str(var.get("default", "")))
    if "://" not in url:
        url = "http://localhost" + ("/" + url.lstrip("./") if url.strip("./") else "")
    return url


def _servers(node: dict[str, Any]) -> None:
    if isinstance(node.get("servers"), list):
        node["servers"] = [
            {**s, "url": _server(str(s.get("url", "/")), s.get("variables"))} for s in node["servers"]
        ]


def _operation_id(method: str, path: str, taken: set[str]) -> str:
    base = f"{method}_{re.sub(r'[^A-Za-z0-9]+', '_', path).strip('_')}".rstrip("_") or method
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}_{n}"
    taken.add(name)
    return name


def document(source: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The served form of a valid user document, and notes on what was filled in."""
    doc: dict[str, Any] = copy.deepcopy(dict(source))
    notes: list[str] = []
    original = str(doc.get("openapi", ""))
    if original.startswith("3.0"):
        doc = _schemas_in(doc, schema_30_to_31)
        doc["openapi"] = "3.1.0"
        doc["x-headshot-openapi"] = original
    if not doc.get("servers"):
        doc["servers"] = [{"url": "/"}]
    _servers(doc)
    taken = {
        op["operationId"]
        for item in (doc.get("paths") or {}).values()
        if isinstance(item, Mapping)
        for m in METHODS
        if isinstance(op := item.get(m), Mapping) and "operationId" in op
    }
    for path, item in (doc.get("paths") or {}).items():
        if not isinstance(item, dict) or "$ref" in item:
            continue
        _servers(item)
        for method in METHODS:
            op = item.get(method)
            if not isinstance(op, dict):
                continue
            _servers(op)
            if "operationId" not in op:
                op["operationId"] = _operation_id(method, path, taken)
                notes.append(f"{method.upper()} {path} has no operationId: it is called {op['operationId']}")
            for status, response in (op.get("responses") or {}).items():
                if isinstance(response, dict):
                    _name_examples(response, status)
    for _name, response in ((doc.get("components") or {}).get("responses") or {}).items():
        if isinstance(response, dict):
            _name_examples(response, "default")
    return doc, notes


def _name_examples(response: dict[str, Any], status: Any) -> None:
    code = int(status) if str(status).isdigit() else (200 if str(status).startswith("2") else 500)
    for media in (response.get("content") or {}).values():
        if isinstance(media, dict) and "example" in media and not media.get("examples"):
            media["examples"] = {status_scenario(code): {"value": media.pop("example")}}


_INT_RANGES = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


def view(schema: Any, hidden: str, resolve: Callable[[Any], Any], depth: int = 0) -> Any:
    """``schema`` without the requirement to carry ``hidden`` (``readOnly``/``writeOnly``)
    properties: what a request (``readOnly`` hidden) or a response (``writeOnly``) must hold."""
    if not isinstance(schema, Mapping) or depth > 64:
        return schema
    out = dict(schema)
    if out.get("format") in _INT_RANGES and out.get("type") in ("integer", ["integer", "null"]):
        low, high = _INT_RANGES[out["format"]]  # what the format promises, checked as bounds
        out.setdefault("minimum", low)
        out.setdefault("maximum", high)
    props = out.get("properties")
    if isinstance(props, Mapping):
        out["properties"] = {k: view(v, hidden, resolve, depth + 1) for k, v in props.items()}
        gone = {k for k, v in props.items() if isinstance(v, Mapping) and resolve(v).get(hidden) is True}
        if gone and isinstance(out.get("required"), list):
            out["required"] = [r for r in out["required"] if r not in gone]
    for key in _SCHEMA_LISTS:
        if isinstance(out.get(key), list):
            out[key] = [view(s, hidden, resolve, depth + 1) for s in out[key]]
    for key in ("items", "additionalProperties", "not"):
        if isinstance(out.get(key), Mapping):
            out[key] = view(out[key], hidden, resolve, depth + 1)
    return out
