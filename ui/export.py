"""Inform drafts (the /v1/inform JSON, possibly edited on the page) exported as Markdown and
as a Word document that an NCP can send to a colleague.

Both carry the "AI-generated draft — verify before use" marking in the text and in their
metadata (YAML front matter; the .docx core properties, header and footer) and the draft's own
note (not the chat answer's disclosure). Sources are numbered entries with the passage quoted
and a link to the original publication's public address (`source_url`, from the catalog) —
never to the API on the sender's machine. A sentence with no [n] that resolves to a source
(typically an edited one) is flagged where it stands. Sections the documents do not cover
are left out, with a note to the author. The .docx is A4 in the house styles of
ui/docx_style.py.
"""

from __future__ import annotations

import io
import ipaddress
import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH

from common.texts import Texts
from common.texts import text as locale_text
from ui import docx_style as house
from ui import markdown as md
from ui.docx_xml import add_bookmark, add_hyperlink, add_internal_link, add_page_field

DRAFT_MARKING = locale_text("en", "inform", "draft_marking")
GENERATOR = "EMN policy assistant"
AUTHOR = f"{GENERATOR} (AI-generated)"
UNVERIFIED_SOURCE = locale_text("en", "ui", "unverified_source")
_SECTION_SEPARATOR = " > "


def edited_draft(draft: dict[str, Any], title: str, texts: list[str]) -> dict[str, Any]:
    """The draft with the title and section texts as edited on the page; `edited` says
    whether anything differs from what the API returned (and signed)."""
    sections = [
        {**section, "text": texts[i] if i < len(texts) else section.get("text", "")}
        for i, section in enumerate(draft.get("sections", []))
    ]
    new_title = title.strip() or draft.get("title", "")
    edited = new_title != draft.get("title") or any(
        s.get("text") != o.get("text")
        for s, o in zip(sections, draft.get("sections", []), strict=True)
    )
    return {**draft, "title": new_title, "sections": sections, "edited": edited}


def is_public_url(url: str) -> bool:
    """An absolute http(s) URL a colleague can open: not this machine (loopback, 0.0.0.0,
    localhost)."""
    parts = urlsplit(str(url))
    host = (parts.hostname or "").lower()
    if parts.scheme not in {"http", "https"} or not host:
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return True
    return not (address.is_loopback or address.is_unspecified)


def with_absolute_urls(draft: dict[str, Any], base: str) -> dict[str, Any]:
    """API-relative citation URLs made absolute under `base`, the API's public address
    (EMN_API_PUBLIC_URL); a loopback or empty base changes nothing, so that no export links
    to the sender's machine."""
    base = base.rstrip("/")
    if not is_public_url(base):
        return draft
    citations = [
        {**c, "url": base + c["url"]} if str(c.get("url", "")).startswith("/") else c
        for c in draft.get("citations", [])
    ]
    return {**draft, "citations": citations}


def public_link(citation: dict[str, Any]) -> str:
    """Where an exported source links: the original publication (`source_url`), else the
    passage in a publicly served API; '' when neither exists."""
    for key in ("source_url", "url"):
        url = str(citation.get(key) or "")
        if is_public_url(url):
            return url
    return ""


def marking(draft: dict[str, Any]) -> str:
    return str(draft.get("marking") or DRAFT_MARKING)


def _texts(draft: dict[str, Any]) -> Texts:
    return Texts(str(draft.get("language") or "en"))


def draft_note(draft: dict[str, Any]) -> str:
    """The line under the marking: how the draft was made and what to check. The draft's
    `disclosure` is the chat answer's and does not fit a brief."""
    return _texts(draft).inform("draft_note")


