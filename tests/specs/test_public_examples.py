"""Every request body the providers publish (seeds, reference documents, SDK defaults) is
accepted at the lenient level; the ones the strict level rejects are listed in specs/README.md.

The bodies live in tests/fixtures/public_examples/<provider>.yaml, each with its source.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from headshot_mock import specs
from tests.conftest import FIXTURES, PROVIDERS, ROOT


def _examples() -> Iterator[Any]:
    for provider in PROVIDERS:
        path = FIXTURES / "public_examples" / f"{provider}.yaml"
        for item in yaml.safe_load(path.read_text()):
            yield pytest.param(provider, item, id=f"{provider}-{item['name']}")


def _schemas(provider: str, operation_id: str) -> tuple[Any, Any]:
    spec = specs.load(provider)
    body = spec.resolve(spec.operation(operation_id).definition["requestBody"])
    media = body["content"]["application/json"]
    return media["schema"], media.get("x-accepted-schema", media["schema"])


@pytest.mark.parametrize(("provider", "item"), list(_examples()))
def test_public_example_is_accepted_leniently(provider: str, item: dict[str, Any]) -> None:
    spec = specs.load(provider)
    strict, accepted = _schemas(provider, item["operation"])
    errors = [
        f"{list(e.instance_path)}: {e.message}" for e in spec.validator(accepted).iter_errors(item["body"])
    ]
    assert not errors, f"{item['source']}: the lenient level rejects a published body"
    assert spec.validator(strict).is_valid(item["body"]) is (item["strict"] == "accepted")


@pytest.mark.parametrize(("provider", "item"), list(_examples()))
def test_strict_rejections_are_explained_in_the_specs_readme(provider: str, item: dict[str, Any]) -> None:
    if item["strict"] == "accepted":
        return
    assert item.get("reason"), "a rejected example states why"
    readme = (ROOT / "specs" / "README.md").read_text()
    assert f"`{item['name']}`" in readme, f"specs/README.md does not list {item['name']}"


def test_every_provider_has_public_examples() -> None:
    for provider in PROVIDERS:
        items = yaml.safe_load((FIXTURES / "public_examples" / f"{provider}.yaml").read_text())
        assert items, provider
