"""The index: its format, the writer ingestion uses and the reader retrieval uses (dense in
Chroma, keywords in BM25, texts and sentence vectors in the chunk store). It imports only
`common`, never ingest, rag, api or ui."""
