"""Remote engines over HTTP: OpenAI-compatible servers in their own parameter dialects, and
KoboldCpp through the KoboldAI API.

    endpoints.py      where a server is, its credentials and time limits
    dialects.py       our samplers in each engine's field names; what each engine ignores
    openai_compat.py  OpenAICompatibleBackend (/v1/completions, /v1/chat/completions)
    koboldai.py       KoboldAIBackend (/api/extra/generate/stream, abort by genkey)
    streams.py        one relay for both: deadlines, stop strings, usage, partial text
    sse.py            server-sent events decoding, bounded
    responses.py      bounded bodies, the server's error message, typed failures
    tokenizers.py     tokenize routes per server, or an approximate count
    discovery.py      model name, context length and chat template from the server
"""

from galatea.inference.remote.dialects import DIALECTS, Dialect, get_dialect
from galatea.inference.remote.endpoints import Endpoint, EndpointError, Timeouts
from galatea.inference.remote.koboldai import KoboldAIBackend
from galatea.inference.remote.openai_compat import OpenAICompatibleBackend

__all__ = [
    "DIALECTS",
    "Dialect",
    "Endpoint",
    "EndpointError",
    "KoboldAIBackend",
    "OpenAICompatibleBackend",
    "Timeouts",
    "get_dialect",
]
