"""The `scripted` backend kind: a fixed reply from configuration, for tests and demos."""

import pytest

from galatea.inference.backend import Finished, GenerationRequest, TextDelta
from galatea.inference.registry import BackendConfigError, BackendSpec, build_backend


async def test_a_scripted_backend_streams_its_configured_reply() -> None:
    backend = build_backend(
        BackendSpec(kind="scripted", options={"reply": "Two words", "token_delay": 0})
    )
    events = [event async for event in backend.stream(GenerationRequest("hi", max_tokens=8))]
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Two words"
    final = events[-1]
    assert isinstance(final, Finished) and final.reason == "stop"
    assert final.usage.generated_tokens == 2


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"voice": "x"}, "no option 'voice'"),
        ({"reply": 3}, "text 'reply'"),
        ({"token_delay": True}, "token_delay"),
        ({"token_delay": 99}, "0 to 10 seconds"),
    ],
)
def test_bad_options_are_refused_by_name(options: dict[str, object], message: str) -> None:
    with pytest.raises(BackendConfigError, match=message):
        build_backend(BackendSpec(kind="scripted", options=options))  # type: ignore[arg-type]
