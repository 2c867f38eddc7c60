"""One-time re-packing of weights that lack a fast CPU kernel, cached in the data directory.

The bundled SmolLM2 ships as Q4_1, which this llama.cpp build runs without a fast kernel path.
Measured here on 2 cores: re-packed to Q8_0 it prefills about twice as fast with the same
perplexity; Q4_0 is faster still but loses quality (perplexity up by about a sixth). "auto"
re-packs Q4_1 to Q8_0 on first load, keeps the result only if the perplexity on a fixed text
stays within `TOLERANCE` of the original, and records the verdict next to the file so the
check runs once.
"""

import ctypes
import hashlib
import json
import logging
import math
import os
import time
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path

import llama_cpp.llama_cpp as C
import numpy as np

from galatea.inference.llamacpp.config import Repack
from galatea.inference.llamacpp.native import NativeContext, NativeModel, TokenBatch, ensure_backend

logger = logging.getLogger(__name__)

FILE_TYPES = {"q4_0": 2, "q4_1": 3, "q8_0": 7}
AUTO_TARGETS = {FILE_TYPES["q4_1"]: "q8_0"}
"""Source file type -> re-pack target chosen by "auto"."""
TOLERANCE = 0.02
"""Largest relative perplexity increase accepted for an automatic re-pack."""


@dataclass(slots=True, frozen=True)
class RepackVerdict:
    """The outcome of a re-pack, stored as JSON beside the re-packed file."""

    source: str
    target: str
    accepted: bool
    perplexity_source: float | None = None
    perplexity_target: float | None = None
    seconds: float = 0.0


@dataclass(slots=True, frozen=True)
class Weights:
    """The GGUF file to load, and the re-pack verdict when one applied."""

    path: Path
    verdict: RepackVerdict | None = None


def fingerprint(path: Path) -> str:
    """A cheap identity of a weights file: its size and first and last MiB."""
    digest = hashlib.sha256()
    size = path.stat().st_size
    digest.update(str(size).encode())
    with path.open("rb") as handle:
        digest.update(handle.read(1 << 20))
        handle.seek(max(0, size - (1 << 20)))
        digest.update(handle.read(1 << 20))
    return digest.hexdigest()[:16]


def file_type(path: Path) -> int:
    """The llama_ftype recorded in a GGUF's metadata (-1 when absent)."""
    model = NativeModel(path, vocab_only=True)
    try:
        return int(model.metadata().get("general.file_type", "-1"))
    finally:
        model.close()


def reference_text() -> str:
    """The fixed English text perplexity is measured on."""
    return (resources.files(__package__) / "perplexity.txt").read_text(encoding="utf-8")


def measure_perplexity(path: Path, text: str, *, threads: int = 2) -> float:
    """Perplexity of the model at `path` on `text` (evaluated in 512-token chunks)."""
    model = NativeModel(path)
    tokens = model.tokenize(text, parse_special=False)
    chunk = 512
    context = NativeContext(
        model,
        sequences=1,
        context_per_sequence=max(256, len(tokens) + 8),
        batch_size=chunk,
        threads=threads,
    )
    batch = TokenBatch(chunk)
    total = 0.0
    counted = 0
    try:
        for start in range(0, len(tokens) - 1, chunk):
            piece = tokens[start : start + chunk]
            batch.clear()
            for offset, token in enumerate(piece):
                batch.add(token, start + offset, 0, output=True)
            if context.decode(batch) != 0:
                raise RuntimeError("decode failed while measuring perplexity")
            pointer = C.llama_get_logits(context.handle)
            logits = np.ctypeslib.as_array(pointer, shape=(len(piece) * model.n_vocab,))
            rows = logits.reshape(len(piece), model.n_vocab).astype(np.float64)
            peak = rows.max(axis=1)
            log_norm = peak + np.log(np.exp(rows - peak[:, None]).sum(axis=1))
            for offset in range(len(piece)):
                following = start + offset + 1
                if following < len(tokens):
                    total += float(log_norm[offset] - rows[offset, tokens[following]])
                    counted += 1
    finally:
        batch.close()
        context.close()
        model.close()
    return math.exp(total / max(1, counted))


def quantize(source: Path, target: Path, file_type_id: int, *, threads: int = 2) -> None:
    """Write `source` re-quantised to `file_type_id` at `target`."""
    ensure_backend()
    params = C.llama_model_quantize_default_params()
    params.ftype = file_type_id
    params.allow_requantize = True
    params.nthread = threads
    status = C.llama_model_quantize(
        str(source).encode(), str(target).encode(), ctypes.byref(params)
    )
    if status != 0:
        raise RuntimeError(f"llama_model_quantize failed with status {status}")


def prepare_weights(
    source: Path, cache_dir: Path | None, mode: Repack, *, threads: int = 2
) -> Weights:
    """The weights to load: `source`, or its re-packed copy (made and checked once, then cached)."""
    if mode == "off" or cache_dir is None:
        return Weights(source)
    current = file_type(source)
    target = AUTO_TARGETS.get(current) if mode == "auto" else mode
    if target is None or FILE_TYPES[target] == current:
        return Weights(source)
    folder = cache_dir / "models"
    out = folder / f"{source.stem}.{target}.{fingerprint(source)}.gguf"
    verdict_path = out.with_suffix(".json")
    verdict = _read_verdict(verdict_path)
    if verdict is not None and (not verdict.accepted or out.is_file()):
        return Weights(out if verdict.accepted else source, verdict)
    folder.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    scratch = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        quantize(source, scratch, FILE_TYPES[target], threads=threads)
        before = after = None
        accepted = True
        if mode == "auto":
            text = reference_text()
            before = measure_perplexity(source, text, threads=threads)
            after = measure_perplexity(scratch, text, threads=threads)
            accepted = after <= before * (1 + TOLERANCE)
        if accepted:
            os.replace(scratch, out)
    finally:
        scratch.unlink(missing_ok=True)
    verdict = RepackVerdict(
        source=source.name,
        target=target,
        accepted=accepted,
        perplexity_source=before,
        perplexity_target=after,
        seconds=round(time.perf_counter() - started, 3),
    )
    _write_verdict(verdict_path, verdict)
    logger.info("re-pack of %s to %s: %s", source.name, target, verdict)
    return Weights(out if accepted else source, verdict)


def _read_verdict(path: Path) -> RepackVerdict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return RepackVerdict(**data)
    except (OSError, ValueError, TypeError):
        return None


def _write_verdict(path: Path, verdict: RepackVerdict) -> None:
    scratch = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    scratch.write_text(json.dumps(asdict(verdict), indent=2), encoding="utf-8")
    os.replace(scratch, path)
