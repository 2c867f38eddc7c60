"""`galatea bench shared-state` runs against a real Redis and reports every figure; without a
Redis server it reports nothing and says why."""

import pytest
from benchmarks import shared_state

NAMES = [
    "queue_cycle_ms_at_0",
    "queue_cycle_ms_at_50",
    "queue_cycle_ms_at_250",
    "quota_admission_ms",
    "stream_event_ms",
]


@pytest.mark.redis
def test_each_shared_piece_is_timed_against_its_in_process_twin(redis_url: str) -> None:
    figures = shared_state.run(quick=True, redis_url=redis_url)
    assert [figure["name"] for figure in figures] == NAMES
    for figure in figures:
        assert figure["unit"] == "ms"
        assert 0 < figure["baseline"] < figure["value"] < 1000
    by_name = {figure["name"]: figure["value"] for figure in figures}
    # The shared queue's state is read whole: more waiting requests cost more.
    assert by_name["queue_cycle_ms_at_250"] > by_name["queue_cycle_ms_at_0"]


def test_without_redis_nothing_is_reported(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GALATEA_REDIS_URL", raising=False)
    monkeypatch.delenv("GALATEA_TEST_REDIS_URL", raising=False)
    assert shared_state.run(quick=True) == []
    assert "set GALATEA_REDIS_URL" in capsys.readouterr().err
