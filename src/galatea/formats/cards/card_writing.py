"""Writing a character as a card file: PNG (both chunks), JSON (V3 or V2) or CharX.

Changing container moves the avatar where the target expects it: a PNG card is its avatar (its
main icon becomes `ccdefault:`, the spec's name for the PNG itself), a CharX file keeps it as
the main `icon` asset. A written card only names embedded files (`embeded://`, `__asset:`)
that the same file carries: RisuAI refuses a whole card when one of them is missing, so
entries for assets the target cannot carry, or whose bytes we never had, are left out of it.
`assets_left_out` names the ones we had, so the caller can tell the user.
"""

import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Literal

from galatea.core.characters import Asset, Character
from galatea.formats.cards.card_json import write_card_object
from galatea.formats.cards.card_reading import main_icon
from galatea.formats.cards.charx import EMBEDDED_PREFIX, asset_folder, write_charx
from galatea.formats.cards.errors import CardTooLargeError, InvalidCardError
from galatea.formats.cards.images import IMAGE_EXTENSIONS, sniff_image
from galatea.formats.cards.limits import DEFAULT_LIMITS, CardLimits
from galatea.formats.cards.payloads import encode_json
from galatea.formats.cards.png_cards import ASSET_URI_PREFIX, write_png_card

CardFormat = Literal["png", "json", "json_v2", "charx"]
CARD_FORMATS: tuple[CardFormat, ...] = ("png", "json", "json_v2", "charx")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
DEFAULT_URI = "ccdefault:"
_REMOTE = ("http://", "https://", "data:", DEFAULT_URI)


def write_card(
    character: Character,
    fmt: CardFormat,
    avatar: bytes | None = None,
    assets: Mapping[str, bytes] | None = None,
    limits: CardLimits = DEFAULT_LIMITS,
) -> bytes:
    """The card file in the given format; `assets` maps the URIs the card uses to their bytes."""
    assets = assets or {}
    if fmt == "png":
        if avatar is None:
            icon = main_icon(character.assets)
            avatar = assets.get(icon.uri) if icon is not None else None
        return write_png_card(_png_entries(character, assets), avatar, assets, limits)
    if fmt in ("json", "json_v2"):
        carried = _keep_entries(character, lambda asset: not _is_embedded(asset.uri))
        card = write_card_object(carried, "v3" if fmt == "json" else "v2")
        text = encode_json(card, indent=2) + b"\n"
        if len(text) > limits.max_json_file_bytes:
            raise CardTooLargeError(
                f"the JSON card would be {len(text)} bytes; at most "
                f"{limits.max_json_file_bytes} are allowed"
            )
        return text
    if fmt == "charx":
        placed, files = place_charx_assets(character, avatar, assets)
        card_json = encode_json(write_card_object(placed, "v3"))
        if len(card_json) > limits.max_card_json_bytes:
            raise CardTooLargeError(
                f"card.json would be {len(card_json)} bytes; at most "
                f"{limits.max_card_json_bytes} are allowed"
            )
        return write_charx(card_json, files, limits)
    raise InvalidCardError(f"unknown card format {fmt!r}; use one of {', '.join(CARD_FORMATS)}")


def place_charx_assets(
    character: Character, avatar: bytes | None, assets: Mapping[str, bytes]
) -> tuple[Character, dict[str, bytes]]:
    """The character with asset URIs pointing into the zip, and the zip's files by path."""
    files: dict[str, bytes] = {}
    entries = (
        None
        if character.assets is None
        else [replace(asset, extra=dict(asset.extra)) for asset in character.assets]
    )
    for asset in entries or []:
        content = assets.get(asset.uri)
        if content is None:
            continue
        if asset.uri.startswith(EMBEDDED_PREFIX):
            files[asset.uri[len(EMBEDDED_PREFIX) :]] = content
        elif not asset.uri.startswith(_REMOTE):
            # An asset from another container (a PNG's `__asset:` chunk) becomes a zip file.
            path = _free_path(asset.type, asset.name or "asset", asset.ext, files)
            asset.uri = EMBEDDED_PREFIX + path
            files[path] = content
    if avatar is not None:
        entries = _place_avatar(entries, avatar, files)
    placed = replace(character, assets=entries)
    return _keep_entries(placed, lambda asset: _zip_path(asset.uri) in files), files


