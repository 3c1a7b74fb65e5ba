"""Structure-aware chunking: blocks -> chunks sized for the embedding model.

Rules: a chunk stays inside one section; it ends at a paragraph or sentence boundary, never
right after a paragraph that announces a list (it ends with a colon); a footnote travels with
the sentence that cites it (the strategy's statistics live in
footnotes); a table is never split; exact repeats of a paragraph within a section (web page
debris) are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

from common.sentences import split_sentences
from index.schema import CHUNKER_VERSION, Chunk, DocumentMeta, chunk_id
from ingest.blocks import FOOTNOTE_MARK, Block
from ingest.cleaning import repair_hyphenation
from ingest.sections import SectionTracker, is_section_heading

TokenCounter = Callable[[str], int]


@dataclass
class _Unit:
    """A paragraph (or a sentence group of a long one) with what it needs to be cited."""

    text: str
    section: str
    page: int | None
    start: int
    end: int
    footnotes: list[tuple[str, str]] = field(default_factory=list)
    table: bool = False
    raw: str = ""  # the text with footnote marks, for splitting a long paragraph
    page_end: int | None = None


def footnote_line(footnote_id: str, text: str) -> str:
    return f"Footnote ({footnote_id}): {text}"


def _resolve_footnotes(blocks: list[Block]) -> tuple[dict[tuple[int, str], str], set[int]]:
    """Map (paragraph index, footnote id) to the footnote text defined next after it.

    Numbering may restart (a decision and its annex), so the nearest following definition
    wins. Returns the mapping and the indexes of footnote blocks that something cites.
    """
    resolved: dict[tuple[int, str], str] = {}
    used: set[int] = set()
    for i, block in enumerate(blocks):
        if block.kind not in ("paragraph", "table"):
            continue
        for fid in FOOTNOTE_MARK.findall(block.text):
            for j in range(i + 1, len(blocks)):
                if blocks[j].kind == "footnote" and blocks[j].footnote_id == fid:
                    resolved[(i, fid)] = blocks[j].text
                    used.add(j)
                    break
    return resolved, used


def merge_broken_paragraphs(blocks: list[Block]) -> list[Block]:
    """Join a paragraph cut by a page break: it ends without punctuation (or with a word
    hyphenated across the break) and the next one starts in lower case ('... financed from the
    appropriations' + 'entered in the ...'). The page's footnotes may sit between the halves:
    they stay after the joined paragraph."""
    out: list[Block] = []
    for block in blocks:
        j = len(out) - 1
        while j >= 0 and out[j].kind == "footnote":
            j -= 1
        prev = out[j] if j >= 0 else None
        tail = FOOTNOTE_MARK.sub("", prev.text).rstrip() if prev is not None else ""
        if (
            prev is not None
            and prev.kind == "paragraph"
            and block.kind == "paragraph"
            and block.text
            and (tail[-1:].isalnum() or (tail.endswith("-") and tail[-2:-1].isalpha()))
            and block.text[0].islower()
        ):
            text = repair_hyphenation(f"{prev.text}\n{block.text}").replace("\n", " ")
            page_end = block.page_end or block.page or prev.page_end
            out[j] = prev.model_copy(update={"text": text, "page_end": page_end})
            continue
        out.append(block)
    return out


def _units(blocks: list[Block]) -> list[_Unit]:
    blocks = merge_broken_paragraphs(blocks)
    resolved, used = _resolve_footnotes(blocks)
    tracker = SectionTracker()
    units: list[_Unit] = []
    seen: set[tuple[str, str]] = set()
    offset = 0
    for i, block in enumerate(blocks):
        if block.kind == "heading" and is_section_heading(block.text):
            tracker.push(block.text, block.level)
            offset += len(block.text) + 2
            continue
        if block.kind == "footnote" and i in used:
            continue
        refs = FOOTNOTE_MARK.findall(block.text)
        if block.kind == "footnote":
            text = footnote_line(block.footnote_id, block.text)
        else:
            text = FOOTNOTE_MARK.sub("", block.text)
        key = (tracker.path, text)
        if key in seen:
            continue
        seen.add(key)
        footnotes = [
            (fid, resolved[(i, fid)]) for fid in dict.fromkeys(refs) if (i, fid) in resolved
        ]
        units.append(
            _Unit(
                text=text,
                section=tracker.path,
                page=block.page,
                start=offset,
                end=offset + len(text),
                footnotes=footnotes,
                table=block.kind == "table",
                raw=block.text,
                page_end=block.page_end or block.page,
            )
        )
        offset += len(text) + 2
    return units


def _unit_tokens(unit: _Unit, count: TokenCounter) -> int:
    notes = "\n".join(footnote_line(f, t) for f, t in unit.footnotes)
    return count(unit.text + ("\n" + notes if notes else ""))


def section_budget(section: str, count: TokenCounter, max_tokens: int) -> int:
    """Tokens left for a chunk's text: the pipeline embeds "section path\ntext", so the path
    takes part of the model's window (never more than half of it)."""
    if not section:
        return max_tokens
    return max(max_tokens - count(section), max_tokens // 2)


# A footnote mark right after the punctuation that ends a sentence or clause ("2025.⟦fn:1⟧ The")
# hides the boundary from the sentence splitter; moved before it, the clean text is unchanged.
_MARK_AFTER_PUNCT = re.compile(r"([.!?;:,])((?:⟦fn:\w{1,8}⟧)+)")
_CLAUSE_GAP = re.compile(r"(?<=[;:,])\s+")
_WORD_GAP = re.compile(r"\s+")

Span = tuple[int, int]


def _sub_spans(text: str, span: Span, gap: re.Pattern[str]) -> list[Span]:
    a, b = span
    spans: list[Span] = []
    start = a
    for m in gap.finditer(text, a, b):
        if m.start() > start:
            spans.append((start, m.start()))
        start = m.end()
    if start < b:
        spans.append((start, b))
    return spans


def _pack(spans: list[Span], fits: Callable[[Span], bool], finer: list[Callable]) -> list[Span]:
    """Greedy grouping of consecutive spans while `fits`; a span too big on its own is cut with
    the next finer splitter (clauses, then words); a single word is kept whatever its size."""
    out: list[Span] = []
    current: Span | None = None
    for span in spans:
        if not fits(span) and finer:
            if current is not None:
                out.append(current)
                current = None
            out.extend(_pack(finer[0](span), fits, finer[1:]))
            continue
        if current is not None and fits((current[0], span[1])):
            current = (current[0], span[1])
            continue
        if current is not None:
            out.append(current)
        current = span
    if current is not None:
        out.append(current)
    return out


def _atoms(text: str, count: TokenCounter, budget: int) -> list[Span]:
    """The sentences of `text` (footnote marks allowed); only a sentence whose clean text is
    longer than `budget` is cut, at clauses, then between words."""

    def fits(span: Span) -> bool:
        return count(FOOTNOTE_MARK.sub("", text[span[0] : span[1]])) <= budget

    finer = [
        lambda s: _sub_spans(text, s, _CLAUSE_GAP),
        lambda s: _sub_spans(text, s, _WORD_GAP),
    ]
    atoms: list[Span] = []
    for sentence in split_sentences(text):
        atoms.extend([sentence] if fits(sentence) else _pack(finer[0](sentence), fits, finer[1:]))
    return atoms


def _fit_spans(text: str, count: TokenCounter, budget: int) -> list[Span]:
    """Consecutive sentence groups of `text`, each within `budget`."""

    def fits(span: Span) -> bool:
        return count(FOOTNOTE_MARK.sub("", text[span[0] : span[1]])) <= budget

    return _pack(_atoms(text, count, budget), fits, [])


def _split_long(unit: _Unit, count: TokenCounter, max_tokens: int) -> list[_Unit]:
    """Split a paragraph too big for one chunk at sentence boundaries; each piece keeps the
    footnotes its own sentences cite. Footnotes that do not fit beside their sentence follow
    it as their own units in the same section."""
    raw = _MARK_AFTER_PUNCT.sub(r"\2\1", unit.raw or unit.text)
    notes = dict(unit.footnotes)
    pieces: list[_Unit] = []

    def piece_unit(span: Span, text_of: str, attached: list[tuple[str, str]]) -> _Unit:
        before = FOOTNOTE_MARK.sub("", text_of[: span[0]])
        text = FOOTNOTE_MARK.sub("", text_of[span[0] : span[1]])
        start = unit.start + len(before)
        return _Unit(
            text,
            unit.section,
            unit.page,
            start,
            start + len(text),
            attached,
            page_end=unit.page_end,
        )

    def refs(span: Span) -> list[str]:
        cited = FOOTNOTE_MARK.findall(raw[span[0] : span[1]])
        return [f for f in dict.fromkeys(cited) if f in notes]

    def fits_with_notes(span: Span) -> bool:
        trial = piece_unit(span, raw, [(f, notes[f]) for f in refs(span)])
        return _unit_tokens(trial, count) <= max_tokens

    for span in _pack(_atoms(raw, count, max_tokens), fits_with_notes, []):
        attached: list[tuple[str, str]] = []
        overflow: list[tuple[str, str]] = []
        for fid in refs(span):
            trial = piece_unit(span, raw, [*attached, (fid, notes[fid])])
            if not overflow and _unit_tokens(trial, count) <= max_tokens:
                attached.append((fid, notes[fid]))
            else:
                overflow.append((fid, notes[fid]))
        piece = piece_unit(span, raw, attached)
        pieces.append(piece)
        for fid, note in overflow:
            line = footnote_line(fid, note)
            for sub in _fit_spans(line, count, max_tokens):
                extra = _Unit(
                    line[sub[0] : sub[1]],
                    unit.section,
                    unit.page,
                    piece.end,
                    piece.end,
                    page_end=unit.page_end,
                )
                pieces.append(extra)
    return pieces


def _announces(current: list[_Unit], unit: _Unit) -> bool:
    """The group's last paragraph introduces the next one (it ends with a colon), in the same
    section, and is not the group's only paragraph."""
    return (
        len(current) > 1
        and current[-1].section == unit.section
        and current[-1].text.rstrip().endswith(":")
    )


def chunk_blocks(
    blocks: list[Block],
    doc: DocumentMeta,
    count_tokens: TokenCounter,
    max_tokens: int,
) -> list[Chunk]:
    """Greedy packing of a section's paragraphs up to `max_tokens` (the model's window) minus
    what the section path takes when the chunk is embedded."""
    budgets: dict[str, int] = {}

    def budget(section: str) -> int:
        if section not in budgets:
            budgets[section] = section_budget(section, count_tokens, max_tokens)
        return budgets[section]

    units: list[_Unit] = []
    for unit in _units(blocks):
        if not unit.table and _unit_tokens(unit, count_tokens) > budget(unit.section):
            units.extend(_split_long(unit, count_tokens, budget(unit.section)))
        else:
            units.append(unit)

    groups: list[list[_Unit]] = []
    current: list[_Unit] = []
    current_tokens = 0
    for unit in units:
        tokens = _unit_tokens(unit, count_tokens)
        same_section = bool(current) and current[0].section == unit.section
        if same_section and current_tokens + tokens <= budget(unit.section):
            current.append(unit)
            current_tokens += tokens
            continue
        carried: list[_Unit] = []
        carried_tokens = 0
        if _announces(current, unit):
            lead_in = _unit_tokens(current[-1], count_tokens)
            if lead_in + tokens <= budget(unit.section):
                # A sentence that announces a list ("... as follows:") goes with the list.
                carried, carried_tokens = [current.pop()], lead_in
        if current:
            groups.append(current)
        current, current_tokens = [*carried, unit], carried_tokens + tokens
    if current:
        groups.append(current)

    chunks: list[Chunk] = []
    occurrences: dict[tuple[str, str], int] = {}
    for ordinal, group in enumerate(groups):
        body = "\n\n".join(u.text for u in group)
        notes = list(dict.fromkeys(n for u in group for n in u.footnotes))
        text = body + ("\n\n" + "\n".join(footnote_line(f, t) for f, t in notes) if notes else "")
        section = group[0].section
        key = (section, text)
        occurrences[key] = occurrences.get(key, 0) + 1
        pages = [u.page for u in group if u.page is not None]
        ends = [u.page_end or u.page for u in group if u.page is not None]
        chunks.append(
            Chunk(
                id=chunk_id(doc.doc_id, section, text, occurrences[key]),
                doc=doc,
                ordinal=ordinal,
                text=text,
                section_path=section,
                page=min(pages) if pages else None,
                page_end=max(e for e in ends if e is not None) if pages else None,
                char_start=group[0].start,
                char_end=group[-1].end,
                footnotes=[f for f, _ in notes],
                block="table" if any(u.table for u in group) else "text",
                chunker_version=CHUNKER_VERSION,
            )
        )
    return chunks
