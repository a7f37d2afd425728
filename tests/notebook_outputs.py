"""What every run of the seven notebooks must leave behind, shared by the smoke run
(test_notebooks.py) and the paper-shape rehearsal (test_paper_rehearsal.py): the notebooks in
order and the summary.json keys each section must hold."""
from __future__ import annotations

from pathlib import Path

from ssb import schema

REPO = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# every key of every notebook section, from its one definition (ssb.schema)
EXPECTED = {name: set(cls.keys()) for name, cls in schema.NOTEBOOK_SECTIONS.items()}
