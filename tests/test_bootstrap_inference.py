"""The inference wiring of the composition root: backends and tiers from settings."""

import json
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from galatea.bootstrap import StartupError, backend_sources, build_services, load_tiers
from galatea.config import BackendSettings, ChatSettings, EngineSettings, Settings
from galatea.inference.remote.openai_compat import OpenAICompatibleBackend
from galatea.services.passwords import Argon2PasswordHasher


def test_no_backends_configured_means_the_embedded_engine(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, engine=EngineSettings(max_sequences=3))
    [source] = backend_sources(settings)
    assert (source.name, source.pool, source.slots) == ("embedded", "default", 3)


def test_configured_backends_are_pooled_and_built_from_their_settings(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path,
        backends=[
            BackendSettings(
                kind="openai",
                url="http://127.0.0.1:9",
                dialect="llamacpp",
                pool="big",
                slots=6,
                api_key=SecretStr("sk-secret"),
                first_token_timeout=5,
            ),
            BackendSettings(kind="embedded", pool="small", options={"max_sequences": 2}),
        ],
    )
    remote, embedded = backend_sources(settings)
    assert (remote.name, remote.pool, remote.slots) == ("openai-1", "big", 6)
    assert (embedded.name, embedded.pool, embedded.slots) == ("embedded-2", "small", 2)
    backend = remote.open()
    assert isinstance(backend, OpenAICompatibleBackend)
    assert "sk-secret" not in repr(settings.backends[0])


def test_backend_settings_read_from_the_environment_as_json(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(
        "GALATEA_BACKENDS", '[{"kind": "koboldai", "url": "http://127.0.0.1:5001", "slots": 2}]'
    )
    [source] = backend_sources(Settings(data_dir=tmp_path))
    assert (source.name, source.slots) == ("koboldai-1", 2)
    monkeypatch.setenv("GALATEA_BACKENDS", '[{"kind": "openai", "uri": "typo"}]')
    with pytest.raises(ValidationError, match="uri"):
        Settings(data_dir=tmp_path)


def test_two_backends_with_one_name_are_refused(tmp_path: Path) -> None:
    twin = BackendSettings(kind="openai", url="http://127.0.0.1:9", name="gpu")
    with pytest.raises(StartupError, match="two backends are named 'gpu'"):
        backend_sources(Settings(data_dir=tmp_path, backends=[twin, twin]))


TIER = {
    "weight": 2.0,
    "max_context_tokens": 1024,
    "max_reply_tokens": 64,
    "messages_per_day": 10,
    "concurrency": 1,
    "queue_cap": 5,
    "queued_per_user": 1,
    "ageing_bound_s": 30.0,
}


def test_tiers_come_from_a_json_or_toml_file(tmp_path: Path) -> None:
    tier = TIER
    as_json = tmp_path / "tiers.json"
    as_json.write_text(json.dumps({"free": tier}))
    assert list(load_tiers(Settings(data_dir=tmp_path, tiers_file=as_json))) == ["free"]
    as_toml = tmp_path / "tiers.toml"
    as_toml.write_text(
        "[basic]\n" + "\n".join(f"{k} = {json.dumps(v)}" for k, v in tier.items()) + "\n"
    )
    assert load_tiers(Settings(data_dir=tmp_path, tiers_file=as_toml))["basic"].weight == 2.0
    assert list(load_tiers(Settings(data_dir=tmp_path))) == ["free", "plus", "pro"]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("{not json", "tiers.json"),
        ('{"free": {"weight": 1}}', "missing setting"),
        (json.dumps({"free": {**TIER, "weight": -1}}), "weight must be a number above 0"),
    ],
)
def test_a_bad_tiers_file_stops_the_start_with_a_clear_line(
    tmp_path: Path, content: str, problem: str
) -> None:
    path = tmp_path / "tiers.json"
    path.write_text(content)
    with pytest.raises(StartupError, match=problem):
        load_tiers(Settings(data_dir=tmp_path, tiers_file=path))
    with pytest.raises(StartupError, match="cannot be read"):
        load_tiers(Settings(data_dir=tmp_path, tiers_file=tmp_path / "missing.json"))


async def test_preloading_a_missing_model_fails_the_start_in_words(
    tmp_path: Path, password_hasher: Argon2PasswordHasher
) -> None:
    settings = Settings(
        data_dir=tmp_path,
        engine=EngineSettings(model=str(tmp_path / "nothing.gguf"), repack="off"),
        chats=ChatSettings(preload_backends=True),
    )
    services = build_services(settings, hasher=password_hasher)
    with pytest.raises(StartupError, match="the text backends cannot be opened"):
        await services.start()
    await services.close()


async def test_without_preloading_the_site_starts_and_the_model_loads_on_first_need(
    tmp_path: Path, password_hasher: Argon2PasswordHasher
) -> None:
    settings = Settings(data_dir=tmp_path, engine=EngineSettings(model=str(tmp_path / "x")))
    services = build_services(settings, hasher=password_hasher)
    await services.start()
    try:
        assert services.engines.running is None
        with pytest.raises(Exception, match="x"):
            await services.engines.ready()
    finally:
        await services.close()
