"""Lexical (BM25) analysis shared by the index writer and the retriever: both must tokenise a
text the same way, and index the same text of a chunk, or keyword search silently finds
nothing."""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass
from functools import lru_cache

from index.schema import Chunk

_NUMBER_GROUPS = re.compile(r"(?<![\d.,])(\d{1,3})(?:[ \u00a0\u202f,](\d{3}))+(?![\d])")
_TOKEN = re.compile(r"[a-z0-9]+(?:[.'][a-z0-9]+)*")

STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not now of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    shall may might must upon within without whether how many much what which when say says
    said tell explain describe please according give show list mention mentions mentioned
    document documents text passage kind sort thing things regarding concerning""".split()  # noqa: SIM905
)


def join_digit_groups(text: str) -> str:
    """'28 200 000' and '28,200,000' -> '28200000', so figures match however they are typed."""
    return _NUMBER_GROUPS.sub(
        lambda m: (
            m.group(0).replace(" ", "").replace(",", "").replace("\u00a0", "").replace("\u202f", "")
        ),
        text,
    )


_STEMMER_LOCK = threading.Lock()


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    # A snowball stemmer keeps its working state on itself: one word at a time, or threads
    # answering questions at once (the API's thread pool) corrupt each other's stems.
    with _STEMMER_LOCK:
        return _stemmer().stemWord(word)


@lru_cache(maxsize=1)
def _stemmer():
    import snowballstemmer

    return snowballstemmer.stemmer("english")


def _term(token: str) -> str:
    """A matched word as an index term: '' for a stop word or a lone letter."""
    token = token.removesuffix("'s")
    if token in STOPWORDS or (len(token) == 1 and not token.isdigit()):
        return ""
    return token if token[0].isdigit() else _stem(token)


# Words seen -> their terms. A plain dict, not lru_cache: the same words recur in every
# text, and a dict lookup is several times cheaper than an lru_cache call (which was most
# of tokenising). Cleared when full, so an endless stream of new numbers stays bounded.
_TERMS: dict[str, str] = {}
_TERMS_MAX = 500_000


def tokenize(text: str) -> list[str]:
    """Lower-case word and number tokens, stop words dropped, English stems."""
    text = join_digit_groups(text.lower().replace("’", "'"))
    terms = _TERMS
    out = []
    for token in _TOKEN.findall(text):
        term = terms.get(token)
        if term is None:
            if len(terms) >= _TERMS_MAX:
                terms.clear()
            term = terms[token] = _term(token)
        if term:
            out.append(term)
    return out


def lexical_header(title: str, section_path: str) -> str:
    """The part of a chunk's keyword text that comes from its document and section."""
    return f"{title}\n{section_path}"


def lexical_text(chunk: Chunk) -> str:
    """What keyword search sees: the passage below its document title and section path. No
    token (nor digit group) spans a line break, so its tokens are the header's followed by the
    passage's (bench/scale.py builds its synthetic chunks' tokens that way)."""
    return f"{lexical_header(chunk.doc.title, chunk.section_path)}\n{chunk.text}"


@dataclass(frozen=True)
class ChunkTerms:
    """A chunk's tokens (`tokenize`), computed once per index load."""

    all: frozenset[str]  # title, section path and text: what coverage is measured on
    header: frozenset[str]  # title and section path
    text: frozenset[str]
    sentences: tuple[tuple[str, ...], ...]  # per sentence span, in order

    @classmethod
    def of(cls, chunk: Chunk, spans: list[tuple[int, int]]) -> ChunkTerms:
        # No token spans a line break, so `lexical_text`'s tokens are its header's and then
        # the passage's: the passage is tokenised once.
        text = frozenset(tokenize(chunk.text))
        return cls(
            all=frozenset(tokenize(lexical_header(chunk.doc.title, chunk.section_path))) | text,
            header=frozenset(tokenize(f"{chunk.doc.title} {chunk.section_path}")),
            text=text,
            sentences=tuple(tuple(tokenize(chunk.text[a:b])) for a, b in spans),
        )
