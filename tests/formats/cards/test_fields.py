from typing import Any

import pytest

from galatea.formats.cards.fields import (
    UNREADABLE,
    ObjectReader,
    read_bool,
    read_int,
    read_number,
    read_text,
    read_text_list,
    restore_extra,
)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("a\r\n ", "a\r\n "),
        (None, ""),
        (7, "7"),
        (1.5, "1.5"),
        (True, UNREADABLE),
        ({}, UNREADABLE),
    ],
)
def test_read_text(value: Any, expected: Any) -> None:
    assert read_text(value) == expected


@pytest.mark.parametrize(
    ("value", "split", "expected"),
    [
        (["a", " b "], True, ["a", " b "]),
        ("a, b ,, c", True, ["a", "b", "c"]),
        ("Hello, friend.", False, ["Hello, friend."]),
        ([1, None, "x"], False, ["1", "x"]),
        (None, False, []),
        ([{"no": 1}], False, UNREADABLE),
        (3, False, UNREADABLE),
    ],
)
def test_read_text_list(value: Any, split: bool, expected: Any) -> None:
    assert read_text_list(value, split_commas=split) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        ("FALSE", False),
        (" yes ", True),
        (0, False),
        (1, True),
        ("", False),
        (None, None),
        ("maybe", UNREADABLE),
        (2, UNREADABLE),
    ],
)
def test_read_bool(value: Any, expected: Any) -> None:
    assert read_bool(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (5, 5),
        (2.5, 2.5),
        ("10", 10),
        (" -3 ", -3),
        ("1e3", 1000.0),
        (".5", 0.5),
        (None, None),
        (True, UNREADABLE),
        ("ten", UNREADABLE),
        (float("inf"), UNREADABLE),
        ("1" * 40, UNREADABLE),
    ],
)
def test_read_number(value: Any, expected: Any) -> None:
    result = read_number(value)
    assert result == expected
    assert type(result) is type(expected)


def test_read_int_accepts_integral_floats_only() -> None:
    assert read_int(4.0) == 4
    assert read_int("4") == 4
    assert read_int(4.5) is UNREADABLE


def test_unreadable_values_are_kept_in_extra_in_source_order_with_a_warning() -> None:
    warnings: list[str] = []
    reader = ObjectReader({"z": 1, "count": "lots", "name": "n", "y": 2}, "data.", warnings)
    assert reader.take("count", read_int, 0) == 0
    assert reader.take("name", read_text, "") == "n"
    assert reader.extra() == {"z": 1, "count": "lots", "y": 2}
    assert warnings == ["data.count holds a str we cannot use; kept unchanged for export"]


def test_restored_raw_value_yields_to_a_field_set_since() -> None:
    defaults = {"count": 0}
    assert restore_extra({"count": 0}, {"count": "lots"}, defaults) == {"count": "lots"}
    assert restore_extra({"count": 3}, {"count": "lots"}, defaults) == {"count": 3}
    assert restore_extra({}, {"opt": [1]}, defaults) == {"opt": [1]}
