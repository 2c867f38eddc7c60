"""V3 decorators: parsing, fallbacks, invalid values, and content left byte for byte."""

from hypothesis import given, settings
from hypothesis import strategies as st

from galatea.core.lore_decorators import Decorators, parse_decorators


def test_decorators_are_read_and_removed_with_the_blank_lines_around_them() -> None:
    decorators, content = parse_decorators(
        "\n@@depth 2\n@@role user\n@@scan_depth 6\n\nThe lamp burns oil.\r\nSecond line."
    )
    assert (decorators.depth, decorators.role, decorators.scan_depth) == (2, "user", 6)
    assert content == "The lamp burns oil.\r\nSecond line."


def test_content_without_decorators_is_untouched() -> None:
    text = "\n  Leading space and a trailing newline\n"
    assert parse_decorators(text) == (Decorators(), text)


def test_activation_rules() -> None:
    decorators, _ = parse_decorators(
        "@@activate_only_after 3\n@@activate_only_every 2\n@@ignore_on_max_context\nx"
    )
    assert decorators.activate_only_after == 3
    assert decorators.activate_only_every == 2
    assert decorators.ignore_on_max_context
    assert decorators.conditional


def test_activate_wins_over_dont_activate() -> None:
    assert parse_decorators("@@dont_activate\nx")[0].dont_activate
    both, _ = parse_decorators("@@dont_activate\n@@activate\nx")
    assert both.activate and not both.dont_activate


def test_key_lists_accumulate_over_repeated_lines() -> None:
    decorators, _ = parse_decorators(
        "@@additional_keys a, b\n@@additional_keys c\n@@exclude_keys d\nx"
    )
    assert decorators.additional_keys == ("a", "b", "c")
    assert decorators.exclude_keys == ("d",)


def test_a_fallback_is_used_only_when_the_decorator_above_is_not_understood() -> None:
    unknown_first, _ = parse_decorators("@@risu_magic 4\n@@@depth 3\nx")
    assert unknown_first.depth == 3
    assert unknown_first.ignored == ("risu_magic",)
    known_first, _ = parse_decorators("@@depth 5\n@@@depth 3\nx")
    assert known_first.depth == 5


def test_fallback_chains_are_followed_to_the_first_usable_one() -> None:
    decorators, _ = parse_decorators("@@a_thing 1\n@@@b_thing 2\n@@@activate_only_every 4\nx")
    assert decorators.activate_only_every == 4


def test_invalid_values_are_ignored() -> None:
    decorators, _ = parse_decorators(
        "@@depth deep\n@@role narrator\n@@activate_only_every 0\n@@position top\n@@activate yes\nx"
    )
    assert decorators == Decorators(
        ignored=("depth", "role", "activate_only_every", "position", "activate")
    )


def test_only_the_first_of_a_name_counts() -> None:
    decorators, _ = parse_decorators("@@depth 1\n@@depth 9\nx")
    assert decorators.depth == 1


def test_position_overrides_depth() -> None:
    decorators, _ = parse_decorators("@@depth 1\n@@position after_desc\nx")
    assert (decorators.position, decorators.depth) == ("after_desc", None)


def test_an_at_sign_line_later_in_the_text_is_content() -> None:
    _, content = parse_decorators("Text first\n@@depth 2")
    assert content == "Text first\n@@depth 2"


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parsing_any_text_keeps_the_rest_verbatim(text: str) -> None:
    decorators, content = parse_decorators(text)
    if decorators == Decorators():
        assert content == text or text.lstrip().startswith("@@")
    assert text.endswith(content)
