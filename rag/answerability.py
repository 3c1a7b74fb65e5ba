"""Does the verified answer answer what was asked? Checks on the constraints a question pins
down, so that a fluent answer about something nearby becomes an abstention:

- a year the question names must appear in the answer or its cited passages ('the EMN
  budget for 2030');
- a country the question names must appear in a cited passage;
- 'how many / how much' needs a sentence holding a figure (not a year, date or legal
  reference) together with what is being counted;
- 'which countries' needs at least one country named in the answer;
- 'what percentage / what share' needs a percentage (or a fraction such as 'half'), and
  'what date' a date with its day or month (or a time limit that fixes one), not a bare year;
- 'which month' needs a month; 'how often / how many times' a frequency ('annually', 'twice
  a year', 'every two years');
- 'when was / when did / since when has ...' needs a date the question does not hold, in a
  sentence about what was asked ('when was the Immigration Portal launched?' is not answered
  by a sentence on another system's launch date);
- 'why ...' needs a stated reason or purpose ('because', 'in order to', 'aims to');
- 'which city / where was ... held' needs a place the question does not name, and 'which
  contractor / company' an organisation it does not name;
- a figure, share or date must stand beside the names the question pins it to: "how much does
  the European Reintegration Network receive?" is not answered by a sentence on another
  programme's funding, nor "by what percentage have crossings on the Western Balkans route
  fallen?" by the overall fall (the name may also stand in the cited passage's document title
  or section); 'how many staff' needs a figure beside 'staff';
- 'what is X worth' needs an amount, 'list the 42 occupations' at least three items, 'the 42nd
  meeting' that ordinal, and 'who, by name' or 'who is the current' a person's name;
- a date answers 'until what date is it extended?' only in a sentence about that event
  (extended, prolonged), not another's ('adopted in September 2025').
"""

from __future__ import annotations

import re
from dataclasses import replace

from index.lexical import tokenize
from rag.asked_for import (
    MONTHS,
    answers_kinds,
    asked_for,
    holds_value,
    new_values,
    without_values,
)
from rag.countries import countries_in
from rag.figures import numbers_in
from rag.question import COUNTRIES_QUESTION, PERIOD, QUANTITY_QUESTION, YEAR
from rag.question_names import counted_noun, question_names, recognised
from rag.retrieval import Candidate, QueryTerms
from rag.verify import split_answer

_REFERENCE = re.compile(r"\b\d{2,4}/\d{1,4}(/\w+)?\b")


def _period_key(period: str) -> str:
    """'2024 – 25' and '2024-2025' -> '2024-2025'."""
    start, end = re.split(r"\s*[-–]\s*", period)
    return f"{start}-{start[: 4 - len(end)]}{end}"


