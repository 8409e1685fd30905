"""`rtriever-eval`: the Hydra app that evaluates one model on one dataset's domains (or a sweep of them).

Checks overrides against the schemas before Hydra starts (so a typo lists the valid keys), then hands over to
Hydra; all work happens in pipeline.run_evaluation.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

import hydra
from hydra.core.hydra_config import HydraConfig
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, ListConfig, OmegaConf

from rtriever_eval.base import interrupt
from rtriever_eval.base.errors import InputError
from rtriever_eval.cli.common import fail
from rtriever_eval.settings.hydra import CONF_DIR, register_configs

log = logging.getLogger("rtriever_eval")

register_configs()


def _print_report(results_dir: str | Path, experiment: str) -> None:
    from rtriever_eval.reporting.tables import build_reports
    from rtriever_eval.results.contract import experiment_folder

    folder = experiment_folder(results_dir, experiment)
    try:
        text, files = build_reports(folder)
    except InputError as exc:
        log.warning("no report: %s", exc)
        return
    print(text)
    print(f"Tables written to {files[0].parent}")
    from rtriever_eval.reporting.html import write_html

    try:
        page = write_html(folder, files[0].parent, plots=True)
    except InputError as exc:
        log.warning("no HTML report: %s", exc)
        return
    print(f"HTML report (tables, figures, per-query explorer; opens offline): {page}")


class ReportCallback(Callback):
    """Prints the experiment's comparison table once a multirun sweep has finished."""

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if config.get("stage", "all") == "plan":
            from rtriever_eval.job.estimate import read_plans, sweep_totals

            plans = read_plans(Path(config.hydra.sweep.dir))
            if plans:
                print(sweep_totals(plans))
            return
        if config.get("print_report", True) and config.get("stage", "all") != "encode":
            _print_report(config.paths.results_dir, str(config.experiment_name))


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name="evaluate")
def _app(cfg: DictConfig) -> None:
    from rtriever_eval.job.pipeline import run_encoding, run_evaluation
    from rtriever_eval.settings.hydra import to_settings

    stage = "all"
    try:
        with interrupt.handling():
            settings = to_settings(cfg)
            stage = settings.stage
            if stage == "encode":
                run_encoding(settings)
            elif stage == "plan":
                from rtriever_eval.job.estimate import run_plan
                from rtriever_eval.job.plan import prepare_run

                multirun = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
                run_plan(prepare_run(settings), Path(HydraConfig.get().runtime.output_dir) if multirun else None)
            else:
                run_evaluation(settings)
    except interrupt.Interrupted as exc:
        fail(
            f"{exc} at a safe point: every finished cache shard and domain is on disk, the unfinished shard is "
            "dropped. Run the same command again to resume where this run stopped.",
            code=interrupt.EXIT_CODE,
        )
    except InputError as exc:
        fail(str(exc))
    except OSError as exc:  # disk full, read-only folder, ...: atomic writes left earlier results intact
        where = f" ({exc.filename})" if exc.filename else ""
        fail(
            f"file system error{where}: {exc.strerror or exc}. Results written before this point are complete; "
            "rerun the same command once the problem is fixed to finish the remaining domains."
        )
    multirun = HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN
    if cfg.print_report and not multirun and stage not in ("encode", "plan"):
        _print_report(cfg.paths.results_dir, str(cfg.experiment_name))


def _is_plain_override(arg: str) -> bool:
    if arg.startswith("-") or "=" not in arg:
        return False
    key, value = arg.split("=", 1)
    return not (key.startswith(("hydra", "+", "~")) or "," in value or value.startswith(("range(", "choice(", "glob(")))


