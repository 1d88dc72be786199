"""Values generated from a JSON Schema (2020-12, the dialect every served spec is normalised
to), for operations whose spec gives no example.

Two modes, both deterministic from the seed:

- static: the schema's own ``const``, ``examples``/``example``, ``default``, first ``enum``
  value, else a typical value of its type and ``format`` (the same answer every time);
- dynamic: varied values per ``seed`` (enum members, lengths, numbers, optional properties).

Every value is checked against the schema with a compiled validator; a value that fails (a
``not``, an ``if``, a ``oneOf`` two branches satisfy) is generated again with the next
attempt's randomness, and :class:`Unsatisfiable` says why when no attempt passes.
"""

from __future__ import annotations

import base64
import hashlib
import importlib
import math
import random
import string
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["ATTEMPTS", "Generator", "Unsatisfiable", "seeded"]

ATTEMPTS = 24
_MAX_DEPTH = 8
_EPOCH = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet")
_sre: Any = importlib.import_module("re._parser")
_CATEGORIES = {
    "CATEGORY_DIGIT": string.digits,
    "CATEGORY_NOT_DIGIT": string.ascii_letters,
    "CATEGORY_SPACE": " ",
    "CATEGORY_NOT_SPACE": string.ascii_letters + string.digits,
    "CATEGORY_WORD": string.ascii_letters + string.digits + "_",
    "CATEGORY_NOT_WORD": "-.!",
}


class Unsatisfiable(Exception):
    """No value the generator tried satisfies the schema."""


