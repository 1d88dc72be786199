"""The hot-path JSON codec means what the standard library means: same values parsed, same
failures refused (with the standard library's message), compact UTF-8 out."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from headshot_mock.mockserver import codec

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, derandomize=True)
@given(JSON)
def test_round_trips_like_the_standard_library(value: Any) -> None:
    encoded = codec.dumps(value)  # floats may be spelled differently (1e16, not 1e+16): same value
    assert json.loads(encoded) == value
    assert codec.loads(encoded) == json.loads(encoded)


@settings(max_examples=300, derandomize=True)
@given(st.binary(max_size=40) | st.text(max_size=40).map(str.encode))
def test_any_bytes_parse_or_fail_as_the_standard_library_does(data: bytes) -> None:
    outcomes = []
    for parse in (json.loads, codec.loads):
        try:
            outcomes.append(repr(parse(data)))  # repr: NaN is not equal to itself
        except ValueError as exc:
            outcomes.append(f"{type(exc).__name__}: {exc}")
    assert outcomes[1] == outcomes[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(b"[NaN, Infinity]", "[nan, inf]", id="nan"),
        pytest.param(b'"\\ud800"', "'\\ud800'", id="lone-surrogate"),
        pytest.param('{"a": 1}'.encode("utf-16"), "{'a': 1}", id="utf-16"),
        pytest.param(b'{"n": 12345678901234567890123}', "{'n': 12345678901234567890123}", id="bigint"),
    ],
)
def test_what_msgspec_refuses_falls_back_to_json(text: bytes, expected: str) -> None:
    assert repr(codec.loads(text)) == expected


def test_non_finite_numbers_are_encoded_as_null_which_is_valid_json() -> None:
    assert codec.dumps([float("nan"), float("inf")]) == b"[null,null]"


def test_values_msgspec_cannot_encode_fall_back_to_json() -> None:
    assert codec.dumps({"bad": "\ud800"}) == b'{"bad":"\\ud800"}'
    assert codec.dumps({"ok": "é"}) == '{"ok":"é"}'.encode()


def test_nesting_too_deep_for_msgspec_is_left_to_json() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    assert codec.try_loads(deep) == (False, None)
    with pytest.raises(RecursionError):
        codec.loads(deep)


@pytest.mark.parametrize(
    ("value", "plain"),
    [
        pytest.param({"a": [1, 2.5, "é", None, True, {"b": []}]}, True, id="plain"),
        pytest.param({"a": float("nan")}, False, id="nan"),
        pytest.param({1: "x"}, False, id="int-key"),
        pytest.param({"a": "\ud800"}, False, id="lone-surrogate"),
        pytest.param({"a": (1, 2)}, False, id="tuple"),
        pytest.param({"a": object()}, False, id="object"),
    ],
)
def test_round_trips_says_whether_a_value_is_plain_json(value: Any, plain: bool) -> None:
    assert codec.round_trips(value) is plain


@pytest.mark.parametrize(
    "value",
    [
        pytest.param({"a": [1, 2.5, {"b": "é"}], "n": None}, id="plain"),
        pytest.param({"t": (1, 2), "raw": b"\x00", 3: float("inf")}, id="not-json"),
    ],
)
def test_copy_is_deep_and_exact(value: dict[Any, Any]) -> None:
    copied = codec.copy(value)
    assert copied == value
    assert copied is not value
    assert [type(v) for v in copied.values()] == [type(v) for v in value.values()]
    nested = next((v for v in copied.values() if isinstance(v, list)), None)
    if nested is not None:
        nested.append("changed")
        assert "changed" not in next(v for v in value.values() if isinstance(v, list))
