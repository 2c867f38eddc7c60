"""The sample character shipped with Galatea, for the terminal chat and the documentation."""

from importlib.resources import files

from galatea.core.characters import Character
from galatea.formats.cards import read_card

SAMPLE_CARD_FILE = "wren.json"


def sample_card_bytes() -> bytes:
    """The sample character's V3 card file as shipped."""
    return files("galatea.formats.samples").joinpath(SAMPLE_CARD_FILE).read_bytes()


def load_sample_character() -> Character:
    """Wren, keeper of the Saltmarrow lighthouse: an original, SFW V3 card."""
    return read_card(sample_card_bytes()).character