# "Article 4(5)", "Articles 1 and 2", "Protocol No 22", "No 516/2014", "(9)", "20 May 2025",
# "COM(2026) 45", "OJ L 131, ..., p. 7": numbers that are not quantities.
_NOT_QUANTITIES = re.compile(
    r"(?i)\b(articles?|art\.|no\.?|nos\.?|points?|paragraphs?|protocol|annex|recital)\s*"
    r"(no\.?\s*)?[\d()/.a-z]*((\s*,\s*|\s+(and|or|to)\s+)\d[\d()/.a-z]*)*"
    r"|\(\d{1,3}\)|\b\d{2,4}/\d{1,4}(/\w+)?\b|\[\d+\]"
    r"|\b(com|c|swd|join)\s?\(\d{4}\)\s?\d+|\boj\s+[lc]\s+\d+|\bpp?\.\s?\d+([-\u2013]\d+)?"
    r"|\b\d{1,2}\s+(january|february|march|april|may|june|july|august|september|october|"
    r"november|december)\b|" + YEAR.pattern + r"|\b\d{1,2}\.\d{1,2}\.\d{4}\b"
)
_WORD_NUMBER = re.compile(
    r"(?i)\b(one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|twenty|thirty|"
    r"hundred|thousand|million|billion|half|third|quarter|dozen)\b"
)
# Questions that ask for a share as such, and what gives one.
PERCENTAGE_QUESTION = re.compile(
    r"(?i)\b(what|which)\s+(percentage|per\s?cent|share|proportion|fraction)\b"
)
# A share given as a fraction ("half of the costs"); a percentage is asked_for's value.
_FRACTION = re.compile(r"(?i)\b(half|third|quarter|two-thirds|three-quarters|fifth|tenth)s?\b")
# Questions that ask for a date (a day or a month), not a year: "until what date", "on which
# date". ("By when" is as often answered by a time limit: "no later than six months from...".)
DATE_QUESTION = re.compile(r"(?i)\b(what|which)\s+date\b")
_FULL_DATE = re.compile(
    rf"(?i)\b(\d{{1,2}}(st|nd|rd|th)?\s+(of\s+)?({MONTHS})|({MONTHS})\s+(\d{{1,2}},?\s+)?"
    r"\d{4}|\d{1,2}[./-]\d{1,2}[./-]\d{2,4}|\d{4}-\d{2}-\d{2})\b"
)
_TIME_LIMIT = re.compile(
    r"(?i)\b(\d+|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|"
    r"eighteen|twenty|thirty)(\s|-)(working\s+|calendar\s+)?(days?|weeks?|months?|years?)\b"
)
MONTH_QUESTION = re.compile(r"(?i)\b(which|what)\s+month\b")
_MONTH = re.compile(rf"(?i)\b({MONTHS})\b")
FREQUENCY_QUESTION = re.compile(r"(?i)\b(how\s+often|how\s+many\s+times)\b")
_FREQUENCY = re.compile(
    r"(?i)\b(once|twice|\w+\s+times|annual(ly)?|yearly|quarterly|monthly|weekly|daily|"
    r"biennial(ly)?|every\s+(\w+\s+)?(years?|months?|weeks?|days?)|(a|per|each)\s+(year|month|"
    r"week|day)|regular(ly)?|periodic(ally)?)\b"
)
# "When was/did/will X ...": a past or planned event's date (not "when must...": a deadline
# is as often answered by a time limit or a condition).
WHEN_QUESTION = re.compile(r"(?i)^\s*(since\s+)?when\s+(was|were|did|will|is|are|has|have)\b")
WHY_QUESTION = re.compile(r"(?i)^\s*(why|for\s+what\s+reason)\b")
_REASON = re.compile(
    r"(?i)\b(because|since|as\s+a\s+result|due\s+to|owing\s+to|given\s+that|in\s+order\s+to|"
    r"so\s+(as\s+)?(that|to)|with\s+a\s+view\s+to|aims?\s+(to|at)|aimed|purpose|objective|"
    r"to\s+(ensure|provide|support|improve|address|prevent|reduce|facilitate|meet|respond|"
    r"strengthen|help|enable|allow|guarantee|avoid|promote|protect)|reasons?|driven\s+by|"
    r"following|in\s+view\s+of|in\s+light\s+of|on\s+the\s+grounds?|necessary|needed|"
    r"essential|therefore|thus|hence|lead(s|ing)?\s+to|led\s+to|caus\w*|result(s|ed)?\s+"
    r"(in|from)|results?\s+of|factors?|contribut\w*|stem(s|med)?\s+from|explain\w*|motivat\w*)\b"
)
PLACE_QUESTION = re.compile(
    r"(?i)\b(which|what)\s+(city|town|venue|location)\b|^\s*where\s+(was|were|did|will|is|are)\b"
    r".*\b(held|hosted|host|take\s+place|took\s+place|located|based|headquartered|seated)\b"
)
_PLACE = re.compile(r"\b(in|at)\s+(the\s+)?([A-Z][\w'-]+)")
CONTRACTOR_QUESTION = re.compile(
    r"(?i)\b(which|what)\s+(\w+\s+)?(contractor|company|firm|consultancy|consultants)\b"
)
ORDINAL = re.compile(r"\b\d+(?:st|nd|rd|th)\b")
# "What is the contract worth?" asks for an amount as "how much" does.
WORTH_QUESTION = re.compile(r"(?i)\bworth\b")
# "List the 42 shortage occupations": a counted list wants its items, not the count.
COUNTED_LIST_QUESTION = re.compile(
    r"(?i)\b(list|name|enumerate|what\s+are|which\s+are)\s+(all\s+)?(of\s+)?(the\s+)?"
    r"([3-9]|[1-9]\d+|three|four|five|six|seven|eight|nine|ten|twelve)\s+[a-z]"
)
# The event a date question asks about ("until what date is it extended?"): the date
# must be that event's, not another's ("adopted in September 2025"). Words of one event share
# a group ("begin", "start", "launch", "roll out").
_EVENTS: tuple[frozenset[str], ...] = (
    frozenset({"adopt", "agre", "approv", "sign", "signatur", "conclud", "endors"}),
    frozenset({"launch", "start", "begin", "began", "begun", "roll", "introduc", "open", "appli"}),
    frozenset({"extend", "extens", "prolong", "renew"}),
    frozenset({"expir", "expiri", "end", "ceas", "termin", "laps"}),
    frozenset({"complet", "finish", "fulli"}),
    frozenset({"join", "becam", "becom", "admit", "acced"}),
    frozenset({"publish", "releas", "issu"}),
)
# What a "what ... Member States" phrase asks for when it is not the countries.
_NOT_COUNTRIES = re.compile(r"(?i)\b(share|percentage|proportion|rate|much|many)\b")
QUANTITY_COVERAGE = 0.15
# "How many applications ...?" asks for a number of things: a percentage ("a decreasing
# trend (-21%)") counts none of them.
HOW_MANY = re.compile(r"(?i)\bhow\s+many\b")
QUANTITY_KINDS = frozenset({"amount", "percentage", "count", "duration"})


