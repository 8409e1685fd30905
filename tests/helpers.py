"""Helpers shared by tests: the real data beside the checkout (skipping when absent), the config composed
in-process, the one console-script runner, and real child processes forked without interpreter start-up."""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"


def shared_data(sub: str) -> Path:
    """A folder of ../shared/data, or skip the test with the reason."""
    path = SHARED_DATA / sub
    if not path.exists():
        pytest.skip(f"real data not available: {path} is absent (it lives beside the project checkout)")
    return path


def load_benchmark(name: str) -> ModuleType:
    """A script of benchmarks/ imported as a module (benchmarks are not a package), e.g. its data loaders."""
    spec = importlib.util.spec_from_file_location(name, PROJECT_ROOT / "benchmarks" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


def compose_config(*overrides: str) -> Any:
    """The real `rtriever-eval` config with these overrides, composed in-process (no Hydra job, no subprocess)."""
    from hydra import compose, initialize_config_dir

    from rtriever_eval.settings.hydra import CONF_DIR, register_configs

    register_configs()
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        return compose("evaluate", overrides=list(overrides))


def evaluate_in_process(*overrides: str) -> Any:
    """`rtriever-eval <overrides>` as a function call: the pipeline on the composed config (single run only)."""
    from rtriever_eval.job.pipeline import run_evaluation

    return run_evaluation(compose_config(*overrides))


def file_digests(folder: Path) -> dict[str, str]:
    """sha256 of every file below `folder`, by relative path: to prove nothing changed."""
    import hashlib

    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


BIN = Path(sys.executable).parent
OFFLINE_ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def run_console(
    script: str, *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """A console script (`rtriever-eval`, `rtriever-report`, ...) as a real subprocess, offline: for the tests
    where the process boundary is the point (console-script wiring, exit codes of a fresh interpreter)."""
    return subprocess.run(
        [str(BIN / script), *args],
        cwd=cwd,
        env={**OFFLINE_ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=900,
    )


@dataclasses.dataclass(frozen=True)
class ChildRun:
    """How a child process ended (``returncode`` -9 when SIGKILLed) and what it printed."""

    returncode: int
    stdout: str
    stderr: str


def _child_main(argv: list[str], cwd: str, env: dict[str, str], out: str, err: str) -> None:
    """In the child: the output files as stdout/stderr, the environment and folder given, then the real CLI."""
    with open(out, "w") as o, open(err, "w") as e:
        os.dup2(o.fileno(), 1)
        os.dup2(e.fileno(), 2)
    sys.stdout = open(1, "w", closefd=False)  # noqa: SIM115 - the child's whole life
    sys.stderr = open(2, "w", closefd=False)  # noqa: SIM115
    os.environ.update(env)
    os.chdir(cwd)
    from rtriever_eval.cli.evaluate import main

    sys.argv = ["rtriever-eval", *argv]
    try:
        main()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


_PRELOAD = ["tests.preload"]


@dataclasses.dataclass
class RunningChild:
    """A started `rtriever-eval` child: ``pid`` to signal it, ``wait()`` for how it ended."""

    proc: Any
    tmp: Any
    out: str
    err: str

    @property
    def pid(self) -> int:
        return int(self.proc.pid)

    def wait(self, timeout: float = 900) -> ChildRun:
        self.proc.join(timeout)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
        code = self.proc.exitcode if self.proc.exitcode is not None else -9
        try:
            out, err = (Path(f).read_text(errors="replace") for f in (self.out, self.err))
            return ChildRun(code, out, err)
        finally:
            self.tmp.cleanup()


def start_eval_child(*argv: str, cwd: Path, env: dict[str, str] | None = None) -> RunningChild:
    """`rtriever-eval <argv>` started in a real child process (its own pid, locks and signals), forked from a
    server that has imported the libraries once (multiprocessing's forkserver), so it costs no interpreter
    start-up; several can run at once."""
    import multiprocessing
    import tempfile

    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(_PRELOAD)
    tmp = tempfile.TemporaryDirectory()
    out, err = os.path.join(tmp.name, "out"), os.path.join(tmp.name, "err")
    child = {"HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **(env or {})}
    proc = ctx.Process(target=_child_main, args=(list(argv), str(cwd), child, out, err))
    proc.start()
    return RunningChild(proc, tmp, out, err)


def run_eval_child(*argv: str, cwd: Path, env: dict[str, str] | None = None) -> ChildRun:
    """`rtriever-eval <argv>` in a real child process that can be SIGKILLed (see ``start_eval_child``)."""
    return start_eval_child(*argv, cwd=cwd, env=env).wait()


@contextlib.contextmanager
def cpu_burners(n: int = 2) -> Iterator[None]:
    """``n`` processes spinning on a CPU core while the block runs: what CI beside other work looks like."""
    procs = [subprocess.Popen([sys.executable, "-c", "while 1: pass"]) for _ in range(n)]
    try:
        yield
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()


def call_main(main: Any, argv: list[str], capsys: Any) -> tuple[int, str, str]:
    """A CLI's main(argv) in-process: (exit code, stdout, stderr), as a shell would see them."""
    code = 0
    try:
        main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    out = capsys.readouterr()
    return code, out.out, out.err
