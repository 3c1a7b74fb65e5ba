# The two commands: `make run` and `make test`. Both install what is missing into .venv first.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml Makefile tools/uv_install.py 2>/dev/null | sha1sum | cut -c1-12)

LLAMA_VERSION := 0.3.36
UV := uv==0.13.10
LLAMA_WHEELS := $(HOME)/.cache/emn-wheels/llama-portable-1
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF \
	-DGGML_AVX_VNNI=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF -DGGML_AMX_BF16=OFF

export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export ANONYMIZED_TELEMETRY := False
export PIP_DISABLE_PIP_VERSION_CHECK := 1
# What make starts keeps the bytecode it compiles (in .venv and the project's __pycache__/,
# which git ignores), even where PYTHONDONTWRITEBYTECODE is set, as on this machine and in
# CI: otherwise each of the hundreds of servers and commands the tests start compiled torch,
# chromadb and the project again. Python run directly still reads what was kept.
unexport PYTHONDONTWRITEBYTECODE

.PHONY: help install run ingest test lint format eval tune calibrate train-ranker

help:
	@echo "make run    install if needed, ingest corpus/ into the index if needed, start the API"
	@echo "           on http://127.0.0.1:8000 (EMN_API_HOST, EMN_API_PORT; docs at /docs) and the"
	@echo "           chat page on http://127.0.0.1:8501 (EMN_UI_HOST, EMN_UI_PORT); Ctrl-C stops both"
	@echo "make test   install if needed, lint, run the whole test suite"
	@echo "make ingest (re)ingest corpus/ incrementally"
	@echo "make eval   install and ingest if needed, run the dev and blind sets (default and extended"
	@echo "           corpus), the red-team set and the 24-language sets, refresh evals/reports/latest/"
	@echo "           (summary.md: sets side by side, each language beside English)"
	@echo "make tune   choose the composer's settings by 5-fold cross-validation on the dev set"
	@echo "make calibrate  fit the confidence map on the dev sets (5-fold held-out ECE) ->"
	@echo "           rag/calibration.json, evals/reports/calibration/"
	@echo "make train-ranker  fit the learned sentence ranker on the dev sets, 5-fold end to end"
	@echo "           -> evals/reports/ranker/; ships rag/sentence_ranker.json only if it wins"
	@echo "make campaign  rerun the hardening fault and attack campaign (about 5 min) ->"
	@echo "           evals/reports/campaign/ (LABEL=before|after names the run; default latest)"
	@echo "make bench performance benchmark (under 10 min) -> evals/reports/bench/; make bench-scale adds 100k and 1M chunks (and re-measures 1k)"
	@echo "make bench-cluster  PostgreSQL, a Chroma server, nginx and two API hosts on loopback:"
	@echo "           one host vs two, one killed and restarted under load, audit records vs"
	@echo "           answers (under 10 min) -> evals/reports/cluster/"

$(STAMP):
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	# uv installs the packages, from the sources pip is configured with (tools/uv_install.py):
	# about 30 s where pip took about four minutes, most of them compiling all 25,000 modules
	# to bytecode. Here a module is compiled when a process first imports it (see
	# PYTHONDONTWRITEBYTECODE above), so only the few thousand the service and tests use are.
	$(PY) -m pip install --quiet $(UV)
	# llama.cpp (the tests' local model server) built for a portable x86-64 CPU, once per
	# machine: a -march=native build used AVX-512/AMX instructions that a virtual CPU
	# advertised but trapped on ("invalid opcode" at the first completion).
	@ls $(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl >/dev/null 2>&1 || \
		($(PY) -m pip install --quiet --upgrade pip && \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PY) -m pip wheel --quiet --no-deps --no-cache-dir \
		-w $(LLAMA_WHEELS) llama-cpp-python==$(LLAMA_VERSION))
	# The CPU build of torch on local disk (pinned: an unpinned torch would pull a multi-GB
	# CUDA build), the llama.cpp wheel, the project and its development tools, in one go.
	$(PY) tools/uv_install.py --quiet torch==2.13.0 \
		$(LLAMA_WHEELS)/llama_cpp_python-$(LLAMA_VERSION)-*.whl -e ".[dev]"
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)
	@# The chat page's browser test drives Debian's Chromium (never a browser downloaded by a tool).
	@command -v chromium >/dev/null || (apt-get update && apt-get install -y chromium chromium-driver fonts-noto-color-emoji)
	@# The store tests and make bench-cluster run a real PostgreSQL server (Debian's package).
	@ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || (apt-get update && apt-get install -y postgresql)
	@# make bench-cluster (and its test) put Debian's nginx in front of the API hosts.
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || (apt-get update && apt-get install -y nginx-light)

ingest: install
	$(PY) -m ingest

run: install
	$(PY) -m ingest
	$(PY) -m ui.launch

lint: install
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: install
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# Two workers, one test file each at a time (a file's servers and fixtures stay on one worker):
# the suite is mostly starting servers and embedding, so it takes both cores. TEST_WORKERS=0
# runs it in one process.
TEST_WORKERS ?= 2

test: install
	$(PY) -m ruff check .
	$(PY) -m pytest -n $(TEST_WORKERS) --dist loadfile

