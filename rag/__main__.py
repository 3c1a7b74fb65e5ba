"""`python -m rag "question"`: answer from the index, with citations, behaviour and timings."""

from __future__ import annotations

import argparse
import sys
import textwrap

from common.settings import load_settings
from index.reader import IndexNotReadyError
from index.schema import Filters
from rag.answer import Answer


def render(answer: Answer) -> str:
    lines = [textwrap.fill(p, 100) if not p.startswith("- ") else p
             for p in answer.answer.split("\n")]  # fmt: skip
    out = ["\n".join(lines), ""]
    for c in answer.citations:
        where = " > ".join(x for x in [c.reference, c.section_path] if x)
        page = f", p. {c.page}" if c.page else ""
        out.append(f"[{c.marker}] {c.title} — {where}{page}")
        out.append(textwrap.indent(textwrap.shorten(c.quote, 300), "    "))
    out.append("")
    out.append(f"behaviour: {answer.behaviour}" + (f" ({answer.reason})" if answer.reason else ""))
    out.append(f"confidence: {answer.confidence:.2f}")
    out.append("timings (ms): " + ", ".join(f"{k} {v:.1f}" for k, v in answer.timings.items()))
    out.append(f"trace id: {answer.trace_id}")
    out.append(answer.disclosure)
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m rag",
        description="Ask the EMN policy assistant a question (uses the index built by "
        "`python -m ingest`).",
    )
    parser.add_argument("question", help="the question, in quotes")
    parser.add_argument("--composer", choices=["extractive", "llm"], help="default: EMN_COMPOSER")
    parser.add_argument("--doc", action="append", default=[], help="restrict to a document id")
    parser.add_argument("--kind", action="append", default=[], help="restrict to a kind")
    parser.add_argument("--from", dest="date_from", help="documents dated from (YYYY-MM-DD)")
    parser.add_argument("--to", dest="date_to", help="documents dated up to (YYYY-MM-DD)")
    parser.add_argument("--json", action="store_true", help="print the Answer as JSON")
    args = parser.parse_args(argv)

    from rag.pipeline import Assistant

    try:
        filters = Filters(doc_ids=args.doc, kinds=args.kind, date_from=args.date_from,
                          date_to=args.date_to)  # fmt: skip
        assistant = Assistant(load_settings())
        answer = assistant.ask(args.question, filters=filters, composer=args.composer)
    except IndexNotReadyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(answer.model_dump_json(indent=2) if args.json else render(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
