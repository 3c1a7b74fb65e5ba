"""Contradiction check: an answer sentence that shares its words with a passage can still say
the opposite (a flipped negation, an antonym, a changed quantifier, another number or date).
Word overlap and embedding similarity do not see that; this check compares the sentence with
the passage sentence(s) it is aligned with, locally, and names the disagreement.

How: every word gets a polarity. A negation ("not", "no", "never", "without", "cannot",
"fails to", and verbs that stop or fight their object: "avoid", "cease", "end", "combat")
negates the few content words after it; an antonym (rag/contradiction_lexicon.py: "decrease"
for "increase", "separately" for "together", "delete" for "store") or a negating prefix
("unfair", "inefficient", "non-binding") maps a word onto its opposite's concept with the
opposite sign. The sentence contradicts the passage when a concept it states appears near the
same words in the passage only with the other sign. Quantifiers (all / most / some / few,
"only X" against "all X" or "not only X", "once" against "several times"), numbers, months
and time units (durations and frequencies) are compared the same local way: the value next to
the words they qualify. Modal polarity (rag/deontic.py) compares what each text obliges,
permits or forbids on the same verb; comparatives (rag/comparison.py) are checked against the
passage's own figures and its "the same ... as".

The rules on words are English. For another language only figures are compared (a number
attached to another number than in the passage); the verifier's figure check still applies.
A sentence found verbatim in the passage is never a contradiction (extractive quotes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from common.sentences import split_sentences
from index.lexical import STOPWORDS, _stem, join_digit_groups
from rag.comparison import comparison_conflict
from rag.contradiction_lexicon import ANTONYMS
from rag.deontic import modal_conflict, modals

__all__ = ["Contradiction", "find_contradiction", "looks_english"]


def _words(text: str) -> list[str]:
    return text.split()


WINDOW = 4  # tokens: how near a passage word must be to the sentence's words it is compared on
SCOPE = 3  # content words a quantifier governs (and the words an antonym is compared near)
NEGATION_SCOPE = 2  # content words a negation governs
REORDERED_SHARE = 0.7  # share of a text's words the other has: the same statement reordered
NEGATED_AFTER = 7  # tokens: 'an administrative decision by the authority has not been taken'


@dataclass(frozen=True)
class Contradiction:
    kind: str  # negation, antonym, quantifier, number, date
    detail: str

    def reason(self, marker: int) -> str:
        return f"contradicts passage [{marker}]: {self.kind} ({self.detail})"


# --- word lists: general English, not drawn from any evaluation pair ------------------------

NEGATIONS = frozenset(
    _words(
        "not no never none nobody nothing neither nor without cannot lack lacks lacking absence "
        "unable fail fails failed failing"
    )
)
AVOIDANCE = frozenset(
    _words(
        "avoid avoids avoided avoiding refrain refrains refrained refraining prevent prevents "
        "prevented preventing prohibited forbidden precluded barred cease ceases ceased ceasing "
        "end ends ended expire expires expired terminate terminates terminated combat combats "
        "combating combatting fight fights fighting tackle tackles tackling counter countering "
        "curb curbs curbing"
    )
)
NEGATIONS = NEGATIONS | AVOIDANCE
# Quantifier classes, and which pairs contradict each other.
QUANTIFIERS: dict[str, str] = {
    **dict.fromkeys(_words("all every each always entire whole everyone everything"), "all"),
    **dict.fromkeys(
        _words(
            "most majority mostly usually generally mainly largely predominantly "
            "often frequently regularly"
        ),
        "most",
    ),
    **dict.fromkeys(_words("some several various sometimes occasionally partly partially"), "some"),
    **dict.fromkeys(_words("few minority rarely seldom"), "few"),
    **dict.fromkeys(_words("repeatedly twice"), "many"),
    "many": "many",
}
QUANTIFIER_CONFLICTS = frozenset(
    {
        ("all", "most"),
        ("all", "some"),
        ("all", "few"),
        ("all", "many"),
        ("most", "few"),
        ("many", "few"),
        ("only", "all"),
        ("only", "also"),
        ("once", "many"),
        ("once", "most"),
        ("once", "all"),
    }
)
ONCE_BEFORE = frozenset(_words("by a per in only and or , ; :"))  # 'once' as a count
FEW_AFTER_ONLY = frozenset(
    _words("few some small limited one part partly partially portion fraction minority")
)
CONDITIONS = frozenset(_words("if where when whether after once"))  # 'only if': a condition
MONTHS = frozenset(
    _words("january february march april may june july august september october november december")
)
UNITS = {
    "day": "day",
    "days": "day",
    "daily": "day",
    "week": "week",
    "weeks": "week",
    "weekly": "week",
    "month": "month",
    "months": "month",
    "monthly": "month",
    "quarter": "quarter",
    "quarters": "quarter",
    "quarterly": "quarter",
    "year": "year",
    "years": "year",
    "annual": "year",
    "annually": "year",
    "yearly": "year",
    "decade": "decade",
    "decades": "decade",
}
NUMBER_WORDS = {
    w: float(i)
    for i, w in enumerate(
        _words(
            "zero one two three four five six seven eight nine ten eleven twelve thirteen "
            "fourteen fifteen sixteen seventeen eighteen nineteen twenty"
        )
    )
} | {"thirty": 30.0, "forty": 40.0, "fifty": 50.0, "hundred": 100.0, "dozen": 12.0}
FRACTIONS = {
    "half": 2,
    "halves": 2,
    "third": 3,
    "thirds": 3,
    "quarter": 4,
    "quarters": 4,
    "fourth": 4,
    "fourths": 4,
    "fifth": 5,
    "fifths": 5,
    "tenth": 10,
    "tenths": 10,
}
ENGLISH = frozenset(
    _words(
        "the of and to in is are for by with that this on be as from has have had will which its "
        "their was were it an a or at no not all has does do been shall should can may must"
    )
)
# Frequent words of the other EU languages (none of them an English word).
FOREIGN = frozenset(
    _words(
        "de la le les des du et est une un pour dans sur par au aux qui que der die das und ist "
        "nicht mit von zu den dem ein eine el los las y del por con una para es il di della che "
        "per sono gli het een van op zijn niet voor og af og för och att är och nie jest się oraz "
        "na do od za ze aby które en werd wordt naar os em dos não pelo pela nas nos também"
    )
)
# Words that end a negation's or a quantifier's scope.
PARENTHETICAL = frozenset(_words("however therefore thus nevertheless moreover furthermore also"))
CLAUSE_BREAKS = frozenset(_words("but while whereas although though however which who whose"))
# A negating prefix applies to adjectives and participles: 'in-' + 'formation' is no negation.
_ADJECTIVE = re.compile(r"(ble|al|ent|ant|ive|ate|ar|ic|id|ous|ful|ed|ing)(ly)?$")
_PREFIXES = (("non", 3), ("un", 4), ("in", 4), ("im", 4), ("il", 4), ("ir", 4), ("dis", 5))

_TOKEN = re.compile(r"\d+(?:[.,]\d+)*%?|[a-z]+(?:'[a-z]+)?|[,;:]")
_WORD_INDEX = {
    word: (concept, sign)
    for concept, (plus, minus) in ANTONYMS.items()
    for sign, words in ((1, plus), (-1, minus))
    for word in words.split()
}
CONTENT_EXCLUDED = STOPWORDS | NEGATIONS | set(QUANTIFIERS) | {"than", "least", "alone", "so"}


@dataclass(frozen=True)
class Token:
    word: str
    stem: str
    pos: int
    number: float | None = None  # a figure, a number word or a fraction
    year: bool = False
    percent: bool = False

    @property
    def spelled(self) -> bool:
        """A number in words ('three', 'two-thirds'), not in figures."""
        return self.number is not None and not self.stem[:1].isdigit()

    @property
    def content(self) -> bool:
        return self.number is None and self.word not in CONTENT_EXCLUDED and len(self.word) > 1


def _number(text: str) -> float | None:
    try:
        return float(text.rstrip("%").replace(",", "."))
    except ValueError:
        return None


@lru_cache(maxsize=20_000)
def tokens_of(text: str) -> tuple[Token, ...]:
    """Lower-case word and figure tokens; 'n't' and 'cannot' become 'not'; number words and
    fractions ('two-thirds', 'a fourth', 'one in four') carry their value."""
    text = join_digit_groups(text.replace("’", "'")).lower()
    # '(1)', '(a)', '(iv)': list and paragraph numbers ('Article 46(1)'), not figures.
    text = re.sub(r"\(\s*(?:\d{1,2}|[a-z]{1,4})\s*\)", " ", text)
    text = re.sub(r"^\s*no\s*[-–—,.:;]", " ", text)  # 'No - ...': an answer, not a negation
    text = re.sub(r"n't\b", " not", text).replace("cannot", "can not")
    text = re.sub(r"(?<=\d)\s*(?:per ?cent)\b", "%", text).replace("up-to-date", "current")
    # Bounds said two ways: 'no later than' is 'at the latest', 'not more than' 'at most'.
    text = re.sub(r"\b(?:no|not)\s+(later|earlier)\s+than\b", r"at \1st", text)
    text = re.sub(r"\b(?:no|not)\s+(?:be\s+)?(?:more|longer|greater)\s+than\b", "at most", text)
    text = re.sub(r"\b(?:no|not)\s+(?:be\s+)?(?:less|fewer|shorter)\s+than\b", "at least", text)
    text = re.sub(r"\bat the (latest|earliest)\b", r"at \1", text)
    text = text.replace("laterst", "latest").replace("earlierst", "earliest")
    raw = [t for t in _TOKEN.findall(text.replace("-", " "))]
    out: list[Token] = []
    i = 0
    while i < len(raw):
        word = raw[i]
        nxt = raw[i + 1] if i + 1 < len(raw) else ""
        if word[0].isdigit():
            value = _number(word.rstrip("%"))
            year = value is not None and word.isdigit() and 1900 <= value <= 2100
            out.append(Token(word, word, len(out), value, year, word.endswith("%")))
        elif word in {"a", "one"} and nxt in FRACTIONS and raw[i + 2 : i + 3] in (["of"], []):
            out.append(Token(f"1/{FRACTIONS[nxt]}", "", len(out), 1 / FRACTIONS[nxt]))
            i += 1
        elif word in NUMBER_WORDS and nxt in FRACTIONS and nxt not in {"third", "fourth", "fifth"}:
            out.append(Token(f"{word}/{nxt}", "", len(out), NUMBER_WORDS[word] / FRACTIONS[nxt]))
            i += 1
        elif (
            word in NUMBER_WORDS and nxt == "in" and i + 2 < len(raw) and raw[i + 2] in NUMBER_WORDS
        ):
            out.append(
                Token(
                    f"{word} in {raw[i + 2]}",
                    "",
                    len(out),
                    NUMBER_WORDS[word] / max(NUMBER_WORDS[raw[i + 2]], 1),
                )
            )
            i += 2
        elif word in NUMBER_WORDS and word != "zero" and (word != "one" or _counted(raw, i)):
            out.append(Token(word, word, len(out), NUMBER_WORDS[word]))
        elif word == "half":
            out.append(Token(word, word, len(out), 0.5))
        elif word in {"no", "not"} and nxt and nxt[0].isdigit():
            pass  # 'No 516/2014': a number sign, not a negation
        elif word == "longer" and raw[i - 1 : i] in (["no"], ["not"]):
            pass  # 'no longer': the negation alone
        elif word in ",;:":
            out.append(Token(word, word, len(out)))
        else:
            out.append(Token(word, _stem(word), len(out)))
        i += 1
    return tuple(out)


def _counted(raw: list[str], i: int) -> bool:
    """'one representative' counts; 'one of the', 'the one', 'no one' do not."""
    nxt = raw[i + 1] if i + 1 < len(raw) else ""
    prev = raw[i - 1] if i else ""
    return (
        bool(re.fullmatch(r"[a-z]{3,}", nxt))
        and nxt not in STOPWORDS | {"another"} | set(QUANTIFIERS)
        and (prev not in {"the", "this", "that", "which", "any", "no", "every", "each", "as"})
    )


def looks_english(text: str) -> bool:
    """Enough English function words: the word rules apply (another language: figures only)."""
    words = re.findall(r"[^\W\d_]+", text.lower())
    if any(not w.isascii() for w in words if len(w) > 3 and not re.fullmatch(r"[a-z’']+", w)):
        return sum(w in ENGLISH for w in words) >= 3
    hits = sum(w in ENGLISH for w in words)
    return hits >= 1 and hits > sum(w in FOREIGN for w in words)


def _normalise(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "", join_digit_groups(text.lower()))


# --- alignment --------------------------------------------------------------------------------


def _aligned(claim: tuple[Token, ...], sentences: list[str]) -> list[Token]:
    """The passage sentence(s) most like the claim, as one token list (sentences far apart, so
    that no window spans two of them)."""
    wanted = {t.stem for t in claim if t.content} | {t.word for t in claim if t.number}
    if not wanted:
        return []
    scored = []
    for sentence in sentences:
        toks = tokens_of(sentence)
        have = {t.stem for t in toks if t.content} | {t.word for t in toks if t.number}
        scored.append((len(wanted & have) / len(wanted), toks, have))
    scored.sort(key=lambda s: -s[0])
    best = scored[0][0] if scored else 0.0
    if best < 0.2:
        return []
    out: list[Token] = []
    covered: set[str] = set()
    for score, toks, have in scored[:3]:
        if score < max(0.2, 0.5 * best) or (out and not (wanted & have) - covered):
            continue
        offset = len(out) + 100 * bool(out)
        out.extend(Token(t.word, t.stem, t.pos + offset, t.number, t.year, t.percent) for t in toks)
        covered |= wanted & have
    return out


# --- polarity ---------------------------------------------------------------------------------


def _prefix_base(word: str, other_stems: frozenset[str]) -> str | None:
    """'unfair' -> 'fair' when the other text says 'fair' (and not 'unfair')."""
    for prefix, min_base in _PREFIXES:
        base = word[len(prefix) :]
        if not word.startswith(prefix) or len(base) < min_base:
            continue
        if prefix in {"in", "im", "il", "ir", "dis"} and not _ADJECTIVE.search(base):
            continue
        stem = _stem(base)
        if stem in other_stems and _stem(word) not in other_stems:
            return stem
    return None


@dataclass(frozen=True)
class Polar:
    concept: str
    sign: int
    pos: int
    word: str
    negated: bool  # by a negation word (not by the word itself)
    rank: int = -1  # its place in a negation's scope (0: the word the negation governs first)
    scope: int = -1  # the position of that negation


# Comparison words that bound a figure: 'over 540', 'below 20 %', 'not exceed 20 %'.
BOUNDS = {
    "over": 1,
    "above": 1,
    "exceed": 1,
    "exceeds": 1,
    "exceeding": 1,
    "exceeded": 1,
    "beyond": 1,
    "under": -1,
    "below": -1,
}


DETERMINERS = frozenset(_words("a an the its their his her this these those there it"))


def _next_word(toks: tuple[Token, ...] | list[Token], pos: int) -> str:
    after = [t.word for t in toks if t.pos > pos]
    return after[0] if after else ""


def _clause_negated(toks: tuple[Token, ...] | list[Token], pos: int) -> bool:
    """A negation shortly before `pos` in the same clause ('no decision has been taken')."""
    before = [t for t in toks if pos - 7 <= t.pos < pos]
    words = [t.word for t in before]
    aside = {  # ', however,': a word set off by commas inside the clause
        k
        for j, w in enumerate(words)
        if w in PARENTHETICAL and words[j - 1 : j] == [","] and words[j + 1 : j + 2] == [","]
        for k in (j - 1, j, j + 1)
    }
    for j in range(len(before) - 1, -1, -1):
        t = before[j]
        if j in aside:
            continue  # 'it is not, however, necessary': one clause
        if t.word in ",;:" or t.word in CLAUSE_BREAKS:
            return False
        if t.word in NEGATIONS:
            return True
    return False


def _governs(toks: tuple[Token, ...] | list[Token], i: int) -> bool:
    """A verb of avoidance or prohibition negates its object, the words right after it
    ('avoid duplicating', 'prohibited from detaining', 'prevent the transfer')."""
    nxt = toks[i + 1] if i + 1 < len(toks) else None
    if nxt is None:
        return False
    if nxt.word in {"from", "to"}:
        return True
    if toks[i].word.endswith(("ed", "en")):  # 'an avoided trip', 'prohibited acts': adjectives
        return i > 0 and toks[i - 1].word in {"has", "have", "had"}
    return nxt.content or nxt.word in DETERMINERS | {"any"}


def _before_number(toks: tuple[Token, ...] | list[Token], i: int) -> bool:
    return any(u.number is not None for u in toks[i + 1 : i + 4])


def _polarities(toks: tuple[Token, ...] | list[Token], other: frozenset[str]) -> list[Polar]:
    """Each content word's concept and sign: negations, antonyms and negating prefixes."""
    negated_at: dict[int, tuple[int, int]] = {}  # position -> (rank, negation's position)
    for i, t in enumerate(toks):
        if t.word not in NEGATIONS:
            continue
        if t.word in AVOIDANCE and not _governs(toks, i):
            continue  # 'every trip avoided is ...': a participle, it governs nothing
        if t.word == "not" and i + 1 < len(toks) and toks[i + 1].word == "only":
            continue
        count = 0
        for u in toks[i + 1 : i + 2 + 2 * NEGATION_SCOPE]:
            if u.word in CLAUSE_BREAKS or u.word in ",;:" or u.word in NEGATIONS:
                break
            if u.word in {"and", "or"} and _next_word(toks, u.pos) in DETERMINERS:
                break  # 'has not complied and a risk ... remains': a new clause
            if count and t.word in {"no", "without"} and u.word in STOPWORDS:
                break  # 'without delay of the decision': a noun phrase, not the clause
            if u.content or u.word in _WORD_INDEX or u.word in BOUNDS:
                negated_at[u.pos] = (count, t.pos)
                count += 1
                if count == NEGATION_SCOPE:
                    break
    out = []
    for i, t in enumerate(toks):
        prev = toks[i - 1].word if i else ""
        if t.word in BOUNDS and _before_number(toks, i):
            concept, sign = "more", BOUNDS[t.word]
        elif t.word in {"least", "most"} and prev == "at":
            concept, sign = "more", 1 if t.word == "least" else -1
        elif t.number is not None:
            out.append(Polar(f"#{t.number:g}", 0, t.pos, t.word, False))
            continue  # a figure: a word that bounds are compared near
        elif not (t.content or t.word in _WORD_INDEX):
            continue
        elif prev == "non":
            concept, sign = t.stem, -1
        elif t.word in _WORD_INDEX:
            concept, sign = _WORD_INDEX[t.word]
        elif (base := _prefix_base(t.word, other)) is not None:
            concept, sign = base, -1
        else:
            concept, sign = t.stem, 1
        neg = t.pos in negated_at
        rank, scope = negated_at.get(t.pos, (-1, -1))
        out.append(Polar(concept, -sign if neg else sign, t.pos, t.word, neg, rank, scope))
    return out


