"""Filters checked against the live index: a kind or a document id the index does not hold
is a 422 that lists the valid values, not a silent refusal ("the documents do not mention
...") for a filter that can match nothing. The pydantic model (index/schema.py `Filters`)
checks the shape; only the service knows which documents are indexed now."""

from __future__ import annotations

from api.documents import loaded_index
from api.errors import ApiError
from api.state import Service
from index.reader import IndexReader
from index.schema import Filters

MAX_LISTED = 50  # valid values named in one message


def catalog(index: IndexReader) -> tuple[list[str], list[str]]:
    """(document ids, kinds) of the indexed documents, sorted."""
    kinds = {index.chunks[ids[0]].doc.kind for ids in index.by_doc.values() if ids}
    return sorted(index.by_doc), sorted(kinds)


_WHAT = {"kinds": ("kind", "kinds"), "doc_ids": ("document id", "document ids")}


def unknown_values(
    filters: Filters, doc_ids: list[str], kinds: list[str]
) -> list[tuple[str, int, str, list[str]]]:
    """(field, position, value, valid values) for each value the index does not hold."""
    found = []
    for field, values, valid in (("kinds", filters.kinds, kinds),
                                 ("doc_ids", filters.doc_ids, doc_ids)):  # fmt: skip
        known = set(valid)
        found += [(field, i, v, valid) for i, v in enumerate(values) if v not in known]
    return found


def unknown_error(found: list[tuple[str, int, str, list[str]]]) -> ApiError:
    """'filters.kinds[0] is not an indexed kind; the kinds are: ...' (the first field at
    fault), with one detail per value. The values themselves are not echoed: like every
    field error, they may hold personal data (a document id can be anything a user typed)."""
    field, _, _, valid = found[0]
    one, many = _WHAT[field]
    where = [f"filters.{field}[{i}]" for f, i, _, _ in found if f == field]
    verb = f"is not an indexed {one}" if len(where) == 1 else f"are not indexed {many}"
    listed = ", ".join(repr(v) for v in valid[:MAX_LISTED])
    message = f"{', '.join(where)} {verb}; the {many} are: {listed}."
    details = [
        {
            "loc": ["body", "filters", f, i],
            "msg": f"not an indexed {_WHAT[f][0]}",
            "type": "unknown_filter_value",
            "valid": valid_[:MAX_LISTED],
        }
        for f, i, _, valid_ in found
    ]
    return ApiError(422, "unknown_filter_value", message, details=details)


async def check_filters(service: Service, filters: Filters | None) -> None:
    """Raise a 422 `unknown_filter_value` when a filter names what the index does not hold."""
    if filters is None or not (filters.kinds or filters.doc_ids):
        return
    index = await loaded_index(service)
    found = unknown_values(filters, *catalog(index))
    if found:
        raise unknown_error(found)
