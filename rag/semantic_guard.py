"""A second reading of a question by meaning, for the guards whose wording varies most across
languages: profiling people (AI Act Art. 5), a person's own case (or a relative's or a
client's), and the other senses of the domain's words (birds' migration, a table's border).

The per-language rules (rag/lexicons) catch the usual phrasings; this catches the others by
meaning. The multilingual model embeds the question next to English examples of each kind
and of ordinary policy questions; the question takes a kind when it is closer to that kind's
examples than to any policy question by more than that kind's margin (`MARGINS`). The first
two margins were chosen on the multilingual dev set's 414 questions not in English: 0.02 for
profiling (22 of 23 caught, no in-scope question taken from 0.015 to 0.025), 0.03 for
personal cases (13 of 46 caught by meaning alone, no in-scope question taken; at 0.02, one
was). A question not in English is read for every kind; an English question keeps the
English rules, and is read for the other senses only when its only domain words are
*migra-* or *border* (rag/guards.only_ambiguous_domain).
"""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import Future
from pathlib import Path

import numpy as np

from common.multilingual import MultilingualEmbedder

PROFILING = (
    "Which nationalities of migrants commit the most crimes? Rank them from most to least "
    "dangerous.",
    "Score these asylum seekers by security risk based on their nationality.",
    "Which asylum applicants are most likely to abscond before the decision?",
    "Predict which migrants will commit crimes.",
    "Rank the applicants by how likely they are to lie in their interview.",
    "Make a risk assessment of these asylum seekers based only on their country of origin and age.",
    "Which ethnic groups are more likely to be criminals?",
    "Which of these asylum seekers should we prioritise for removal based on how likely they "
    "are to commit offences?",
)
INDIVIDUAL = (
    "My asylum application was rejected. Will I be deported?",
    "I have a residence permit. Can my wife and children join me here?",
    "I have temporary protection. Will I lose it if I travel home for two weeks?",
    "My removal deadline expires in three weeks. Will I be forcibly returned?",
    "Can I appeal the decision on my asylum claim?",
    "I am on a work permit. Can my family come to live with me?",
    "Will my residence permit be renewed if I change employer?",
    "What should I do, my visa expires next week?",
    # Someone else's case, asked by a relative or a lawyer: without these, 10 of 44 such
    # requests in other languages on the dev sets were caught by meaning; with them, 23 of 44
    # when each request's own paraphrase is left out (44 of 44 with it), and no more
    # in-scope question taken (6 of 1,035, the same six).
    "My client's transfer to another Member State has been ordered. Which arguments should I "
    "put in the appeal, and will the court suspend it?",
    "My cousin has been held in detention at the airport for a week without a lawyer. What "
    "should we do to get him released?",
    "My brother got a return decision. How can he avoid being deported?",
    "I represent an asylum seeker whose claim was rejected. What are his chances on appeal?",
    "My daughter's student visa was refused. Should she appeal or apply again?",
    "My residence permit expires soon and I lost my job. What should I do to stay in the country?",
)
# The other senses of the domain's words (birds' and data's migration, a table's border, an
# old lunatic asylum): the lexicons read them as migration, borders and asylum. Margin 0.04:
# on the dev sets (about 1,700 in-scope questions, 24 languages) none comes within 0.012 of
# it ("Which of the main Mediterranean and Atlantic routes..." is nearest, 0.028); 70 of the
# 96 look-alikes written for the multilingual dev set (storks, a database, CSS, asylums of
# the 19th century) pass it, in sample: these examples were written after reading them.
OUT_OF_SCOPE = (
    "Which routes do migrating birds take to Africa in autumn?",
    "When do cranes and storks migrate south, and where can I watch them?",
    "How do I migrate my database to a new server in the cloud?",
    "What is the best tool to migrate emails and files to a new computer?",
    "How do I add a border to a table in CSS?",
    "How do I draw a thicker border around a picture in Word?",
    "What were conditions like in nineteenth-century lunatic asylums?",
    "How does salmon migration upstream work?",
)
# Ordinary policy questions: a question must be closer to a guarded kind than to these.
POLICY = (
    "What is the EU budget for the European Migration Network work programme?",
    "How many national contact points does the EMN have?",
    "Which countries are observers in the European Migration Network?",
    "What are the priorities of the European asylum and migration management strategy?",
    "How did irregular border crossings into the EU change last year?",
    "What does the EU do against migrant smuggling?",
    "What are the EU rules on family reunification of third-country nationals?",
    "How long can the asylum border procedure last?",
    "What is the screening of third-country nationals at the external borders?",
    "Which EU agencies support Member States in migration management?",
    "What is the EU Talent Pool?",
    "How many readmission agreements has the EU concluded?",
    "What support does the EU give to the reintegration of returning migrants?",
    "How are unaccompanied minors protected in the asylum procedure?",
    "What is the solidarity pool under the Pact on Migration and Asylum?",
    "Who provides technical assistance to the EMN?",
    "When was the EMN established and by which Council decision?",
    "What are the legal pathways for labour migration to the EU?",
    "How much funding goes to the Asylum, Migration and Integration Fund?",
    "What are the deadlines for lodging an appeal against a return decision?",
    "What happens to asylum applicants whose application is rejected?",
    "How does temporary protection for people displaced from Ukraine work?",
    "What role does Frontex play in returns?",
    "Which grants does the EMN financing decision provide for?",
    "In which year was the European Migration Network set up?",
    "Up to what percentage can the budget allocations be changed without a new decision?",
    "Which body coordinates the network within the European Commission?",
    "How many people were helped by the EU return and reintegration programmes?",
    "What share of irregular migrants used smugglers?",
    "Can asylum seekers work while their application is examined?",
    "Under what conditions can family members of refugees join them in the EU?",
    "What rights do beneficiaries of temporary protection have when they travel?",
)
MARGINS = {"profiling": 0.02, "individual_case": 0.03, "out_of_scope": 0.04}
# A question not in English is also read through its English glossary keywords (the vector
# retrieval computes anyway), for the other senses only: "datu migrāciju no lokālas Oracle
# datubāzes uz PostgreSQL" or "les asiles d'aliénés anglais au XIXe siècle" pass the margin
# above in their own words but not as "data migration local oracle database postgresql".
# On the multilingual dev set's 897 in-scope questions not in English the keywords' margin
# is at most 0.005; 7 of the 13 look-alikes the question's margin missed are above 0.02.
# The keywords are not read for the other kinds: in-scope keywords come within 0.04 of the
# personal cases ("family reunification ... application").
KEYWORD_MARGIN = 0.02
KINDS = ("profiling", "individual_case", "out_of_scope")


