"""How attempts are keyed: IPv4 as is, IPv6 per /64, usernames case-folded."""

import pytest

from galatea.services.throttle import account_key, address_key


@pytest.mark.parametrize(
    ("address", "key"),
    [
        ("192.0.2.7", "192.0.2.7"),
        ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
        ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
        ("2001:db8:1:3::1", "2001:db8:1:3::/64"),
        ("::ffff:192.0.2.7", "192.0.2.7"),
        (" 192.0.2.7 ", "192.0.2.7"),
        ("unix-socket", "unix-socket"),
        ("", None),
        (None, None),
    ],
)
def test_address_keys(address: str | None, key: str | None) -> None:
    assert address_key(address) == key


def test_account_keys_ignore_case_and_are_bounded() -> None:
    assert account_key(" Alice ") == account_key("ALICE") == "alice"
    assert len(account_key("x" * 500)) == 64
