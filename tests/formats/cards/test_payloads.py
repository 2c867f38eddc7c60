import base64
import json

import pytest

from galatea.formats.cards.errors import CardTooLargeError, CorruptCardError, InvalidCardError
from galatea.formats.cards.limits import CardLimits
from galatea.formats.cards.payloads import decode_base64, encode_json, parse_json_object

LIMITS = CardLimits()
CARD = {"name": "Ada", "description": "Line\r\nbreak 👩‍🚀"}
RAW = json.dumps(CARD, ensure_ascii=False).encode("utf-8")


@pytest.mark.parametrize(
    "encoded",
    [
        base64.b64encode(RAW),
        base64.b64encode(RAW).rstrip(b"="),
        base64.urlsafe_b64encode(RAW),
        b"\n".join(base64.b64encode(RAW)[i : i + 76] for i in range(0, 400, 76)),
        b"  " + base64.b64encode(RAW) + b"\r\n",
    ],
    ids=["standard", "no padding", "url-safe", "wrapped lines", "surrounding whitespace"],
)
def test_base64_variants_written_by_editors_decode(encoded: bytes) -> None:
    assert decode_base64(encoded, "chunk", 1000) == RAW


def test_base64_with_junk_names_the_bad_byte() -> None:
    with pytest.raises(
        CorruptCardError, match=r"chunk is not valid base64: byte b'!' at position 4"
    ):
        decode_base64(b"eyJu!!!", "chunk", 1000)


def test_base64_of_impossible_length_is_refused() -> None:
    with pytest.raises(CorruptCardError, match="impossible"):
        decode_base64(b"abcde", "chunk", 1000)


def test_base64_larger_than_the_cap_is_refused_before_decoding() -> None:
    with pytest.raises(CardTooLargeError, match="decodes to about 3000 bytes; at most 100"):
        decode_base64(b"A" * 4000, "chunk", 100)


def test_json_with_utf8_bom_reads() -> None:
    assert parse_json_object(b"\xef\xbb\xbf" + RAW, "card", LIMITS) == CARD


def test_json_saved_as_utf16_with_bom_reads() -> None:
    assert parse_json_object(json.dumps(CARD).encode("utf-16"), "card", LIMITS) == CARD


def test_invalid_utf8_names_the_byte() -> None:
    with pytest.raises(CorruptCardError, match="card is not valid UTF-8 at byte 10"):
        parse_json_object(b'{"name": "\xff"}', "card", LIMITS)


def test_invalid_json_names_line_and_column() -> None:
    with pytest.raises(CorruptCardError, match=r"not valid JSON: Expecting .* at line 2 column"):
        parse_json_object(b'{"name": "a",\n  oops}', "card", LIMITS)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_numbers_are_refused(constant: str) -> None:
    with pytest.raises(CorruptCardError, match=f"uses {constant}"):
        parse_json_object(f'{{"name": "a", "x": {constant}}}'.encode(), "card", LIMITS)


def test_a_5000_digit_integer_is_refused() -> None:
    with pytest.raises(CardTooLargeError, match="number that is too long"):
        parse_json_object(b'{"name": "a", "x": ' + b"9" * 5000 + b"}", "card", LIMITS)


@pytest.mark.parametrize("depth", [65, 900, 100_000])
def test_nesting_beyond_the_limit_is_refused(depth: int) -> None:
    nested = b"[" * depth + b"]" * depth
    with pytest.raises(CardTooLargeError, match="nested more than 64 levels"):
        parse_json_object(b'{"x": ' + nested + b"}", "card", LIMITS)


def test_nesting_at_the_limit_is_accepted() -> None:
    nested = b"[" * 63 + b"]" * 63
    value = parse_json_object(b'{"x": ' + nested + b"}", "card", LIMITS)["x"]
    depth = 1
    while value:
        value, depth = value[0], depth + 1
    assert depth == 63


def test_unpaired_surrogate_is_refused_but_a_pair_is_text() -> None:
    assert parse_json_object(b'{"e": "\\ud83d\\ude00"}', "card", LIMITS) == {"e": "😀"}
    with pytest.raises(CorruptCardError, match=r"unpaired UTF-16 surrogate \(\\ud800\)"):
        parse_json_object(b'{"e": "a\\ud800b"}', "card", LIMITS)
    with pytest.raises(CorruptCardError, match="surrogate"):
        parse_json_object(b'{"k\\udfff": 1}', "card", LIMITS)


@pytest.mark.parametrize(
    ("text", "kind"), [(b"[1]", "array"), (b'"s"', "string"), (b"3", "number")]
)
def test_card_json_must_be_an_object(text: bytes, kind: str) -> None:
    with pytest.raises(InvalidCardError, match=f"is a JSON {kind}, not an object"):
        parse_json_object(text, "card", LIMITS)


def test_decoded_json_larger_than_the_cap_is_refused() -> None:
    small = CardLimits(max_card_json_bytes=10)
    with pytest.raises(CardTooLargeError, match="card is 38 bytes; at most 10"):
        parse_json_object(b'{"name": "a", "d": "0123456789012345"}', "card", small)


def test_encoding_keeps_unicode_unescaped_and_text_exact() -> None:
    encoded = encode_json(CARD)
    assert "👩‍🚀".encode() in encoded
    assert b"\\r\\n" in encoded
    assert json.loads(encoded) == CARD


def test_encoding_refuses_what_json_cannot_hold() -> None:
    with pytest.raises(InvalidCardError, match="surrogate"):
        encode_json({"name": "a\ud800"})
    with pytest.raises(InvalidCardError, match="cannot be written as JSON"):
        encode_json({"x": float("nan")})


def test_value_count_is_bounded_before_parsing() -> None:
    limits = CardLimits(max_json_values=10)
    prose = '{"name": "a", "description": "' + 'commas, quotes \\" lots, ' * 20 + '"}'
    assert parse_json_object(prose.encode(), "card", limits)["name"] == "a"
    with pytest.raises(CardTooLargeError, match="card holds more than 10 values"):
        parse_json_object(b'{"name": "a", "tags": [' + b'"t",' * 10 + b'"t"]}', "card", limits)
