"""The bits of WordprocessingML that python-docx has no API for: external hyperlinks (a
`w:hyperlink` with a relationship to the URL, so Word opens it on click), links to a bookmark
inside the document, bookmarks, and the PAGE field."""

from __future__ import annotations

import itertools

from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.text.paragraph import Paragraph

_BOOKMARK_IDS = itertools.count(1)


def _run(text: str, style_id: str | None) -> OxmlElement:
    run = OxmlElement("w:r")
    if style_id:
        props = OxmlElement("w:rPr")
        style = OxmlElement("w:rStyle")
        style.set(qn("w:val"), style_id)
        props.append(style)
        run.append(props)
    node = OxmlElement("w:t")
    node.text = text
    node.set(qn("xml:space"), "preserve")
    run.append(node)
    return run


def add_hyperlink(paragraph: Paragraph, url: str, text: str, style_id: str | None = None) -> None:
    """A clickable link to an external URL (relationship TargetMode="External"); the run in
    the character style `style_id`."""
    rel_id = paragraph.part.relate_to(url, RT.HYPERLINK, is_external=True)
    link = OxmlElement("w:hyperlink")
    link.set(qn("r:id"), rel_id)
    link.set(qn("w:history"), "1")
    link.append(_run(text, style_id))
    paragraph._p.append(link)


def add_internal_link(paragraph: Paragraph, bookmark: str, text: str, style_id: str) -> None:
    """A link to a bookmark of this document (a [n] marker to its source entry)."""
    link = OxmlElement("w:hyperlink")
    link.set(qn("w:anchor"), bookmark)
    link.append(_run(text, style_id))
    paragraph._p.append(link)


def add_bookmark(paragraph: Paragraph, name: str) -> None:
    """A bookmark around the paragraph's start, the target of internal links."""
    ident = str(next(_BOOKMARK_IDS))
    start = OxmlElement("w:bookmarkStart")
    start.set(qn("w:id"), ident)
    start.set(qn("w:name"), name)
    end = OxmlElement("w:bookmarkEnd")
    end.set(qn("w:id"), ident)
    props = paragraph._p.pPr
    index = 1 if props is not None else 0
    paragraph._p.insert(index, start)
    paragraph._p.insert(index + 1, end)


def add_page_field(paragraph: Paragraph) -> None:
    """The current page number (Word's PAGE field)."""
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), "PAGE")
    field.append(_run("1", None))
    paragraph._p.append(field)
