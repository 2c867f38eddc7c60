"""Avatar images: decoded to decide the type, bounded before decoding, re-encoded clean."""

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image as PillowImage
from PIL import PngImagePlugin

from galatea.services.errors import InvalidInput, TooLarge, UnsupportedMedia
from galatea.services.images import AvatarReader, ImagePolicy, read_image
from tests.formats.make_fixtures import fixture

POLICY = ImagePolicy()


def encode(picture: PillowImage.Image, fmt: str, **options: object) -> bytes:
    output = io.BytesIO()
    picture.save(output, format=fmt, **options)
    return output.getvalue()


def test_png_metadata_and_appended_data_are_dropped() -> None:
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "GPS 51.5N 0.1W")
    original = encode(PillowImage.new("RGBA", (6, 4), (1, 2, 3, 128)), "PNG", pnginfo=info)
    image = read_image(original + b"<html><script>alert(1)</script></html>", POLICY)
    assert image.media_type == "image/png"
    assert b"GPS" not in image.data and b"<script>" not in image.data
    reread = PillowImage.open(io.BytesIO(image.data))
    assert (reread.size, reread.mode, reread.getpixel((0, 0))) == ((6, 4), "RGBA", (1, 2, 3, 128))


def test_a_photo_is_turned_upright_and_loses_its_exif() -> None:
    exif = PillowImage.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    exif[0x010F] = "SecretCam"
    photo = encode(PillowImage.new("RGB", (40, 20), (250, 250, 250)), "JPEG", exif=exif.tobytes())
    image = read_image(photo, POLICY)
    reread = PillowImage.open(io.BytesIO(image.data))
    assert (image.media_type, reread.size) == ("image/jpeg", (20, 40))
    assert b"SecretCam" not in image.data and len(reread.getexif()) == 0


def test_webp_becomes_png() -> None:
    image = read_image(encode(PillowImage.new("RGB", (5, 5)), "WEBP"), POLICY)
    assert image.media_type == "image/png"
    assert PillowImage.open(io.BytesIO(image.data)).format == "PNG"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "PNG, JPEG"),
        (fixture("svg_named.png"), "PNG, JPEG or WebP"),
        (encode(PillowImage.new("RGB", (4, 4)), "GIF"), "PNG, JPEG or WebP"),
        (b"", "PNG, JPEG or WebP"),
    ],
)
def test_other_kinds_of_file_are_unsupported(data: bytes, message: str) -> None:
    with pytest.raises(UnsupportedMedia, match=message):
        read_image(data, POLICY)


def test_a_pixel_flood_is_refused_from_its_header() -> None:
    with pytest.raises(TooLarge, match=r"^avatar: the image (is \d+x\d+|has more) pixels"):
        read_image(fixture("pixel_flood.png"), POLICY)
    wide = encode(PillowImage.new("1", (5000, 4000)), "PNG")
    with pytest.raises(TooLarge, match=r"^avatar: the image is 5000x4000 pixels"):
        read_image(wide, POLICY)


def test_a_file_over_the_byte_limit_is_refused() -> None:
    with pytest.raises(TooLarge, match=r"at most 50$"):
        read_image(encode(PillowImage.new("RGB", (64, 64)), "PNG"), ImagePolicy(max_bytes=50))


def test_a_damaged_image_names_its_type() -> None:
    data = encode(PillowImage.new("RGB", (64, 64), (9, 9, 9)), "PNG")
    with pytest.raises(InvalidInput, match=r"^avatar: the PNG image is damaged or cannot be read$"):
        read_image(data[: len(data) // 2], POLICY)


async def test_the_reader_works_off_the_event_loop() -> None:
    reader = AvatarReader(POLICY)
    image = await reader.read(encode(PillowImage.new("RGB", (3, 3)), "PNG"), field="picture")
    assert image.media_type == "image/png"
    with pytest.raises(UnsupportedMedia, match=r"^picture: "):
        await reader.read(b"GIF89a", field="picture")


SEEDS = [
    encode(PillowImage.new("RGB", (7, 5), (30, 60, 90)), "PNG"),
    encode(PillowImage.new("RGB", (7, 5), (30, 60, 90)), "JPEG"),
    encode(PillowImage.new("RGBA", (7, 5), (30, 60, 90, 9)), "WEBP"),
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(SEEDS),
    position=st.integers(min_value=0, max_value=400),
    junk=st.binary(min_size=1, max_size=16),
    cut=st.booleans(),
)
def test_a_mangled_image_is_read_or_refused_with_a_clear_error(
    seed: bytes, position: int, junk: bytes, cut: bool
) -> None:
    position %= len(seed)
    mangled = seed[:position] + junk + (b"" if cut else seed[position + len(junk) :])
    try:
        image = read_image(mangled, POLICY)
    except InvalidInput as error:
        message = str(error)
    else:
        assert image.media_type in ("image/png", "image/jpeg")
        return
    assert message.startswith("avatar: ") and "\n" not in message
