"""Specs are parsed from YAML once: later starts read a JSON copy kept in ``__pycache__``."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from headshot_mock import specs
from headshot_mock.specs._loader import _parse


@pytest.fixture
def spec_copy(tmp_path: Path) -> Path:
    target = tmp_path / "modelslab.yaml"
    shutil.copy(specs.load("modelslab").path, target)
    return target


def test_the_copy_holds_the_yaml_value_and_is_read_next_time(spec_copy: Path) -> None:
    expected = yaml.safe_load(spec_copy.read_bytes())
    assert _parse(spec_copy) == expected
    (copy,) = (spec_copy.parent / "__pycache__").glob("modelslab.*.json")
    copy.write_bytes(b'{"read": "from the copy"}')  # proves the second parse reads it
    assert _parse(spec_copy) == {"read": "from the copy"}


def test_an_edited_spec_is_parsed_again_and_replaces_its_old_copy(spec_copy: Path) -> None:
    _parse(spec_copy)
    text = spec_copy.read_text()
    spec_copy.write_text(text.replace("title: ModelsLab head shot", "title: Edited head shot", 1))
    assert _parse(spec_copy)["info"]["title"].startswith("Edited head shot")
    assert len(list((spec_copy.parent / "__pycache__").glob("modelslab.*.json"))) == 1


def test_a_broken_copy_is_ignored(spec_copy: Path) -> None:
    _parse(spec_copy)
    (copy,) = (spec_copy.parent / "__pycache__").glob("modelslab.*.json")
    copy.write_bytes(b'{"truncated": ')
    assert _parse(spec_copy) == yaml.safe_load(spec_copy.read_bytes())


def test_yaml_that_json_cannot_hold_is_never_copied(tmp_path: Path) -> None:
    spec = tmp_path / "dated.yaml"
    spec.write_text("released: 2024-05-01\n200: ok\n")  # a date and an integer key
    assert _parse(spec) == {"released": __import__("datetime").date(2024, 5, 1), 200: "ok"}
    assert not list((tmp_path / "__pycache__").glob("*.json"))


def test_a_folder_it_cannot_write_parses_without_a_copy(
    spec_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: Path, *args: object, **kwargs: object) -> None:
        raise PermissionError(f"read-only: {self}")

    monkeypatch.setattr(Path, "mkdir", refuse)  # site-packages owned by another user
    assert _parse(spec_copy) == yaml.safe_load(spec_copy.read_bytes())
    assert not (spec_copy.parent / "__pycache__").exists()
