"""Multi-stage retrieval: fusion of saved runs and reranking of a saved run, each a regular run of its own."""