def export_filename(draft: dict[str, Any], ext: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", str(draft.get("topic", "draft")).lower()).strip("-")
    return f"emn-inform-draft-{slug[:60] or 'draft'}.{ext}"


def location(citation: dict[str, Any]) -> str:
    """'Reference, Article 5 › National Contact Points, p. 4' (the document title's own
    heading dropped from the section path)."""
    title = str(citation.get("title") or "")
    parts = [
        p.strip()
        for p in str(citation.get("section_path") or "").split(_SECTION_SEPARATOR)
        if p.strip() and p.strip() != title
    ]
    where = [str(citation["reference"])] if citation.get("reference") else []
    if parts:
        where.append(" › ".join(parts)[:200])
    if citation.get("page"):
        where.append(f"p. {citation['page']}")
    return ", ".join(where)


def source_line(citation: dict[str, Any]) -> str:
    """'[3] Title — Reference, Section, p. 4', and for a source without a catalog entry
    ' [Unverified source: ...]' so the warning travels with the exported draft."""
    line = f"[{citation.get('marker')}] {citation.get('title') or citation.get('doc_id')}"
    where = location(citation)
    if where:
        line += f" — {where}"
    if md.is_unverified(citation):
        line += f" [{UNVERIFIED_SOURCE}]"
    return line


def _quote(citation: dict[str, Any]) -> str:
    return " ".join(str(citation.get("quote", "")).split())


def _known(draft: dict[str, Any]) -> set[int]:
    return {int(c["marker"]) for c in draft.get("citations", []) if "marker" in c}


def _lines(text: str) -> list[tuple[bool, str]]:
    """(is a bullet, text) per non-empty line of a section."""
    out = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        bullet = line[:2] in {"- ", "* "}
        out.append((bullet, line[2:].strip() if bullet else line))
    return out


def written_sections(draft: dict[str, Any]) -> tuple[list[dict[str, Any]], list[str]]:
    """The sections with text, and the headings of those left empty (not exported)."""
    kept, omitted = [], []
    for section in draft.get("sections", []):
        if str(section.get("text", "")).strip():
            kept.append(section)
        else:
            omitted.append(str(section.get("heading", "")))
    return kept, omitted


def flagged_sentences(draft: dict[str, Any]) -> list[str]:
    """The sentences the export flags: no [n] that resolves to one of the draft's sources."""
    known = _known(draft)
    return [
        sentence
        for section in draft.get("sections", [])
        for sentence in md.uncited_sentences(str(section.get("text", "")), known)
    ]


def _provenance(draft: dict[str, Any]) -> dict[str, str]:
    versions = draft.get("versions") or {}
    return {
        "generator": GENERATOR,
        "ai_generated": "true",
        "marking": marking(draft),
        "trace_id": str(draft.get("trace_id", "")),
        "created": str(draft.get("created_at", "")),
        "exported": datetime.now(UTC).isoformat(timespec="seconds"),
        "corpus_hash": str(versions.get("corpus_hash", "")),
        "index_manifest": str(versions.get("index_manifest", "")),
        "app_version": str(versions.get("app", "")),
        "edited_by_user": "true" if draft.get("edited") else "false",
        "provenance_signature": str((draft.get("provenance") or {}).get("signature", "")),
    }


def _notes(draft: dict[str, Any]) -> list[str]:
    """The notes to the author under the marking: omitted sections, flagged sentences."""
    texts = _texts(draft)
    notes = []
    _, omitted = written_sections(draft)
    if omitted:
        notes.append(texts.inform("omitted_sections", sections=", ".join(omitted)))
    if flagged_sentences(draft):
        notes.append(texts.inform("flagged_note", flag=texts.inform("uncited_flag")))
    return notes


# --- Markdown -------------------------------------------------------------------------------


def _yaml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _flagged_md(line: str, known: set[int], flag: str) -> str:
    return " ".join(
        sentence if md.is_cited(sentence, known) else f"{sentence} **[{flag}]**"
        for sentence in md.split_sentences(line)
    )


def to_markdown(draft: dict[str, Any]) -> str:
    """The draft as Markdown: front matter (provenance), title, marking and note, sections
    (flagged sentences marked), numbered sources with quotes and public links."""
    texts = _texts(draft)
    flag = texts.inform("uncited_flag")
    known = _known(draft)
    meta = {"title": str(draft.get("title", "")), **_provenance(draft)}
    lines = ["---"]
    for key, value in meta.items():
        plain = key in {"ai_generated", "edited_by_user"}
        lines.append(f"{key}: {value}" if plain else f"{key}: {_yaml_str(value)}")
    lines += ["---", "", f"# {draft.get('title', '')}", ""]
    lines += [f"> **{marking(draft)}.** {draft_note(draft)}", ""]
    for note in _notes(draft):
        lines += [f"> _{note}_", ""]
    sections, _ = written_sections(draft)
    for section in sections:
        lines += [f"## {section.get('heading', '')}", ""]
        for bullet, line in _lines(str(section.get("text", ""))):
            lines.append(("- " if bullet else "") + _flagged_md(line, known, flag))
            if not bullet:
                lines.append("")
        lines.append("")
    lines += [f"## {texts.inform('sources')}", ""]
    citations = draft.get("citations", [])
    if not citations:
        lines += ["_No sources were cited._", ""]
    for citation in citations:
        lines.append(source_line(citation))
        quote = _quote(citation)
        if quote:
            lines.append(f"  > “{quote}”")
        link = public_link(citation)
        lines.append(f"  <{link}>" if link else f"  _{texts.inform('no_public_url')}_")
        lines.append("")
    lines += ["---", "", f"*{marking(draft)}. {draft_note(draft)}*", ""]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


# --- Word -----------------------------------------------------------------------------------


def _fit(text: str, limit: int = 255) -> str:
    """Core properties hold at most 255 characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _core_properties(doc: Any, draft: dict[str, Any], prov: dict[str, str], title: str) -> None:
    mark = marking(draft)
    props = doc.core_properties
    props.title = _fit(title)
    props.subject = _fit(f"EMN inform draft: {draft.get('topic', '')}")
    props.author = AUTHOR
    props.last_modified_by = AUTHOR
    props.keywords = f"{mark}; AI-generated; EMN; inform; draft"
    props.category = mark
    props.content_status = "Draft (AI-generated)"
    props.identifier = prov["trace_id"]
    props.language = str(draft.get("language") or "en")
    props.comments = _fit(
        f"{mark}. Drafted by the {GENERATOR} (AI system) from EMN documents; "
        f"trace_id={prov['trace_id']}; created={prov['created']}; "
        f"corpus_hash={prov['corpus_hash'][:12]}; edited={prov['edited_by_user']}; "
        "check every cited passage."
    )
    props.created = datetime.now(UTC).replace(tzinfo=None)


class _Writer:
    """Adds house-styled paragraphs and runs to a new document by style id (python-docx's
    lookup by style name walks the whole style list each time)."""

    def __init__(self, doc: Any, ids: dict[str, str]) -> None:
        self.doc, self.ids = doc, ids

    def para(self, text: str, style: str, container: Any = None) -> Any:
        paragraph = (container or self.doc).add_paragraph(text)
        paragraph._p.style = self.ids[style]
        return paragraph

    def run(self, paragraph: Any, text: str, style: str | None = None) -> Any:
        run = paragraph.add_run(text)
        if style:
            run._r.style = self.ids[style]
        return run


def _header_footer(w: _Writer, draft: dict[str, Any], prov: dict[str, str]) -> None:
    mark = marking(draft)
    for section in w.doc.sections:
        header = section.header.paragraphs[0]
        header._p.style = w.ids[house.HEADER_FOOTER]
        header.text = f"{mark} — {GENERATOR}"
        header.alignment = WD_ALIGN_PARAGRAPH.RIGHT
        footer = section.footer.paragraphs[0]
        footer._p.style = w.ids[house.HEADER_FOOTER]
        footer.text = f"{mark}. Trace id {prov['trace_id']}; created {prov['created']}. Page "
        add_page_field(footer)
        footer.alignment = WD_ALIGN_PARAGRAPH.CENTER


def _write_sentence(w: _Writer, paragraph: Any, sentence: str, known: set[int], flag: str) -> None:
    """The sentence with its resolved [n] markers superscript links to their source entry,
    and the flag after it when none resolves."""
    last = 0
    for match in md.MARKER.finditer(sentence):
        if match.start() > last:
            w.run(paragraph, sentence[last : match.start()])
        number = int(match.group(1))
        if number in known:
            add_internal_link(paragraph, f"source_{number}", match.group(0), w.ids[house.MARKER])
        else:
            w.run(paragraph, match.group(0))
        last = match.end()
    if last < len(sentence):
        w.run(paragraph, sentence[last:])
    if not md.is_cited(sentence, known):
        w.run(paragraph, " ")
        w.run(paragraph, f"[{flag}]", house.FLAG)


def _write_line(w: _Writer, line: str, style: str, known: set[int], flag: str) -> None:
    paragraph = w.para("", style)
    for i, sentence in enumerate(md.split_sentences(line)):
        if i:
            w.run(paragraph, " ")
        _write_sentence(w, paragraph, sentence, known, flag)


def _write_source(w: _Writer, citation: dict[str, Any], texts: Texts) -> None:
    entry = w.para("", house.SOURCE)
    number = citation.get("marker")
    add_bookmark(entry, f"source_{number}")
    w.run(entry, f"[{number}] ").bold = True
    w.run(entry, str(citation.get("title") or citation.get("doc_id") or "")).bold = True
    where = location(citation)
    if where:
        w.run(entry, f" — {where}")
    if md.is_unverified(citation):
        w.run(entry, " ")
        w.run(entry, f"[{UNVERIFIED_SOURCE}]", house.FLAG)
    quote = _quote(citation)
    if quote:
        w.para(f"“{quote}”", house.QUOTE)
    link = public_link(citation)
    line = w.para("", house.SOURCE_LINK)
    if link:
        add_hyperlink(line, link, link, w.ids[house.LINK])
    else:
        w.run(line, texts.inform("no_public_url")).italic = True


def to_docx(draft: dict[str, Any]) -> bytes:
    """The draft as an A4 .docx in the house styles: the marking in the header, footer,
    under the title and in the core properties; the draft note; key messages as bullets;
    [n] markers superscript links to numbered source entries, each with its quoted passage
    and a clickable link to the original publication."""
    doc = Document()
    w = _Writer(doc, house.apply_house_styles(doc))
    texts = _texts(draft)
    flag = texts.inform("uncited_flag")
    known = _known(draft)
    prov = _provenance(draft)
    title = str(draft.get("title", "")) or "EMN inform (draft)"
    _core_properties(doc, draft, prov, title)
    _header_footer(w, draft, prov)

    w.para(title, house.TITLE)
    w.para(f"{marking(draft)}.", house.MARKING)
    w.para(draft_note(draft), house.NOTE)
    for note in _notes(draft):
        w.para(note, house.NOTE)

    sections, _ = written_sections(draft)
    for part in sections:
        w.para(str(part.get("heading", "")), house.HEADING)
        for bullet, line in _lines(str(part.get("text", ""))):
            _write_line(w, line, house.KEY_MESSAGE if bullet else house.BODY, known, flag)

    w.para(texts.inform("sources"), house.HEADING)
    citations = draft.get("citations", [])
    if not citations:
        w.para("No sources were cited.", house.NOTE)
    for citation in citations:
        _write_source(w, citation, texts)

    w.para(f"{marking(draft)}. {draft_note(draft)}", house.MARKING)
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
