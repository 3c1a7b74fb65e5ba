"""Text helpers of the chat page (no Streamlit): escaping for Streamlit's Markdown, [n]
markers turned into links to the cited passage, citation labels, the index/version line."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from common.sentences import is_abbreviation

MARKER = re.compile(r"\[(\d+)\]")
_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~$])")
_LIST_START = re.compile(r"^(\s*)([-+*]|\d+[.)])(\s)", re.MULTILINE)
_SENTENCE_END = re.compile(r"(?<=[.!?:])\s+(?=[A-Z(\"“‘'])")


def escape_md(text: str) -> str:
    """Plain text that Streamlit's Markdown shows as it is (no emphasis, links, headings,
    lists, LaTeX or colour directives), with line breaks kept."""
    text = _SPECIAL.sub(r"\\\1", text)
    text = _LIST_START.sub(lambda m: f"{m.group(1)}{_escape_list(m.group(2))}{m.group(3)}", text)
    return text.replace("\n", "  \n")


def _escape_list(mark: str) -> str:
    return "\\" + mark if mark in "-+*" else mark[:-1] + "\\" + mark[-1]


def doc_link(doc_id: str, chunk_id: str | None = None, keep: dict[str, str] | None = None) -> str:
    """The page's own route to a document's passages, the cited one highlighted; `keep`:
    where the user is (conversation, draft), so the document's "Back to the chat" returns
    there even from a new tab."""
    params = {"doc": doc_id}
    if chunk_id:
        params["chunk"] = chunk_id
    return "?" + urlencode({**params, **(keep or {})})


def _title_attr(text: str) -> str:
    return text.replace('"', "'").replace("\\", "/")


UNVERIFIED = "unverified"


def is_unverified(passage: dict[str, Any]) -> bool:
    """A citation, search hit or document with no catalog entry behind it (API status
    'unverified'): shown with a visible mark, never like a vetted source."""
    return str(passage.get("status") or "") == UNVERIFIED


def citation_label(citation: dict[str, Any]) -> str:
    """'[2] Title — Reference · p. 4'"""
    parts = [f"[{citation.get('marker')}] {citation.get('title') or citation.get('doc_id')}"]
    if citation.get("reference"):
        parts.append(f" — {citation['reference']}")
    if citation.get("page"):
        parts.append(f" · p. {citation['page']}")
    return "".join(parts)


def citation_heading(citation: dict[str, Any], unverified_mark: str = "") -> str:
    """The label plus the innermost section, so passages of one document tell apart:
    '[2] Title — Reference · p. 4 · Article 2 Union contribution'; an unverified source's
    heading ends with '· ⚠ `unverified_mark`'."""
    label = citation_label(citation)
    section = str(citation.get("section_path") or "").split(" > ")[-1].strip()
    heading = f"{label} · {section}" if section else label
    if unverified_mark and is_unverified(citation):
        heading += f" · ⚠ {unverified_mark}"
    return heading


def citation_location(citation: dict[str, Any]) -> str:
    """Section path, page, kind, date and status, for the line under a quoted passage."""
    parts = []
    if citation.get("section_path"):
        parts.append(f"Section: {citation['section_path']}")
    if citation.get("page"):
        end = citation.get("page_end")
        pages = f"{citation['page']}–{end}" if end and end != citation["page"] else citation["page"]
        parts.append(f"Page {pages}")
    for key in ("kind", "date"):
        if citation.get(key):
            parts.append(str(citation[key]))
    if citation.get("status"):
        parts.append(str(citation["status"]).replace("_", " "))
    return " · ".join(parts)


def link_markers(
    text: str, citations: list[dict[str, Any]], keep: dict[str, str] | None = None
) -> str:
    """Answer text as Markdown: escaped, each [n] a link that opens the cited passage in its
    document (in a new tab), with the document title and reference as the link's tooltip."""
    by_marker = {int(c["marker"]): c for c in citations if "marker" in c}
    out: list[str] = []
    last = 0
    for match in MARKER.finditer(text):
        out.append(escape_md(text[last : match.start()]))
        cite = by_marker.get(int(match.group(1)))
        if cite is None:
            out.append(escape_md(match.group(0)))
        else:
            tip = _title_attr(citation_label(cite))
            href = doc_link(cite["doc_id"], cite.get("chunk_id"), keep)
            out.append(f'[\\[{match.group(1)}\\]]({href} "{tip}")')
        last = match.end()
    out.append(escape_md(text[last:]))
    return "".join(out)


def quote_md(text: str) -> str:
    """A verbatim passage as a Markdown block quote (marked as a quote)."""
    lines = escape_md(text.strip()).split("  \n")
    return "\n".join(f"> {line}  " if line.strip() else ">" for line in lines)


def split_sentences(line: str) -> list[str]:
    """One line of a section (a paragraph or a bullet, without its dash) as sentences; an
    [n] marker stays with the sentence it ends ('… readmission [1]. The EU …')."""
    out: list[str] = []
    for piece in (s.strip() for s in _SENTENCE_END.split(line.strip())):
        if not piece:
            continue
        # '(e.g. Partnership …', 'Art. 5': a dot after an abbreviation ends no sentence.
        if out and out[-1].endswith(".") and is_abbreviation(out[-1], len(out[-1]) - 1):
            out[-1] = f"{out[-1]} {piece}"
        else:
            out.append(piece)
    return out


def is_cited(sentence: str, known: set[int] | None = None) -> bool:
    """Whether a sentence carries an [n] marker (with `known`: one that resolves to one of
    these citations; an edited '[9]' with no source 9 is no citation). Fragments of three
    characters or fewer are never flagged."""
    if len(sentence) <= 3:
        return True
    markers = {int(n) for n in MARKER.findall(sentence)}
    return bool(markers & known) if known is not None else bool(markers)


def uncited_sentences(text: str, known: set[int] | None = None) -> list[str]:
    """Sentences (or bullets) of an edited section without a citation (see `is_cited`)."""
    found = []
    for line in text.splitlines():
        line = line.strip().removeprefix("- ").removeprefix("* ").strip()
        found += [s for s in split_sentences(line) if not is_cited(s, known)]
    return found


def index_line(readiness: dict[str, Any] | None) -> str:
    """'Index 8e801d67 · corpus 5d0e05c5db77 · 5 documents · 190 passages · embedding …'"""
    manifest = (readiness or {}).get("manifest") or {}
    if not manifest:
        return "Index: not available"
    model = str(manifest.get("embedding_model", "")).split("|")[0]
    parts = [
        f"Index {manifest.get('manifest_hash', '?')}",
        f"corpus {str(manifest.get('corpus_hash', '?'))[:12]}",
        f"{manifest.get('documents', '?')} documents",
        f"{manifest.get('chunks', '?')} passages",
        f"embedding {model or '?'}",
    ]
    if manifest.get("chunker_version"):
        parts.append(f"chunker v{manifest['chunker_version']}")
    if manifest.get("built_at"):
        parts.append(f"built {str(manifest['built_at'])[:16].replace('T', ' ')}")
    return " · ".join(parts)
