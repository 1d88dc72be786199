"""The schema generator: every value it hands out satisfies its schema, by an independent
judge (the ``jsonschema`` library, not the ``jsonschema_rs`` validators the generator uses),
over schemas hypothesis builds and over every response schema of the fixture documents."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jsonschema
import jsonschema_rs
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headshot_mock import specs
from headshot_mock.mockserver.generate import Generator, Unsatisfiable

OPENAPI = Path(__file__).resolve().parents[1] / "fixtures" / "openapi"
DOCUMENTS = sorted(
    p
    for p in [
        *OPENAPI.glob("*.yaml"),
        *(OPENAPI / "reference").glob("*.json"),
        OPENAPI / "own" / "studio.yaml",
    ]
    if "enterprise-image-editing" not in p.name
)
FORMATS = ["date-time", "date", "email", "uuid", "uri", "hostname", "ipv4", "ipv6"]
PATTERNS = ["^[a-z]{3,8}$", "^p_[0-9]+$", "^[A-Z]{2}-\\d{4}$", "^(cat|dog|bird)s?$", "[0-9a-f]{8}"]
CI = settings(max_examples=150, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])


def _judge(schema: Any, root: dict[str, Any] | None = None) -> jsonschema.Draft202012Validator:
    full = {**schema, **({"components": root} if root is not None else {})}
    return jsonschema.Draft202012Validator(
        full, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )


def _bounds(draw: Any, low_max: int, span: int) -> tuple[int, int]:
    low = draw(st.integers(0, low_max))
    return low, low + draw(st.integers(0, span))


@st.composite
def strings(draw: Any) -> dict[str, Any]:
    kind = draw(st.sampled_from(["plain", "format", "pattern", "enum"]))
    if kind == "format":
        return {"type": "string", "format": draw(st.sampled_from(FORMATS))}
    if kind == "pattern":
        return {"type": "string", "pattern": draw(st.sampled_from(PATTERNS))}
    if kind == "enum":
        return {
            "type": "string",
            "enum": draw(st.lists(st.text(max_size=5), min_size=1, max_size=4, unique=True)),
        }
    low, high = _bounds(draw, 6, 10)
    return {"type": "string", "minLength": low, "maxLength": high}


@st.composite
def numbers(draw: Any) -> dict[str, Any]:
    kind = draw(st.sampled_from(["integer", "number"]))
    schema: dict[str, Any] = {"type": kind}
    low = draw(st.integers(-1000, 1000))
    high = low + draw(st.integers(2, 500))
    if draw(st.booleans()):
        schema["minimum" if draw(st.booleans()) else "exclusiveMinimum"] = low
    if draw(st.booleans()):
        schema["maximum" if draw(st.booleans()) else "exclusiveMaximum"] = high
    if draw(st.booleans()):
        schema["multipleOf"] = draw(st.sampled_from([1, 2, 5, 0.5] if kind == "number" else [1, 2, 3, 7]))
        schema.pop("exclusiveMinimum", None), schema.pop("exclusiveMaximum", None)
        if "minimum" in schema and "maximum" in schema:
            schema["maximum"] = schema["minimum"] + 50
    if kind == "integer" and draw(st.booleans()):
        schema["format"] = "int32"
    return schema


LEAVES = st.one_of(
    strings(),
    numbers(),
    st.just({"type": "boolean"}),
    st.just({"type": "null"}),
    st.builds(lambda v: {"const": v}, st.one_of(st.integers(), st.text(max_size=4), st.booleans())),
    st.builds(lambda s: {**s, "type": [s["type"], "null"]}, strings()),
)


def _composites(children: Any) -> Any:
    names = st.text("abcdefgh", min_size=1, max_size=4)

    @st.composite
    def objects(draw: Any) -> dict[str, Any]:
        props = draw(st.dictionaries(names, children, max_size=4))
        required = [n for n in props if draw(st.booleans())]
        schema: dict[str, Any] = {"type": "object", "properties": props, "required": required}
        for name in props:
            if name not in required and draw(st.integers(0, 4)) == 0:
                props[name] = {**props[name], "writeOnly": True}
        extra = draw(st.sampled_from([None, False, {"type": "integer"}]))
        if extra is not None:
            schema["additionalProperties"] = extra
        if extra is not False and draw(st.booleans()):
            schema["minProperties"] = len(props) + draw(st.integers(0, 2))
        return schema

    @st.composite
    def arrays(draw: Any) -> dict[str, Any]:
        low, high = _bounds(draw, 3, 4)
        schema: dict[str, Any] = {"type": "array", "items": draw(children), "minItems": low, "maxItems": high}
        if draw(st.booleans()):
            schema["items"] = {"type": "integer", "minimum": 0}
            schema["uniqueItems"] = True
        return schema

    @st.composite
    def combined(draw: Any) -> dict[str, Any]:
        kind = draw(st.sampled_from(["allOf", "anyOf", "oneOf"]))
        if kind == "allOf":
            parts = [
                {"type": "object", "properties": {f"p{i}": draw(children)}, "required": [f"p{i}"]}
                for i in range(draw(st.integers(1, 3)))
            ]
            return {"allOf": parts}
        if kind == "oneOf":  # branches of different types: exactly one matches
            return {
                "oneOf": [draw(strings()), {"type": "boolean"}, {"type": "array", "items": draw(children)}]
            }
        return {"anyOf": draw(st.lists(children, min_size=1, max_size=3))}

    return st.one_of(objects(), arrays(), combined())


SCHEMAS = st.recursive(LEAVES, _composites, max_leaves=12)


@CI
@given(schema=SCHEMAS, seed=st.integers(0, 2**16))
def test_every_generated_value_satisfies_its_schema(schema: dict[str, Any], seed: int) -> None:
    gen = Generator(lambda node: node)
    validator = jsonschema_rs.Draft202012Validator(schema, validate_formats=True)
    judge = _judge(schema)
    for dynamic in (False, True):
        value = gen.generate(schema, validator, seed, dynamic=dynamic)
        errors = [e.message for e in judge.iter_errors(value)]
        assert errors == [], (schema, value)


@CI
@given(schema=SCHEMAS, seed=st.integers(0, 2**16))
def test_the_same_seed_gives_the_same_value(schema: dict[str, Any], seed: int) -> None:
    gen = Generator(lambda node: node)
    validator = jsonschema_rs.Draft202012Validator(schema, validate_formats=True)
    for dynamic in (False, True):
        assert gen.generate(schema, validator, seed, dynamic=dynamic) == gen.generate(
            schema, validator, seed, dynamic=dynamic
        )


def test_dynamic_values_vary_and_static_ones_prefer_the_schemas_own() -> None:
    schema = {
        "type": "object",
        "required": ["id", "kind", "size"],
        "properties": {
            "id": {"type": "string", "format": "uuid"},
            "kind": {"type": "string", "enum": ["a", "b", "c"], "default": "b"},
            "size": {"type": "integer", "minimum": 1, "maximum": 1000, "example": 42},
        },
    }
    gen = Generator(lambda node: node)
    validator = jsonschema_rs.Draft202012Validator(schema, validate_formats=True)
    static = gen.generate(schema, validator, 0)
    assert static["kind"] == "b"
    assert static["size"] == 42
    values = {repr(gen.generate(schema, validator, n, dynamic=True)) for n in range(10)}
    assert len(values) > 5


def test_an_unsatisfiable_schema_says_why() -> None:
    schema = {"type": "string", "minLength": 5, "maxLength": 2}
    validator = jsonschema_rs.Draft202012Validator(schema)
    with pytest.raises(Unsatisfiable, match="no generated value satisfies the schema"):
        Generator(lambda node: node).generate(schema, validator, 0)


def _response_schemas(spec: specs.ProviderSpec) -> list[tuple[str, Any]]:
    out = []
    for op in spec.operations:
        for status, response in (op.definition.get("responses") or {}).items():
            for media, content in (spec.resolve(response).get("content") or {}).items():
                if "schema" in content:
                    out.append((f"{op.operation_id} {status} {media}", content["schema"]))
    return out


@pytest.mark.parametrize("path", DOCUMENTS, ids=lambda p: p.name)
def test_every_response_schema_of_the_fixture_documents(path: Path) -> None:
    spec = specs.load_file(path)
    assert isinstance(spec, specs.UserSpec)
    gen = Generator(spec.resolve)
    components = spec.components("response")
    schemas = _response_schemas(spec)
    for where, schema in schemas:
        validator = spec.validator(schema, "response")
        judge = _judge(spec.view(schema, "response"), components)
        for seed in range(8):
            value = gen.generate(schema, validator, seed, dynamic=seed > 0)
            errors = [e.message for e in judge.iter_errors(value)]
            assert errors == [], (where, value)
