"""`pip install .` (not an editable install) carries one package, `headshot_mock`, with its data."""

from __future__ import annotations

import os
import site
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from tests.conftest import PROVIDERS, ROOT


@pytest.mark.slow
def test_a_wheel_install_loads_every_spec(tmp_path: Path) -> None:
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(wheels), str(ROOT)],
        check=True,
        timeout=300,
    )
    env_dir = tmp_path / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    # The dependencies come from this test run's environment, listed after the fresh
    # environment's own site-packages (a plain path line: the editable install is not seen).
    own = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    Path(own, "_test_dependencies.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    (wheel,) = wheels.glob("headshot_mock-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names}
    for page_file in ("index.html", "app.js", "app.css"):  # the web page at /__mock/
        assert f"headshot_mock/mockserver/web/{page_file}" in names
    assert {top for top in tops if not top.endswith(".dist-info")} == {"headshot_mock"}
    # --force-reinstall: an outer, non-editable install of the same version must not stand in.
    subprocess.run(
        [str(python), "-m", "pip", "install", "--no-deps", "--force-reinstall", "-q", str(wheel)],
        check=True,
        timeout=300,
    )
    script = (
        "import sys\n"
        "from importlib.metadata import entry_points\n"
        "from headshot_mock import specs\n"
        "assert str(specs.__file__).startswith(sys.prefix), specs.__file__\n"
        "(plugin,) = entry_points(group='pytest11', name='headshot_mock')\n"
        "assert plugin.value == 'headshot_mock.contracts.plugin', plugin.value\n"
        "import headshot_mock.contracts.plugin, headshot_mock.mockserver.providers.modelslab\n"
        "for p in specs.providers():\n"
        "    s = specs.load(p); s.openapi\n"
        "    print(p, len(s.operations))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [str(python), "-c", script],
        cwd=tmp_path,
        env=env,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert [line.split()[0] for line in out.stdout.splitlines()] == list(PROVIDERS)
