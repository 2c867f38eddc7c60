"""Column types: aware UTC datetimes everywhere, text every database can store."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from galatea.storage.columns import UtcDateTime, dump_json, storable_text


def test_datetimes_are_stored_as_utc_and_come_back_aware() -> None:
    column = UtcDateTime()
    paris = datetime(2025, 6, 1, 14, 0, tzinfo=timezone(timedelta(hours=2)))
    stored = column.process_bind_param(paris, sqlite.dialect())
    assert stored == datetime(2025, 6, 1, 12, 0)
    assert column.process_result_value(stored, sqlite.dialect()) == paris
    assert column.process_bind_param(paris, postgresql.dialect()) == paris.astimezone(UTC)


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="naive datetime"):
        UtcDateTime().process_bind_param(datetime(2025, 1, 1), sqlite.dialect())


@given(st.text(st.characters(exclude_categories=())))
def test_storable_text_encodes_and_changes_only_what_cannot_be_stored(text: str) -> None:
    stored = storable_text(text)
    stored.encode("utf-8")
    assert "\x00" not in stored
    if not any(char == "\x00" or "\ud800" <= char <= "\udfff" for char in text):
        assert stored == text


def test_paired_surrogates_become_the_character_they_encode() -> None:
    assert storable_text("\ud83d\ude00 \ud800") == "\U0001f600 \ufffd"


def test_json_is_ascii_escaped_and_refuses_nan() -> None:
    assert dump_json({"k": "é\ud800"}) == '{"k":"\\u00e9\\ud800"}'
    with pytest.raises(ValueError, match="JSON compliant"):
        dump_json({"k": float("nan")})
