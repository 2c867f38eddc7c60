"""User Markdown to safe HTML: the sanitiser is the last step and nothing active survives it."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from galatea.web.markup import render_markdown, sanitize_html
from tests.web.markup_checks import unsafe_markup

HOSTILE = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "[a](javascript:alert(1))",
    "[a](JAVASCRIPT:alert(1))",
    "[a](vbscript:msgbox(1))",
    "[a](data:text/html,<script>alert(1)</script>)",
    "![x](https://attacker.example/beacon.png)",
    "![x](data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+)",
    "<a href='javascript:alert(1)'>x</a>",
    "<svg><script>alert(1)</script></svg>",
    "<style>*{display:none}</style>",
    "<iframe src=https://attacker.example></iframe>",
    "<p style='position:fixed'>x</p>",
    '<a href="https://ok.example" onclick="alert(1)">x</a>',
    "> <details open ontoggle=alert(1)>",
    "```\n<script>alert(1)</script>\n```",
    "[x](java\tscript:alert(1))",
    "<!-- <script>alert(1)</script> -->",
]


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_markdown_renders_inert(text: str) -> None:
    html = str(render_markdown(text))
    assert unsafe_markup(html) == []
    assert "<img" not in html and "<script" not in html.lower()


def test_a_remote_image_becomes_a_link_that_is_never_loaded() -> None:
    html = str(render_markdown("![the map](https://example.org/map.png)"))
    assert html == (
        '<p><a href="https://example.org/map.png" rel="nofollow noopener noreferrer">'
        "[image: the map]</a></p>\n"
    )


def test_ordinary_markdown_keeps_its_shape() -> None:
    html = str(render_markdown("# Title\n\n*soft* **bold** `code`\n\n- one\n- two\n\n> quoted"))
    for fragment in ("<h1>Title</h1>", "<em>soft</em>", "<strong>bold</strong>", "<li>one</li>"):
        assert fragment in html
    assert "<blockquote>" in html


def test_empty_text_renders_nothing() -> None:
    assert str(render_markdown("  \n ")) == ""


MARKUP_ALPHABET = st.sampled_from(
    ["<", ">", "/", "=", '"', "'", " ", "a", "img", "script", "src", "onerror", "href",
     "javascript:", "https://x.example", "[", "]", "(", ")", "!", "*", "`", "\n", "&", "#"]
)  # fmt: skip


@settings(max_examples=300, deadline=None)
@given(st.lists(MARKUP_ALPHABET, max_size=60).map("".join))
def test_any_text_renders_without_active_content(text: str) -> None:
    html = str(render_markdown(text))
    assert unsafe_markup(html) == []


@settings(max_examples=300, deadline=None)
@given(st.lists(MARKUP_ALPHABET, max_size=60).map("".join))
def test_sanitizing_twice_changes_nothing(text: str) -> None:
    once = sanitize_html(text)
    assert sanitize_html(once) == once
    assert unsafe_markup(once) == []
