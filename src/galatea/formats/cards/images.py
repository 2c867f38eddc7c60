"""Images around cards: sniffing image types, the default avatar, and conversion to PNG.

Only conversion decodes pixels (with Pillow, restricted to common formats and with the pixel
count checked from the header first); everything else reads a few magic bytes.
"""

import io
import struct
import warnings
import zlib
from functools import lru_cache

from galatea.formats.cards.errors import CardTooLargeError, CorruptCardError
from galatea.formats.cards.limits import CardLimits
from galatea.formats.cards.png_chunks import PNG_SIGNATURE, encode_chunk

IMAGE_EXTENSIONS = {"png": "png", "jpeg": "jpg", "webp": "webp", "gif": "gif", "avif": "avif"}
_DEFAULT_SIZE = (400, 600)
_TOP_COLOUR = (196, 181, 230)
_BOTTOM_COLOUR = (58, 66, 120)


def sniff_image(data: bytes) -> str | None:
    """The image type from its magic bytes: png, jpeg, webp, gif or avif; None otherwise."""
    if data.startswith(PNG_SIGNATURE):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if data[4:12] in (b"ftypavif", b"ftypavis"):
        return "avif"
    return None


@lru_cache(maxsize=1)
def default_avatar_png() -> bytes:
    """A small, valid 400x600 PNG (a soft vertical gradient) for cards without an avatar."""
    width, height = _DEFAULT_SIZE
    rows = []
    for y in range(height):
        mix = y / (height - 1)
        colour = bytes(
            round(top + (bottom - top) * mix)
            for top, bottom in zip(_TOP_COLOUR, _BOTTOM_COLOUR, strict=True)
        )
        rows.append(b"\x00" + colour * width)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join(
        (
            PNG_SIGNATURE,
            encode_chunk("IHDR", header),
            encode_chunk("IDAT", zlib.compress(b"".join(rows), 9)),
            encode_chunk("IEND", b""),
        )
    )


def convert_to_png(image: bytes, limits: CardLimits) -> bytes:
    """Re-encode a JPEG, WebP or GIF avatar as PNG (first frame), within the pixel limit."""
    from PIL import Image, UnidentifiedImageError  # imported here: only conversion needs Pillow

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(image), formats=["PNG", "JPEG", "WEBP", "GIF"]) as picture:
                width, height = picture.size
                if width * height > limits.max_image_pixels:
                    raise CardTooLargeError(
                        f"avatar image is {width}x{height} pixels; "
                        f"at most {limits.max_image_pixels} are allowed"
                    )
                picture.load()
                mode = (
                    "RGBA" if "A" in picture.getbands() or "transparency" in picture.info else "RGB"
                )
                output = io.BytesIO()
                picture.convert(mode).save(output, format="PNG", optimize=False)
                return output.getvalue()
    except CardTooLargeError:
        raise
    except (
        UnidentifiedImageError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as error:
        raise CorruptCardError(f"avatar image cannot be read: {error}") from None
    except (OSError, ValueError, SyntaxError, struct.error) as error:
        raise CorruptCardError(f"avatar image is damaged: {error}") from None
