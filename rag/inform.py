"""Inform drafting for NCP staff: a cited first draft in the EMN house shape (title, key
messages, background, main findings, policy implications, sources).

Each section is answered by the same pipeline as a question (so every sentence is cited and
verified); the sections' citations are then merged into one numbered source list and
sentences already used in an earlier section are not repeated.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from common.language import detect_language
from common.texts import Texts, text
from index.schema import Filters
from rag.answer import DISCLOSURE, Answer, Citation, Versions, disclosure, new_trace_id
from rag.glossary import english_keywords
from rag.pipeline import APP_VERSION, Assistant
from rag.provenance import Provenance, sign_output, verify_answer

DRAFT_MARKING = text("en", "inform", "draft_marking")

# (heading's key in common/locales, the question that fills the section)
SECTIONS: list[tuple[str, str]] = [
    ("key_messages", "What are the main priorities and actions on {topic}?"),
    ("background", "What is the background and policy context of {topic}?"),
    ("main_findings", "What are the main facts, figures and developments on {topic}?"),
    ("policy_implications", "What actions and measures are planned or needed on {topic}?"),
]
_MARKER = re.compile(r"\[(\d+)\]")


class InformSection(BaseModel):
    heading: str
    text: str = Field(description="Sentences with global [n] markers; bullets for key messages.")
    behaviour: str


class InformDraft(BaseModel):
    title: str
    topic: str
    sections: list[InformSection]
    citations: list[Citation]
    behaviour: str = Field(description="answered if any section has content, else abstained")
    marking: str = DRAFT_MARKING
    ai_generated: bool = True
    disclosure: str = DISCLOSURE
    language: str = Field(
        default="en", description="The topic's language: headings and disclosure are in it."
    )
    trace_id: str = Field(default_factory=new_trace_id)
    created_at: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    versions: Versions | None = None
    section_trace_ids: list[str] = Field(default_factory=list)
    provenance: Provenance | None = Field(
        default=None,
        description="Signed machine-readable marking (AI Act Art. 50(2)) over the title, the "
        "sections and the citations; check it with POST /v1/provenance/verify.",
    )


def draft_text(draft: dict[str, Any]) -> str:
    """What a draft's provenance signs as its text: title and sections, canonical JSON."""
    sections = [
        {"heading": s.get("heading"), "text": s.get("text"), "behaviour": s.get("behaviour")}
        for s in draft.get("sections") or []
    ]
    value = {"title": draft.get("title"), "sections": sections}
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def sign_draft(draft: InformDraft, key: bytes) -> Provenance:
    data = draft.model_dump(mode="json")
    versions = draft.versions
    return sign_output(
        key,
        text=draft_text(data),
        citations=data["citations"],
        generator_version=APP_VERSION,
        composer=versions.composer if versions else "extractive",
        model=versions.model if versions else "none",
        index_manifest=versions.index_manifest if versions else "",
        trace_id=draft.trace_id,
        behaviour=draft.behaviour,
        verbatim=versions is None or versions.model == "none",
    )


def verify_draft(draft: dict[str, Any], key: bytes) -> tuple[bool, str]:
    """Is this draft JSON (as /v1/inform returned it) unaltered? (valid, reason)."""
    valid, reason = verify_answer(
        {
            "answer": draft_text(draft),
            "citations": draft.get("citations"),
            "trace_id": draft.get("trace_id"),
            "behaviour": draft.get("behaviour"),
            "provenance": draft.get("provenance"),
        },
        key,
    )
    return valid, reason.replace("the answer text", "the draft text")


def _sentences(text: str) -> list[str]:
    lines = [ln.strip().removeprefix("- ").strip() for ln in text.split("\n") if ln.strip()]
    out: list[str] = []
    for line in lines:
        out.extend(p for p in re.split(r"(?<=[.!?])\s+(?=[A-Z(])", line) if p)
    return out


def draft_inform(
    assistant: Assistant, topic: str, filters: Filters | None = None, max_key_messages: int = 5
) -> InformDraft:
    """Compose the draft section by section; sources numbered once across the document."""
    topic = topic.strip().rstrip("?.")
    language = detect_language(topic).language
    texts = Texts(language)
    # The section questions are English; a topic in another language enters them as the
    # English terms its glossary recognises (rag/glossary.py), else as it is.
    subject = english_keywords(topic, language) or topic
    citations: list[Citation] = []
    by_chunk: dict[str, int] = {}
    used: set[str] = set()
    sections: list[InformSection] = []
    trace_ids: list[str] = []
    versions = None
    for section, template in SECTIONS:
        heading = texts.inform(section)
        answer: Answer = assistant.ask(template.format(topic=subject), filters=filters)
        trace_ids.append(answer.trace_id)
        versions = versions or answer.versions
        if answer.behaviour != "answered":
            sections.append(InformSection(heading=heading, text="", behaviour=answer.behaviour))
            continue
        local = {c.marker: c for c in answer.citations}
        kept: list[str] = []
        for sentence in _sentences(answer.answer):
            key = _MARKER.sub("", sentence).strip()
            if key in used:
                continue
            if section != "key_messages":
                # Key messages sum up the body: they may repeat its strongest sentences,
                # while the body sections do not repeat each other.
                used.add(key)

            def renumber(match: re.Match[str], local: dict[int, Citation] = local) -> str:
                cite = local[int(match.group(1))]
                if cite.chunk_id not in by_chunk:
                    by_chunk[cite.chunk_id] = len(citations) + 1
                    citations.append(cite.model_copy(update={"marker": len(citations) + 1}))
                return f"[{by_chunk[cite.chunk_id]}]"

            kept.append(_MARKER.sub(renumber, sentence))
        if section == "key_messages":
            text = "\n".join(f"- {s}" for s in kept[:max_key_messages])
        else:
            text = " ".join(kept)
        sections.append(
            InformSection(heading=heading, text=text, behaviour="answered" if kept else "abstained")
        )
    behaviour = "answered" if any(s.text for s in sections) else "abstained"
    draft = InformDraft(
        title=f"EMN inform (draft): {topic[:1].upper()}{topic[1:]}",
        topic=topic,
        sections=sections,
        citations=citations,
        behaviour=behaviour,
        versions=versions,
        section_trace_ids=trace_ids,
        language=language,
        disclosure=disclosure(language),
    )
    draft.provenance = sign_draft(draft, assistant.provenance_key)
    return draft