def _local(found: list[Polar], mine: list[Polar], at: Polar, theirs: list[Polar]) -> list[Polar]:
    """The occurrences of `at`'s concept in the other text that stand by the same words: by
    the word right next to it when the other text has that word, else within WINDOW of its
    neighbours, else all of them."""
    for reach, near in ((1, 2), (SCOPE, WINDOW)):
        words = {p.concept for p in mine if p is not at and 0 < abs(p.pos - at.pos) <= reach}
        where = [p.pos for p in theirs if p.concept in words]
        local = [p for p in found if any(0 < abs(p.pos - q) <= near for q in where)]
        if local:
            return local
    # The nearest words on either side that the other text has too, however far ('shall
    # continue to apply' against 'shall no longer apply': 'regulation' stands by both).
    shared = {p.concept for p in theirs} - {at.concept}
    sides = [
        min(
            (p for p in mine if p.concept in shared and 0 < (p.pos - at.pos) * d <= 2 * WINDOW),
            key=lambda p: abs(p.pos - at.pos),
            default=None,
        )
        for d in (-1, 1)
    ]
    words = {p.concept for p in sides if p is not None}
    where = [p.pos for p in theirs if p.concept in words]
    local = [p for p in found if any(0 < abs(p.pos - q) <= 2 * WINDOW for q in where)]
    if local:
        return local
    if len(mine) <= 2:
        return found
    # A lexicon word stated once in each text, and most words shared: the same statement
    # reordered ('free of charge' at the end of one, 'must pay' at the end of the other).
    shared_share = len({p.concept for p in mine} & {p.concept for p in theirs}) / len(mine)
    once = sum(p.concept == at.concept for p in mine) == 1 and len(found) == 1
    if at.word in _WORD_INDEX and once and shared_share >= REORDERED_SHARE:
        return found
    return []


