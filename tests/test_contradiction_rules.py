"""The contradiction check's general rules, one test per rule, on corpus-like sentence pairs:
the antonym lexicon (rag/contradiction_lexicon.py), modal polarity (rag/deontic.py),
comparatives against the passage's figures (rag/comparison.py), quantifier scope, months and
frequencies, and the faithful paraphrases each rule must leave alone."""

from __future__ import annotations

from collections import Counter

import pytest

from rag.contradiction import find_contradiction
from rag.contradiction_lexicon import ANTONYMS

DETAINED = (
    "Where unaccompanied minors are detained, Member States shall ensure that they are "
    "accommodated separately from adults."
)
STRATEGIES = (
    "The Member States shall revise their national strategies no later than one year from the "
    "date on which the situation of crisis ended."
)
STORED = "Each dataset shall be stored in the central system for ten years from the date of entry."
INTEGRATION = (
    "Member States may require participation in integration measures only if those measures "
    "are easily accessible, available and free of charge."
)
DIFFERENCES = (
    "Those differences are drivers of secondary movement and undermine the objective of "
    "ensuring that all applicants are equally treated."
)
REGISTRATION = (
    "The Member State concerned shall prioritise the registration of applications of minors "
    "and their family members."
)
ADMIT = "There is no obligation on Member States to admit a person pursuant to this Regulation."
AMOUNT = (
    "It is not, however, necessary for the amount granted to applicants to be the same as for "
    "nationals."
)
POSTPONE = (
    "Member States shall not postpone the granting of access to the education system for more "
    "than two months from the date on which the application was lodged."
)
PENALTIES = (
    "Where an applicant leaves the assigned area without permission, a Member State shall not "
    "apply penalties other than those provided for under this Directive."
)
CONFIRM = (
    "Each year in January, Member States shall confirm to the Coordinator the levels of each "
    "solidarity measure implemented during the preceding year."
)
AUDIT = (
    "The supervisor shall ensure that an audit of the processing activities is carried out in "
    "accordance with international auditing standards at least every three years."
)
CALLS = (
    "That communication replies to calls by the European Council on 18-19 February 2016 and on "
    "17-18 March 2016 to make progress in reforming the existing framework."
)
GROUNDS = "The detention shall be based only on one or more of the grounds set out in paragraph 4."
MEASURES = (
    "The measures adopted pursuant to this Regulation shall be applied in a temporary and "
    "limited manner and only in exceptional circumstances."
)
EXTENDED = (
    "Unless that decision is repealed, that period may be extended once by three months upon "
    "confirmation by the Commission that the situation persists."
)
RESETTLEMENT = (
    "The Council acknowledged that all Member States should give their contribution to "
    "resettlement in a fair and balanced manner."
)
PERMIT = (
    "A residence permit shall have an initial period of validity of at least three years for "
    "beneficiaries of refugee status and at least one year for beneficiaries of subsidiary "
    "protection status."
)
HEALTHCARE = (
    "Beneficiaries of international protection shall have access to healthcare under the same "
    "eligibility conditions as nationals of the Member State that granted them protection."
)
TIME_LIMIT = (
    "That maximum time limit should not be longer than one year from the acceptance of the take "
    "charge request."
)
ELIGIBLE = (
    "A beneficiary shall cease to be eligible for subsidiary protection when the circumstances "
    "which led to the granting of that status have ceased to exist."
)
LABOUR = (
    "Applicants shall have access to the labour market no later than six months from the date "
    "on which the application was registered provided that an administrative decision by the "
    "competent authority has not been taken."
)
SMUGGLING = (
    "The EU coordinates efforts to prevent migrant smuggling and develops a common policy on "
    "return."
)


