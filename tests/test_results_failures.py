"""Failure records leave a results folder by command: `zoo results drop --failures` (all, a dataset's, some models'),
and with their model's cells by `zoo results drop MODEL`; finished cells stay."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import zoo
from tests.test_report import write_cell
from zoo.report import MARKDOWN
from zoo.results import Cell, ResultStore


@pytest.fixture
def results(tmp_path) -> Path:
    """A results folder with dcgan's finished cell and failure records of an earlier attempt on another dataset."""
    store = ResultStore(tmp_path / "mine")
    write_cell(store.root, "dcgan", 0, {"fid": 3.0})
    store.write_failure(Cell("dcgan", "folder-faces-64-0badc0de", 0), {}, "error", "a split that no longer exists")
    store.write_failure(Cell("vae", "folder-faces-64-0badc0de", 0), {}, "error", "a split that no longer exists")
    store.write_failure(Cell("vae", "mnist", 1), {}, "died", "killed for memory")
    return tmp_path / "mine"


def drop(results: Path, *args: str):
    return zoo("results", "drop", *args, profile=results.name, results=results.parent)


def test_drop_failures_clears_the_records_of_failed_cells_and_keeps_every_result(results):
    store = ResultStore(results)
    dataset = drop(results, "--failures", "--dataset", "folder-faces-64-0badc0de")
    assert dataset.exit_code == 0, dataset.output
    assert "dropped 2 failure record(s)" in dataset.output
    assert [(f["model"], f["dataset"]) for f in store.failures()] == [("vae", "mnist")]
    assert "vae on mnist, seed 1" in (results / MARKDOWN).read_text()
    everything = drop(results, "--failures")
    assert (
        everything.exit_code == 0 and store.failures() == [] and "vae on mnist" not in (results / MARKDOWN).read_text()
    )
    assert store.stored_key(Cell("dcgan", "mnist", 0)) == {} and set(store.rows()["model"]) == {"dcgan"}


def test_drop_failures_of_named_models_only(results):
    dropped = drop(results, "vae", "--failures")
    assert dropped.exit_code == 0 and "dropped 2 failure record(s)" in dropped.output
    assert [f["model"] for f in ResultStore(results).failures()] == ["dcgan"]
    assert drop(results, "--failures", "--uninstalled").exit_code == 2
