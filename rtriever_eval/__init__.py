"""rtriever-eval: an evaluation harness for reasoning-intensive retrievers.

This top-level module only exposes the version; every capability lives in a submodule.
"""

__version__ = "0.1.0"
