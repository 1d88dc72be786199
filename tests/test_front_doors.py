"""Each package's front door lists what it exports, and exports what it lists (as HTTPX checks)."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize(
    "package",
    [
        "headshot_mock",
        "headshot_mock.specs",
        "headshot_mock.mockserver",
        "headshot_mock.mockserver.stores",
        "headshot_mock.contracts",
    ],
)
def test_all_is_honest(package: str) -> None:
    module = importlib.import_module(package)
    for name in module.__all__:
        assert getattr(module, name) is not None, f"{package}.{name}"
    assert sorted(module.__all__) == sorted(set(module.__all__))


def test_importing_contracts_does_not_load_schemathesis() -> None:
    import subprocess
    import sys

    code = "import headshot_mock, headshot_mock.contracts, sys; print('schemathesis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False", "the pytest plugin would make every test run pay for it"


def test_serving_does_not_import_redis_unless_asked() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from headshot_mock.mockserver import create_app; create_app(); "
        "print('redis' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"
