"""Inform drafting for NCP staff: a cited first draft in the EMN house shape (title, key
messages, background, main findings, policy implications, sources).

The topic passes the pipeline's guards and scope check; each section is then drafted from
its own retrieval (rag/inform_sections.py) and verified as answers are, so every sentence is
cited; the sections' citations are merged into one numbered source list.
"""

from __future__ import annotations

import json
import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field

from common.texts import Texts, text
from index.lexical import tokenize
from index.reader import IndexReader
from index.schema import Filters
from rag import guards
from rag.answer import DISCLOSURE, Citation, Versions, disclosure, new_trace_id
from rag.citation import citation, public_base
from rag.glossary import english_keywords
from rag.guard_text import guard_clean
from rag.inform_sections import PLANS, SectionComposer, SectionDraft, Topic
from rag.pipeline import APP_VERSION, Assistant
from rag.provenance import Provenance, sign_output, verify_answer
from rag.retrieval import QueryTerms
from rag.steps import Context

DRAFT_MARKING = text("en", "inform", "draft_marking")

# The sections' keys in common/locales, in the draft's order.
SECTIONS: list[str] = [plan.key for plan in PLANS]
_MARKER = re.compile(r"\[(\d+)\]")


class InformSection(BaseModel):
    heading: str
    text: str = Field(description="Sentences with global [n] markers; bullets for key messages.")
    behaviour: str
    note: str = Field(
        default="",
        description="For the author, when the section is empty: why (the documents do not "
        "cover it for this topic, or the topic was declined) and what to do. Not exported.",
    )


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


# The steps that decide whether a topic may be drafted at all: its language, the guards on
# what is asked, and the scope check (which reads the passages retrieved for the topic).
GATE_STEPS = ("language", "prefetch", "guard_in", "rewrite", "retrieve", "scope")


def _gate(assistant: Assistant, topic: str, filters: Filters | None) -> Context:
    """The topic through the pipeline's own guard and scope steps (`ctx.done`: declined)."""
    ctx = Context(question=guard_clean(topic).strip(), history=[], filters=filters,
                  composer="extractive")  # fmt: skip
    assistant.index.ensure_loaded()
    for step in assistant.steps():
        if step.name in GATE_STEPS and not ctx.done:
            step.run(ctx)
    return ctx


def unknown_terms(subject: str, index: IndexReader) -> list[str]:
    """The topic's words that no passage of the index holds ('dental' in "asylum seekers'
    access to dental care"): a topic naming them is not what the documents cover, however
    close its other words come."""
    return [
        w for w in re.findall(r"[\w'-]+", subject) if any(index.idf(t) == 0 for t in tokenize(w))
    ]


def _renumber(section: SectionDraft, citations: list[Citation], by_chunk: dict[str, int],
              base: str) -> str:  # fmt: skip
    """The section's text with its local markers replaced by the draft's global ones
    (sources numbered once across the draft, in order of first citation)."""

    def global_marker(match: re.Match[str]) -> str:
        chunk = section.passages[section.verified.cited[int(match.group(1)) - 1]].chunk
        if chunk.id not in by_chunk:
            by_chunk[chunk.id] = len(citations) + 1
            citations.append(citation(len(citations) + 1, chunk, base))
        return f"[{by_chunk[chunk.id]}]"

    return _MARKER.sub(global_marker, section.verified.text)


def draft_inform(
    assistant: Assistant, topic: str, filters: Filters | None = None, max_key_messages: int = 5
) -> InformDraft:
    """Compose the draft section by section; sources numbered once across the document.

    Each section retrieves with its own questions (rag/inform_sections.py), so background,
    findings and implications come from the passages that serve them, from every relevant
    document; the body sections do not repeat each other's sentences, key messages may sum
    them up. A section the documents do not cover is abstained with a note to the author.
    """
    topic = topic.strip().rstrip("?.")
    ctx = _gate(assistant, topic, filters)
    language = ctx.language
    texts = Texts(language)
    # The section questions are English; a topic in another language enters them as the
    # English terms its glossary recognises (rag/glossary.py), else as it is.
    subject = english_keywords(ctx.question, language) or ctx.question
    plans = {plan.key: plan for plan in PLANS}
    drafted: dict[str, SectionDraft] = {}
    # A topic not in English without glossary terms has no English words to check.
    covered = language != "en" or not unknown_terms(subject, assistant.index)
    if covered and not ctx.done and not ctx.individual_case:
        composer = SectionComposer(assistant, assistant.verifiers.english)
        vector = assistant.embedder.embed_query(subject)
        candidates = ctx.candidates if language == "en" else []
        about = Topic(subject, vector, QueryTerms.of(subject, assistant.index), candidates)
        used: set[tuple[str, int]] = set()
        # Body first (each excludes what the others used), then key messages over them all.
        for key in ("background", "main_findings", "policy_implications", "key_messages"):
            plan = plans[key]
            if key == "key_messages":
                plan = replace(plan, max_sentences=max_key_messages)
            exclude = set() if key == "key_messages" else used
            drafted[key] = composer.draft(plan, about, filters, exclude)
            if key != "key_messages":
                used |= drafted[key].used
    decline = ctx.answer if ctx.behaviour == "declined" else ""
    if ctx.individual_case:
        decline = guards.decline_message("individual", language)
    base = public_base(assistant.settings)
    citations: list[Citation] = []
    by_chunk: dict[str, int] = {}
    sections: list[InformSection] = []
    secrets = [assistant.settings.llm_api_key.get_secret_value()]
    for plan in PLANS:
        heading = texts.inform(plan.key)
        section = drafted.get(plan.key)
        text_ = ""
        if section is not None and section.verified.kept:
            text_ = _renumber(section, citations, by_chunk, base)
            if any(v.verdict == "block" for v in guards.check_answer(text_, secrets)):
                text_ = ""  # as the pipeline's output guard: nothing blocked leaves
        if text_:
            sections.append(InformSection(heading=heading, text=text_, behaviour="answered"))
        elif decline:
            sections.append(
                InformSection(heading=heading, text="", behaviour="declined", note=decline)
            )
        else:
            note = texts.inform("section_not_covered", heading=heading)
            sections.append(
                InformSection(heading=heading, text="", behaviour="abstained", note=note)
            )
    behaviour = (
        "answered" if any(s.text for s in sections) else ("declined" if decline else "abstained")
    )
    draft = InformDraft(
        title=f"EMN inform (draft): {topic[:1].upper()}{topic[1:]}",
        topic=topic,
        sections=sections,
        citations=citations,
        behaviour=behaviour,
        versions=assistant.versions("extractive", "none"),
        section_trace_ids=[new_trace_id() for _ in sections],
        language=language,
        disclosure=disclosure(language),
    )
    draft.provenance = sign_draft(draft, assistant.provenance_key)
    return draft
