"""Performance benchmarks of the EMN policy assistant: ingestion throughput against the raw
embedding model, retrieval cost as the index grows, per-step and end-to-end latency in process
and over HTTP, throughput under load, the naive LangChain peer, and a profile of /v1/ask.

`python -m bench run` (`make bench`) writes evals/reports/bench/: bench.json, report.md and PNG
plots; `python -m bench scale` (`make bench-scale`) adds the 100k and 1M scale points.

Every measurement that loads a model or an index runs in its own subprocess (see
`bench.util.run_worker`), so memory figures and timings of one part do not leak into another.
"""
