"""A user's own OpenAPI file: read, bundled across files, normalised to 3.1, refused with the
file, the JSON pointer and the problem when it is not valid OpenAPI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from headshot_mock import specs
from headshot_mock.specs.normalise import schema_30_to_31

OPENAPI = Path(__file__).resolve().parents[1] / "fixtures" / "openapi"
STUDIO = OPENAPI / "own" / "studio.yaml"


def test_ids_come_from_the_entry_then_x_provider_then_the_title() -> None:
    assert specs.load_file(STUDIO).id == "studio"  # x-provider.id
    assert specs.load_file(OPENAPI / "v3.0-petstore.yaml").id == "swagger-petstore"  # info.title
    assert specs.load_file(OPENAPI / "v3.0-petstore.yaml", "pets").id == "pets"
    assert specs.parse_entry("pets=some/file.yaml") == ("pets", "some/file.yaml")
    assert specs.parse_entry("some/file.yaml") == (None, "some/file.yaml")


def test_a_loaded_file_is_found_by_id_like_a_bundled_provider() -> None:
    spec = specs.load_file(STUDIO)
    assert specs.load("studio") is spec
    assert "studio" not in specs.providers()  # the bundled list is unchanged
    with pytest.raises(specs.UnknownProvider, match="studio"):
        specs.load("studi")


def test_refs_across_files_are_inlined_and_cycles_hoisted() -> None:
    spec = specs.load_file(STUDIO)
    text = json.dumps(spec.document)
    assert ".yaml" not in text  # no reference into another file is left
    assert {str(f.name) for f in spec.files} == {
        "studio.yaml",
        "parameters.yaml",
        "portrait.yaml",
        "album.yaml",
    }
    album = spec.document["components"]["schemas"]["album"]  # album.yaml refers to itself
    assert album["properties"]["items"]["items"]["anyOf"][1] == {"$ref": "#/components/schemas/album"}
    limit = spec.operation("listPortraits").parameters[0]
    assert limit["name"] == "limit"
    assert limit["schema"]["maximum"] == 50


def test_servers_with_variables_and_relative_urls() -> None:
    assert specs.load_file(STUDIO).server_url == "https://api.portrait-studio.example/v1"
    assert specs.load_file(STUDIO).base_path == "/v1"
    examples = specs.load_file(OPENAPI / "v3.0-api-with-examples.yaml")  # no servers
    assert examples.server_url == "http://localhost"


def test_3_0_schemas_become_json_schema_2020_12() -> None:
    assert schema_30_to_31({"type": "string", "nullable": True}) == {"type": ["string", "null"]}
    assert schema_30_to_31({"type": "string", "enum": ["a"], "nullable": True}) == {
        "type": ["string", "null"],
        "enum": ["a", None],
    }
    assert schema_30_to_31({"type": "number", "minimum": 1, "exclusiveMinimum": True}) == {
        "type": "number",
        "exclusiveMinimum": 1,
    }
    assert schema_30_to_31({"$ref": "#/x", "nullable": True}) == {
        "anyOf": [{"$ref": "#/x"}, {"type": "null"}]
    }
    nested = schema_30_to_31({"type": "object", "properties": {"a": {"type": "integer", "nullable": True}}})
    assert nested["properties"]["a"]["type"] == ["integer", "null"]
    spec = specs.load_file(STUDIO)
    assert spec.version == "3.0.3"
    assert spec.document["openapi"] == "3.1.0"


def test_read_only_and_write_only_apply_per_direction() -> None:
    spec = specs.load_file(STUDIO)
    schema = spec.operation("getPortrait").definition["responses"]["200"]["content"]["application/json"][
        "schema"
    ]
    request = spec.validator(schema, "request")
    response = spec.validator(schema, "response")
    sent = {"photo_url": "https://example.com/a.jpg"}  # no readOnly id/status
    assert request.is_valid(sent)
    assert not response.is_valid(sent)
    assert response.is_valid({**sent, "id": "p_1", "status": "done"})


def test_a_single_example_becomes_a_named_scenario() -> None:
    spec = specs.load_file(OPENAPI / "v3.0-uspto.yaml")
    media = spec.operation("list-data-sets").definition["responses"]["200"]["content"]["application/json"]
    assert list(media["examples"]) == ["success"]
    assert "example" not in media


def test_operations_without_an_operation_id_are_named_and_the_note_says_so() -> None:
    spec = specs.load_file(OPENAPI / "v3.1-non-oauth-scopes.yaml")
    assert [op.operation_id for op in spec.operations] == ["get_users"]
    assert any("no operationId" in n for n in spec.notes)
    assert any("declares no responses" in n for n in spec.notes)


def test_an_invalid_document_is_refused_with_file_pointer_and_problem() -> None:
    broken = OPENAPI / "reference" / "modelslab-enterprise-image-editing.openapi.json"
    with pytest.raises(specs.SpecFileError) as info:
        specs.load_file(broken)
    error = info.value
    assert error.file == str(broken)
    assert error.pointer == "/paths/~1enterprise~1image_editing~1fetch~1{id}/post"
    assert "Path parameter 'id'" in error.problem
    assert str(error).startswith(f"{broken} at /paths/")


@pytest.mark.parametrize(
    ("text", "pointer", "problem"),
    [
        (
            "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      responses:\n"
            "        '200': {description: ok, content: {application/json: {schema: {type: strin}}}}\n",
            "/paths/~1a/get/responses/200",
            "is not valid OpenAPI 3.0.3",
        ),
        ("swagger: '2.0'\ninfo: {title: t, version: '1'}\npaths: {}\n", "/openapi", "only 3.0 and 3.1"),
        (
            "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      responses:\n"
            "        '200': {$ref: 'missing.yaml#/x'}\n",
            "/paths/~1a/get/responses/200",
            "no file",
        ),
        (
            "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      responses:\n"
            "        '200': {$ref: '#/components/responses/nope'}\n",
            "/components/responses/nope",
            "does not exist",
        ),
        ("openapi: [3.1\n", "", "is not valid YAML"),
    ],
)
def test_refusals_name_the_place(tmp_path: Path, text: str, pointer: str, problem: str) -> None:
    file = tmp_path / "api.yaml"
    file.write_text(text)
    with pytest.raises(specs.SpecFileError) as info:
        specs.load_file(file)
    assert info.value.pointer.startswith(pointer), str(info.value)
    assert problem in info.value.problem


def test_a_bundled_id_is_not_taken(tmp_path: Path) -> None:
    with pytest.raises(specs.SpecFileError, match="bundled provider"):
        specs.load_file(OPENAPI / "v3.0-petstore.yaml", "modelslab")


def test_an_edit_is_seen_and_an_unchanged_file_is_cached(tmp_path: Path) -> None:
    file = tmp_path / "api.json"
    doc = {"openapi": "3.1.0", "info": {"title": "Edit Me", "version": "1"}, "paths": {}}
    file.write_text(json.dumps(doc))
    first = specs.load_file(file)
    assert specs.load_file(file) is first
    doc["paths"] = {"/a": {"get": {"operationId": "a", "responses": {"204": {"description": "none"}}}}}
    file.write_text(json.dumps(doc, indent=1))
    assert [op.operation_id for op in specs.load_file(file).operations] == ["a"]
