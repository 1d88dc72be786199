"""Finding, parsing and caching the bundled OpenAPI documents."""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import msgspec

from headshot_mock.specs.errors import InvalidSpec, UnknownOperation, UnknownProvider

_HERE = Path(__file__).resolve().parent
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")

JSON = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Credential:
    """Where a provider reads the API key: a JSON body field, or an HTTP security scheme."""

    location: Literal["body", "header"]
    name: str
    """The body field (``key``, ``apiKey``) or the ``components.securitySchemes`` entry."""


@dataclass(frozen=True, slots=True)
class Operation:
    provider: str
    operation_id: str
    method: str
    """Upper case, as on the wire."""
    path: str
    """The path template relative to :attr:`server_url`, e.g. ``/v6/image_editing/fetch/{id}``."""
    server_url: str
    """The operation's server (its own ``servers`` entry, else the document's)."""
    definition: Mapping[str, Any] = field(repr=False)
    parameters: tuple[Mapping[str, Any], ...] = field(repr=False)
    """Path-item and operation parameters, ``$ref`` resolved, the operation's winning."""

    @property
    def base_path(self) -> str:
        """The path part of :attr:`server_url` (``/v1`` for ``https://api-lr.agent.ai/v1``)."""
        return urlsplit(self.server_url).path.rstrip("/")

    @property
    def links(self) -> dict[str, str]:
        """OpenAPI links of the operation's responses: link name → target operationId."""
        return {
            name: link["operationId"]
            for response in self.definition.get("responses", {}).values()
            for name, link in (response.get("links") or {}).items()
        }


@dataclass(frozen=True, slots=True)
class ProviderSpec:
    id: str
    title: str
    path: Path
    document: Mapping[str, Any] = field(repr=False)
    credential: Credential
    operations: tuple[Operation, ...] = field(repr=False)

    @property
    def server_url(self) -> str:
        return str(self.document["servers"][0]["url"])

    @property
    def base_path(self) -> str:
        """The path part of the server URL: where the provider is mounted below its id."""
        return urlsplit(self.server_url).path.rstrip("/")

    @property
    def sources(self) -> Mapping[str, str]:
        return self.document["x-provider"].get("sources", {})  # type: ignore[no-any-return]

    @property
    def openapi(self) -> Any:
        """The document as an ``openapi_core.OpenAPI`` object (built once, on first use)."""
        return _openapi(self.id)

    def operation(self, operation_id: str) -> Operation:
        for op in self.operations:
            if op.operation_id == operation_id:
                return op
        raise UnknownOperation(self.id, operation_id, (o.operation_id for o in self.operations))

    def resolve(self, node: Any) -> Any:
        return resolve(self.document, node)

    def validator(self, schema: Mapping[str, Any]) -> Any:
        """A compiled JSON Schema 2020-12 validator (``jsonschema_rs``) for a schema of this spec.

        ``$ref`` pointers into ``components`` resolve; formats (``uri``, ``date-time``) are
        checked. Compiling takes about a millisecond and validating about a microsecond, so
        compile once and keep the validator. Validators are shared: the same schema of the same
        spec compiles once per process (every app, every test's mock reuses it).

        A schema whose references can be inlined (:func:`_inlined`) is compiled with them inlined:
        jsonschema-rs then builds an invalid value's errors for about three quarters of the
        instructions (the ``$ref`` hops cost it, not the registry: the components embedded in the
        schema cost as much). The others resolve their references in a registry holding the
        spec's document.
        """
        import jsonschema_rs

        text = json.dumps(schema, sort_keys=True, default=str)
        _, registry, kept = _VALIDATORS.get(id(self)) or _VALIDATORS.setdefault(
            id(self), (self, jsonschema_rs.Registry([(self._uri, dict(self.document))]), {})
        )  # the spec is kept alive with its id
        compiled = kept.get(text)
        if compiled is None:
            try:
                inlined = _inlined(self.document, schema, ())
            except _NotInlined:
                compiled = jsonschema_rs.Draft202012Validator(
                    _absolute(schema, self._uri), validate_formats=True, registry=registry
                )
            else:
                compiled = jsonschema_rs.Draft202012Validator(inlined, validate_formats=True)
            kept[text] = compiled
        return compiled

    @property
    def _uri(self) -> str:
        return f"urn:headshot-mock:spec:{id(self)}"