@pytest.mark.parametrize(
    ("sentence", "passage", "kind"),
    [
        # The antonym lexicon: general English opposites.
        ("Detained unaccompanied minors shall be accommodated together with adults.", DETAINED,
         "antonym"),
        ("The Member States shall revise their national strategies no later than one year from "
         "the date on which the situation of crisis began.", STRATEGIES, "antonym"),
        ("Each dataset shall be deleted from the central system ten years from the date of "
         "entry.", STORED, "antonym"),
        ("Member States may require participation in integration measures if they are "
         "accessible and available, even where participants must pay for them.", INTEGRATION,
         "antonym"),
        ("Those differences drive secondary movement but strengthen the objective of ensuring "
         "that all applicants are equally treated.", DIFFERENCES, "antonym"),
        ("The Member State concerned shall register the applications of minors and their family "
         "members last.", REGISTRATION, "antonym"),
        # Modal polarity: obligation, permission, prohibition, no obligation.
        ("Member States are obliged to admit persons pursuant to this Regulation.", ADMIT,
         "modality"),
        ("The amount granted to applicants must be the same as for nationals.", AMOUNT,
         "modality"),
        # Months after a preposition, frequencies.
        ("Each year in June, Member States shall confirm to the Coordinator the levels of each "
         "solidarity measure implemented during the preceding year.", CONFIRM, "date"),
        ("The supervisor shall ensure that an audit of the processing activities is carried out "
         "at least once a year.", AUDIT, "date"),
        # Quantifier scope.
        ("The detention must be based on all of the grounds set out in paragraph 4.", GROUNDS,
         "quantifier"),
        ("The measures adopted pursuant to this Regulation may be applied in all circumstances, "
         "not only in exceptional ones.", MEASURES, "quantifier"),
        ("Unless that decision is repealed, that period may be extended several times by three "
         "months.", EXTENDED, "quantifier"),
        ("The Council acknowledged that only the Member States affected by migratory flows "
         "should contribute to resettlement.", RESETTLEMENT, "quantifier"),
        # Comparatives against the passage's own figures and its 'the same ... as'.
        ("Beneficiaries of subsidiary protection receive a residence permit with a longer "
         "initial validity than beneficiaries of refugee status.", PERMIT, "comparative"),
        ("Beneficiaries of international protection have access to healthcare under stricter "
         "eligibility conditions than nationals.", HEALTHCARE, "comparative"),
        # 'not be longer than' is 'at most'.
        ("That maximum time limit should be at least one year from the acceptance of the take "
         "charge request.", TIME_LIMIT, "antonym"),
    ],
)  # fmt: skip
def test_each_rule_finds_its_contradiction(sentence: str, passage: str, kind: str) -> None:
    found = find_contradiction(sentence, passage)
    assert found is not None and found.kind == kind, (sentence, found)


@pytest.mark.parametrize(
    ("sentence", "passage"),
    [
        # Synonyms under the same negation agree; a modal on the same verb agrees.
        ("Member States may not delay access to the education system by more than two months "
         "from the date the application was lodged.", POSTPONE),
        # 'shall not apply X other than' is 'may apply only X'.
        ("If an applicant leaves the assigned area without permission, a Member State may apply "
         "only the penalties provided for under the Directive.", PENALTIES),
        # 'It is not, however, necessary' is one negative clause.
        ("The amount granted to applicants does not have to match the amount granted to "
         "nationals.", AMOUNT),
        # A figure one word further from its neighbour is still attached to it.
        ("The communication responded to the European Council's calls of 18-19 February 2016 "
         "and 17-18 March 2016 for progress in reforming the framework.", CALLS),
        # 'ends' after its subject negates it as 'cease to be' does.
        ("Eligibility for subsidiary protection ends when the circumstances that led to it no "
         "longer exist.", ELIGIBLE),
        # A negation later in the clause: 'a decision ... has not been taken'.
        ("Where no administrative decision has been taken, applicants must have access to the "
         "labour market within six months of the registration of their application.", LABOUR),
        # 'combat' and 'prevent' both act against their object.
        ("The EU coordinates action to combat migrant smuggling and develops a common return "
         "policy.", SMUGGLING),
        # A condition is no exception: 'shall not be detained where' stays a prohibition.
        ("Applicants with special reception needs may not be detained where detention would "
         "seriously endanger their health.", "Where the detention of applicants with special "
         "reception needs would put their health at serious risk, those applicants shall not "
         "be detained."),
        # 'neither bound' and 'not bound' agree.
        ("Denmark is thus neither bound by this Decision nor subject to its application.",
         "Denmark is therefore not bound by this Decision or subject to its application."),
        # 'more than two months' is a bound, not a comparison of two groups.
        ("Access may not be postponed by more than two months after the application.",
         POSTPONE),
        # 'only if' is a condition, not a restriction against 'all'.
        ("All applicants may be detained only if the grounds set out in paragraph 4 apply.",
         "Applicants may be detained only if one of the grounds set out in paragraph 4 "
         "applies."),
    ],
)  # fmt: skip
def test_each_rule_keeps_faithful_paraphrases(sentence: str, passage: str) -> None:
    assert find_contradiction(sentence, passage) is None, sentence


def test_a_word_has_one_opposite_scale() -> None:
    """A word in two concepts would be compared on whichever came last."""
    counts = Counter(w for plus, minus in ANTONYMS.values() for w in f"{plus} {minus}".split())
    assert [w for w, n in counts.items() if n > 1] == []
    assert sum(counts.values()) >= 400  # a broad lexicon, not a list of a few failures
