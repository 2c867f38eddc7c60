"""Files in and out: reading uploads, serving stored images and downloads.

Stored images are served with the type they were re-encoded to, `nosniff` (from the header
middleware) and `inline` disposition; downloads get an `attachment` disposition whose file
name is encoded for any browser.
"""

import hashlib
from urllib.parse import quote

from fastapi import Request, UploadFile
from starlette.datastructures import FormData
from starlette.responses import Response

from galatea.core.records import Image
from galatea.services.errors import InvalidInput

UPLOAD_CHUNK = 1024 * 1024
_IMAGE_NAMES = {"image/png": "avatar.png", "image/jpeg": "avatar.jpg"}


MAX_FORM_FIELDS = 1000


async def read_form(request: Request) -> FormData:
    """The request's form, parsed once: a text field may be as large as a whole JSON body
    (a lorebook pasted into the character form), and a form may carry an import's files."""
    web = request.app.state.settings.web
    return await request.form(
        max_files=web.max_import_files + 5,
        max_fields=MAX_FORM_FIELDS,
        max_part_size=web.max_body_bytes,
    )


async def read_upload(upload: UploadFile, *, field: str = "file") -> bytes:
    """The uploaded file's bytes (the request size was bounded before it was parsed)."""
    data = await upload.read()
    if not data:
        raise InvalidInput(field, "the file is empty")
    return data


def image_response(request: Request, image: Image) -> Response:
    """An image answer that browsers may keep for a while and revalidate by ETag."""
    etag = '"' + hashlib.sha256(image.data).hexdigest()[:32] + '"'
    headers = {
        "ETag": etag,
        "Cache-Control": "private, max-age=86400",
        "Content-Disposition": f'inline; filename="{_IMAGE_NAMES.get(image.media_type, "avatar")}"',
    }
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    return Response(image.data, media_type=image.media_type, headers=headers)


def download_response(data: bytes, filename: str, media_type: str) -> Response:
    """A file to save, under a name safe in the header whatever its characters."""
    ascii_name = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    disposition = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
    return Response(data, media_type=media_type, headers={"Content-Disposition": disposition})
