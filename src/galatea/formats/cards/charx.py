"""CharX: a zip with `card.json` at its root and assets addressed as `embeded://path`.

Reading never extracts to disk: the central directory is bounded before `zipfile` parses it,
every member name is checked (absolute paths, `..`, backslashes, NUL, duplicates), symlinks
and encrypted members are refused, and members are read in blocks that count the real bytes
against per-member, total and ratio caps. Only `card.json` and image assets are read; other
members (code, nested archives, model files) are listed in a warning and left alone.
"""

import io
import re
import struct
import zipfile
import zlib
from dataclasses import dataclass, field

from galatea.formats.cards.errors import (
    CardError,
    CardTooLargeError,
    CorruptCardError,
    NotACardError,
    UnsafeCardError,
)
from galatea.formats.cards.images import IMAGE_EXTENSIONS, sniff_image
from galatea.formats.cards.limits import MIB, CardLimits

CARD_MEMBER = "card.json"
EMBEDDED_PREFIX = "embeded://"
_EOCD = b"PK\x05\x06"
_EOCD64 = b"PK\x06\x06"
_EOCD_SEARCH = 22 + 65_535
_BYTES_PER_DIRECTORY_ENTRY = 1024
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".avif")
_DRIVE = re.compile(r"^[A-Za-z]:")
_BLOCK = 64 * 1024
_RISU_METADATA = "x_meta/"


@dataclass(slots=True)
class CharxContents:
    """What a CharX holds: the card JSON, image assets by URI, and any leading image."""

    card_json: bytes
    assets: dict[str, bytes] = field(default_factory=dict)
    prefix: bytes = b""
    """Bytes before the zip (the JPEG of a JPEG-with-CharX file)."""
    warnings: list[str] = field(default_factory=list)


def find_zip_start(data: bytes) -> int | None:
    """Where the first member of a zip begins (0 for a plain zip); None when there is none."""
    position = data.rfind(_EOCD, max(0, len(data) - _EOCD_SEARCH))
    if position < 0 or position + 22 > len(data):
        return None
    directory_size, directory_offset = struct.unpack_from("<II", data, position + 12)
    if directory_offset == 0xFFFFFFFF:
        return 0
    start: int = position - directory_size - directory_offset
    if start < 0 or data[start : start + 4] != b"PK\x03\x04":
        return None
    return start


def read_charx(data: bytes, limits: CardLimits) -> CharxContents:
    """Read `card.json` and the image assets of a CharX zip held in memory."""
    _check_directory(data, limits)
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError, OSError) as error:
        raise CorruptCardError(f"CharX is not a readable zip file: {error}") from None
    with archive:
        members = _checked_members(archive, limits)
        card = members.get(CARD_MEMBER)
        if card is None:
            nested = [name for name in members if name.rsplit("/", 1)[-1] == CARD_MEMBER]
            hint = f" (found {nested[0]!r}; it must be at the root)" if nested else ""
            raise NotACardError(f"card.json is missing from the CharX file{hint}")
        budget = _Budget(limits)
        contents = CharxContents(
            card_json=_read_member(archive, card, limits.max_card_json_bytes, budget)
        )
        start = find_zip_start(data) or 0
        contents.prefix = data[:start]
        skipped: list[str] = []
        for name, info in members.items():
            if name == CARD_MEMBER or info.is_dir():
                continue
            if not name.lower().endswith(_IMAGE_SUFFIXES):
                if not _is_risu_metadata(name):
                    skipped.append(name)
                continue
            if len(contents.assets) >= limits.max_assets:
                raise CardTooLargeError(f"CharX has more than {limits.max_assets} image assets")
            content = _read_member(archive, info, limits.max_zip_member_bytes, budget)
            if sniff_image(content) is None:
                skipped.append(name)
                continue
            contents.assets[EMBEDDED_PREFIX + name] = content
        if skipped:
            listed = ", ".join(repr(name[:60]) for name in skipped[:5])
            more = f" and {len(skipped) - 5} more" if len(skipped) > 5 else ""
            contents.warnings.append(
                f"CharX members that are not images were left out: {listed}{more}"
            )
        return contents


def _is_risu_metadata(name: str) -> bool:
    # RisuAI writes one x_meta/NAME.json per asset and ignores them on import; naming them in
    # the warning would hide the members that matter (a module, audio).
    return name.startswith(_RISU_METADATA) and name.endswith(".json")


def _check_directory(data: bytes, limits: CardLimits) -> None:
    # zipfile reads the whole central directory into objects before we can count them, so a
    # forged directory of millions of entries is refused from the end record first.
    position = data.rfind(_EOCD, max(0, len(data) - _EOCD_SEARCH))
    if position < 0 or position + 22 > len(data):
        raise CorruptCardError("CharX zip has no end record: the file is truncated or not a zip")
    entries, directory_size = struct.unpack_from("<HI", data, position + 10)
    if entries == 0xFFFF or directory_size == 0xFFFFFFFF:
        record = position - 20 - 56
        if record < 0 or data[record : record + 4] != _EOCD64:
            raise CorruptCardError("CharX zip64 end record is missing or misplaced")
        entries, directory_size = struct.unpack_from("<QQ", data, record + 32)
    if entries > limits.max_zip_members:
        raise CardTooLargeError(
            f"CharX has {entries} members; at most {limits.max_zip_members} are allowed"
        )
    if directory_size > limits.max_zip_members * _BYTES_PER_DIRECTORY_ENTRY:
        raise CardTooLargeError(f"CharX central directory is {directory_size} bytes, too large")


