"""Bounds applied to every card file we read, so a hostile upload costs little to refuse.

Defaults follow the starting values of the security notes (section 6); every one can be
overridden by passing another `CardLimits` (`dataclasses.replace(DEFAULT_LIMITS, ...)`).
"""

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class CardLimits:
    """Size, count and shape limits for card files (JSON, PNG, WebP, CharX)."""

    max_json_file_bytes: int = 8 * MIB
    """A card uploaded as a JSON file."""
    max_image_file_bytes: int = 16 * MIB
    """A card uploaded as a PNG, APNG or WebP image."""
    max_charx_file_bytes: int = 64 * MIB
    """A CharX zip (or a JPEG with a CharX zip appended)."""
    max_card_json_bytes: int = 8 * MIB
    """The card JSON once decoded from base64, a text chunk or a zip member."""
    max_json_depth: int = 64
    """Nesting of objects and arrays in the card JSON."""
    max_json_values: int = 500_000
    """Values (strings, numbers, objects, ...) in the card JSON; bounds the memory parsing takes,
    which for tiny values is many times the size of the text."""
    max_container_chunks: int = 2_000
    """PNG chunks or WebP (RIFF) chunks in one image."""
    max_chunk_bytes: int = 12 * MIB
    """One PNG or RIFF chunk; room for the base64 of the largest allowed card JSON."""
    max_trailing_bytes: int = 4096
    """Bytes tolerated after the PNG `IEND` chunk or the end of the RIFF container."""
    max_image_pixels: int = 4096 * 4096
    """Width times height of an avatar image, checked from its header."""
    max_zip_members: int = 1_000
    """Entries in a CharX zip, directories included."""
    max_zip_member_bytes: int = 32 * MIB
    """Uncompressed bytes of one CharX member, counted while reading."""
    max_zip_total_bytes: int = 256 * MIB
    """Uncompressed bytes of all CharX members read together."""
    max_zip_ratio: int = 100
    """Uncompressed-to-compressed ratio allowed for members larger than 1 MiB."""
    max_name_chars: int = 256
    """The character's name."""
    max_text_chars: int = 200_000
    """Each long text field: description, greetings, examples, lore content, ..."""
    max_list_items: int = 64
    """Tags, alternate greetings and group-only greetings, each."""
    max_lore_entries: int = 5_000
    """Entries of the embedded lorebook."""
    max_regex_key_chars: int = 1_000
    """One key of a lorebook entry that uses regular expressions."""
    max_assets: int = 1_000
    """Asset entries of a V3 card and embedded asset files."""

    def max_file_bytes(self) -> int:
        """The largest file any card format may be."""
        return max(self.max_json_file_bytes, self.max_image_file_bytes, self.max_charx_file_bytes)


DEFAULT_LIMITS = CardLimits()
