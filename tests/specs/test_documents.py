"""Every bundled document is valid OpenAPI, loads in openapi-core and follows CONVENTIONS.md."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from openapi_spec_validator import validate

from headshot_mock import specs
from tests.conftest import PROVIDERS

EXPECTED_PROVIDERS = ("agentai", "idphoto", "magichour", "modelslab")


def test_the_four_providers_are_bundled() -> None:
    assert PROVIDERS == EXPECTED_PROVIDERS


def test_passes_openapi_spec_validator(provider_spec: specs.ProviderSpec) -> None:
    validate(json.loads(json.dumps(provider_spec.document)))


def test_loads_in_openapi_core(provider_spec: specs.ProviderSpec) -> None:
    from openapi_core import OpenAPI

    assert isinstance(provider_spec.openapi, OpenAPI)


def test_is_openapi_3_1_with_a_server(provider_spec: specs.ProviderSpec) -> None:
    assert provider_spec.document["openapi"].startswith("3.1")
    assert provider_spec.server_url.startswith("https://")


def test_operation_ids_are_unique(provider_spec: specs.ProviderSpec) -> None:
    ids = [op.operation_id for op in provider_spec.operations]
    assert len(ids) == len(set(ids)), ids


def _walk(node: Any, where: str = "#") -> Iterator[tuple[str, dict[str, Any]]]:
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from _walk(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{where}/{i}")


def test_every_source_key_is_defined(provider_spec: specs.ProviderSpec) -> None:
    known = set(provider_spec.sources)
    assert known, "x-provider.sources is empty"
    missing = [
        (where, key)
        for where, node in _walk(provider_spec.document)
        for key in node.get("x-source", ())
        if key not in known
    ]
    assert not missing


def test_credential_is_coherent(provider_spec: specs.ProviderSpec) -> None:
    cred = provider_spec.credential
    if cred.location == "header":
        schemes = provider_spec.document["components"]["securitySchemes"]
        assert schemes[cred.name]["type"] == "http"
    else:
        for op in provider_spec.operations:
            body = op.definition.get("requestBody")
            if body is None:
                continue
            media = provider_spec.resolve(body)["content"].get("application/json")
            if media is None:
                continue
            schema = provider_spec.resolve(media["schema"])
            assert cred.name in schema.get("required", ()), op.operation_id


def _media_examples(spec: specs.ProviderSpec) -> Iterator[Any]:
    """(id, schema, example value, strict?) for every named example of the document."""
    doc = spec.document
    for op in spec.operations:
        where = op.operation_id
        body = op.definition.get("requestBody")
        if body is not None:
            for media in spec.resolve(body)["content"].values():
                schema = media.get("schema", {})
                accepted = media.get("x-accepted-schema", schema)
                for name, ex in (media.get("examples") or {}).items():
                    yield pytest.param(schema, spec.resolve(ex)["value"], None, id=f"{where}-request-{name}")
                for name, ex in (media.get("x-accepted-examples") or {}).items():
                    yield pytest.param(
                        accepted, spec.resolve(ex)["value"], schema, id=f"{where}-accepted-{name}"
                    )
        for status, response in op.definition.get("responses", {}).items():
            response = spec.resolve(response)
            for media in (response.get("content") or {}).values():
                for name, ex in (media.get("examples") or {}).items():
                    yield pytest.param(
                        media.get("schema", {}),
                        spec.resolve(ex)["value"],
                        None,
                        id=f"{where}-{status}-{name}",
                    )
    for event, item in (doc.get("webhooks") or {}).items():
        for method, op in spec.resolve(item).items():
            body = op.get("requestBody")
            if body is None:
                continue
            for media in spec.resolve(body)["content"].values():
                for name, ex in (media.get("examples") or {}).items():
                    yield pytest.param(
                        media["schema"],
                        spec.resolve(ex)["value"],
                        None,
                        id=f"webhook-{event}-{method}-{name}",
                    )


def _all_examples() -> Iterator[Any]:
    for provider in PROVIDERS:
        spec = specs.load(provider)
        for param in _media_examples(spec):
            schema, value, strict = param.values
            yield pytest.param(spec, schema, value, strict, id=f"{provider}-{param.id}")


@pytest.mark.parametrize(("spec", "schema", "value", "strict"), list(_all_examples()))
def test_every_named_example_validates_against_its_schema(
    spec: specs.ProviderSpec, schema: Any, value: Any, strict: Any
) -> None:
    errors = [f"{list(e.instance_path)}: {e.message}" for e in spec.validator(schema).iter_errors(value)]
    assert not errors
    if strict is not None:
        assert not spec.validator(strict).is_valid(value), (
            "an x-accepted-example must be one the strict schema rejects"
        )


def test_response_example_names_are_unique_per_operation(provider_spec: specs.ProviderSpec) -> None:
    for op in provider_spec.operations:
        names: list[str] = []
        for response in op.definition.get("responses", {}).values():
            for media in (provider_spec.resolve(response).get("content") or {}).values():
                names.extend(media.get("examples") or {})
        assert len(names) == len(set(names)), (op.operation_id, names)


def test_every_example_has_a_summary(provider_spec: specs.ProviderSpec) -> None:
    missing = [
        where
        for where, node in _walk(provider_spec.document)
        if where.endswith(("/examples", "/x-accepted-examples"))
        for name, ex in node.items()
        if not provider_spec.resolve(ex).get("summary")
    ]
    assert not missing
