"""Oracle ceilings: where an answerable question's key facts were lost.

Three places a key fact can be: in the top-k passages retrieval returned (the retrieval
ceiling), in one or two sentences of those passages (the composition ceiling: the best an
extractive answer of one or two sentences could do), and in the answer itself. A question
whose facts are in the passages but not in the answer was lost by composition; one whose facts
are not in the passages was lost by retrieval. Reporting the three side by side says which
stage to work on.

Also here: the first-sentence check (does an answer lead with the asked-for fact?) and the
wrong-abstention check (abstained while a gold passage was in the top k).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

from common.sentences import sentences
from evals.normalise import key_fact_present, quote_in_passage

CEILING_K = 5
# Sentences per passage considered for the composition ceiling: pairs of the first N
# sentences of each passage (a chunk holds at most about a dozen sentences).
_MAX_SENTENCES = 40


def all_facts_in(key_facts: Sequence[str], text: str) -> bool:
    """Every key fact (any of its `|` alternatives) occurs in `text`."""
    return bool(key_facts) and all(key_fact_present(fact, text) for fact in key_facts)


def retrieval_ceiling(key_facts: Sequence[str], passages: Sequence[str],
                      k: int = CEILING_K) -> bool:  # fmt: skip
    """All key facts occur in the top-k passages taken together."""
    return all_facts_in(key_facts, "\n".join(passages[:k]))


def composition_ceiling(key_facts: Sequence[str], passages: Sequence[str],
                        k: int = CEILING_K) -> bool:  # fmt: skip
    """All key facts occur in one sentence, or in some pair of sentences, of the top-k
    passages (the pair may come from two passages)."""
    pool: list[str] = []
    for passage in passages[:k]:
        pool.extend(sentences(passage)[:_MAX_SENTENCES])
    # Only sentences holding at least one fact can be part of a winning pair.
    useful = [s for s in pool if any(key_fact_present(f, s) for f in key_facts)]
    if any(all_facts_in(key_facts, s) for s in useful):
        return True
    return any(all_facts_in(key_facts, f"{a}\n{b}") for a, b in combinations(useful, 2))


def first_sentence(answer: str) -> str:
    """The answer's first sentence (or first list item), citation markers kept."""
    for line in answer.splitlines():
        line = line.strip().lstrip("-•* ").strip()
        if line:
            split = sentences(line)
            return split[0] if split else line
    return ""


def first_sentence_has_fact(key_facts: Sequence[str], answer: str) -> bool:
    """At least one key fact occurs in the answer's first sentence."""
    head = first_sentence(answer)
    return bool(head) and any(key_fact_present(fact, head) for fact in key_facts)


def wrong_abstention(behaviour: str, quotes: Sequence[str], passages: Sequence[str],
                     k: int = CEILING_K) -> bool:  # fmt: skip
    """Abstained although a passage holding a gold quote was in the top k."""
    if behaviour != "abstained" or not quotes:
        return False
    return any(quote_in_passage(q, p) for q in quotes for p in passages[:k])
