"""Reading rendered HTML the way an attacker would hope a browser does: what could run?"""

from html.parser import HTMLParser

ACTIVE_TAGS = frozenset({"iframe", "object", "embed", "frame", "base", "style", "link", "meta"})
URL_ATTRIBUTES = frozenset(
    {"href", "src", "action", "formaction", "srcset", "xlink:href", "poster"}
)
SAFE_SCHEMES = ("http://", "https://", "mailto:")


class _Inspector(HTMLParser):
    def __init__(self, allowed_heads: frozenset[str]) -> None:
        super().__init__(convert_charrefs=True)
        self.problems: list[str] = []
        self.allowed_heads = allowed_heads
        self.in_head = True

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "body":
            self.in_head = False
        values = {name.lower(): (value or "") for name, value in attrs}
        if tag == "script" and not values.get("src", "").startswith("/static/"):
            self.problems.append(f"script not from /static/: {values}")
        if tag in ACTIVE_TAGS and not (self.in_head and tag in self.allowed_heads):
            self.problems.append(f"<{tag}> in the page")
        if tag == "img" and not values.get("src", "").startswith(("/", "data:")):
            self.problems.append(f"image from elsewhere: {values.get('src')}")
        for name, value in values.items():
            if name.startswith("on"):
                self.problems.append(f"event handler {name}={value!r}")
            if name == "style":
                self.problems.append(f"inline style {value!r}")
            if name in URL_ATTRIBUTES:
                url = "".join(value.split()).lower()
                foreign = ":" in url.split("/")[0] and not url.startswith(SAFE_SCHEMES)
                if foreign and not (tag == "img" and url.startswith("data:image/")):
                    self.problems.append(f"{name} with a foreign scheme: {value!r}")


def unsafe_markup(html: str) -> list[str]:
    """What in the page could run script, load remote content or restyle the site."""
    inspector = _Inspector(frozenset({"link", "meta"}))
    inspector.feed(html)
    inspector.close()
    return inspector.problems
