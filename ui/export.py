"""Inform drafts (the /v1/inform JSON, possibly edited on the page) exported as Markdown and
as a Word document. Both carry the "AI-generated draft — verify before use" marking in the
text and in their metadata (YAML front matter; the .docx core properties, header and footer),
and list the citations as numbered sources with their verbatim quotes marked as quotes."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime
from typing import Any

from docx import Document
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.shared import Pt, RGBColor

from common.texts import text as locale_text
from ui.markdown import is_unverified

DRAFT_MARKING = locale_text("en", "inform", "draft_marking")
GENERATOR = "EMN policy assistant"
AUTHOR = f"{GENERATOR} (AI-generated)"
UNVERIFIED_SOURCE = locale_text("en", "ui", "unverified_source")


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


def with_absolute_urls(draft: dict[str, Any], base: str) -> dict[str, Any]:
    """Citation URLs that open outside the page: API-relative ones prefixed with the API."""
    base = base.rstrip("/")
    citations = [
        {**c, "url": base + c["url"]} if str(c.get("url", "")).startswith("/") else c
        for c in draft.get("citations", [])
    ]
    return {**draft, "citations": citations}


def marking(draft: dict[str, Any]) -> str:
    return str(draft.get("marking") or DRAFT_MARKING)


def export_filename(draft: dict[str, Any], ext: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", str(draft.get("topic", "draft")).lower()).strip("-")
    return f"emn-inform-draft-{slug[:60] or 'draft'}.{ext}"


def exported_sections(draft: dict[str, Any]) -> list[dict[str, Any]]:
    """The sections with text: one the documents do not cover (empty, with a note for the
    author on the page) is left out of the export rather than shown as a placeholder."""
    return [s for s in draft.get("sections", []) if str(s.get("text", "")).strip()]


def source_line(citation: dict[str, Any]) -> str:
    """'[3] Title — Reference, Section, p. 4', and for a source without a catalog entry
    ' [Unverified source: ...]' so the warning travels with the exported draft."""
    where = ", ".join(
        str(x) for x in (citation.get("reference"), citation.get("section_path")) if x
    )
    line = f"[{citation.get('marker')}] {citation.get('title') or citation.get('doc_id')}"
    if where:
        line += f" — {where}"
    if citation.get("page"):
        line += f", p. {citation['page']}"
    if is_unverified(citation):
        line += f" [{UNVERIFIED_SOURCE}]"
    return line


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


def _yaml_str(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def to_markdown(draft: dict[str, Any]) -> str:
    """The draft as Markdown: front matter (provenance), title, marking, sections, sources."""
    meta = {"title": str(draft.get("title", "")), **_provenance(draft)}
    lines = ["---"]
    for key, value in meta.items():
        plain = key in {"ai_generated", "edited_by_user"}
        lines.append(f"{key}: {value}" if plain else f"{key}: {_yaml_str(value)}")
    lines += ["---", "", f"# {draft.get('title', '')}", ""]
    lines += [f"> **{marking(draft)}.** {draft.get('disclosure', '')}".rstrip(), ""]
    for section in exported_sections(draft):
        lines += [f"## {section.get('heading', '')}", ""]
        lines += [str(section.get("text", "")).strip(), ""]
    lines += ["## Sources", ""]
    citations = draft.get("citations", [])
    if not citations:
        lines += ["_No sources were cited._", ""]
    for citation in citations:
        lines.append(source_line(citation))
        if citation.get("url"):
            lines.append(f"  <{citation['url']}>")
        quote = " ".join(str(citation.get("quote", "")).split())
        if quote:
            lines.append(f"  > “{quote}”")
        lines.append("")
    lines += ["---", "", f"*{marking(draft)}. Generated by the {GENERATOR}.*", ""]
    return "\n".join(lines)


def _add_marked_paragraph(doc: Any, text: str, size: int = 9) -> None:
    run = doc.add_paragraph().add_run(text)
    run.bold = True
    run.font.size = Pt(size)
    run.font.color.rgb = RGBColor(0xB0, 0x3A, 0x2E)


def _fit(text: str, limit: int = 255) -> str:
    """Core properties hold at most 255 characters."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def to_docx(draft: dict[str, Any]) -> bytes:
    """The draft as a .docx: the marking in the header, footer, under the title and in the
    core properties; key messages as bullets; sources as a numbered list with quotes."""
    doc = Document()
    prov = _provenance(draft)
    mark = marking(draft)
    title = str(draft.get("title", "")) or "EMN inform (draft)"

    props = doc.core_properties
    props.title = _fit(title)
    props.subject = _fit(f"EMN inform draft: {draft.get('topic', '')}")
    props.author = AUTHOR
    props.last_modified_by = AUTHOR
    props.keywords = f"{mark}; AI-generated; EMN; inform; draft"
    props.category = mark
    props.content_status = "Draft (AI-generated)"
    props.identifier = prov["trace_id"]
    props.language = "en"
    props.comments = _fit(
        f"{mark}. Generated by the {GENERATOR} (AI system) from EMN documents; "
        f"trace_id={prov['trace_id']}; created={prov['created']}; "
        f"corpus_hash={prov['corpus_hash'][:12]}; edited={prov['edited_by_user']}; "
        "check every cited passage."
    )
    props.created = datetime.now(UTC).replace(tzinfo=None)

    section = doc.sections[0]
    header = section.header.paragraphs[0]
    header.text = f"{mark} — {GENERATOR}"
    header.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    footer = section.footer.paragraphs[0]
    footer.text = f"{mark}. Trace id {prov['trace_id']}; created {prov['created']}."
    footer.alignment = WD_ALIGN_PARAGRAPH.CENTER

    doc.add_heading(title, level=0)
    _add_marked_paragraph(doc, f"{mark}.", size=11)
    if draft.get("disclosure"):
        doc.add_paragraph().add_run(str(draft["disclosure"])).italic = True

    for part in exported_sections(draft):
        doc.add_heading(str(part.get("heading", "")), level=1)
        text = str(part.get("text", "")).strip()
        for line in text.splitlines():
            line = line.strip()
            if not line:
                continue
            if line[:2] in {"- ", "* "}:
                doc.add_paragraph(line[2:].strip(), style="List Bullet")
            else:
                doc.add_paragraph(line)

    doc.add_heading("Sources", level=1)
    citations = draft.get("citations", [])
    if not citations:
        doc.add_paragraph().add_run("No sources were cited.").italic = True
    for citation in citations:
        doc.add_paragraph(source_line(citation))
        quote = " ".join(str(citation.get("quote", "")).split())
        if quote:
            doc.add_paragraph(f"“{quote}”", style="Quote")
        if citation.get("url"):
            run = doc.add_paragraph().add_run(str(citation["url"]))
            run.font.size = Pt(8)

    _add_marked_paragraph(doc, f"{mark}. Generated by the {GENERATOR}; check every cited passage.")
    out = io.BytesIO()
    doc.save(out)
    return out.getvalue()