_VALIDATORS: dict[int, tuple[ProviderSpec, Any, dict[str, Any]]] = {}
"""Per spec (by its id()): the spec, a ``jsonschema_rs.Registry`` holding its document, and its
compiled validators by their schema's canonical JSON. The validators share the registry: each
embedding the spec's components cost ~350 kB and 0.7 ms to compile, against ~45 kB and 0.07 ms."""


def _absolute(node: Any, uri: str) -> Any:
    """``node`` with its local ``$ref`` pointers (``#/components/...``) made to point into the spec
    document registered as ``uri`` (pointers inside that document resolve there by themselves)."""
    if isinstance(node, dict):
        return {
            k: uri + v if k == "$ref" and isinstance(v, str) and v.startswith("#") else _absolute(v, uri)
            for k, v in node.items()
        }
    if isinstance(node, list):
        return [_absolute(v, uri) for v in node]
    return node


class _NotInlined(Exception):
    """A schema whose references cannot be replaced by what they point to without changing it."""


_ANNOTATIONS = frozenset(
    {
        "description",
        "title",
        "example",
        "examples",
        "default",
        "deprecated",
        "readOnly",
        "writeOnly",
        "$comment",
    }
)
"""Keywords beside a ``$ref`` that validate nothing: inlining may drop them."""
_VALUES = frozenset({"enum", "const", "example", "examples", "default"})
"""Keywords whose values are JSON data, not schemas: copied as they are."""
_SCOPES = frozenset(
    {"$id", "$anchor", "$dynamicAnchor", "$dynamicRef", "$recursiveRef", "$defs", "definitions"}
)
"""Keywords that make a reference's meaning depend on where it stands: such a schema is not inlined."""


def _inlined(document: Mapping[str, Any], node: Any, trail: tuple[str, ...]) -> Any:
    """``node`` with every local ``$ref`` replaced by what it points to (``trail``: the references
    being inlined around it). Raises :class:`_NotInlined` where that would change the schema: a
    reference that is cyclic or not local, one beside keywords that validate (3.1 applies them
    too), or a keyword that sets a scope of its own."""
    if isinstance(node, dict):
        ref = node.get("$ref")
        if ref is not None:
            if not isinstance(ref, str) or not ref.startswith("#/") or ref in trail:
                raise _NotInlined(ref)
            if any(k != "$ref" and k not in _ANNOTATIONS and not k.startswith("x-") for k in node):
                raise _NotInlined(ref)
            try:
                target = resolve(document, {"$ref": ref})
            except InvalidSpec:
                raise _NotInlined(ref) from None
            return _inlined(document, target, (*trail, ref))
        if not _SCOPES.isdisjoint(node):
            raise _NotInlined(node)
        return {k: _inlined_keyword(document, k, v, trail) for k, v in node.items()}
    if isinstance(node, list):
        return [_inlined(document, v, trail) for v in node]
    return node


def _inlined_keyword(document: Mapping[str, Any], keyword: str, value: Any, trail: tuple[str, ...]) -> Any:
    if keyword in _VALUES:
        return value
    if keyword in _NAMED and isinstance(value, dict):  # names, not keywords: a property "$ref"
        return {name: _inlined(document, schema, trail) for name, schema in value.items()}
    return _inlined(document, value, trail)


_NAMED = frozenset({"properties", "patternProperties", "dependentSchemas"})
"""Keywords whose value maps names (any text) to schemas."""


def resolve(document: Mapping[str, Any], node: Any) -> Any:
    """Follow local ``$ref`` pointers (``#/components/...``) until ``node`` is not a reference."""
    seen: set[str] = set()
    while isinstance(node, Mapping) and "$ref" in node:
        ref = node["$ref"]
        if not isinstance(ref, str) or not ref.startswith("#/") or ref in seen:
            raise InvalidSpec(f"cannot resolve $ref {ref!r}: only acyclic local references are used")
        seen.add(ref)
        target: Any = document
        for part in ref[2:].split("/"):
            part = part.replace("~1", "/").replace("~0", "~")
            try:
                target = target[part]
            except (KeyError, TypeError):
                raise InvalidSpec(f"$ref {ref!r} points nowhere") from None
        node = target
    return node