def has_quantity(sentence: str) -> bool:
    stripped = _NOT_QUANTITIES.sub(" ", sentence)
    return bool(numbers_in(stripped) or _WORD_NUMBER.search(stripped))


def gives_share(text: str) -> bool:
    return holds_value("percentage", text) or _FRACTION.search(text) is not None


def gives_full_date(text: str) -> bool:
    """A date with its day or month, or a time limit that fixes one ("within six months")."""
    return bool(_FULL_DATE.search(text) or _TIME_LIMIT.search(text))


def unanswered_constraints(
    question: str, answer: str, cited: list[Candidate], terms: QueryTerms
) -> list[str]:
    """What the question asks for that the answer does not give (empty: answerable)."""
    if not cited:
        return []
    # Years count as mentioned only outside legal references ("Regulation 2024/2509"), and a
    # period ("the 2024-2025 programme") only as that period.
    # The year may stand in the cited sentence's context rather than in the quoted sentence
    # ("MFF 2028-2034 ... EUR 81 billion" quoted as its figure sentence alone).
    # A year may also name the cited document itself ("according to the 2026 Strategy":
    # COM(2026) 45).
    evidence = " ".join(f"{c.chunk.text} {c.chunk.section_path}" for c in cited)
    titles = " ".join(f"{c.chunk.doc.title} {c.chunk.doc.reference or ''}" for c in cited)
    answer_years = _REFERENCE.sub(" ", f"{answer} {evidence} {titles}")
    periods = PERIOD.findall(question)
    missing = [
        p for p in dict.fromkeys(periods) if _period_key(p) not in {
            _period_key(q) for q in PERIOD.findall(answer_years)
        }
    ]  # fmt: skip
    single = YEAR.findall(PERIOD.sub(" ", question))
    missing += [y for y in dict.fromkeys(single) if y not in YEAR.findall(answer_years)]
    named = set(countries_in(evidence))
    missing += [c for c in countries_in(question, terms.language) if c not in named]
    if QUANTITY_QUESTION.search(question):
        content = _without_years(terms)
        # What is counted may be named by the passage's document and section rather than by
        # the figure's own sentence ("EMN" in the title, "Union contribution" in the section).
        context = _context(cited)
        kinds = asked_for(question, terms.language) & QUANTITY_KINDS

        counts = bool(HOW_MANY.search(question)) and "percentage" not in kinds

        def quantity(sentence: str) -> bool:
            return has_quantity(without_values("percentage", sentence) if counts else sentence)

        def gives_figure(sentence: str) -> bool:
            if not quantity(sentence):
                return False
            coverage = content.coverage(set(tokenize(sentence)) | context)
            # A value of the very kind asked for (an amount for "how much money") needs less
            # of the question's wording around it than any other figure.
            fits = bool(kinds) and answers_kinds(kinds, sentence, question) > 0
            return coverage >= QUANTITY_COVERAGE or (fits and coverage >= QUANTITY_COVERAGE / 2)

        sentences = split_answer(answer)
        if not any(gives_figure(s) for s in sentences):
            missing.append("the figure asked for")
        elif (counted := counted_noun(question)) and not any(
            quantity(s) and recognised(counted, set(tokenize(s)) | context) for s in sentences
        ):
            missing.append("the number asked for")
        # A figure dated to other years is not the figure for the year asked ("declined by
        # 26% in 2025, following a 38% decrease in 2024" for "by what percentage ... in 2023").
        asked_years = set(single) - set(missing)
        figures = [s for s in sentences if has_quantity(s) or gives_share(s)]
        dated = [set(YEAR.findall(_REFERENCE.sub(" ", s))) for s in figures]
        if asked_years and figures and all(d and not d & asked_years for d in dated):
            missing.append(f"the figure for {', '.join(sorted(asked_years))}")
    # A figure, share or date must stand beside the names the question pins it to (English
    # names: a question in another language names them in its own words).
    if terms.language == "en" and not missing:
        missing += _unnamed(question, answer, cited)
    # "The 42nd meeting" is not answered by the 41st (named in the answer or its passages).
    missing += [o for o in dict.fromkeys(ORDINAL.findall(question)) if o not in answer_years]
    if "person" in asked_for(question) and not holds_value("person", answer):
        missing.append("the person asked for")
    if WORTH_QUESTION.search(question) and not holds_value("amount", answer):
        missing.append("the amount asked for")
    if COUNTED_LIST_QUESTION.search(question) and list_items(answer) < 3:
        missing.append("the items asked for")
    if PERCENTAGE_QUESTION.search(question) and not gives_share(answer):
        missing.append("the percentage asked for")
    if DATE_QUESTION.search(question) and not gives_full_date(answer):
        missing.append("the date asked for")
    elif (DATE_QUESTION.search(question) or WHEN_QUESTION.search(question)) and not event_dated(
        question, answer
    ):
        missing.append("the date of the event asked for")
    if asks_for_countries(question) and not countries_in(answer):
        missing.append("the countries asked for")
    if MONTH_QUESTION.search(question) and not _MONTH.search(answer):
        missing.append("the month asked for")
    if FREQUENCY_QUESTION.search(question) and not _FREQUENCY.search(answer):
        missing.append("how often")
    if WHEN_QUESTION.search(question) and not _dated_sentence(question, answer, terms):
        missing.append("the date asked for")
    if WHY_QUESTION.search(question) and not _REASON.search(answer):
        missing.append("the reason asked for")
    if PLACE_QUESTION.search(question) and not _names_new_place(question, answer):
        missing.append("the place asked for")
    if CONTRACTOR_QUESTION.search(question) and not new_values("organisation", answer, question):
        missing.append("the organisation asked for")
    return missing