def _polarity_conflict(claim: tuple[Token, ...], passage: list[Token]) -> Contradiction | None:
    c_pol = _polarities(claim, frozenset(t.stem for t in passage))
    p_pol = _polarities(passage, frozenset(t.stem for t in claim))
    by_concept: dict[str, list[Polar]] = {}
    for p in p_pol:
        by_concept.setdefault(p.concept, []).append(p)
    for c in c_pol:
        found = by_concept.get(c.concept)
        if not found:
            continue
        local = _local(found, c_pol, c, p_pol)
        if not local or any(p.sign == c.sign for p in local):
            continue
        p0 = local[0]
        by_negation = c.negated or p0.negated
        # A negation is compared on the first word it governs that both texts have.
        if by_negation and not (
            _leads(c, c_pol, set(by_concept)) or _leads(p0, p_pol, {x.concept for x in c_pol})
        ):
            continue
        if c.negated and _scope_agrees(c_pol, c, by_concept):
            continue
        if by_negation and _clause_negated(claim, c.pos) == _clause_negated(passage, p0.pos):
            continue  # the same clause is negative in both, worded differently
        if by_negation and _negated_after(claim, c.pos) != _negated_after(passage, p0.pos):
            continue  # 'may not be withdrawn' against 'shall not withdraw': the same negation
        if by_negation and (
            (c.negated and _excepted(claim, c.pos) and _restricted(passage, p0.pos))
            or (p0.negated and _excepted(passage, p0.pos) and _restricted(claim, c.pos))
        ):
            continue  # 'shall not apply penalties other than' is 'may apply only the penalties'
        kind = "negation" if by_negation else "antonym"
        return Contradiction(kind, f"'{c.word}' against '{p0.word}'")
    return None


