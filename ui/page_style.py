"""Presentation Streamlit has no option for. A citation's title (an expander label,
'[n] Title — Reference · p. N · Section', see ui/markdown.py `citation_heading`) on one line,
cut with an ellipsis, the full title shown on hover; on a phone six wrapped lines per source
pushed the answer itself out of view.

A small script marks the citation expanders (their label starts with '[n] ') and copies the
full label into the `title` attribute; the stylesheet keeps marked labels on one line.
Without JavaScript the labels simply wrap as before.

And a question just asked is scrolled into view when it is out of sight: the chat input sits
in `st.bottom`, so the page does not follow the end of the conversation by itself (which kept
the AI notice above the fold on a phone)."""

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


def reveal(key: str) -> None:
    """Scroll the element with `key` (an `st.container(key=...)`) to the top of the window
    when it is not fully in view (above the pinned chat input)."""
    st.html(
        f"""<script>
requestAnimationFrame(() => {{
  const el = document.querySelector(".st-key-{key}");
  if (!el) return;
  const bottom = document.querySelector('[data-testid="stBottom"]');
  const floor = bottom ? bottom.getBoundingClientRect().top : window.innerHeight;
  const box = el.getBoundingClientRect();
  if (box.top < 0 || box.bottom > floor) el.scrollIntoView({{ block: "start" }});
}});
</script>""",
        unsafe_allow_javascript=True,
    )
