"""Configuration flows one way — defaults → file → environment → overrides — and every misuse
says what is wrong and what is valid."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from headshot_mock.mockserver import ConfigError, MockConfig, create_app


def test_defaults() -> None:
    config = MockConfig.load(environ={})
    assert (config.host, config.port, config.level, config.scenario, config.time_scale) == (
        "127.0.0.1",
        4010,
        "lenient",
        "success",
        0.0,
    )
    assert config.served == ("agentai", "idphoto", "magichour", "modelslab")


def test_file_then_environment_then_overrides(tmp_path: Path) -> None:
    path = tmp_path / "mock.yaml"
    path.write_text("port: 5000\nlevel: strict\nseed: 3\ntime-scale: 0.5\n")
    environ = {"HEADSHOT_MOCK_PORT": "6000", "HEADSHOT_MOCK_PROVIDERS": "modelslab, idphoto"}
    config = MockConfig.load(file=path, environ=environ, overrides={"seed": 9, "host": None})
    assert (config.port, config.level, config.seed, config.time_scale) == (6000, "strict", 9, 0.5)
    assert config.served == ("modelslab", "idphoto")


def test_config_file_named_by_the_environment(tmp_path: Path) -> None:
    path = tmp_path / "mock.json"
    path.write_text('{"scenario": "processing"}')
    assert MockConfig.load(environ={"HEADSHOT_MOCK_CONFIG": str(path)}).scenario == "processing"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        pytest.param({"providers": ("modelslabs",)}, "Did you mean 'modelslab'?", id="provider"),
        pytest.param(
            {"root_provider": "magic"}, "Valid values: agentai, idphoto, magichour, modelslab", id="root"
        ),
        pytest.param({"level": "strct"}, "Did you mean 'strict'?", id="level"),
        pytest.param({"port": 0}, "port must be between 1 and 65535", id="port"),
        pytest.param({"time_scale": -1.0}, "time_scale must be >= 0", id="time-scale"),
        pytest.param({"journal_limit": 0}, "journal_limit must be >= 1", id="journal-limit"),
    ],
)
def test_bad_values_say_how_to_fix_them(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("?", r"\?").replace("(", r"\(")):
        MockConfig(**kwargs)  # type: ignore[arg-type]


def test_unknown_environment_variable() -> None:
    with pytest.raises(ConfigError, match=r"HEADSHOT_MOCK_PROT.*Did you mean 'port'"):
        MockConfig.load(environ={"HEADSHOT_MOCK_PROT": "1"})


def test_unknown_option_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "mock.yaml"
    path.write_text("scenaro: error\n")
    with pytest.raises(ConfigError, match=r"'scenaro'.*Did you mean 'scenario'"):
        MockConfig.load(file=path, environ={})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("port: [1", "not valid YAML/JSON", id="syntax"),
        pytest.param("- a\n- b\n", "must hold a mapping", id="not-a-mapping"),
        pytest.param("port: many\n", "'port' must be a whole number", id="wrong-type"),
        pytest.param("webhook_reorder: maybe\n", "must be a boolean", id="not-a-boolean"),
    ],
)
def test_broken_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "mock.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        MockConfig.load(file=path, environ={})


def test_missing_file() -> None:
    with pytest.raises(ConfigError, match="Cannot read config file"):
        MockConfig.load(file="/nonexistent/mock.yaml", environ={})


def test_create_app_is_keyword_only_and_checks_options() -> None:
    with pytest.raises(TypeError):
        create_app(MockConfig())  # type: ignore[misc]
    with pytest.raises(ConfigError, match="Did you mean 'seed'"):
        create_app(config=MockConfig(), sed=1)


def test_state_options_come_from_a_file_the_environment_and_flags(tmp_path: Path) -> None:
    from headshot_mock.contracts.cli import _parser, config_from

    path = tmp_path / "mock.yaml"
    path.write_text("state: redis://127.0.0.1:6399/2\nstate-prefix: from-file\n")
    from_file = MockConfig.load(file=path, environ={})
    assert (from_file.state, from_file.state_prefix, from_file.workers) == (
        "redis://127.0.0.1:6399/2",
        "from-file",
        1,
    )
    environ = {"HEADSHOT_MOCK_STATE": "redis://10.0.0.5:6379/0", "HEADSHOT_MOCK_WORKERS": "3"}
    from_env = MockConfig.load(file=path, environ=environ)
    assert (from_env.state, from_env.workers) == ("redis://10.0.0.5:6379/0", 3)
    args = _parser().parse_args(
        ["serve", "--state", "redis://h:1/0", "--state-prefix", "p", "--workers", "2"]
    )
    flagged = config_from(args)
    assert (flagged.state, flagged.state_prefix, flagged.workers) == ("redis://h:1/0", "p", 2)
    assert MockConfig.for_worker({"HEADSHOT_MOCK_WORKER_CONFIG": flagged.to_json()}) == flagged


@pytest.mark.parametrize(
    ("changes", "needle"),
    [
        pytest.param({"state": "postgres://x"}, "Redis URL", id="not-redis"),
        pytest.param({"workers": 2}, "needs shared state", id="workers-in-memory"),
        pytest.param({"workers": 0}, "workers must be >= 1", id="no-workers"),
        pytest.param({"state_prefix": "a b"}, "state_prefix", id="prefix-with-space"),
        pytest.param({"uploads_max_bytes": 0}, "uploads_max_bytes", id="no-upload-bytes"),
        pytest.param({"claim_lease": 0.0}, "claim_lease", id="no-lease"),
    ],
)
def test_bad_state_options_say_what_to_do(changes: dict[str, Any], needle: str) -> None:
    with pytest.raises(ConfigError, match=needle):
        MockConfig(**changes)