def _excepted(toks: tuple[Token, ...] | list[Token], pos: int) -> bool:
    """An exception after a negated word in its clause ('not apply penalties other than')."""
    words = [t.word for t in toks if pos < t.pos <= pos + 8]
    for i, w in enumerate(words):
        if w in ";:" or w in CLAUSE_BREAKS:
            return False
        if w in {"unless", "except", "save"} or (w == "other" and words[i + 1 : i + 2] == ["than"]):
            return True
    return False


def _restricted(toks: tuple[Token, ...] | list[Token], pos: int) -> bool:
    """'only' within three words of `pos` ('may apply only the penalties')."""
    return any(t.word == "only" and abs(t.pos - pos) <= 3 for t in toks)


def _negated_after(toks: tuple[Token, ...] | list[Token], pos: int) -> bool:
    """A negation shortly after `pos` in the same clause: 'education may not be withdrawn'
    negates the clause 'education' stands in, as 'shall not withdraw education' does."""
    for t in (t for t in toks if pos < t.pos <= pos + NEGATED_AFTER):
        if t.word in NEGATIONS:
            return True  # 'eligibility ... ends', as 'ceases to be eligible'
        if t.word in ",;:" or t.word in CLAUSE_BREAKS or t.word in _WORD_INDEX:
            return False
    return False


