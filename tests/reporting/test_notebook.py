"""notebooks/analysis.ipynb is committed without outputs, and runs clean against a fresh quickstart results folder.

It reads the session's quickstart (tests/conftest.py); the notebook runs in a python3 kernel of this interpreter.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import Quickstart

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "analysis.ipynb"


def test_committed_notebook_is_valid_and_has_no_outputs() -> None:
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code
    for cell in code:
        assert cell.outputs == [] and cell.execution_count is None, f"outputs left in cell {cell.get('id')}"
    params = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and 'RESULTS_DIR = os.environ.get("RESULTS_DIR", "results/quickstart")' in params[0].source


def test_notebook_runs_against_the_quickstart(quickstart: Quickstart, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESULTS_DIR", str(quickstart.results))  # the kernel inherits this process's environment
    nb = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute()  # raises CellExecutionError on the first failing cell
    outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    markdown = [o.data["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {})]
    texts = "".join(o.text for o in outputs if o.output_type == "stream" and o.name == "stdout")
    assert f"from {quickstart.results}" in texts  # it read the folder it was given
    table = next(m for m in markdown if m.startswith("### nDCG@10 ×100 on sample"))
    for run in ("bm25", "bm25_bright", "minilm"):
        assert f"| {run} |" in table
    from rtriever_eval.reporting import tables

    if hasattr(tables, "significance_table"):  # the notebook shows it only where the package has it
        assert any("against bm25" in m for m in markdown)
    assert any("reproduced vs bm25_paper" in m for m in markdown)
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) == 3  # bars, deltas, recall