def providers() -> tuple[str, ...]:
    """The ids of the bundled providers, sorted."""
    return tuple(sorted(_paths()))


def load(provider: str) -> ProviderSpec:
    """The parsed spec of one provider (cached: every call returns the same object), bundled
    or loaded from a user's file with :func:`specs.load_file`."""
    paths = _paths()
    if provider not in paths:
        from headshot_mock.specs import document

        user = document.registered(provider)
        if user is None:
            raise UnknownProvider(provider, paths, document.registered_ids())
        return user
    return _load(provider)


@functools.cache
def _paths() -> dict[str, Path]:
    return {p.stem: p for p in _HERE.glob("*.yaml") if not p.stem.startswith("_")}


@functools.cache
def _load(provider: str) -> ProviderSpec:
    path = _paths()[provider]
    document = _parse(path)
    meta = document.get("x-provider") or {}
    if meta.get("id") != provider:
        raise InvalidSpec(f"{path.name}: x-provider.id must be {provider!r}, got {meta.get('id')!r}")
    cred = meta.get("credential") or {}
    if cred.get("in") not in ("body", "header") or not cred.get("name"):
        raise InvalidSpec(f"{path.name}: x-provider.credential needs `in` (body|header) and `name`")
    return ProviderSpec(
        id=provider,
        title=str(meta.get("title", provider)),
        path=path,
        document=document,
        credential=Credential(location=cred["in"], name=cred["name"]),
        operations=tuple(_operations(provider, document)),
    )


def _parse(path: Path) -> Any:
    """The YAML document at ``path``, from a JSON copy in ``__pycache__`` beside it when one was
    made from the same bytes (msgspec reads it in a few milliseconds; PyYAML's constructor takes
    15-60 ms a spec, most of a server's start). Like a ``.pyc``, the copy is written where the
    folder is writable and skipped where not, and made only when JSON holds the same value."""
    data = path.read_bytes()
    cached = path.parent / "__pycache__" / f"{path.stem}.{hashlib.sha256(data).hexdigest()[:20]}.json"
    with contextlib.suppress(OSError, msgspec.DecodeError):
        return msgspec.json.decode(cached.read_bytes())
    import yaml  # only without a valid JSON copy

    document = yaml.load(data, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    with contextlib.suppress(OSError, TypeError, ValueError):
        encoded = msgspec.json.encode(document)
        if msgspec.json.decode(encoded) == document:
            cached.parent.mkdir(exist_ok=True)
            for stale in cached.parent.glob(f"{path.stem}.*.json"):  # copies of earlier versions
                stale.unlink(missing_ok=True)
            partial = cached.with_suffix(f".{os.getpid()}.tmp")
            partial.write_bytes(encoded)
            partial.replace(cached)  # atomic: a concurrent start reads a whole copy or none
    return document


def _operations(provider: str, document: Mapping[str, Any]) -> list[Operation]:
    default_server = document["servers"][0]["url"]
    found: list[Operation] = []
    for path, item in (document.get("paths") or {}).items():
        item = resolve(document, item)
        shared = [resolve(document, p) for p in item.get("parameters", ())]
        for method in _METHODS:
            op = item.get(method)
            if op is None:
                continue
            if "operationId" not in op:
                raise InvalidSpec(f"{provider}: {method.upper()} {path} has no operationId")
            own = [resolve(document, p) for p in op.get("parameters", ())]
            keys = {(p["name"], p["in"]) for p in own}
            params = tuple([p for p in shared if (p["name"], p["in"]) not in keys] + own)
            servers = op.get("servers") or item.get("servers")
            found.append(
                Operation(
                    provider=provider,
                    operation_id=op["operationId"],
                    method=method.upper(),
                    path=path,
                    server_url=servers[0]["url"] if servers else default_server,
                    definition=op,
                    parameters=params,
                )
            )
    return found


@functools.cache
def _openapi(provider: str) -> Any:
    from openapi_core import Config, OpenAPI

    # Object-store answers (XML error documents) are plain strings to the schemas that describe them.
    def text(data: bytes) -> str:
        return data.decode("utf-8", "replace")

    text_types: dict[str, Callable[[bytes], Any]] = {"application/xml": text, "text/plain": text}
    config = Config(extra_media_type_deserializers=text_types)
    return OpenAPI.from_dict(dict(load(provider).document), config=config)
