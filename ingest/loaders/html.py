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
_BLOCK_TAGS = ["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "table", "blockquote", "pre", "dd"]


def _is_boilerplate(tag: object) -> bool:
    attrs = getattr(tag, "attrs", None) or {}
    marks = " ".join([*attrs.get("class", []), attrs.get("id", ""), attrs.get("role", "")])
    return any(hint in marks.lower() for hint in _BOILERPLATE_HINTS)


def parse_html(html: str) -> tuple[str, list[Block]]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(html, "html.parser")
    title = normalise_spaces(soup.title.get_text()) if soup.title else ""
    for tag in soup(_DROP):
        tag.decompose()
    for tag in soup.find_all(_is_boilerplate):
        if tag.name not in ("html", "body", "main", "article"):
            tag.decompose()
    root = soup.find("main") or soup.find("article") or soup.body or soup
    blocks: list[Block] = []
    for el in root.find_all(_BLOCK_TAGS):
        # Text inside a table or a list item is emitted with its container, once.
        if el.find_parent("table") is not None or el.find_parent("li") is not None:
            continue
        if el.name == "table":
            rows = []
            for tr in el.find_all("tr"):
                cells = [normalise_spaces(c.get_text(" ")) for c in tr.find_all(["th", "td"])]
                if any(cells):
                    rows.append(" | ".join(cells))
            if rows:
                blocks.append(Block(kind="table", text="\n".join(rows)))
            continue
        text = normalise_spaces(strip_invisible(el.get_text(" ")))
        if not text:
            continue
        if el.name[0] == "h" and el.name[1:].isdigit():
            blocks.append(Block(kind="heading", text=text, level=int(el.name[1:])))
        elif el.name == "li":
            blocks.append(Block(kind="paragraph", text=f"- {text}"))
        else:
            blocks.append(Block(kind="paragraph", text=text))
    return title, blocks


def load_html_file(path: Path) -> tuple[str, list[Block]]:
    title, blocks = parse_html(decode_text(path.read_bytes()))
    if not any(b.kind in ("paragraph", "table") for b in blocks):
        raise LoadError("no main text found in the HTML page")
    return title, blocks
