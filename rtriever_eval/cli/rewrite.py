"""`rtriever-rewrite`: write rewritten queries (dataset.query_file) with a local causal LM (rewriter=<name>),
resumable query by query; the same config tree and overrides as rtriever-eval, no retrieval.

Argument handling only; the work is pipeline.run_rewrite and rewrite.py.
"""

from __future__ import annotations

import hydra
from omegaconf import DictConfig

from rtriever_eval.base.errors import InputError
from rtriever_eval.cli.common import fail
from rtriever_eval.settings.hydra import CONF_DIR, register_configs

register_configs()


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="evaluate")
def _app(cfg: DictConfig) -> None:
    from rtriever_eval.job.domains import run_rewrite
    from rtriever_eval.settings.hydra import to_settings

    try:
        settings = to_settings(cfg)
        written = run_rewrite(settings)
    except InputError as exc:
        fail(str(exc))
        return
    print(f"{written} queries rewritten into {settings.dataset.query_file} (manifest beside it)")


def main() -> None:
    import sys

    from rtriever_eval.cli.evaluate import guard_argv

    guard_argv(sys.argv[1:])
    _app()


if __name__ == "__main__":
    main()
