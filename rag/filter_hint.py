"""An abstention under filters says so: "The documents do not mention 2026 within the filters
you set (kind: strategy). Try again without the filters." A refusal that does not name the
filters reads as "the corpus does not cover this", when the user's own filter may be what
hid the answer. When passages outside the filters clearly speak to the question (one extra
retrieval, only on such an abstention: answered questions never pay for it), it names their
documents."""

from __future__ import annotations

from common.texts import text
from index.schema import Filters
from rag.retrieval import HybridRetriever
from rag.steps import SCOPE_EVIDENCE, Context, Step

MAX_NAMED = 3  # documents named outside the filters


def describe_filters(filters: Filters, language: str) -> str:
    """'kind: strategy; from 2026-01-01', in `language`."""
    parts = []
    if filters.kinds:
        parts.append(text(language, "messages", "filter_kind", value=", ".join(filters.kinds)))
    if filters.doc_ids:
        value = ", ".join(filters.doc_ids)
        parts.append(text(language, "messages", "filter_document", value=value))
    if filters.date_from:
        parts.append(text(language, "messages", "filter_from", value=filters.date_from))
    if filters.date_to:
        parts.append(text(language, "messages", "filter_to", value=filters.date_to))
    return "; ".join(parts)


class FilterHint(Step):
    """Rewrites an abstention under filters to name them and offer to search without."""

    name = "filter_hint"
    always_runs = True  # after Verify has ended the run with its abstention

    def __init__(self, retriever: HybridRetriever) -> None:
        self.retriever = retriever

    def run(self, ctx: Context) -> None:
        filters = ctx.filters
        if ctx.behaviour != "abstained" or filters is None or filters.is_empty():
            return
        language = ctx.language
        described = describe_filters(filters, language)
        if ctx.uncovered:
            missing = ", ".join(ctx.uncovered)
            lead = text(language, "messages", "abstain_missing_filtered", missing=missing,
                        filters=described)  # fmt: skip
        else:
            lead = text(language, "messages", "abstain_filtered", filters=described)
        parts = [lead, text(language, "messages", "retry_without_filters")]
        outside = self.outside_filters(ctx, filters)
        if outside:
            parts.append(text(language, "messages", "unfiltered_closest", documents=outside))
        ctx.answer = " ".join(parts)
        ctx.reason = (
            f"{ctx.reason} within the filters you set ({describe_filters(filters, 'en')}); "
            "try again without the filters"
            + (f"; outside them, passages of {outside} speak to it" if outside else "")
        )

    def outside_filters(self, ctx: Context, filters: Filters) -> str:
        """Documents outside the filters whose passages clearly speak to the question (the
        scope guard's evidence bar), '; '-joined; '' when none, or for a question read
        across languages (its vectors need the cross-language scoring)."""
        if ctx.multilingual or ctx.query_vector is None or ctx.terms is None:
            return ""
        index = self.retriever.index
        coverage, similarity = SCOPE_EVIDENCE
        named: dict[str, str] = {}
        for cand in self.retriever.candidates(ctx.query, ctx.query_vector, None, ctx.terms)[:5]:
            doc = cand.chunk.doc
            if (
                cand.id in index.quarantined
                or index.allowed(cand.chunk, filters)
                or cand.coverage < coverage
                or cand.best_sentence < similarity
            ):
                continue
            label = doc.title + (f" ({doc.reference})" if doc.reference else "")
            named.setdefault(doc.doc_id, label)
        return "; ".join(list(named.values())[:MAX_NAMED])
