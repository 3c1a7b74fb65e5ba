"""A passage's public address: the catalog's `url` of its document, pointed at the passage's
article (EUR-Lex) or page (PDF), so that a reader outside this service can open the original.

The API's own chunk URL (`Passage.url`) only opens where the API runs; this one is what an
exported draft links to. Nothing here invents an address: without a catalog `url` it is ''.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from index.schema import SECTION_SEPARATOR

# "Article 5", "Article 12a", "Art. 3" as the start of one part of a section path.
_ARTICLE = re.compile(r"^\s*Art(?:icle|\.)\s+(\d+[a-z]?)\b", re.IGNORECASE)
EUR_LEX_HOST = "eur-lex.europa.eu"


def article_of(section_path: str) -> str:
    """The innermost article a section path names ('12a'), or ''."""
    found = ""
    for part in section_path.split(SECTION_SEPARATOR):
        match = _ARTICLE.match(part)
        if match:
            found = match.group(1).lower()
    return found


def is_pdf(url: str) -> bool:
    """A URL that serves a PDF by its path ('.../doc.pdf', the Council register's '.../pdf')."""
    path = urlsplit(url).path.lower().rstrip("/")
    return path.endswith(".pdf") or path.endswith("/pdf")


def public_source_url(doc_url: str, section_path: str = "", page: int | None = None) -> str:
    """The document's public URL at the passage: EUR-Lex's `#art_N` anchor (the form of its
    HTML, e.g. `.../eli/reg/2024/1351/oj#art_5`) when the section path names an article, a
    PDF's `#page=N` when the page is known; the URL as catalogued otherwise. '' when the
    catalog records no http(s) URL (an address nobody vouched for is never made up)."""
    url = doc_url.strip()
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return ""
    if parts.fragment:  # the catalog already points somewhere precise
        return url
    if parts.hostname == EUR_LEX_HOST:
        article = article_of(section_path)
        return f"{url}#art_{article}" if article else url
    if page and is_pdf(url):
        return f"{url}#page={page}"
    return url