def _leads(at: Polar, polars: list[Polar], other: set[str]) -> bool:
    """`at` is negated, and the negation governs no word before it that the other text has or
    that carries its own polarity ('no higher than EUR ...' negates 'higher', not 'EUR')."""
    if not at.negated:
        return False
    return not any(
        p.scope == at.scope
        and p.rank < at.rank
        and (p.concept in other or p.word in _WORD_INDEX or p.word in BOUNDS)
        for p in polars
    )


def _scope_agrees(polars: list[Polar], at: Polar, other: dict[str, list[Polar]]) -> bool:
    """Another word negated with `at` (same negation) has the same sign in the other text."""
    scope = [p for p in polars if p.negated and p.scope == at.scope and p is not at]
    return any(any(o.sign == p.sign for o in other.get(p.concept, [])) for p in scope)


# --- modal polarity ---------------------------------------------------------------------------


def _verb_key(t: Token) -> str:
    """Synonyms share a key ('postpone' and 'delay'), other content words their stem; other
    words none."""
    concept = _WORD_INDEX.get(t.word)
    if concept:
        return f"{concept[0]}{concept[1]:+d}"
    return t.stem if t.content else ""


def _modal_conflict(claim: tuple[Token, ...], passage: list[Token]) -> Contradiction | None:
    """Obligation, permission and prohibition of the same verb compared (rag/deontic.py)."""
    found = modal_conflict(modals(claim, _verb_key), modals(passage, _verb_key))
    if found is None:
        return None
    mine, theirs = found
    return Contradiction(
        "modality",
        f"{mine.value} ('{mine.phrase}') where the passage states "
        f"{theirs.value} ('{theirs.phrase}')",
    )


