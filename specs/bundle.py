"""Reading a user's OpenAPI file (YAML or JSON) into one document: ``$ref`` pointers into other
files (relative paths, with or without a fragment) are inlined, so that everything downstream
(validators, openapi-core, the generator) sees a single document with local references only.

A reference cycle through other files (a recursive schema kept in ``schemas/Node.yaml``) is
hoisted into ``components.schemas`` under a generated name, and referenced locally.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote

from headshot_mock.specs.errors import SpecFileError


def read(path: Path) -> Any:
    """One YAML or JSON file, parsed; a clear error naming the file when it cannot be."""
    try:
        text = path.read_bytes()
    except OSError as exc:
        raise SpecFileError(path, "", f"cannot be read: {exc.strerror}") from None
    import yaml  # on first use: a server on the bundled specs never needs it

    try:
        if path.suffix.lower() == ".json":
            return json.loads(text)
        return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except (ValueError, yaml.YAMLError) as exc:
        kind = "JSON" if path.suffix.lower() == ".json" else "YAML"
        raise SpecFileError(path, "", f"is not valid {kind}: {exc}") from None


def pointer(parts: Any) -> str:
    """A JSON pointer (RFC 6901) from path parts."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def follow(document: Any, fragment: str, file: Path) -> Any:
    """The node a ``#/a/b`` fragment points at in ``document``."""
    node = document
    if fragment in ("", "/"):
        return node
    for raw in fragment.lstrip("/").split("/"):
        part = unquote(raw).replace("~1", "/").replace("~0", "~")
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError):
            raise SpecFileError(file, fragment, "this $ref target does not exist") from None
    return node


class _Bundler:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.files: dict[Path, Any] = {root: read(root)}
        self.hoisted: dict[tuple[Path, str], str] = {}
        self.schemas: dict[str, Any] = {}
        doc = self.files[root]
        components = doc.get("components") if isinstance(doc, Mapping) else None
        self.taken = (
            set((components or {}).get("schemas") or {}) if isinstance(components, Mapping) else set()
        )

    def document(self, path: Path) -> Any:
        if path not in self.files:
            self.files[path] = read(path)
        return self.files[path]

    def walk(self, node: Any, base: Path, at: tuple[Any, ...], stack: tuple[tuple[Path, str], ...]) -> Any:
        if isinstance(node, list):
            return [self.walk(v, base, (*at, i), stack) for i, v in enumerate(node)]
        if not isinstance(node, Mapping):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str):
            return self.reference(node, ref, base, at, stack)
        return {k: self.walk(v, base, (*at, k), stack) for k, v in node.items()}

    def reference(
        self,
        node: Mapping[str, Any],
        ref: str,
        base: Path,
        at: tuple[Any, ...],
        stack: tuple[tuple[Path, str], ...],
    ) -> Any:
        target, _, fragment = ref.partition("#")
        if "://" in target:
            raise SpecFileError(
                base,
                pointer(at),
                f"$ref {ref!r} is remote: download it next to the spec and use a relative path",
            )
        file = (base.parent / unquote(target)).resolve() if target else base
        siblings = {k: self.walk(v, base, (*at, k), stack) for k, v in node.items() if k != "$ref"}
        if file == self.root:
            follow(self.files[self.root], fragment, file)  # fail early on a dangling local ref
            return {"$ref": f"#{fragment}", **siblings}
        key = (file, fragment)
        if key in stack:
            taken = {*self.hoisted.values(), *self.taken}
            name = self.hoisted.setdefault(key, _name(file, fragment, taken))
            return {"$ref": f"#/components/schemas/{name}", **siblings}
        if not file.is_file():
            raise SpecFileError(base, pointer(at), f"$ref {ref!r}: no file {str(file)!r}")
        content = copy.deepcopy(follow(self.document(file), fragment, file))
        result = self.walk(content, file, (), (*stack, key))
        if key in self.hoisted:
            self.schemas[self.hoisted[key]] = result
            return {"$ref": f"#/components/schemas/{self.hoisted[key]}", **siblings}
        if siblings and isinstance(result, dict):
            return {**result, **siblings}
        return result


def _name(file: Path, fragment: str, taken: set[str]) -> str:
    base = (fragment.rstrip("/").rsplit("/", 1)[-1] or file.stem).replace(".", "_") or "Schema"
    name, n = base, 1
    while name in taken:
        n += 1
        name = f"{base}{n}"
    return name


def bundle(path: Path) -> tuple[dict[str, Any], tuple[Path, ...]]:
    """The document at ``path`` with every cross-file ``$ref`` inlined, and the files it read."""
    root = path.resolve()
    bundler = _Bundler(root)
    document = bundler.files[root]
    if not isinstance(document, Mapping):
        raise SpecFileError(
            root, "", f"must hold an OpenAPI document (a mapping), got {type(document).__name__}"
        )
    result: dict[str, Any] = bundler.walk(document, root, (), ())
    if bundler.schemas:
        schemas = result.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in bundler.schemas.items():
            schemas.setdefault(name, schema)
    return result, tuple(bundler.files)
