"""`galatea bench cards`: how long importing a 3 MB PNG card takes, against a bare baseline.

Two cards of about 3 MB are generated: one whose size is a large lorebook (1 150 entries in the
`chara` and `ccv3` chunks, as our writer stores it) and one whose size is its avatar (random,
incompressible pixels) around a small card. Importing is `read_card` on the file's bytes read
from disk: the bounded chunk walk with CRC checks, base64, JSON parsing with the depth and
surrogate checks, and the mapping to `Character`. The baseline, measured in the same process,
is the least any importer must do: read the file's bytes and `json.loads` the card payload
(already extracted and decoded). The ratio is the price of checking and normalising.
"""

import base64
import json
import random
import statistics
import struct
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from galatea.core.characters import Character
from galatea.core.lorebooks import Lorebook, LoreEntry
from galatea.formats.cards import read_card, write_card

_WORDS = (
    *("harbour", "lantern", "tide", "cinder", "orchard", "ledger", "falcon", "copper"),
    *("meadow", "whisper", "archive", "compass", "granite", "velvet", "ember", "saffron"),
    *("glacier", "tapestry", "quarry", "beacon"),
)


def run(*, quick: bool = False) -> list[dict[str, Any]]:
    """Import both 3 MB cards several times; return median times against the baseline."""
    repeats = 3 if quick else 9
    with tempfile.TemporaryDirectory() as folder:
        lore_card = Path(folder) / "lorebook.png"
        lore_card.write_bytes(write_card(_lorebook_character(), "png"))
        avatar_card = Path(folder) / "avatar.png"
        avatar_card.write_bytes(write_card(Character(name="Big avatar"), "png", _noise_png()))
        return [
            _figure("import 3 MB PNG card, large lorebook", lore_card, repeats),
            _figure("import 3 MB PNG card, large avatar", avatar_card, repeats),
        ]


def _figure(name: str, path: Path, repeats: int) -> dict[str, Any]:
    payload = json.dumps(
        json.loads(base64.b64decode(_ccv3_text(path.read_bytes()))), ensure_ascii=False
    ).encode("utf-8")
    value = _median_ms(lambda: read_card(path.read_bytes()), repeats)
    baseline = _median_ms(lambda: (path.read_bytes(), json.loads(payload)), repeats)
    return {
        "name": f"{name} ({path.stat().st_size / 1e6:.1f} MB)",
        "value": round(value, 2),
        "baseline": round(baseline, 2),
        "ratio": round(value / baseline, 2),
        "unit": "ms",
    }


def _median_ms(action: Callable[[], object], repeats: int) -> float:
    action()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def _lorebook_character() -> Character:
    chooser = random.Random(7)
    entries = [
        LoreEntry(
            keys=[f"{chooser.choice(_WORDS)}-{index}", chooser.choice(_WORDS)],
            content=" ".join(chooser.choice(_WORDS) for _ in range(110)),
            insertion_order=index,
            id=index,
            extensions={"depth": 4, "probability": 100},
        )
        for index in range(1_150)
    ]
    return Character(
        name="Archivist",
        description="Keeper of an enormous archive.",
        first_mes="Welcome to the stacks.",
        character_book=Lorebook(entries=entries, name="The archive"),
    )


def _noise_png() -> bytes:
    side = 1000
    noise = random.Random(11).randbytes(side * side * 3)
    rows = b"".join(b"\x00" + noise[row * side * 3 : (row + 1) * side * 3] for row in range(side))
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)),
            _chunk(b"IDAT", zlib.compress(rows, 1)),
            _chunk(b"IEND", b""),
        )
    )


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _ccv3_text(data: bytes) -> bytes:
    marker = data.index(b"tEXtccv3\x00")
    length = struct.unpack(">I", data[marker - 4 : marker])[0]
    return data[marker + 9 : marker + 4 + length]


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
