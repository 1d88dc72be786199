"""A user's own OpenAPI document as a :class:`~specs.ProviderSpec`: served, validated and
checked like a bundled provider.

    >>> from headshot_mock import specs
    >>> spec = specs.load_file("tests/fixtures/openapi/v3.0-petstore.yaml")
    >>> spec.id, [op.operation_id for op in spec.operations]
    ('swagger-petstore', ['listPets', 'createPets', 'showPetById'])

The id is the one given (``load_file(path, id="pets")``), else ``x-provider.id``, else a slug of
``info.title``. A loaded file is registered, so :func:`specs.load` finds it by id. A document
that is not valid OpenAPI 3.0/3.1 raises :class:`SpecFileError` naming the file, the JSON
pointer and the problem; :attr:`UserSpec.notes` lists what the mock fills in or leaves out.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from headshot_mock.specs import bundle, normalise
from headshot_mock.specs._loader import Credential, ProviderSpec, _operations, resolve
from headshot_mock.specs.errors import InvalidSpec, SpecFileError

_REGISTRY: dict[str, UserSpec] = {}
_LOCK = threading.Lock()
_ID = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True, slots=True)
class UserSpec(ProviderSpec):
    """A spec read from a user's file (see the module docstring)."""

    files: tuple[Path, ...] = ()
    """Every file the document was read from (the root first): what ``--watch`` watches."""
    notes: tuple[str, ...] = ()
    """What the mock filled in or does not support in this document, said at start."""
    version: str = "3.1.0"
    """The ``openapi`` version the file declares."""
    _cache: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def server_url(self) -> str:
        return str(self.document["servers"][0]["url"])

    @property
    def sources(self) -> Mapping[str, str]:
        return {"document": str(self.path)}

    @property
    def openapi(self) -> Any:
        if "openapi" not in self._cache:
            from openapi_core import OpenAPI

            self._cache["openapi"] = OpenAPI.from_dict(dict(self.document))
        return self._cache["openapi"]

    def view(self, schema: Any, direction: str) -> Any:
        """``schema`` as a ``request`` (readOnly properties not required) or a ``response``
        (writeOnly ones not required) must satisfy it."""
        hidden = "readOnly" if direction == "request" else "writeOnly"
        return normalise.view(schema, hidden, self.resolve)

    def components(self, direction: str) -> Any:
        key = f"components:{direction}"
        if key not in self._cache:
            comps = dict(self.document.get("components") or {})
            comps["schemas"] = {
                name: self.view(s, direction) for name, s in (comps.get("schemas") or {}).items()
            }
            self._cache[key] = comps
        return self._cache[key]

    def validator(self, schema: Mapping[str, Any], direction: str = "request") -> Any:
        import jsonschema_rs

        root = {**self.view(schema, direction), "components": self.components(direction)}
        return jsonschema_rs.Draft202012Validator(root, validate_formats=True)