# The dev set in process with the naive LangChain baseline; refreshes the committed report.
# Ingestion is incremental: it does nothing when corpus/ has not changed.
# The extended corpus (evals/corpus-extended/, 18 real EU texts) is indexed with the default
# one into its own index. The blind sets are run to report, never to tune; summary.md puts
# them beside the dev sets with the targets.
EXTENDED_INDEX := $(CURDIR)/.emn/index-extended
# The extended corpus's question sets are English: its index skips the multilingual vectors
# (7,600 more texts, about 8 minutes on two cores, that no question there would use).
EXTENDED_ENV := EMN_MULTILINGUAL_MODEL=
REPORTS := evals/reports/latest
eval: install
	$(PY) -m ingest --quiet
	$(EXTENDED_ENV) $(PY) -m ingest --quiet --index $(EXTENDED_INDEX) evals/corpus-extended
	$(PY) -m evals run --dataset evals/datasets/dev.jsonl --baseline --out $(REPORTS)
	$(EXTENDED_ENV) EMN_INDEX_DIR=$(EXTENDED_INDEX) $(PY) -m evals run --no-progress \
		--dataset evals/datasets/dev-extended.jsonl --out $(REPORTS)/dev-extended
	$(PY) -m evals run --no-progress --dataset evals/datasets/dev-answerability.jsonl \
		--out $(REPORTS)/dev-answerability
	$(EXTENDED_ENV) EMN_INDEX_DIR=$(EXTENDED_INDEX) $(PY) -m evals run --no-progress \
		--dataset evals/datasets/dev-extended2.jsonl --out $(REPORTS)/dev-extended2
	$(PY) -m evals run --no-progress --dataset evals/datasets/dev-answerability2.jsonl \
		--out $(REPORTS)/dev-answerability2
	$(EXTENDED_ENV) EMN_INDEX_DIR=$(EXTENDED_INDEX) $(PY) -m evals run --no-progress \
		--dataset evals/datasets/dev-answerability3.jsonl --out $(REPORTS)/dev-answerability3
	$(PY) -m evals run --no-progress --dataset evals/datasets/blind-default.jsonl \
		--out $(REPORTS)/blind-default
	$(EXTENDED_ENV) EMN_INDEX_DIR=$(EXTENDED_INDEX) $(PY) -m evals run --no-progress \
		--dataset evals/datasets/blind-extended.jsonl --out $(REPORTS)/blind-extended
	$(PY) -m evals run --dataset evals/datasets/redteam.jsonl --out $(REPORTS)/redteam
	$(PY) -m evals run --no-progress --dataset evals/datasets/multilingual-dev.jsonl \
		--out $(REPORTS)/multilingual-dev
	$(PY) -m evals run --no-progress --dataset evals/datasets/multilingual-blind.jsonl \
		--out $(REPORTS)/multilingual-blind
	$(PY) -m evals summary --reports $(REPORTS)
	$(PY) -m evals.model_card

tune: install
	$(PY) -m ingest --quiet
	$(EXTENDED_ENV) $(PY) -m ingest --quiet --index $(EXTENDED_INDEX) evals/corpus-extended
	$(PY) -m evals tune
	$(PY) -m evals tune-languages

# Learned sentence ranker: fitted on the four dev sets, judged end to end by 5-fold
# cross-validation against the hand weights, shipped to rag/sentence_ranker.json only if it wins.
train-ranker: install
	$(PY) -m ingest --quiet
	$(EXTENDED_ENV) $(PY) -m ingest --quiet --index $(EXTENDED_INDEX) evals/corpus-extended
	$(PY) -m evals ranker

# Confidence calibration: fitted on both dev sets (never the blind ones), held-out ECE reported.
calibrate: install
	$(PY) -m ingest --quiet
	$(EXTENDED_ENV) $(PY) -m ingest --quiet --index $(EXTENDED_INDEX) evals/corpus-extended
	$(PY) -m evals calibrate

# Performance: ingest throughput vs the raw model, scale curve (1k, 10k), per-step latency in
# process and over HTTP, Locust load at 1/4/16 clients, the LangChain peer, a profile; writes
# evals/reports/bench/ (bench.json, report.md, plots). Hermetic: it ingests into a temp folder.
.PHONY: bench bench-scale bench-cluster campaign
bench: install
	$(PY) -m bench run

# The hardening issue's fault and attack campaign against the real service (API keys, two
# workers, loopback) and real files; each run is kept under its label in
# evals/reports/campaign/campaign.json and report.md shows the labels side by side.
LABEL ?= latest
campaign: install
	$(PY) -m bench campaign --label $(LABEL)

# Opt-in scale points (100k and 1M synthetic chunks from the default index, and 1k again so
# that the 1M/1k ratio comes from one run; about half an hour and 10 GB of temporary disk on
# two cores), merged into evals/reports/bench/bench.json.
bench-scale: install
	$(PY) -m ingest --quiet
	$(PY) -m bench scale --sizes 1000,100000,1000000

# Several hosts, measured with real servers (issue 18): a durable PostgreSQL, a Chroma server
# with the default corpus, two `python -m api` hosts (own data folder and index copy, pinned
# to cores 0 and 1) behind nginx (Debian's nginx-light, which make install installs), Locust
# through nginx; one host vs two, then one host SIGKILLed half-way and restarted; every
# answer given is looked up in the audit table and the chain is verified. About 7 minutes;
# shorter: $(PY) -m bench cluster --scale-seconds 20 --failover-seconds 40.
bench-cluster: install
	$(PY) -m bench cluster
