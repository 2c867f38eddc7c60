import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from galatea.cli.main import app
from tests.formats.make_fixtures import V3_CARD, fixture

runner = CliRunner()


def write_fixture(tmp_path: Path, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(fixture(name))
    return path


def test_show_prints_normalised_v3_json_on_stdout(tmp_path: Path) -> None:
    result = runner.invoke(app, ["card", "show", str(write_fixture(tmp_path, "v3.json"))])
    assert result.exit_code == 0
    assert result.stderr == ""
    assert json.loads(result.stdout) == V3_CARD
    assert result.stdout.startswith('{\n  "spec": "chara_card_v3",\n  "spec_version": "3.0",')
    assert "日本語のメモ" in result.stdout


def test_show_puts_warnings_on_stderr_only(tmp_path: Path) -> None:
    result = runner.invoke(app, ["card", "show", str(write_fixture(tmp_path, "card.charx"))])
    assert result.exit_code == 0
    assert result.stderr.startswith("warning: CharX members that are not images were left out")
    assert json.loads(result.stdout)["data"]["name"] == "Ixchel"


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("bad_crc.png", "error: PNG chunk 'tEXt' at byte 67 has a bad CRC\n"),
        ("svg_named.png", "error: svg_named.png: this is an SVG image, not a character card\n"),
        ("zip_slip.charx", "error: CharX member '../evil.png' uses '.' or '..' in its path\n"),
    ],
)
def test_bad_input_exits_2_with_one_line_on_stderr_and_nothing_on_stdout(
    tmp_path: Path, name: str, message: str
) -> None:
    result = runner.invoke(app, ["card", "show", str(write_fixture(tmp_path, name))])
    assert (result.exit_code, result.stdout, result.stderr) == (2, "", message)


def test_a_directory_is_not_a_card_file(tmp_path: Path) -> None:
    result = runner.invoke(app, ["card", "show", str(tmp_path)])
    assert (result.exit_code, result.stdout, result.stderr) == (
        2,
        "",
        f"error: {tmp_path}: not a file\n",
    )


def test_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["card", "show", str(tmp_path / "nope.png")])
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == f"error: {tmp_path / 'nope.png'}: no such file\n"


@pytest.mark.parametrize(
    ("target", "spec"), [("out.png", None), ("out.json", "chara_card_v3"), ("out.charx", None)]
)
def test_convert_writes_the_format_of_the_target_extension(
    tmp_path: Path, target: str, spec: str | None
) -> None:
    source = write_fixture(tmp_path, "v2_after_idat.png")
    result = runner.invoke(app, ["card", "convert", str(source), str(tmp_path / target)])
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    written = (tmp_path / target).read_bytes()
    if spec is not None:
        assert json.loads(written)["spec"] == spec
    shown = json.loads(runner.invoke(app, ["card", "show", str(tmp_path / target)]).stdout)
    original = json.loads(runner.invoke(app, ["card", "show", str(source)]).stdout)
    # CharX keeps the avatar as the card's main icon asset; nothing else may differ.
    assets = shown["data"].pop("assets", None)
    assert shown == original
    if target.endswith(".charx"):
        assert assets == [
            {
                "type": "icon",
                "uri": "embeded://assets/icon/images/main.png",
                "name": "main",
                "ext": "png",
            }
        ]


def test_convert_to_v2_json_on_request(tmp_path: Path) -> None:
    source = write_fixture(tmp_path, "v3.json")
    result = runner.invoke(app, ["card", "convert", "--v2", str(source), str(tmp_path / "v2.json")])
    assert result.exit_code == 0
    card = json.loads((tmp_path / "v2.json").read_bytes())
    assert (card["spec"], card["name"]) == ("chara_card_v2", "Ixchel")


def test_convert_with_a_new_avatar(tmp_path: Path) -> None:
    source = write_fixture(tmp_path, "v1.json")
    avatar = write_fixture(tmp_path, "v2_after_idat.png")
    result = runner.invoke(
        app, ["card", "convert", str(source), str(tmp_path / "out.charx"), "--avatar", str(avatar)]
    )
    assert result.exit_code == 0
    shown = json.loads(runner.invoke(app, ["card", "show", str(tmp_path / "out.charx")]).stdout)
    assert shown["data"]["assets"][0]["uri"] == "embeded://assets/icon/images/main.png"


def test_convert_warns_about_assets_the_target_cannot_carry(tmp_path: Path) -> None:
    source = write_fixture(tmp_path, "card.charx")
    result = runner.invoke(app, ["card", "convert", str(source), str(tmp_path / "out.json")])
    assert result.exit_code == 0
    assert (
        "warning: 2 embedded assets are not carried by json; use .charx to keep them"
        in result.stderr
    )


def test_convert_to_an_unknown_extension_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    source = write_fixture(tmp_path, "v1.json")
    result = runner.invoke(app, ["card", "convert", str(source), str(tmp_path / "out.yaml")])
    assert result.exit_code == 2
    assert result.stderr == (
        "error: cannot tell the card format from 'out.yaml': "
        "use a .png, .json or .charx file name\n"
    )
    assert sorted(path.name for path in tmp_path.iterdir()) == ["v1.json"]


def test_convert_of_a_bad_card_leaves_no_output_file(tmp_path: Path) -> None:
    source = write_fixture(tmp_path, "truncated.png")
    result = runner.invoke(app, ["card", "convert", str(source), str(tmp_path / "out.json")])
    assert result.exit_code == 2
    assert not (tmp_path / "out.json").exists()
