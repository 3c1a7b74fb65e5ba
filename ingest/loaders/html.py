"""HTML pages: the main content only (navigation, headers, footers, scripts, forms dropped)."""

from __future__ import annotations

from pathlib import Path

from ingest.blocks import Block, LoadError
from ingest.cleaning import normalise_spaces, strip_invisible
from ingest.loaders.text import decode_text

_DROP = [
    "script",
    "style",
    "noscript",
    "nav",
    "header",
    "footer",
    "aside",
    "form",
    "button",
    "svg",
    "iframe",
    "template",
    "menu",
]
_BOILERPLATE_HINTS = (
    "cookie",
    "breadcrumb",
    "navbar",
    "menu",
    "sidebar",
    "footer",
    "share",
    "skip-link",
    "site-header",
    "banner",
)
_BLOCK_TAGS = {
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "p",
    "li",
    "table",
    "blockquote",
    "pre",
    "dt",
    "dd",
    "figcaption",
    "caption",
}
# Inline content: part of the text around it, not a block of its own.
_INLINE_TAGS = {
    "a",
    "abbr",
    "b",
    "bdi",
    "bdo",
    "br",
    "cite",
    "code",
    "data",
    "del",
    "dfn",
    "em",
    "i",
    "ins",
    "kbd",
    "mark",
    "q",
    "s",
    "samp",
    "small",
    "span",
    "strong",
    "sub",
    "sup",
    "time",
    "u",
    "var",
    "wbr",
}
_PAGE_CHROME = ("header", "footer")


def _collapse(text: str) -> str:
    """HTML white space, line breaks included, is one space (except inside <pre>)."""
    return normalise_spaces(" ".join(strip_invisible(text).split()))


def _text(el) -> str:
    """The text of an element: inline markup joined as written ("<b>EU</b>-wide" is
    "EU-wide"), a space for a line break or a nested block."""
    from bs4 import NavigableString, Tag
    from bs4.element import PreformattedString

    parts: list[str] = []
    for node in el.descendants:
        if isinstance(node, NavigableString):
            if not isinstance(node, PreformattedString):
                parts.append(str(node))
        elif isinstance(node, Tag) and node.name not in _INLINE_TAGS - {"br", "wbr"}:
            parts.append(" ")
    return "".join(parts)


def _is_boilerplate(tag: object) -> bool:
    attrs = getattr(tag, "attrs", None) or {}
    marks = " ".join([*attrs.get("class", []), attrs.get("id", ""), attrs.get("role", "")])
    return any(hint in marks.lower() for hint in _BOILERPLATE_HINTS)


def _holds_content(tag) -> bool:
    """The element is, or wraps, the page's main content."""
    return tag.name in ("html", "body", "main", "article") or (
        tag.find(["main", "article"]) is not None
    )


def _table_block(table) -> Block | None:
    rows = []
    for tr in table.find_all("tr"):
        cells = [_collapse(_text(c)) for c in tr.find_all(["th", "td"])]
        if any(cells):
            rows.append(" | ".join(cells))
    return Block(kind="table", text="\n".join(rows)) if rows else None


def _element_block(el) -> Block | None:
    if el.name == "table":
        return _table_block(el)
    raw = _text(el)
    if el.name == "pre":
        lines = (normalise_spaces(x) for x in strip_invisible(raw).split("\n"))
        text = "\n".join(x for x in lines if x)
    else:
        text = _collapse(raw)
    if not text:
        return None
    if el.name[0] == "h" and el.name[1:].isdigit():
        return Block(kind="heading", text=text, level=int(el.name[1:]))
    if el.name == "li":
        return Block(kind="paragraph", text=f"- {text}")
    return Block(kind="paragraph", text=text)


def _walk(el, blocks: list[Block]) -> None:
    """Blocks in reading order; text sitting directly in a container (a <div>, a <section>)
    becomes a paragraph of its own."""
    from bs4 import NavigableString, Tag
    from bs4.element import PreformattedString

    inline: list[str] = []

    def flush() -> None:
        text = _collapse("".join(inline))
        inline.clear()
        if text:
            blocks.append(Block(kind="paragraph", text=text))

    for child in el.children:
        if isinstance(child, NavigableString):
            if not isinstance(child, PreformattedString):  # comments, doctype, CDATA
                inline.append(str(child))
            continue
        if not isinstance(child, Tag):
            continue
        if child.name in _BLOCK_TAGS:
            flush()
            if block := _element_block(child):
                blocks.append(block)
        elif child.name in _INLINE_TAGS:
            inline.append(" " if child.name in ("br", "wbr") else _text(child))
        else:
            flush()
            _walk(child, blocks)
    flush()


def parse_html(html: str) -> tuple[str, list[Block]]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    title = _collapse(soup.title.get_text()) if soup.title else ""
    for tag in soup(_DROP):
        # A page's banner and footer go; an article's own header (its title) stays.
        if tag.name in _PAGE_CHROME and tag.find_parent(["main", "article"]) is not None:
            continue
        tag.decompose()
    for tag in soup.find_all(_is_boilerplate):
        if not _holds_content(tag):
            tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.body or soup
    blocks: list[Block] = []
    _walk(root, blocks)
    return title, blocks


def load_html_file(path: Path) -> tuple[str, list[Block]]:
    title, blocks = parse_html(decode_text(path.read_bytes()))
    if not any(b.kind in ("paragraph", "table") for b in blocks):
        raise LoadError("no main text found in the HTML page")
    return title, blocks
