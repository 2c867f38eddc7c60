"""`galatea admin`: the first admin and account management from the command line."""

from pathlib import Path

import pytest
from typer.testing import CliRunner

from galatea.cli.main import app

runner = CliRunner()
PASSWORD = "correct horse battery staple\n"


@pytest.fixture(autouse=True)
def data_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    monkeypatch.delenv("GALATEA_DATABASE_URL", raising=False)
    monkeypatch.setenv("GALATEA_DATA_DIR", str(tmp_path / "data"))
    # The ASVS minimum rather than the default, to keep the test quick.
    monkeypatch.setenv("GALATEA_ACCOUNTS__PASSWORD_HASH_TIME_COST", "1")
    monkeypatch.setenv("GALATEA_ACCOUNTS__PASSWORD_HASH_MEMORY_KIB", "47104")
    return tmp_path / "data"


def _admin(*args: str, stdin: str = PASSWORD) -> tuple[int, str]:
    result = runner.invoke(app, ["admin", *args], input=stdin)
    return result.exit_code, result.output


def test_the_first_admin_is_created_on_a_fresh_install(data_dir: Path) -> None:
    code, output = _admin("create-user", "root", "--admin", "--password-stdin")
    assert (code, output.strip()) == (0, "created admin 'root'")
    assert (data_dir / "galatea.db").is_file()
    code, output = _admin("list-users")
    assert output.splitlines() == ["root\tadmin\tfree\t-"]


def test_the_password_prompt_asks_twice_and_hides_input() -> None:
    code, output = _admin("create-user", "bob", stdin="a good passphrase\na good passphrase\n")
    assert code == 0
    assert "created user 'bob'" in output
    assert "a good passphrase" not in output


def test_refusals_are_one_line_errors() -> None:
    assert _admin("create-user", "root", "--admin", "--password-stdin")[0] == 0
    code, output = _admin("create-user", "ROOT", "--password-stdin")
    assert (code, output.strip()) == (1, "error: the username 'ROOT' is taken")
    code, output = _admin("create-user", "weak", "--password-stdin", stdin="short\n")
    assert code == 1
    assert output.strip() == "error: password: must be at least 8 characters long"
    code, output = _admin("set-role", "nobody", "admin")
    assert (code, output.strip()) == (1, "error: user not found")
    code, output = _admin("create-user", "x", "--admin", "--moderator", "--password-stdin")
    assert code == 2


def test_roles_passwords_and_disabling() -> None:
    _admin("create-user", "root", "--admin", "--password-stdin")
    _admin("create-user", "alice", "--password-stdin")
    assert _admin("set-role", "alice", "moderator") == (0, "'alice' is now moderator\n")
    code, output = _admin("set-role", "root", "user")
    assert (code, output.strip()) == (
        1,
        "error: this is the only admin; make another user admin first",
    )
    assert _admin("set-password", "alice", "--password-stdin", stdin="another passphrase\n")[0] == 0
    assert _admin("disable", "alice")[0] == 0
    assert "alice\tmoderator\tfree\tdisabled" in _admin("list-users")[1]
    assert _admin("enable", "alice")[0] == 0
    assert "alice\tmoderator\tfree\t-" in _admin("list-users")[1]