def _checked_members(archive: zipfile.ZipFile, limits: CardLimits) -> dict[str, zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > limits.max_zip_members:
        raise CardTooLargeError(
            f"CharX has {len(infos)} members; at most {limits.max_zip_members} are allowed"
        )
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = info.filename
        _check_name(info.orig_filename)
        _check_name(name)
        if info.flag_bits & 0x1:
            raise UnsafeCardError(f"CharX member {name[:60]!r} is encrypted")
        if (info.external_attr >> 16) & 0o170000 == 0o120000:
            raise UnsafeCardError(f"CharX member {name[:60]!r} is a symbolic link")
        if name in members:
            raise UnsafeCardError(f"CharX has two members named {name[:60]!r}")
        members[name] = info
    return members


def _check_name(name: str) -> None:
    shown = repr(name[:60])
    if not name or "\x00" in name:
        raise UnsafeCardError(f"CharX has a member with an empty or NUL-bearing name {shown}")
    if "\\" in name:
        raise UnsafeCardError(f"CharX member {shown} has a backslash in its path")
    if name.startswith("/") or _DRIVE.match(name):
        raise UnsafeCardError(f"CharX member {shown} has an absolute path")
    if any(part in ("..", ".") for part in name.split("/")):
        raise UnsafeCardError(f"CharX member {shown} uses '.' or '..' in its path")


class _Budget:
    """The uncompressed bytes still allowed for the whole archive."""

    def __init__(self, limits: CardLimits) -> None:
        self.remaining = limits.max_zip_total_bytes
        self.total = limits.max_zip_total_bytes
        self.ratio = limits.max_zip_ratio

    def spend(self, amount: int) -> None:
        self.remaining -= amount
        if self.remaining < 0:
            raise CardTooLargeError(
                f"CharX members add up to more than {self.total} bytes uncompressed"
            )


def _read_member(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int, budget: _Budget
) -> bytes:
    name = info.filename[:60]
    blocks: list[bytes] = []
    size = 0
    try:
        with archive.open(info) as member:
            while block := member.read(_BLOCK):
                size += len(block)
                budget.spend(len(block))
                if size > limit:
                    raise CardTooLargeError(
                        f"CharX member {name!r} is larger than {limit} bytes uncompressed"
                    )
                if size > MIB and size > max(info.compress_size, 1) * budget.ratio:
                    raise CardTooLargeError(
                        f"CharX member {name!r} expands more than {budget.ratio} times"
                    )
                blocks.append(block)
    except CardError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as error:
        raise CorruptCardError(f"CharX member {name!r} is damaged: {error}") from None
    except (NotImplementedError, RuntimeError) as error:
        raise CorruptCardError(f"CharX member {name!r} cannot be read: {error}") from None
    return b"".join(blocks)


def write_charx(card_json: bytes, files: dict[str, bytes], limits: CardLimits) -> bytes:
    """A CharX zip: `card.json` first, then each file at its path (images stored as they are)."""
    output = io.BytesIO()
    # A fixed timestamp makes the same card give the same bytes.
    stamp = (1980, 1, 1, 0, 0, 0)
    with zipfile.ZipFile(output, "w") as archive:
        archive.writestr(zipfile.ZipInfo(CARD_MEMBER, stamp), card_json, zipfile.ZIP_DEFLATED)
        for path, content in files.items():
            check_member_path(path)
            if path == CARD_MEMBER:
                raise UnsafeCardError("an asset cannot be named card.json")
            method = zipfile.ZIP_STORED if sniff_image(content) else zipfile.ZIP_DEFLATED
            archive.writestr(zipfile.ZipInfo(path, stamp), content, method)
    result = output.getvalue()
    if len(result) > limits.max_charx_file_bytes:
        raise CardTooLargeError(
            f"the CharX file would be {len(result)} bytes; at most "
            f"{limits.max_charx_file_bytes} are allowed"
        )
    return result


def asset_folder(ext: str) -> str:
    """The folder kind the V3 spec suggests for an asset's extension."""
    ext = ext.lower()
    if ext in IMAGE_EXTENSIONS.values() or ext in ("jpeg", "png"):
        return "images"
    if ext in ("mp3", "ogg", "wav", "flac", "m4a", "opus"):
        return "audio"
    if ext in ("mp4", "webm", "mkv", "mov"):
        return "video"
    return "other"


def check_member_path(path: str) -> None:
    """Refuse a path we would not accept when reading, before writing it into a zip."""
    _check_name(path)
