"""The report of a results folder: its leaderboards (:mod:`~zoo.report.leaderboard`), what they warn about and
every threshold (:mod:`~zoo.report.flags`), the budget axes (:mod:`~zoo.report.budgets`), the most copying cell
(:mod:`~zoo.report.memorisation`), figures (:mod:`~zoo.report.plots`), the HTML page (:mod:`~zoo.report.html`) and
the writer of all of them (:mod:`~zoo.report.writer`).

It reads the folder only, through :mod:`zoo.results`, and imports nothing from :mod:`zoo.bench`: a report can be
rebuilt wherever the folder is. :func:`write_report` is the one way it is written (by the bench at the end of a
run, and by ``zoo report``, ``zoo leaderboard`` and ``zoo results drop``); :func:`leaderboard_text` prints its
tables, :func:`leaderboard_data` gives them as data.
"""

from zoo.report.writer import HTML, MARKDOWN, PLOTS, leaderboard_data, leaderboard_text, write_report

__all__ = ["HTML", "MARKDOWN", "PLOTS", "leaderboard_data", "leaderboard_text", "write_report"]