def asks_for_countries(question: str) -> bool:
    """'Which countries ...?', not a clause that mentions Member States inside another
    question ("how does it compare with what Member States have?", "what share do Member
    States cover?")."""
    m = COUNTRIES_QUESTION.search(question)
    if not m or _NOT_COUNTRIES.search(m.group(0)):
        return False
    clause = re.search(r"(\b(and|or)|[,;])\s*$", question[: m.start()])
    return not (re.match(r"(?i)\s*how\b", question) and not clause)


def list_items(answer: str) -> int:
    """How many items the answer lists: its bullet lines, or the parts of its longest
    enumeration in running text ("Morocco, Tunisia, Egypt and Pakistan": 4; a count with one
    clause after a comma is no list)."""
    lines = [line for line in answer.split("\n") if line.strip().startswith(("- ", "* ", "• "))]
    inline = 0
    for sentence in split_answer(answer):
        parts = re.split(r"[,;]\s", sentence)
        if len(parts) >= 3:
            inline = max(inline, len(parts) + bool(re.search(r"\s(and|or)\s", parts[-1])))
    return max(len(lines), inline)


def _unnamed(question: str, answer: str, cited: list[Candidate]) -> list[str]:
    """The question's names that no answer sentence holding the kind of value asked for
    stands beside (a name may also stand in the cited passages' document titles and
    sections). Each name needs its own such sentence: "when did the EES start, and when is
    ETIAS due?" is answered by two."""
    dated = bool(DATE_QUESTION.search(question) or WHEN_QUESTION.search(question))
    shares = bool(PERCENTAGE_QUESTION.search(question))
    counted = bool(QUANTITY_QUESTION.search(question) or WORTH_QUESTION.search(question))
    names = question_names(question) if dated or shares or counted else []
    if not names:
        return []
    context = _context(cited)
    beside: list[set[str]] = []  # the tokens around each value sentence
    for sentence in split_answer(answer):
        plain = _REFERENCE.sub(" ", sentence)
        if (
            (dated and _gives_new_date(sentence, question))
            or (shares and gives_share(plain))
            or (counted and has_quantity(plain))
        ):
            beside.append(set(tokenize(sentence)) | context)
    value = "the date" if dated else "the figure"
    absent = [n.text for n in names if not any(recognised(n.tokens, t) for t in beside)]
    return [f"{value} for {text}" for text in dict.fromkeys(absent)]


