from __future__ import annotations

from pathlib import Path

import pytest

import specs

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
PROVIDERS = specs.providers()


@pytest.fixture(params=PROVIDERS)
def provider_spec(request: pytest.FixtureRequest) -> specs.ProviderSpec:
    return specs.load(request.param)
