"""scripts/_venv.sh: switching between scripts/serve and scripts/test installs nothing new."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A copy of the scripts beside a pyproject.toml, and a .venv whose pip only logs what it
    was asked to install (the real interpreter runs everything else)."""
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "_venv.sh", tmp_path / "scripts" / "_venv.sh")
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n', encoding="utf-8")
    bin_dir = tmp_path / ".venv" / "bin"
    bin_dir.mkdir(parents=True)
    shim = bin_dir / "python"
    shim.write_text(
        "#!/bin/sh\n"
        'if [ "$1" = "-m" ] && [ "$2" = "pip" ]; then echo "$@" >> "$PIP_LOG"; exit 0; fi\n'
        f'exec {sys.executable} "$@"\n',
        encoding="utf-8",
    )
    shim.chmod(0o755)
    return tmp_path


def _venv(project: Path, extras: str) -> list[str]:
    log = project / "pip.log"
    env = {**os.environ, "EXTRAS": extras, "PIP_LOG": str(log)}
    subprocess.run(["bash", "-c", "source scripts/_venv.sh"], cwd=project, env=env, check=True, timeout=60)
    return log.read_text(encoding="utf-8").splitlines() if log.exists() else []


def test_serve_and_test_alternate_without_reinstalling(project: Path) -> None:
    assert _venv(project, "test") == ["-m pip install -q -e .[test]"]
    for extras in ("", "test", "", "test"):
        assert _venv(project, extras) == ["-m pip install -q -e .[test]"]  # nothing new


def test_a_new_extra_or_a_changed_pyproject_installs_once(project: Path) -> None:
    assert _venv(project, "") == ["-m pip install -q -e ."]
    assert _venv(project, "test")[-1] == "-m pip install -q -e .[test]"
    assert _venv(project, "") == ["-m pip install -q -e .", "-m pip install -q -e .[test]"]
    (project / "pyproject.toml").write_text('[project]\nname = "y"\n', encoding="utf-8")
    assert _venv(project, "")[-1] == "-m pip install -q -e .[test]"  # every extra asked for so far
    assert len(_venv(project, "test")) == 3