def _context(cited: list[Candidate]) -> set[str]:
    """Tokens of the cited passages' document titles and section paths."""
    return {t for c in cited for t in tokenize(f"{c.chunk.doc.title} {c.chunk.section_path}")}


def _gives_new_date(sentence: str, question: str) -> bool:
    """The sentence holds a date the question does not (legal references are no dates)."""
    return bool(new_values("date", _REFERENCE.sub(" ", sentence), question))


def event_dated(question: str, answer: str) -> bool:
    """Some sentence holding a new date also names the event the question dates (any word of
    its group), or the question names no such event."""
    words = set(tokenize(question))
    asked = [g for g in _EVENTS if g & words]
    if not asked:
        return True
    for sentence in split_answer(answer):
        if _gives_new_date(sentence, question):
            said = set(tokenize(sentence))
            if all(g & said for g in asked):
                return True
    return False


def _names_new_place(question: str, answer: str) -> bool:
    named = {w.lower() for w in re.findall(r"[\w'-]+", question)}
    months = set(MONTHS.split("|"))
    return any(
        m.group(3).lower() not in named and m.group(3).lower() not in months
        for m in _PLACE.finditer(answer)
    )


def _without_years(terms: QueryTerms) -> QueryTerms:
    """The question's terms but its years: a year is checked on its own, and a sentence is
    'about what was asked' by the question's other words."""
    return replace(terms, weights={t: w for t, w in terms.weights.items() if not YEAR.fullmatch(t)})


def _dated_sentence(question: str, answer: str, terms: QueryTerms) -> bool:
    """A sentence of the answer holding a date the question lacks, about what was asked."""
    content = _without_years(terms)
    return any(
        _gives_new_date(sentence, question)
        and content.coverage(set(tokenize(sentence))) >= QUANTITY_COVERAGE
        for sentence in split_answer(answer)
    )