def seeded(*parts: object) -> random.Random:
    """A random generator fixed by ``parts`` (the server seed, the operation, a counter)."""
    digest = hashlib.blake2b(repr(parts).encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


class Generator:
    """Builds values for the schemas of one document (``resolve`` follows its ``$ref`` s).

    ``hidden`` properties (``writeOnly`` in responses, ``readOnly`` in requests) are left out
    unless a schema requires them.
    """

    def __init__(self, resolve: Callable[[Any], Any], *, hidden: str = "writeOnly") -> None:
        self.resolve = resolve
        self.hidden = hidden

    def generate(self, schema: Any, validator: Any, *parts: object, dynamic: bool = False) -> Any:
        """A value of ``schema`` that ``validator`` accepts (``parts`` seed the randomness)."""
        last = "no attempt was made"
        for attempt in range(ATTEMPTS):
            run = _Run(self, seeded(*parts, attempt), attempt, dynamic)
            try:
                value = run.value(schema, 0)
            except Unsatisfiable as exc:
                last = str(exc)
                continue
            errors = list(validator.iter_errors(value))
            if not errors:
                return value
            last = f"{errors[0].message} (at /{'/'.join(map(str, errors[0].instance_path))})"
        raise Unsatisfiable(f"no generated value satisfies the schema after {ATTEMPTS} attempts: {last}")


class _Run:
    def __init__(self, gen: Generator, rng: random.Random, attempt: int, dynamic: bool) -> None:
        self.gen, self.rng, self.attempt, self.dynamic = gen, rng, attempt, dynamic

    def plain(self) -> bool:
        """Static mode on the first attempt: the schema's own values, no variation."""
        return not self.dynamic and self.attempt == 0

    # schemas ------------------------------------------------------------------------------------
    def flat(self, schema: Any, depth: int = 0) -> dict[str, Any]:
        """``schema`` with ``$ref`` followed and ``allOf`` merged in."""
        if schema is True or schema is None:
            return {}
        if schema is False:
            raise Unsatisfiable("the schema is `false`: nothing is valid")
        if depth > 32:
            raise Unsatisfiable("$ref chain too deep")
        out = dict(schema)
        while "$ref" in out:
            ref = out.pop("$ref")
            out = {**self.gen.resolve({"$ref": ref}), **out}
        for part in out.pop("allOf", ()):
            out = _merge(out, self.flat(part, depth + 1))
        return out

    def value(self, schema: Any, depth: int) -> Any:
        s = self.flat(schema)
        if "const" in s:
            return s["const"]
        for key in ("oneOf", "anyOf"):
            if s.get(key):
                return self.choice(s, key, depth)
        if self.plain() or (self.dynamic and self.rng.random() < 0.2):
            for key in ("examples", "example", "default"):
                if key in s and (key != "examples" or (isinstance(s[key], list) and s[key])):
                    return s[key][0] if key == "examples" else s[key]
        if isinstance(s.get("enum"), list) and s["enum"]:
            members = [m for m in s["enum"] if m is not None] or s["enum"]
            return members[0] if self.plain() else self.rng.choice(s["enum"] if self.dynamic else members)
        kind = s.get("type")
        if isinstance(kind, list):
            real = [k for k in kind if k != "null"]
            if not real or (self.dynamic and self.rng.random() < 0.1):
                return None
            kind = real[0] if self.plain() else self.rng.choice(real)
        if kind is None:
            kind = _infer(s)
        return getattr(self, f"_{kind}", self._string)(s, depth)

    def choice(self, s: dict[str, Any], key: str, depth: int) -> Any:
        branches = list(s[key])
        index = self.rng.randrange(len(branches)) if self.dynamic else self.attempt % len(branches)
        rest = {k: v for k, v in s.items() if k not in ("oneOf", "anyOf", "discriminator")}
        branch = branches[index]
        merged = _merge(rest, self.flat(branch))
        value = self.value(merged, depth)
        disc = s.get("discriminator")
        if isinstance(disc, Mapping) and isinstance(value, dict) and isinstance(branch, Mapping):
            ref = str(branch.get("$ref", ""))
            names = [k for k, v in (disc.get("mapping") or {}).items() if v == ref]
            value[disc["propertyName"]] = names[0] if names else ref.rsplit("/", 1)[-1]
        return value

    # types --------------------------------------------------------------------------------------
    def _null(self, s: dict[str, Any], depth: int) -> Any:
        return None

    def _boolean(self, s: dict[str, Any], depth: int) -> bool:
        return True if self.plain() else self.rng.random() < 0.5

    def _integer(self, s: dict[str, Any], depth: int) -> int:
        lo, hi = _window(*_bounds(s, integer=True))
        step = s.get("multipleOf")
        if isinstance(step, int) and step > 0:
            first, last = math.ceil(lo / step), math.floor(hi / step)
            if first > last:
                raise Unsatisfiable(f"no multiple of {step} between {lo} and {hi}")
            n = max(first, min(0, last)) if self.plain() else self.rng.randint(first, min(last, first + 1000))
            return int(n * step)
        if lo > hi:
            raise Unsatisfiable(f"no integer between {lo} and {hi}")
        if self.plain():
            return int(min(max(1, lo), hi))
        return self.rng.randint(int(lo), int(min(hi, lo + 10_000)))

    def _number(self, s: dict[str, Any], depth: int) -> float | int:
        step = s.get("multipleOf")
        if isinstance(step, int | float) and step > 0:
            lo, hi = _window(*_bounds(s, integer=False))
            first, last = math.ceil(lo / step), math.floor(hi / step)
            if first > last:
                raise Unsatisfiable(f"no multiple of {step} between {lo} and {hi}")
            n = max(first, min(0, last)) if self.plain() else self.rng.randint(first, min(last, first + 1000))
            value = n * step
            return int(value) if float(value).is_integer() else round(value, 10)
        lo, hi = _bounds(s, integer=False)
        if lo > hi:
            raise Unsatisfiable(f"no number between {lo} and {hi}")
        if not self.plain():
            lo, hi = _window(lo, hi)
        if self.plain():
            value = 1.5 if lo <= 1.5 <= hi else (lo if lo > 1.5 else hi)
        else:
            value = self.rng.uniform(lo, min(hi, lo + 10_000.0))
        short = round(value, 4)
        return short if lo <= short <= hi else value

    def _string(self, s: dict[str, Any], depth: int) -> str:
        fmt = str(s.get("format", ""))
        low = int(s.get("minLength", 0))
        high = int(s.get("maxLength", max(low, 24)))
        if "pattern" in s:
            text = _Regex(self.rng, self.dynamic).generate(str(s["pattern"]))
        elif fmt in _FORMATS:
            text = _FORMATS[fmt](self.rng)
        elif s.get("contentEncoding") == "base64" or fmt == "byte":
            text = base64.b64encode(b"headshot-mock").decode()
        elif self.dynamic:
            text = " ".join(self.rng.choice(_WORDS) for _ in range(self.rng.randint(1, 3)))
        else:
            text = "string"
        if len(text) < low and "pattern" not in s and fmt not in _FORMATS:
            text += "x" * (low - len(text))
        if len(text) > high and "pattern" not in s and fmt not in _FORMATS:
            text = text[:high]
        return text

    def _array(self, s: dict[str, Any], depth: int) -> list[Any]:
        low = int(s.get("minItems", 0))
        high = int(s.get("maxItems", low + 3))
        prefix = list(s.get("prefixItems") or ())
        if depth >= _MAX_DEPTH:
            count = low
        elif self.dynamic:
            count = self.rng.randint(low, max(low, min(high, low + 3)))
        else:
            count = max(low, min(1, high))
        items = s.get("items", {})
        out: list[Any] = []
        seen: set[str] = set()
        tries = 0
        while len(out) < count and tries < count * 8 + 8:
            tries += 1
            i = len(out)
            schema = prefix[i] if i < len(prefix) else items
            if schema is False:
                break
            run = (
                self
                if i == 0 and not self.dynamic
                else _Run(self.gen, self.rng, self.attempt + i + tries, True)
            )
            item = run.value(schema, depth + 1)
            key = repr(item)
            if s.get("uniqueItems") and key in seen:
                continue
            seen.add(key)
            out.append(item)
        if "contains" in s and s.get("minContains", 1) > 0 and (not out or self.dynamic):
            out.append(self.value(s["contains"], depth + 1))
            out = out[: max(high, 1)]
        return out

    def _object(self, s: dict[str, Any], depth: int) -> dict[str, Any]:
        props: Mapping[str, Any] = s.get("properties") or {}
        required = list(dict.fromkeys(s.get("required") or ()))
        for name, deps in (s.get("dependentRequired") or {}).items():
            if name in required:
                required.extend(d for d in deps if d not in required)
        optional = [
            n for n in props if n not in required and self.flat(props[n]).get(self.gen.hidden) is not True
        ]
        if depth >= _MAX_DEPTH // 2:
            optional = []
        elif self.dynamic:
            optional = [n for n in optional if self.rng.random() < 0.6]
        limit = s.get("maxProperties")
        if isinstance(limit, int):
            optional = optional[: max(0, limit - len(required))]
        out: dict[str, Any] = {}
        for name in [*required, *optional]:
            schema = props.get(name, _extra(s))
            out[name] = self.value(schema, depth + 1)
        extra = _extra(s)
        n = 0
        while len(out) < int(s.get("minProperties", 0)) and extra is not False and n < 64:
            n += 1
            out[f"key{n}"] = self.value(extra, depth + 1)
        return out


def _window(lo: float, hi: float) -> tuple[float, float]:
    """Bounds narrowed to readable numbers where the schema leaves them open."""
    if lo < -1e6:
        lo = min(0, hi - 1000) if hi < 1e6 else 0
    return lo, min(hi, lo + 1e6) if hi > 1e6 else hi


def _extra(s: Mapping[str, Any]) -> Any:
    extra = s.get("additionalProperties", s.get("unevaluatedProperties", True))
    return {} if extra is True else extra


def _infer(s: Mapping[str, Any]) -> str:
    if any(k in s for k in ("properties", "required", "additionalProperties", "minProperties")):
        return "object"
    if any(k in s for k in ("items", "prefixItems", "minItems", "maxItems")):
        return "array"
    if any(k in s for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf")):
        return "number"
    return "string"


def _bounds(s: Mapping[str, Any], *, integer: bool) -> tuple[float, float]:
    fmt = s.get("format")
    lo: float = -(2**31) if fmt == "int32" else -(2**53)
    hi: float = 2**31 - 1 if fmt == "int32" else 2**53
    if "minimum" in s:
        lo = max(lo, s["minimum"])
    if "maximum" in s:
        hi = min(hi, s["maximum"])
    if isinstance(s.get("exclusiveMinimum"), int | float):
        edge = s["exclusiveMinimum"]
        lo = max(lo, math.floor(edge) + 1 if integer else edge + abs(edge) * 1e-9 + 1e-6)
    if isinstance(s.get("exclusiveMaximum"), int | float):
        edge = s["exclusiveMaximum"]
        hi = min(hi, math.ceil(edge) - 1 if integer else edge - abs(edge) * 1e-9 - 1e-6)
    if integer:
        lo, hi = math.ceil(lo), math.floor(hi)
    return lo, hi


def _merge(a: Mapping[str, Any], b: Mapping[str, Any]) -> dict[str, Any]:
    """Two schemas both of which a value must satisfy, as one (for allOf and a chosen branch)."""
    out = dict(a)
    for key, value in b.items():
        if key not in out:
            out[key] = value
        elif key == "properties":
            props = dict(out[key])
            for name, schema in value.items():
                props[name] = {"allOf": [props[name], schema]} if name in props else schema
            out[key] = props
        elif key == "required":
            out[key] = list(dict.fromkeys([*out[key], *value]))
        elif key == "type":
            left = out[key] if isinstance(out[key], list) else [out[key]]
            right = value if isinstance(value, list) else [value]
            both = [t for t in left if t in right or (t == "integer" and "number" in right)]
            both += [t for t in right if t == "integer" and "number" in left and t not in both]
            if not both:
                raise Unsatisfiable(f"allOf asks for type {left} and {right}")
            out[key] = both if len(both) > 1 else both[0]
        elif key in ("minimum", "minLength", "minItems", "minProperties", "exclusiveMinimum"):
            out[key] = max(out[key], value)
        elif key in ("maximum", "maxLength", "maxItems", "maxProperties", "exclusiveMaximum"):
            out[key] = min(out[key], value)
        elif key in ("oneOf", "anyOf") or (key == "enum" and isinstance(value, list)):
            if key == "enum":
                out[key] = [v for v in out[key] if v in value]
            else:
                out.setdefault("allOf", []).append({key: value})
    return out


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _when(rng: random.Random) -> datetime:
    return _EPOCH + timedelta(seconds=rng.randrange(0, 86400 * 365))


_FORMATS: dict[str, Callable[[random.Random], str]] = {
    "date-time": lambda r: _when(r).isoformat().replace("+00:00", "Z"),
    "date": lambda r: _when(r).date().isoformat(),
    "time": lambda r: _when(r).time().isoformat() + "Z",
    "duration": lambda r: f"PT{r.randint(1, 59)}M",
    "email": lambda r: f"{r.choice(_WORDS)}@example.com",
    "idn-email": lambda r: f"{r.choice(_WORDS)}@example.com",
    "uuid": _uuid,
    "uri": lambda r: f"https://example.com/{r.choice(_WORDS)}",
    "url": lambda r: f"https://example.com/{r.choice(_WORDS)}",
    "iri": lambda r: f"https://example.com/{r.choice(_WORDS)}",
    "uri-reference": lambda r: f"/{r.choice(_WORDS)}",
    "iri-reference": lambda r: f"/{r.choice(_WORDS)}",
    "uri-template": lambda r: "https://example.com/{id}",
    "hostname": lambda r: f"{r.choice(_WORDS)}.example.com",
    "idn-hostname": lambda r: f"{r.choice(_WORDS)}.example.com",
    "ipv4": lambda r: f"192.0.2.{r.randint(1, 254)}",
    "ipv6": lambda r: f"2001:db8::{r.randint(1, 65535):x}",
    "json-pointer": lambda r: f"/{r.choice(_WORDS)}",
    "relative-json-pointer": lambda r: "0",
    "regex": lambda r: "^[a-z]+$",
    "password": lambda r: "".join(r.choice(string.ascii_letters) for _ in range(12)),
    "binary": lambda r: "headshot-mock",
}


class _Regex:
    """A string matching a regular expression (the subset JSON Schema patterns use)."""

    def __init__(self, rng: random.Random, dynamic: bool) -> None:
        self.rng, self.dynamic = rng, dynamic
        self.groups: dict[int, str] = {}

    def generate(self, pattern: str) -> str:
        try:
            parsed = _sre.parse(pattern)
        except Exception as exc:  # re.error and its relatives
            raise Unsatisfiable(
                f"pattern {pattern!r} is not a regular expression Python reads: {exc}"
            ) from None
        return self.sequence(parsed)

    def sequence(self, items: Any) -> str:
        return "".join(self.item(op, arg) for op, arg in items)

    def item(self, op: Any, arg: Any) -> str:
        name = str(op)
        if name == "LITERAL":
            return chr(arg)
        if name == "NOT_LITERAL":
            return "a" if chr(arg) != "a" else "b"
        if name == "ANY":
            return self.rng.choice(string.ascii_letters) if self.dynamic else "a"
        if name == "IN":
            return self.klass(arg)
        if name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = arg
            high = min(high, low + 4) if high != _sre.MAXREPEAT else low + 4
            count = self.rng.randint(low, high) if self.dynamic else max(low, min(1, high))
            return "".join(self.sequence(sub) for _ in range(count))
        if name == "SUBPATTERN":
            group, _, _, sub = arg
            text = self.sequence(sub)
            if group is not None:
                self.groups[group] = text
            return text
        if name == "BRANCH":
            options = arg[1]
            return self.sequence(self.rng.choice(options) if self.dynamic else options[0])
        if name == "CATEGORY":
            return self.pick(_CATEGORIES.get(str(arg), "a"))
        if name == "GROUPREF":
            return str(self.groups.get(arg, ""))
        if name == "ATOMIC_GROUP":
            return self.sequence(arg)
        return ""  # AT (anchors), ASSERT, ASSERT_NOT: left to the validator

    def klass(self, items: Any) -> str:
        chars: list[str] = []
        negate = False
        for op, arg in items:
            name = str(op)
            if name == "NEGATE":
                negate = True
            elif name == "LITERAL":
                chars.append(chr(arg))
            elif name == "RANGE":
                chars.extend(chr(c) for c in range(arg[0], min(arg[1], arg[0] + 64) + 1))
            elif name == "CATEGORY":
                chars.extend(_CATEGORIES.get(str(arg), ""))
        if negate:
            pool = [c for c in string.ascii_letters + string.digits + "-_." if c not in chars]
            return self.pick("".join(pool) or "~")
        return self.pick("".join(chars) or "a")

    def pick(self, pool: str) -> str:
        return self.rng.choice(pool) if self.dynamic else pool[0]
