"""Retrievers: the lexical (BM25) and dense scorers behind the Retriever protocol of base.py.

This package init imports nothing, so loading one retriever never pulls in another's heavy dependencies.
"""
