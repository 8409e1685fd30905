"""rtriever-eval: an evaluation harness for reasoning-intensive retrievers. Its folders, each importing only
those listed before it:

- ``base/``       types, errors, atomic I/O and locks, checksums, TREC run and qrels files, signals, provenance
- ``settings/``   typed settings (every default once; Hydra's schemas), Hydra glue, the benchmark registry
- ``data/``       dataset readers (BRIGHT, BRIGHT-Pro, BEIR), run files from elsewhere, query files, the sample
- ``prompts/``    (instruction set, model, domain, track) -> the exact query and document prompts
- ``encoders/``   dense text encoders on plain transformers: tokenising, batching, kernels, pooling, packing
- ``cache/``      the embedding cache (sharded, checksummed, shared between processes) and the pair-score cache
- ``metrics/``    trec_eval's measures through pytrec_eval, BRIGHT-Pro's aspect metrics
- ``results/``    the on-disk contract (layout, summary, writers, checked readers) and result fingerprints
- ``retrievers/`` BM25, dense, imported runs; exact top-k search, distinct texts, chunk-max
- ``stages/``     after retrieval: fusion, reranking (``rerankers/``), rewritten queries
- ``job/``        planning and running a job: checks, reuse, the retriever for the settings, devices, subsets
- ``reporting/``  tables, significance, the gate, plots, the HTML report, bundles, MTEB and BRIGHT files
- ``cli/``        the console scripts: argument parsing and exit codes only

``testing`` builds fixtures for tests and benchmarks. docs/map.md says where each thing is decided.
"""

__version__ = "0.1.0"