def slug(text: str) -> str:
    """``Swagger Petstore`` → ``swagger-petstore``."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "api"


def parse_entry(entry: str) -> tuple[str | None, str]:
    """``FILE`` or ``ID=FILE`` (what ``--spec`` and the config's ``specs:`` take)."""
    name, sep, path = entry.partition("=")
    if sep and _ID.match(name) and not Path(entry).exists():
        return name, path
    return None, entry


def load_file(path: str | Path, id: str | None = None) -> UserSpec:
    """Read, check and register a user's OpenAPI document (cached while its files are unchanged)."""
    file = Path(path).expanduser().resolve()
    if not file.is_file():
        raise SpecFileError(file, "", "no such file (give the path of an OpenAPI 3.0 or 3.1 document)")
    key = (file, id)
    with _LOCK:
        hit = _CACHE.get(key)
    if hit is None or stamp(hit[1].files) != hit[0]:
        spec = _read(file, id)
        with _LOCK:
            _CACHE[key] = (stamp(spec.files), spec)
    else:
        spec = hit[1]
    register(spec)
    return spec


def register(spec: UserSpec) -> None:
    from headshot_mock.specs._loader import providers

    if spec.id in providers():
        raise SpecFileError(
            spec.path, "/x-provider/id", f"{spec.id!r} is a bundled provider; choose another id with ID=FILE"
        )
    with _LOCK:
        _REGISTRY[spec.id] = spec


def registered(provider: str) -> UserSpec | None:
    return _REGISTRY.get(provider)


def registered_ids() -> tuple[str, ...]:
    return tuple(sorted(_REGISTRY))


_CACHE: dict[tuple[Path, str | None], tuple[tuple[tuple[int, int], ...], UserSpec]] = {}


def stamp(files: tuple[Path, ...]) -> tuple[tuple[int, int], ...]:
    """What changes when a file is edited (modification time, size)."""
    out = []
    for f in files:
        try:
            st = f.stat()
            out.append((st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((0, 0))
    return tuple(out)


def _read(file: Path, given: str | None) -> UserSpec:
    source, files = bundle.bundle(file)
    version = str(source.get("openapi", source.get("swagger", "")))
    if "swagger" in source or not version.startswith(("3.0", "3.1")):
        raise SpecFileError(
            file,
            "/openapi",
            f"declares OpenAPI {version or '(no version)'}; only 3.0 and 3.1 are served "
            "(convert a Swagger 2.0 document first, e.g. with swagger2openapi)",
        )
    _check(file, source, version)
    document, notes = normalise.document(source)
    meta = document.get("x-provider") or {}
    ident = given or meta.get("id") or slug(str((document.get("info") or {}).get("title", file.stem)))
    if not _ID.match(ident):
        raise SpecFileError(
            file, "/x-provider/id", f"id {ident!r} must be lower case letters, digits, - or _"
        )
    try:
        operations = tuple(_operations(ident, document))
    except InvalidSpec as exc:
        raise SpecFileError(file, "/paths", str(exc)) from None
    return UserSpec(
        id=ident,
        title=str(meta.get("title") or (document.get("info") or {}).get("title") or ident),
        path=file,
        document=document,
        credential=_credential(document),
        operations=operations,
        files=files,
        notes=tuple(notes + _unsupported(document)),
        version=version,
    )


def _check(file: Path, document: Mapping[str, Any], version: str) -> None:
    from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator

    cls = OpenAPIV30SpecValidator if version.startswith("3.0") else OpenAPIV31SpecValidator
    errors = list(cls(document).iter_errors())
    if not errors:
        return
    first = errors[0]
    context = getattr(first, "context", None) or []
    deepest = max(context, key=lambda e: len(list(e.absolute_path)), default=None)
    chosen = deepest if deepest is not None and list(deepest.absolute_path) else first
    message = str(chosen.message).splitlines()[0]
    where = bundle.pointer(chosen.absolute_path) or _pointer_in(message, document)
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    raise SpecFileError(file, where, f"is not valid OpenAPI {version}: {message}{more}")


def _pointer_in(message: str, document: Mapping[str, Any]) -> str:
    """Where a message without a path (``... for 'post' operation in '/pets/{id}' ...``) points."""
    paths = document.get("paths") or {}
    quoted = re.findall(r"'([^']*)'", message)
    path = next((q for q in quoted if q in paths), None)
    if path is None:
        return "/"
    method = next((q for q in quoted if q in normalise.METHODS), None)
    return bundle.pointer(["paths", path, *([method] if method else [])])


def _credential(document: Mapping[str, Any]) -> Credential:
    """The security scheme the mock reads the key from: the document's first requirement,
    else the first one an operation names; none when nothing is secured."""
    wanted = [*document.get("security", [])]
    for item in (document.get("paths") or {}).values():
        for method in normalise.METHODS:
            op = item.get(method) if isinstance(item, Mapping) else None
            if isinstance(op, Mapping):
                wanted.extend(op.get("security", []))
    for requirement in wanted:
        for name in requirement:
            return Credential(location="header", name=name)
    return Credential(location="header", name="")


def _unsupported(document: Mapping[str, Any]) -> list[str]:
    """What the mock does not do with this document (said at start, never a 500)."""
    notes: list[str] = []
    schemes = (document.get("components") or {}).get("securitySchemes") or {}
    cred = _credential(document)
    for name, scheme in schemes.items():
        scheme = resolve(document, scheme)
        if scheme.get("type") == "apiKey" and scheme.get("in") == "cookie":
            notes.append(f"security scheme {name}: an API key in a cookie is not checked")
        if cred.name and name != cred.name and scheme.get("type") in ("apiKey", "http"):
            notes.append(f"security scheme {name}: only {cred.name} is checked for a missing key")
    for path, item in (document.get("paths") or {}).items():
        item = resolve(document, item)
        for method in normalise.METHODS:
            op = item.get(method)
            if not isinstance(op, Mapping):
                continue
            where = f"{method.upper()} {path}"
            for p in [*item.get("parameters", ()), *op.get("parameters", ())]:
                p = resolve(document, p)
                if p.get("style") == "deepObject" or (p.get("in") == "query" and "content" in p):
                    style = p.get("style", "content")
                    notes.append(f"{where}: query parameter {p.get('name')} ({style}) is not validated")
                if p.get("in") == "path" and not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", str(p.get("name"))):
                    notes.append(f"{where}: path parameter {p.get('name')!r} is matched but not validated")
            body = resolve(document, op.get("requestBody") or {})
            for media in body.get("content") or {}:
                if not _checked_media(media):
                    notes.append(f"{where}: request bodies of type {media} are accepted unchecked")
            if not op.get("responses"):
                notes.append(f"{where} declares no responses: the mock answers 204 with no body")
            for status, response in (op.get("responses") or {}).items():
                response = resolve(document, response)
                for spec in (response.get("content") or {}).values():
                    for ex_name, ex in (spec.get("examples") or {}).items():
                        if "externalValue" in resolve(document, ex):
                            notes.append(
                                f"{where} {status}: example {ex_name} is an externalValue; "
                                "the answer is generated from the schema"
                            )
    if document.get("webhooks"):
        notes.append(f"webhooks ({', '.join(document['webhooks'])}) are documented but not sent")
    return notes


def _checked_media(media: str) -> bool:
    media = media.split(";", 1)[0].strip().lower()
    return (
        media in ("application/json", "application/x-www-form-urlencoded", "multipart/form-data")
        or media.endswith("+json")
        or media in ("application/octet-stream", "*/*")
        or media.startswith(("image/", "text/"))
    )
