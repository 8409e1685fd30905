"""Rerankers for the rerank stage: a dense model's embeddings, a cross-encoder, a pointwise LLM (Qwen3-Reranker)."""
