"""Presentation Streamlit has no option for: a citation's title (an expander label,
'[n] Title — Reference · p. N · Section', see ui/markdown.py `citation_heading`) on one line,
cut with an ellipsis, the full title shown on hover; on a phone six wrapped lines per source
pushed the answer itself out of view.

A small script marks the citation expanders (their label starts with '[n] ') and copies the
full label into the `title` attribute; the stylesheet keeps marked labels on one line.
Without JavaScript the labels simply wrap as before."""

from __future__ import annotations

import streamlit as st

CITATION_CLASS = "emn-citation"

STYLE = f"""<style>
summary.{CITATION_CLASS} > span,
summary.{CITATION_CLASS} [data-testid="stMarkdownContainer"] {{
  min-width: 0;
  overflow: hidden;
}}
summary.{CITATION_CLASS} [data-testid="stMarkdownContainer"] p {{
  white-space: nowrap;
  overflow: hidden;
  text-overflow: ellipsis;
}}
</style>"""

SCRIPT = f"""<script>
(() => {{
  if (window.emnCitationTitles) return;
  window.emnCitationTitles = true;
  const citation = /^\\[\\d+\\]\\s/;
  let queued = false;
  const mark = () => {{
    queued = false;
    document.querySelectorAll('[data-testid="stExpander"] summary').forEach((summary) => {{
      const label = summary.querySelector('[data-testid="stMarkdownContainer"]');
      const text = label ? label.textContent.trim() : "";
      if (!citation.test(text)) return;
      summary.classList.add("{CITATION_CLASS}");
      if (summary.title !== text) summary.title = text;
    }});
  }};
  const later = () => {{
    if (!queued) {{ queued = true; requestAnimationFrame(mark); }}
  }};
  mark();
  new MutationObserver(later).observe(document.body,
    {{ childList: true, subtree: true, characterData: true }});
}})();
</script>"""


def apply() -> None:
    """Once per page run, before anything else is drawn."""
    st.html(STYLE)  # style only: Streamlit puts it where it takes no space
    st.html(SCRIPT, unsafe_allow_javascript=True)
