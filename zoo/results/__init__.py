"""A profile's results folder, ``results/<profile>/``: the format the bench writes and the report reads.

:mod:`zoo.results.store` holds the finished cells (:class:`Cell`, :class:`Row`, :data:`COLUMNS`,
:class:`ResultStore`) and ``results.csv``; :mod:`zoo.results.invocations` the history of the benches that wrote
the folder; :mod:`zoo.results.drop` removes results (``zoo results drop``). This package imports neither the bench
(:mod:`zoo.bench`, the writer) nor the report (:mod:`zoo.report`, the reader): both import it.
"""

from zoo.results.invocations import INVOCATIONS, read_invocations, record_invocation
from zoo.results.store import (
    COLUMNS,
    IMAGE_FOLDERS,
    NEIGHBOURS,
    REAL_DATA,
    TRAVERSALS,
    Cell,
    ResultStore,
    Row,
    cell_run_dir,
    neighbours_path,
    traversal_path,
)

__all__ = [
    "COLUMNS",
    "IMAGE_FOLDERS",
    "INVOCATIONS",
    "NEIGHBOURS",
    "REAL_DATA",
    "TRAVERSALS",
    "Cell",
    "ResultStore",
    "Row",
    "cell_run_dir",
    "neighbours_path",
    "read_invocations",
    "record_invocation",
    "traversal_path",
]
