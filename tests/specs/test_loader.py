from __future__ import annotations

import pytest

from headshot_mock import specs


def test_load_is_cached() -> None:
    assert specs.load("modelslab") is specs.load("modelslab")


def test_unknown_provider_says_what_is_valid() -> None:
    with pytest.raises(specs.UnknownProvider) as info:
        specs.load("modelslabs")
    message = str(info.value)
    assert "Did you mean 'modelslab'?" in message
    assert "agentai, idphoto, magichour, modelslab" in message
    assert isinstance(info.value, LookupError)


def test_unknown_operation_says_what_is_valid() -> None:
    with pytest.raises(specs.UnknownOperation, match="Did you mean 'fetchResult'"):
        specs.load("modelslab").operation("fetchResults")


@pytest.mark.parametrize(
    ("provider", "operation", "method", "base_path", "path"),
    [
        pytest.param(
            "agentai",
            "instantHeadshotRunHeadshotGeneration",
            "POST",
            "/v1",
            "/action/instant_headshot_run_headshot_generation",
            id="agentai",
        ),
        pytest.param(
            "modelslab", "fetchResult", "POST", "/api", "/v6/image_editing/fetch/{id}", id="modelslab"
        ),
        pytest.param("idphoto", "generatePortrait", "POST", "", "/api/generate-portrait", id="idphoto"),
        pytest.param("magichour", "getImageProject", "GET", "", "/v1/image-projects/{id}", id="magichour"),
    ],
)
def test_operations_know_where_they_live(
    provider: str, operation: str, method: str, base_path: str, path: str
) -> None:
    op = specs.load(provider).operation(operation)
    assert (op.method, op.base_path, op.path) == (method, base_path, path)


def test_magichour_upload_lives_on_its_own_host() -> None:
    op = specs.load("magichour").operation("uploadAsset")
    assert op.method == "PUT"
    assert op.server_url == "https://videos.magichour.ai"


def test_resolve_refuses_dangling_references() -> None:
    with pytest.raises(specs.InvalidSpec, match="points nowhere"):
        specs.resolve({"components": {}}, {"$ref": "#/components/schemas/Nope"})


def test_front_door_is_explicit() -> None:
    public = {name for name in dir(specs) if not name.startswith("_")}
    assert set(specs.__all__) <= public
    assert {"load", "providers", "ProviderSpec", "Operation", "SpecError"} <= set(specs.__all__)
