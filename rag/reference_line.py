"""A sentence that only names a document: a footnote citing an act by its full title, or a
cover note's file line. It states nothing, so it answers no question but "which act?".

Footnotes of the Commission's strategy cite acts by their titles ("Regulation (EU) 2024/1351
of the European Parliament and of the Council of 14 May 2024 on asylum and migration
management, amending ..."); they share many words with a question about that act's subject and
were quoted as answers ("what tools curb secondary movements?" answered with the title of the
Asylum Procedure Regulation). A title has participles (establishing, amending, laying down)
but no finite verb; a sentence that says something about the act has one ("Regulation (EU)
2024/1351 provides effective support ...").
"""

from __future__ import annotations

import re

# The act named first: "(12) Article 8 of the Regulation (EU) 2024/1351 of ...",
# "Proposal for a Regulation of the European Parliament ...", "COMMISSION IMPLEMENTING
# DECISION of 28.1.2026 ...", "Directive 2009/52/EC of ...", "Communication from the
# Commission ...", "COM(2025) 101 final".
_ACT = re.compile(
    r"(?i)^(\(?\d{1,3}\)\s*)?(Articles?\s+\d+\w*(\(\d+\))*(\s*(and|,)\s*\d+\w*)*\s+of\s+)?(the\s+)?"
    r"((amended\s+)?proposal\s+for\s+an?\s+)?((commission|council|european\s+parliament)\s+)?"
    r"((implementing|delegated)\s+)?"
    r"((regulation|directive|decision)\s+(\((eu|ec|eec)\)\s+)?(no\s+)?(\d|of\s+(the\s+)?"
    r"(european|council|\d))|communication\s+from\s+the\s+commission|com\s*\(\d{4}\))"
)
# Lower case only: "14 May 2024" is no verb.
_FINITE = re.compile(
    r"\b(is|are|was|were|be|been|shall|will|may|must|has|have|had|should|can|could|would|"
    r"provides?|sets?\s+out|requires?|applies|means|aims?|includes?|entered|enters)\b"
)
# A verb in the past tense right after the act's number: "Council Decision 2008/381/EC
# established the EMN" says something about it.
_NUMBER_THEN_VERB = re.compile(r"\b\d{2,4}/\d{1,4}(/[A-Z]{2,3})?\s+[a-z]+ed\b")
# "Article 7 of the Asylum and Migration Management Regulation." (an act by its short name).
_ARTICLE_OF = re.compile(
    r"^(\(?\d{1,3}\)\s*)?Articles?\s+\d+\w*(\(\d+\))*\s+of\s+the\s+([A-Z][\w'-]*\s+)"
    r"((and|of|on|for|the)\s+|[A-Z][\w'-]*\s+)*(Regulation|Directive|Decision|Code|Treaty)\W*$"
)
# A cover note's lines: "No. Cion doc.: COM(2026) 45 final", "Encl.: ...", "Brussels,
# 29.1.2026 COM(2026) 45 final", "Brussels, 30 January 2026 (OR. en)".
_FILE_LINE = re.compile(r"(?i)^(no\.\s*cion\s+doc\b|encl\.|brussels,\s*\d)")


def is_reference_line(sentence: str) -> bool:
    """Only a document's name or file line, nothing stated."""
    text = sentence.strip().lstrip("-•* ").strip()
    if _FILE_LINE.match(text) or _ARTICLE_OF.match(text):
        return True
    return (
        bool(_ACT.match(text)) and not _FINITE.search(text) and not _NUMBER_THEN_VERB.search(text)
    )
