"""Instruct templates: the registry, name placeholders and stop strings."""

import pytest

from galatea.core.errors import TemplateError
from galatea.core.prompting.templates import fill, get_template, list_templates

ALL = ["pygmalion", "metharme", "chatml", "llama3", "mistral", "alpaca", "gemma", "gguf"]


def test_every_template_the_issue_names_is_registered() -> None:
    assert list_templates() == ALL


@pytest.mark.parametrize("name", ALL)
def test_templates_are_found_by_name_in_any_case(name: str) -> None:
    assert get_template(f" {name.upper()} ").name == name


def test_unknown_template_names_the_known_ones() -> None:
    with pytest.raises(TemplateError, match=r"unknown template 'vicuna'.*pygmalion, metharme"):
        get_template("vicuna")


@pytest.mark.parametrize("name", [n for n in ALL if n != "gguf"])
def test_each_data_template_names_its_stop_strings(name: str) -> None:
    assert get_template(name).stops("Aria", "Sam")


def test_stop_strings_get_names_and_lose_duplicates() -> None:
    stops = get_template("chatml").stops("Aria", "Sam")
    assert "\nSam:" in stops
    assert len(stops) == len(set(stops))


def test_pygmalion_stops_on_the_literal_you_line() -> None:
    assert "\nYou:" in get_template("pygmalion").stops("Aria", "Sam")


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("{char}'s Persona: {text}", "Aria's Persona: {user} and {text}"),
        ("{unknown} {char", "{unknown} {char"),
        ("{{char}}", "{Aria}"),
    ],
)
def test_fill_replaces_placeholders_once_and_never_inside_values(
    pattern: str, expected: str
) -> None:
    assert fill(pattern, char="Aria", user="Sam", text="{user} and {text}") == expected
