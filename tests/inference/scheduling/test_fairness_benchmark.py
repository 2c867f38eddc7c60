"""The fairness benchmark: its short run meets the targets and beats first come, first served."""

from benchmarks.fairness import jain_index, percentile, run


def test_the_short_run_meets_the_targets_and_beats_a_plain_queue() -> None:
    figures = {figure["name"]: figure for figure in run(quick=True)}
    assert figures["paid_p95_wait_s"]["value"] <= 1.0
    assert figures["free_max_wait_s"]["value"] <= figures["free_max_wait_s"]["baseline"]
    assert figures["fairness_index_free"]["value"] >= 0.9
    assert figures["fairness_index_paid"]["value"] >= 0.9
    assert figures["plus_p95_wait_s"]["value"] < figures["plus_p95_wait_s"]["baseline"]
    assert figures["pro_429s"]["value"] == 0
    assert all(set(figure) >= {"name", "value", "baseline", "unit"} for figure in figures.values())


def test_jains_index_and_percentiles() -> None:
    assert jain_index([1.0, 1.0, 1.0]) == 1.0
    assert jain_index([1.0, 0.0, 0.0, 0.0]) == 0.25
    assert percentile([3.0, 1.0, 2.0, 4.0], 0.5) == 2.0
    assert percentile([3.0, 1.0, 2.0, 4.0], 0.95) == 4.0
    assert percentile([], 0.95) == 0.0