def precheck_overrides(argv: list[str]) -> str | None:
    """Compose the config with the plain overrides; on an unknown key, a message listing the valid keys."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import ConfigCompositionException, OverrideParseException
    from omegaconf.errors import ConfigAttributeError, ConfigKeyError, OmegaConfBaseException

    overrides = [a for a in argv if _is_plain_override(a)]
    if any(a in ("-m", "--multirun") for a in argv):
        overrides = [o for o in overrides if not o.startswith("experiment=")]
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        try:
            compose("evaluate", overrides=overrides)
            return None
        except OverrideParseException as exc:
            bad = next((o for o in overrides if "{" in o.split("=", 1)[1] and "'" not in o and '"' not in o), None)
            hint = (f" A value with braces (a run-file template) must be quoted for Hydra: "
                    f"{bad.split('=', 1)[0]}='{bad.split('=', 1)[1]}' (in a shell: \"{bad.split('=', 1)[0]}="
                    f"'{bad.split('=', 1)[1]}'\")") if bad else ""  # fmt: skip
            return f"could not parse the overrides ({' '.join(str(exc).split())}).{hint}"
        except ConfigCompositionException as exc:
            cause = exc.__cause__
            if not isinstance(cause, ConfigKeyError | ConfigAttributeError) or not getattr(cause, "full_key", None):
                return None  # Hydra's own message is clear enough (e.g. unknown config group option)
            full_key = str(cause.full_key)
            parent, _, leaf = full_key.rpartition(".")
            rest = [o for o in overrides if o.split("=", 1)[0] != full_key]
            try:
                base = compose("evaluate", overrides=rest)
            except (ConfigCompositionException, OmegaConfBaseException):
                return None
            node = OmegaConf.select(base, parent) if parent else base
            keys = sorted(str(k) for k in node) if isinstance(node, DictConfig) else []
            where = f"'{parent}'" if parent else "the top level"
            return (
                f"unknown config key '{full_key}': '{leaf}' is not a key of {where}. "
                f"Valid keys there: {', '.join(keys)}. (Use +{full_key}=... only to add a new key on purpose.)"
            )


ALLOWED_TARGET_PREFIXES = ("rtriever_eval.", "hydra_plugins.hydra_submitit_launcher.", "hydra._internal.")
ALLOW_TARGETS_ENV = "RTRIEVER_ALLOW_FOREIGN_TARGETS"


def foreign_targets(node: Any, path: str = "") -> list[str]:
    """Every `_target_` in the config that names something outside the package and Hydra's own plugins."""
    found: list[str] = []
    if isinstance(node, DictConfig):
        for key in node:
            child_path = f"{path}.{key!s}" if path else str(key)
            if key == "_target_":
                value = str(node._get_node(key))  # unresolved text: never evaluate an interpolation here
                if not value.startswith(ALLOWED_TARGET_PREFIXES):
                    found.append(f"{child_path}={value}")
            else:
                found += foreign_targets(node._get_node(key), child_path)
    elif isinstance(node, ListConfig) and not node._is_none() and not node._is_missing():
        for i, item in enumerate(node._iter_ex(resolve=False)):
            found += foreign_targets(item, f"{path}[{i}]")
    return found


def check_targets(argv: list[str]) -> str | None:
    """Refuse `_target_`s outside the package (they run arbitrary code) unless the user opts in."""
    if os.environ.get(ALLOW_TARGETS_ENV, "").lower() in {"1", "true", "yes"}:
        return None
    from hydra import compose, initialize_config_dir

    bad = [a for a in argv if "_target_" in a and not a.split("=", 1)[-1].startswith(ALLOWED_TARGET_PREFIXES)]
    if not bad:
        overrides = [a for a in argv if "=" in a and not a.startswith("-") and "," not in a.split("=", 1)[1]]
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
            try:
                cfg = compose("evaluate", overrides=overrides, return_hydra_config=True)
            except Exception:  # composition errors are reported by Hydra itself with its own message
                return None
        bad = foreign_targets(cfg)
    if not bad:
        return None
    return (
        f"refusing to instantiate {', '.join(bad)}: only classes of rtriever_eval and Hydra's own plugins are "
        f"instantiated by default, since a _target_ runs arbitrary code. Set {ALLOW_TARGETS_ENV}=1 to allow it."
    )


def guard_argv(argv: list[str]) -> None:
    """Refuse bad overrides and foreign ``_target_`` classes before Hydra runs (help and config views pass)."""
    if not any(a in ("--help", "-h", "--hydra-help", "--cfg", "-c", "--info", "-i") for a in argv):
        message = precheck_overrides(argv) or check_targets(argv)
        if message:
            fail(message)


def main() -> None:
    guard_argv(sys.argv[1:])
    _app()


if __name__ == "__main__":
    main()
