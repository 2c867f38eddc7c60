"""Avatar images: the one gate every uploaded or imported picture passes before it is stored.

The type is decided by decoding, never by the file name or the declared type: only PNG, JPEG
and WebP are accepted (SVG, HTML and the rest are refused), the pixel count is checked from
the header before any pixels are decoded, and the picture is re-encoded from its pixels, which
drops metadata (EXIF, GPS, text chunks) and anything appended to the file. JPEG stays JPEG;
PNG and WebP become PNG.
"""

import asyncio
import io
import struct
import warnings
from dataclasses import dataclass

from PIL import Image as PillowImage
from PIL import ImageOps, UnidentifiedImageError

from galatea.core.records import Image
from galatea.services.errors import InvalidInput, TooLarge, UnsupportedMedia

MIB = 1024 * 1024
JPEG_QUALITY = 90
_DECODERS = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


@dataclass(frozen=True, slots=True)
class ImagePolicy:
    """Bounds on avatar images."""

    max_bytes: int = 8 * MIB
    """The file as uploaded."""
    max_pixels: int = 4096 * 4096
    """Width times height, checked from the header before decoding."""


def sniff_image_type(data: bytes) -> str | None:
    """png, jpeg or webp from the file's first bytes; None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def read_image(data: bytes, policy: ImagePolicy, *, field: str = "avatar") -> Image:
    """The picture re-encoded without metadata, or an error naming what is wrong with it."""
    if len(data) > policy.max_bytes:
        raise TooLarge(field, f"the image is {len(data)} bytes; at most {policy.max_bytes}")
    kind = sniff_image_type(data)
    if kind is None:
        raise UnsupportedMedia(field, "must be a PNG, JPEG or WebP image")
    try:
        with warnings.catch_warnings():
            # Pillow only warns about a decompression bomb below twice its own limit.
            warnings.simplefilter("error", PillowImage.DecompressionBombWarning)
            with PillowImage.open(io.BytesIO(data), formats=[_DECODERS[kind]]) as picture:
                width, height = picture.size
                if width * height > policy.max_pixels:
                    raise TooLarge(
                        field,
                        f"the image is {width}x{height} pixels; "
                        f"at most {policy.max_pixels} pixels are allowed",
                    )
                picture.load()
                return _reencode(picture, kind)
    except (InvalidInput, MemoryError):
        raise
    except (PillowImage.DecompressionBombError, PillowImage.DecompressionBombWarning):
        raise TooLarge(
            field, f"the image has more pixels than the {policy.max_pixels} allowed"
        ) from None
    except (
        UnidentifiedImageError,
        OSError,
        ValueError,
        SyntaxError,
        struct.error,
        EOFError,
    ):
        raise InvalidInput(
            field, f"the {kind.upper()} image is damaged or cannot be read"
        ) from None


async def read_image_in_thread(data: bytes, policy: ImagePolicy, *, field: str = "avatar") -> Image:
    """`read_image` off the event loop: decoding a large picture takes a while."""
    return await asyncio.to_thread(read_image, data, policy, field=field)


def _reencode(picture: PillowImage.Image, kind: str) -> Image:
    # A photo's EXIF orientation is applied to the pixels, since the EXIF itself is dropped.
    upright = ImageOps.exif_transpose(picture)
    has_alpha = "A" in upright.getbands() or "transparency" in upright.info
    output = io.BytesIO()
    if kind == "jpeg":
        upright.convert("RGB").save(output, format="JPEG", quality=JPEG_QUALITY, optimize=True)
        return Image(data=output.getvalue(), media_type="image/jpeg")
    upright.convert("RGBA" if has_alpha else "RGB").save(output, format="PNG")
    return Image(data=output.getvalue(), media_type="image/png")


class AvatarReader:
    """Checks and re-encodes avatar uploads under one policy (personas, users, characters)."""

    def __init__(self, policy: ImagePolicy) -> None:
        self.policy = policy

    async def read(self, data: bytes, *, field: str = "avatar") -> Image:
        """The upload as a stored image, or an error naming what is wrong with it."""
        return await read_image_in_thread(data, self.policy, field=field)
