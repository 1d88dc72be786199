"""``ProviderSpec.validator`` compiles a schema with its ``$ref`` pointers inlined where that keeps
its meaning (jsonschema-rs reports errors for less there), else against a registry holding the
spec's document. Users see the errors (findings, the provider's error message), so the two must
report the same errors, in the same order, for any value."""

from __future__ import annotations

import dataclasses
from typing import Any

import jsonschema_rs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headshot_mock import specs
from headshot_mock.specs import _loader


def _body_schemas() -> list[Any]:
    found = []
    for provider in specs.providers():
        spec = specs.load(provider)
        for op in spec.operations:
            body = spec.resolve(op.definition.get("requestBody") or {})
            for media_type, media in (body.get("content") or {}).items():
                for key in ("schema", "x-accepted-schema"):
                    if isinstance(media.get(key), dict):
                        name = f"{provider}-{op.operation_id}-{media_type}-{key}"
                        found.append(pytest.param(spec, media[key], id=name))
    return found


BODY_SCHEMAS = _body_schemas()


def _registered(spec: specs.ProviderSpec, schema: dict[str, Any]) -> Any:
    """The schema compiled as it was before inlining: its references resolved in a registry."""
    uri = f"urn:test:{id(spec)}"
    registry = jsonschema_rs.Registry([(uri, dict(spec.document))])
    absolute = _loader._absolute(schema, uri)
    return jsonschema_rs.Draft202012Validator(absolute, validate_formats=True, registry=registry)


def _errors(validator: Any, value: Any) -> list[tuple[Any, ...]]:
    return [_error(e) for e in validator.iter_errors(value)]


def _error(error: Any) -> tuple[Any, ...]:
    context = getattr(error.kind, "context", None) or []
    branches = tuple(tuple(_error(e) for e in branch) for branch in context)
    return (tuple(error.instance_path), error.message, type(error.kind).__name__, branches)


def _names(schema: Any, spec: specs.ProviderSpec) -> list[str]:
    schema = spec.resolve(schema)
    names = list((schema.get("properties") or {}) if isinstance(schema, dict) else ())
    for branch in (schema.get("allOf") or []) if isinstance(schema, dict) else ():
        names += _names(branch, spec)
    return names or ["x"]


LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-2, 5000)
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=12)
    | st.text(st.characters(codec="ascii"), min_size=200, max_size=3000)
    | st.sampled_from(["https://example.com/a.png", "data:image/png;base64,AAAA", "2026-12-01", "yes"])
)
JSON = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=8,
)


def _values(spec: specs.ProviderSpec, schema: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Objects with the schema's property names (and others), values of every kind: near a
    limit, long, in a format, nested; now and then not an object at all."""
    keys = st.sampled_from(_names(schema, spec)) | st.text(max_size=6)
    return st.dictionaries(keys, JSON, max_size=8) | JSON


def test_every_bundled_body_schema_is_inlined() -> None:
    assert len(BODY_SCHEMAS) > 20
    for case in BODY_SCHEMAS:
        spec, schema = case.values
        _loader._inlined(spec.document, schema, ())  # raises _NotInlined where it cannot


@pytest.mark.parametrize(("spec", "schema"), BODY_SCHEMAS)
@settings(max_examples=40, deadline=None, derandomize=True)
@given(data=st.data())
def test_an_inlined_validator_reports_what_the_registry_one_does(
    spec: specs.ProviderSpec, schema: dict[str, Any], data: st.DataObject
) -> None:
    inlined, registered = spec.validator(schema), _registered(spec, schema)
    value = data.draw(_values(spec, schema))
    assert inlined.is_valid(value) == registered.is_valid(value)
    assert _errors(inlined, value) == _errors(registered, value)


@pytest.mark.parametrize(
    ("schema", "valid", "invalid"),
    [
        pytest.param(
            {"$ref": "#/components/schemas/Tree"},
            {"kids": [{"kids": [{"leaf": "a"}]}]},
            {"kids": [{"kids": [{"leaf": 3}]}]},  # the cycle is followed
            id="cyclic",
        ),
        pytest.param(
            {"$ref": "#/components/schemas/Leaf", "maxLength": 2}, "ab", "abc", id="ref-beside-a-keyword"
        ),
        pytest.param({"$anchor": "a", "type": "string"}, "a", 3, id="own-scope"),
    ],
)
def test_what_cannot_be_inlined_is_compiled_against_the_registry(
    schema: dict[str, Any], valid: Any, invalid: Any
) -> None:
    base = specs.load("modelslab")
    tree = {
        "type": "object",
        "properties": {
            "leaf": {"type": "string"},
            "kids": {"type": "array", "items": {"$ref": "#/components/schemas/Tree"}},
        },
    }
    schemas = {**base.document["components"]["schemas"], "Tree": tree, "Leaf": {"type": "string"}}
    document = {**base.document, "components": {**base.document["components"], "schemas": schemas}}
    spec = dataclasses.replace(base, document=document)
    with pytest.raises(_loader._NotInlined):
        _loader._inlined(spec.document, schema, ())
    validator = spec.validator(schema)
    assert validator.is_valid(valid)
    assert not validator.is_valid(invalid)
    assert not validator.is_valid(3.5)
