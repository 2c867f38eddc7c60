"""Markdown written by users (creator notes, later chat messages) turned into safe HTML.

One path for all of it: markdown-it with raw HTML off, images turned into plain links (a
remote image is never fetched by the browser: that would leak the reader's address, and with
prompt injection the chat, to whoever hosts it), then nh3 as the last step with a small
allowlist of tags, attributes and link schemes.
"""

from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.token import Token
from markupsafe import Markup

ALLOWED_TAGS = frozenset(
    {
        "p", "br", "hr", "em", "strong", "del", "s", "code", "pre", "blockquote",
        "ul", "ol", "li", "a", "h1", "h2", "h3", "h4", "h5", "h6",
        "table", "thead", "tbody", "tr", "th", "td",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "ol": {"start"}}
LINK_SCHEMES = frozenset({"http", "https", "mailto"})
LINK_REL = "nofollow noopener noreferrer"


def _image_as_link(
    renderer: Any, tokens: Sequence[Token], index: int, options: Any, env: Any
) -> str:
    token = tokens[index]
    label = renderer.renderInlineAsText(token.children or [], options, env).strip() or "image"
    source = str(token.attrGet("src") or "")
    return f'<a href="{escapeHtml(source)}">[image: {escapeHtml(label)}]</a>'


@lru_cache(maxsize=1)
def _parser() -> MarkdownIt:
    parser = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    parser.enable(["strikethrough", "table"])
    parser.add_render_rule("image", _image_as_link)
    return parser


def sanitize_html(html: str) -> str:
    """HTML reduced to the allowlist: no script, style, handler, image or foreign scheme."""
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes={tag: set(names) for tag, names in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(LINK_SCHEMES),
        link_rel=LINK_REL,
        strip_comments=True,
    )


def render_markdown(text: str) -> Markup:
    """User-written Markdown as HTML that is safe to put into a page."""
    if not text.strip():
        return Markup("")
    return Markup(sanitize_html(_parser().render(text)))