# --- quantifiers ------------------------------------------------------------------------------


def _quantifiers(toks: tuple[Token, ...] | list[Token]) -> list[tuple[str, int, set[str]]]:
    """(class, position, the content stems it governs). 'nearly all' is 'most'; 'only' before
    a number, 'one', 'part' or 'few'/'some' is 'few'; 'only' before anything else restricts
    ('only in exceptional circumstances') and 'not only' widens: class 'only' and 'also'."""
    out = []
    for i, t in enumerate(toks):
        cls = QUANTIFIERS.get(t.word)
        prev = toks[i - 1].word if i else ""
        if t.word == "only":
            ahead = toks[i + 1 : i + 4]
            if ahead and ahead[0].word in CONDITIONS:
                continue  # 'only if': a condition, not a quantity
            if any(u.number is not None or u.word in FEW_AFTER_ONLY for u in ahead):
                cls = "few"
            elif prev == "not":
                cls = "also"
            elif ahead:
                cls = "only"
        if t.word == "once" and _next_word(toks, t.pos) in ONCE_BEFORE:
            cls = "once"  # 'extended once by three months'; 'once the decision ...' is 'when'
        if t.word == "several" and _next_word(toks, t.pos) == "times":
            cls = "many"
        if cls == "all" and prev in {"nearly", "almost", "virtually"}:
            cls = "most"
        if t.word == "most" and i + 1 < len(toks) and _ADJECTIVE.search(toks[i + 1].word):
            continue  # 'most effective': a superlative
        if cls is None:
            continue
        scope = set()
        for u in toks[i + 1 : i + 12]:
            if u.content:
                scope.add(u.stem)
            if len(scope) == SCOPE or u.word in {"but", "while", "whereas", "although", ";"}:
                break
        if cls not in {"only", "also"}:  # a restriction governs what follows it only
            for u in toks[max(0, i - 3) : i]:  # 'migrants mostly ...', 'published annually'
                if u.content:
                    scope.add(u.stem)
        out.append((cls, t.pos, scope))
    return out


