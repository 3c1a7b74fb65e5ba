"""General-English opposites for the contradiction check (rag/contradiction.py).

Written from general knowledge of English, not from any evaluation pair: each concept lists
the words that mean it and the words that mean its opposite, with their inflections. A word
belongs to one concept only (tests/test_contradiction_rules.py checks it), so that a claim and
a passage are compared on one scale. Negating prefixes ('unfair', 'inefficient') need no entry:
the check derives them.
"""

from __future__ import annotations

# Concept -> (words meaning it, words meaning its opposite). Polarity is relative to the first.
ANTONYMS: dict[str, tuple[str, str]] = {
    "increase": (
        "increase increases increased increasing rise rises rising rose grow grows "
        "growing grew growth expand expands expanded expanding expansion boost "
        "boosted raise raised raises augment extend extends extended extending prolong "
        "prolongs prolonged prolonging prolongation lengthen lengthens lengthened upward upwards",
        "decrease decreases decreased "
        "decreasing reduce reduces reduced reducing reduction decline declines "
        "declined declining fall falls falling fell drop drops dropped dropping "
        "shrink shrinks shrinking shrank cut cuts cutting diminish diminished lessen "
        "shorten shortens shortened shortening curtail curtails curtailed downward downwards",
    ),
    "more": ("more most greater greatest", "less least fewer fewest"),
    "high": ("high higher highest upper", "low lower lowest"),
    "large": ("large larger largest big bigger biggest", "small smaller smallest"),
    "long": ("long longer longest lengthy", "short shorter shortest brief"),
    "fast": (
        "fast faster fastest swift swifter quick quicker rapid rapidly swiftly quickly "
        "accelerate accelerates accelerated accelerating expedite expedites expedited "
        "expediting hasten hastened immediately promptly",
        "slow slower slowest slowly postpone postpones postponed postponing defer defers "
        "deferred deferring delay delays delayed delaying",
    ),
    "early": ("early earlier earliest", "late later latest"),
    "before": ("before prior preceding", "after following subsequent subsequently"),
    "first": (
        "first initial prioritise prioritises prioritised prioritising prioritize prioritizes "
        "prioritized prioritizing priority",
        "last final",
    ),
    "begin": (
        "begin begins began begun beginning start starts started starting commence "
        "commences commenced commencing commencement onset",
        "end ends ended ending expire expires expired expiry expiration terminate "
        "terminates terminated terminating termination finish finishes finished",
    ),
    "maximum": ("maximum max ceiling", "minimum min floor"),
    "mandatory": (
        "mandatory compulsory obligatory obligation obligations binding",
        "voluntary optional discretionary facultative",
    ),
    "strong": (
        "strong stronger strongest strengthen strengthens strengthened strengthening "
        "robust reinforce reinforced reinforces solid",
        "weak weaker weakest weaken weakens weakened weakening fragile undermine undermines "
        "undermined undermining",
    ),
    "accept": (
        "accept accepts accepted approve approves approved endorse endorsed grant grants "
        "granted granting",
        "reject rejects rejected refuse refuses refused refusal deny denies denied "
        "revoke revokes revoked revocation",
    ),
    "allow": (
        "allow allows allowed permit permits permitted authorise authorised authorize authorized",
        "prohibit prohibits prohibited forbid forbids forbidden ban bans banned",
    ),
    "include": (
        "include includes included including inclusion",
        "exclude excludes excluded excluding exclusion except excepting",
    ),
    "same": (
        "same identical equally alike uniform uniformly together jointly joint collectively",
        "different differently differ differs differed difference differences distinct "
        "unequal unequally separate separates separated separately separating apart "
        "individually",
    ),
    "store": (
        "store stores stored storing retain retains retained retaining retention keep keeps "
        "kept keeping preserve preserves preserved",
        "delete deletes deleted deleting deletion erase erases erased erasure destroy "
        "destroys destroyed destruction discard discarded",
    ),
    "arrive": (
        "arrive arrives arrived arriving arrival arrivals enter enters entered entering entry",
        "depart departs departed departing departure departures exit exits exited exiting "
        "leave leaves leaving",
    ),
    "free": ("free costless", "pay pays paying payment payable fee fees chargeable"),
    "complete": (
        "comprehensive complete completely full fully total totally",
        "partial incomplete fragmented piecemeal",
    ),
    "simple": (
        "simple simpler simplify simplifies simplified simplifying easy easier facilitate "
        "facilitates facilitated facilitating",
        "complex complicate complicates complicated difficult harder hinder hinders hindered "
        "hamper hampers hampered impede impedes impeded obstruct obstructs obstructed",
    ),
    "inside": ("inside internal internally domestic", "outside external externally foreign"),
    "public": ("public publicly", "private privately confidential"),
    "permanent": ("permanent permanently", "temporary temporarily"),
    "open": ("open opens opened opening", "close closes closed closing"),
    "continue": (
        "continue continues continued continuing remain remains remained",
        "stop stops stopped cease ceases ceased discontinue discontinued halt halted "
        "abandon abandoned",
    ),
    "establish": (
        "establish establishes established establishing create creates created "
        "creating introduce introduces introduced",
        "abolish abolishes abolished "
        "abolishing repeal repeals repealed eliminate eliminated dismantle "
        "dismantled scrap scrapped",
    ),
    "success": ("success successful successfully succeed succeeded", "failure unsuccessful"),
    "benefit": (
        "benefit benefits advantage advantages gain gains",
        "burden burdens disadvantage disadvantages harm harms loss losses",
    ),
    "improve": (
        "improve improves improved improving improvement improvements better",
        "worsen worsens worsened deteriorate deteriorated deterioration worse",
    ),
    "safe": ("safe safer safely secure", "dangerous unsafe risky riskier"),
    "positive": ("positive", "negative"),
    "true": ("true correct accurate", "false incorrect inaccurate wrong"),
    "major": (
        "major important significant considerable substantial key main primary",
        "minor negligible marginal secondary insignificant",
    ),
    "double": ("double doubled doubles doubling", "halve halved halves halving"),
    "new": ("new recent current", "old outdated obsolete"),
    "gradual": ("gradual gradually", "sudden suddenly abrupt abruptly"),
    "agree": (
        "agree agrees agreed agreement consensus",
        "disagree disagrees disagreed disagreement",
    ),
    "active": ("active actively proactive proactively", "passive passively"),
    "central": (
        "centralised centralized centralise centralize",
        "decentralised decentralized decentralise decentralize",
    ),
    "near": ("near nearby proximity neighbouring neighboring adjacent", "far distant remote"),
    "rich": ("rich richer richest wealthy wealthier", "poor poorer poorest"),
    "cheap": ("cheap cheaper cheapest inexpensive", "expensive costly"),
    "immigration": (
        "immigration immigrant immigrants inflow inflows",
        "emigration emigrant emigrants outflow outflows",
    ),
    "origin": ("origin", "destination"),
    "male": ("male men man boys boy", "female women woman girls girl"),
    "adult": ("adult adults", "minors"),  # 'minor' alone is mostly the adjective
    "north": ("north northern", "south southern"),
    "east": ("east eastern", "west western"),
}