def _png_entries(character: Character, assets: Mapping[str, bytes]) -> Character:
    icon = main_icon(character.assets)
    entries: list[Asset] = []
    for asset in character.assets or []:
        if asset is icon and _is_embedded(asset.uri):
            entries.append(replace(asset, uri=DEFAULT_URI, ext="png"))
        elif not asset.uri.startswith(EMBEDDED_PREFIX) and (
            not asset.uri.startswith(ASSET_URI_PREFIX) or asset.uri in assets
        ):
            entries.append(asset)
    return character if character.assets is None else replace(character, assets=entries)


def _keep_entries(character: Character, carried: Callable[[Asset], bool]) -> Character:
    """The character without the embedded asset entries its file will not carry."""
    if character.assets is None:
        return character
    kept = [a for a in character.assets if not _is_embedded(a.uri) or carried(a)]
    return replace(character, assets=kept)


def _is_embedded(uri: str) -> bool:
    return uri.startswith((EMBEDDED_PREFIX, ASSET_URI_PREFIX))


def _zip_path(uri: str) -> str | None:
    return uri[len(EMBEDDED_PREFIX) :] if uri.startswith(EMBEDDED_PREFIX) else None


def _place_avatar(
    entries: list[Asset] | None, avatar: bytes, files: dict[str, bytes]
) -> list[Asset]:
    kind = sniff_image(avatar)
    if kind is None:
        raise InvalidCardError("the avatar is not a PNG, JPEG, WebP, GIF or AVIF image")
    ext = IMAGE_EXTENSIONS[kind]
    icon = main_icon(entries)
    if icon is None or entries is None:
        path = _free_path("icon", "main", ext, files)
        files[path] = avatar
        return [
            Asset(type="icon", uri=EMBEDDED_PREFIX + path, name="main", ext=ext),
            *(entries or []),
        ]
    current = icon.uri[len(EMBEDDED_PREFIX) :] if icon.uri.startswith(EMBEDDED_PREFIX) else None
    if icon.uri == DEFAULT_URI or (current is not None and current not in files):
        if current is not None and icon.ext.lower() in (ext, kind):
            path = current
        else:
            path = _free_path("icon", icon.name or "main", ext, files)
            icon.uri, icon.ext = EMBEDDED_PREFIX + path, ext
        files[path] = avatar
    return entries


def _free_path(asset_type: str, name: str, ext: str, files: Mapping[str, bytes]) -> str:
    folder = _safe(asset_type) or "other"
    stem = _safe(name) or "asset"
    suffix = _safe(ext.lower()) or "bin"
    base = f"assets/{folder}/{asset_folder(suffix)}/{stem}"
    path, number = f"{base}.{suffix}", 1
    while path in files:
        number += 1
        path = f"{base}-{number}.{suffix}"
    return path


def _safe(text: str) -> str:
    return _UNSAFE_NAME.sub("_", text).strip("._")[:64]


def assets_left_out(
    character: Character, fmt: CardFormat, assets: Mapping[str, bytes]
) -> list[str]:
    """URIs of embedded assets whose bytes the chosen format will not carry."""
    embedded = [asset.uri for asset in character.assets or [] if asset.uri in assets]
    if fmt == "charx":
        return []
    if fmt == "png":
        icon = main_icon(character.assets)
        kept = {icon.uri} if icon is not None else set()
        return [uri for uri in embedded if not uri.startswith(ASSET_URI_PREFIX) and uri not in kept]
    return embedded
