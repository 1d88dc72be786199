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


def test_contracts_errors_share_one_root() -> None:
    import headshot_mock

    root = headshot_mock.ContractError
    for error in (headshot_mock.ContractViolation, headshot_mock.UnmockedRequest, headshot_mock.VerifyError):
        assert issubclass(error, root), error
    assert issubclass(headshot_mock.ContractViolation, AssertionError)  # pytest renders it natively
    assert issubclass(headshot_mock.VerifyError, ValueError)


def test_mockapp_is_the_typed_front_door() -> None:
    from starlette.applications import Starlette

    from headshot_mock import Control, MockApp, create_app

    app = create_app(providers=("modelslab",), seed=3)
    assert isinstance(app, MockApp)
    assert isinstance(app, Starlette)
    assert isinstance(app.control, Control)
    assert app.config.seed == 3
    assert dict(app.mounts) == {"modelslab": "/modelslab"}
    assert list(app.providers) == ["modelslab"]
    assert app.webhook_allowed("http://127.0.0.1:9/hook")
    assert not app.webhook_allowed("http://hooks.example.com/hook")


def test_contracts_uses_only_the_mockservers_front_door() -> None:
    import ast
    from pathlib import Path

    import headshot_mock.contracts

    # proxy.py builds a server of its own from mockserver's parts (engine, bindings, runtime): it is
    # the one module still reaching in, until those parts have a front door of their own.
    builds_from_parts = {"proxy.py"}
    reached = []
    for path in sorted(Path(headshot_mock.contracts.__file__).parent.glob("*.py")):
        if path.name in builds_from_parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "headshot_mock.mockserver."
            ):
                reached.append(f"{path.name}: from {node.module} import ...")
            owned = ("engine", "control", "runtime", "mounts", "watcher")
            if (
                isinstance(node, ast.Attribute)
                and node.attr in owned
                and isinstance(node.value, ast.Attribute)
                and node.value.attr == "state"
            ):
                reached.append(f"{path.name}:{node.lineno}: .state.{node.attr}")
    assert reached == []


@pytest.mark.parametrize(
    "module",
    [
        pytest.param("redis", id="redis-unless-asked"),
        pytest.param("PIL", id="pillow-until-an-image"),
    ],
)
def test_serving_does_not_import_what_it_may_never_use(module: str) -> None:
    import subprocess
    import sys

    code = (
        "import sys; from headshot_mock.mockserver import create_app; create_app(); "
        f"print({module!r} in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"
