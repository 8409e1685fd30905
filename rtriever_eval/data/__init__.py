"""Loaders and writers for datasets, runs and relevance judgments.

Each module reads one format into the plain types of rtriever_eval.types; none of them scores or searches.
"""