def _quantifier_conflict(claim: tuple[Token, ...], passage: list[Token]) -> Contradiction | None:
    p_q = _quantifiers(passage)
    for cls, at, scope in _quantifiers(claim):
        head = _head(claim, at)
        near = [
            pc
            for pc, pat, ps in p_q
            if ps & scope
            # 'only' against 'all' on the same noun phrase: 'only in exceptional circumstances'.
            and ("only" not in {cls, pc} or "all" not in {cls, pc} or head & _head(passage, pat))
        ]
        if near and all(
            (cls, pc) in QUANTIFIER_CONFLICTS or (pc, cls) in QUANTIFIER_CONFLICTS for pc in near
        ):
            return Contradiction("quantifier", f"'{cls}' where the passage says '{near[0]}'")
    return None


def _head(toks: tuple[Token, ...] | list[Token], pos: int) -> set[str]:
    """The content words of the noun phrase after a quantifier ('only the Member States
    affected' -> member, state, affect; 'all national files' -> national, file)."""
    words: set[str] = set()
    for t in (t for t in toks if t.pos > pos):
        if t.content:
            words.add(t.stem)
        elif words or t.word not in STOPWORDS:
            break
    return words


# --- numbers, months, time units --------------------------------------------------------------


def _same_kind(a: Token, b: Token) -> bool:
    return a.year == b.year and a.percent == b.percent


def _number_conflict(
    claim: tuple[Token, ...], passage: list[Token], english: bool
) -> Contradiction | None:
    c_nums = [t for t in claim if t.number is not None and (english or not t.spelled)]
    p_nums = [t for t in passage if t.number is not None]
    p_values = {t.number for t in p_nums}
    for n in c_nums:
        if n.number in p_values:
            # Attached to another figure than in the passage ('EUR 2 750 000 for 2026')?
            for m in c_nums:
                gap = m.pos - n.pos
                if m is n or not 0 < abs(gap) <= 3 or m.number not in p_values:
                    continue
                beside = [
                    u
                    for o in p_nums
                    if o.number == m.number
                    for u in p_nums
                    if _same_kind(u, n) and 0 < (o.pos - u.pos) * (1 if gap > 0 else -1) <= 3
                ]
                # One word more or less between them is the same attachment ('18-19 February
                # 2016 and 17-18 March' against '... and on 17-18 March').
                wider = {
                    u.number
                    for o in p_nums
                    if o.number == m.number
                    for u in p_nums
                    if 0 < (o.pos - u.pos) * (1 if gap > 0 else -1) <= abs(gap) + 1
                }
                if beside and n.number not in wider:
                    return Contradiction(
                        _kind(n), f"{n.word} beside {m.word}; the passage has {beside[0].word}"
                    )
        if not english:
            continue
        # Another figure where the passage has the same words on the same side of it
        # ('established in 2014' against 'established in 2008').
        if n.number not in p_values and not n.spelled:
            continue  # a figure in no passage: the verifier's figure check removes it
        before, after = _context(claim, n)
        nearby = {
            u.number: u
            for u in p_nums
            if _same_kind(u, n)
            and (_context(passage, u)[0] & before or _context(passage, u)[1] & after)
        }
        if nearby and n.number not in nearby:
            other = next(iter(nearby.values()))
            return Contradiction(_kind(n), f"{n.word} where the passage has {other.word}")
    return None


def _context(toks: tuple[Token, ...] | list[Token], at: Token) -> tuple[set[str], set[str]]:
    """The content word nearest before and after a figure (within six tokens, same clause;
    months skipped): 'established in 2014' -> 'establish'."""
    sides = []
    for direction in (-1, 1):
        words: list[str] = []
        for t in sorted(
            (t for t in toks if 0 < (t.pos - at.pos) * direction <= 6),
            key=lambda t: abs(t.pos - at.pos),
        ):
            if t.word in ";:" or (t.number is not None and t.year != at.year):
                break
            if t.content and t.word not in MONTHS:
                words.append(t.stem)
            if words:
                break
        sides.append(set(words))
    return sides[0], sides[1]


def _kind(t: Token) -> str:
    return "date" if t.year else "number"


# Words after which a month name is a month ('each year in June', 'by the end of March').
MONTH_CUES = frozenset(_words("in by from until till since before after of during early mid late"))