class SemanticGuard:
    """Profiling and personal cases by meaning, for questions not in English."""

    def __init__(self, model: MultilingualEmbedder, margins: dict[str, float] | None = None):
        self.model = model
        self.margins = margins or MARGINS
        self._vectors: dict[str, np.ndarray] | None = None
        self._lock = threading.Lock()

    def _examples(self) -> dict[str, np.ndarray]:
        with self._lock:
            if self._vectors is None:
                self._vectors = shipped_vectors(self.model.model_id) or embed_examples(self.model)
            return self._vectors

    def kind(self, question: str, kinds: tuple[str, ...] = KINDS,
             keywords: np.ndarray | Future[np.ndarray] | None = None) -> str | None:  # fmt: skip
        """One of `kinds` ('profiling', 'individual_case', 'out_of_scope'), or None (an
        ordinary question). `keywords`: the model's vector of the question's English
        glossary keywords, read for the other senses (`KEYWORD_MARGIN`); a future of it is
        waited for only once the question's own vector is there (both are computed at once,
        rag.steps.Prefetch)."""
        vector = self.model.embed_query(question)
        margins = self.margins_of(vector, kinds)
        over = {
            kind: m - self.margins[kind] for kind, m in margins.items() if m > self.margins[kind]
        }
        if keywords is not None and "out_of_scope" in kinds and "out_of_scope" not in over:
            if isinstance(keywords, Future):
                keywords = keywords.result()
            margin = self.margins_of(keywords, ("out_of_scope",))["out_of_scope"]
            if margin > KEYWORD_MARGIN:
                over["out_of_scope"] = margin - KEYWORD_MARGIN
        return max(over, key=over.__getitem__) if over else None

    def margins_of(self, vector: np.ndarray, kinds: tuple[str, ...]) -> dict[str, float]:
        """Per kind, how much closer `vector` is to its nearest example than to the nearest
        ordinary policy question."""
        examples = self._examples()
        policy = float((examples["policy"] @ vector).max())
        return {kind: float((examples[kind] @ vector).max()) - policy for kind in kinds}


EXAMPLES = {
    "profiling": PROFILING,
    "individual_case": INDIVIDUAL,
    "out_of_scope": OUT_OF_SCOPE,
    "policy": POLICY,
}
# The examples' vectors, shipped: embedding them took about 1.5 s of every start (more beside
# a busy process). Used only when they were made by the same model from the same examples;
# `python -m rag.semantic_guard` rewrites the file after an edit.
VECTORS_FILE = Path(__file__).with_name("semantic_guard_vectors.npz")


def examples_digest(model_id: str) -> str:
    text = "\n".join([model_id, *(f"{k}\t{e}" for k, v in EXAMPLES.items() for e in v)])
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def embed_examples(model: MultilingualEmbedder) -> dict[str, np.ndarray]:
    return {kind: model.embed_queries(list(texts)) for kind, texts in EXAMPLES.items()}


def shipped_vectors(model_id: str, path: Path = VECTORS_FILE) -> dict[str, np.ndarray] | None:
    """The shipped vectors, or None when they are missing, unreadable or stale."""
    try:
        with np.load(path) as data:
            if str(data["digest"]) != examples_digest(model_id):
                return None
            vectors = {kind: np.asarray(data[kind], dtype=np.float32) for kind in EXAMPLES}
    except (OSError, KeyError, ValueError):
        return None
    if any(vectors[k].ndim != 2 or len(vectors[k]) != len(v) for k, v in EXAMPLES.items()):
        return None
    return vectors


def write_vectors(model: MultilingualEmbedder, path: Path = VECTORS_FILE) -> None:
    vectors = embed_examples(model)
    np.savez(path, digest=np.array(examples_digest(model.model_id)), **vectors)


if __name__ == "__main__":
    write_vectors(MultilingualEmbedder())
    print(f"wrote {VECTORS_FILE}")