def _dated_months(toks: tuple[Token, ...] | list[Token]) -> list[Token]:
    """Month names next to a day or a year, or after a preposition of time ('may' is a month
    only next to a figure: alone it is a verb)."""
    out = []
    for i, t in enumerate(toks):
        if t.word in MONTHS:
            around = toks[max(0, i - 1) : i + 2]
            dated = any(u.number is not None for u in around if u is not t)
            cued = t.word != "may" and i > 0 and toks[i - 1].word in MONTH_CUES
            if dated or cued:
                out.append(t)
    return out


def _date_conflict(
    claim: tuple[Token, ...], passage: list[Token], whole: tuple[Token, ...]
) -> Contradiction | None:
    p_months = {t.word for t in _dated_months(passage)}
    all_months = {t.word for t in _dated_months(whole)}
    for m in _dated_months(claim):
        if (all_months and m.word not in all_months) or (p_months and m.word not in p_months):
            shown = sorted(p_months or all_months)
            return Contradiction("date", f"{m.word} where the passage has {', '.join(shown)}")
    # Time units and frequencies next to the same words ('within a few weeks', 'quarterly').
    for i, t in enumerate(claim):
        if t.word not in UNITS:
            continue
        mine = _unit(claim, i)
        words = {
            u.stem
            for u in claim
            if u.content and u.word not in UNITS and 0 < abs(u.pos - t.pos) <= SCOPE + 1
        }
        where = [u.pos for u in passage if u.content and u.stem in words]
        nearby = {
            _unit(passage, j)
            for j, u in enumerate(passage)
            if u.word in UNITS and any(abs(u.pos - q) <= WINDOW for q in where)
        }
        stated = [_unit(claim, j) for j, u in enumerate(claim) if u.word in UNITS]
        if not where:
            # No word by it the passage has: the one period of that unit in each text.
            theirs = [j for j, u in enumerate(passage) if UNITS.get(u.word) == UNITS[t.word]]
            if len(theirs) == 1 and [x[1] for x in stated].count(UNITS[t.word]) == 1:
                nearby = {_unit(passage, theirs[0])}
        if nearby and not any(_same_unit(mine, theirs) for theirs in nearby):
            if all(any(_same_unit(c, theirs) for c in stated) for theirs in nearby):
                continue  # the claim states the passage's unit too ('annual ... five years')
            return Contradiction(
                "date",
                f"'{t.word}' where the passage has {', '.join(sorted(u for _, u in nearby))}",
            )
    return None


FREQUENCIES = frozenset(_words("daily weekly monthly quarterly annual annually yearly"))


def _unit(toks: tuple[Token, ...] | list[Token], i: int) -> tuple[str, str]:
    """(how: 'every', a duration in figures or '', unit): 'quarterly' and 'once a quarter' ->
    ('every', 'quarter'),
    'five-year' -> ('5', 'year'), 'weeks' -> ('', 'week')."""
    t = toks[i]
    if t.word in FREQUENCIES:
        return ("every", UNITS[t.word])
    before = toks[i - 1] if i else None
    if before is not None and before.word in {"a", "per", "each", "every"}:
        return ("every", UNITS[t.word])  # 'once a year', 'every month': a frequency
    if before is not None and before.number is not None:
        return (f"{before.number:g}", UNITS[t.word])
    return ("", UNITS[t.word])


def _same_unit(a: tuple[str, str], b: tuple[str, str]) -> bool:
    """Same unit; a duration of several units is not a frequency ('five-year' vs 'annual')."""
    if a[1] != b[1]:
        return False
    how = {a[0], b[0]}
    return not ("every" in how and how - {"every", "", "1"})


# --- entry point ------------------------------------------------------------------------------


def find_contradiction(
    sentence: str, passage: str, spans: list[tuple[int, int]] | None = None
) -> Contradiction | None:
    """How `sentence` contradicts `passage` (whose sentence spans are `spans`), or None."""
    if _normalise(sentence) in _normalise(passage):
        return None
    claim = tokens_of(sentence)
    sentences = [passage[a:b] for a, b in (spans or split_sentences(passage))] or [passage]
    aligned = _aligned(claim, sentences)
    if not aligned:
        return None
    english = looks_english(sentence)
    found = _number_conflict(claim, aligned, english)
    if found or not english:
        return found
    return (
        _date_conflict(claim, aligned, tokens_of(passage))
        or _polarity_conflict(claim, aligned)
        or _modal_conflict(claim, aligned)
        or _quantifier_conflict(claim, aligned)
        or _comparison_conflict(claim, aligned)
    )


def _comparison_conflict(claim: tuple[Token, ...], passage: list[Token]) -> Contradiction | None:
    """'X longer than Y' where the passage gives X the shorter figure (rag/comparison.py)."""
    found = comparison_conflict(claim, passage, UNITS)
    return Contradiction("comparative", found) if found else None
