"""recognition_study: the steps notebooks 03 and 05 share (their end-to-end numbers are checked by
the smoke notebooks in test_notebooks.py)."""
from types import SimpleNamespace

import pandas as pd
import pytest

from ssb import recognition_study
from ssb.profiles import get_profile


def test_a_checkpoint_gets_no_symmetry_study_and_says_why():
    asked = []
    sym = recognition_study.symmetry_study(get_profile("smoke"), SimpleNamespace(is_checkpoint=True), asked.append)
    assert asked == [] and sym.control == {} and sym.checks is None
    assert "checkpoint has no symmetric variants" in sym.skipped and "C3 is not testable" in sym.skipped
    assert sym.head_jaccard("random") is None and sym.jaccard_matrices() == {}


def test_the_section_names_its_task():
    nulls = recognition_study.NullChecks(None, None, pd.DataFrame(), pd.DataFrame())
    with pytest.raises(ValueError, match="what must be 'tokens' or 'labels', got 'words'"):
        recognition_study.nodes_section(get_profile("smoke"), "words", None, None, nulls,
                                        recognition_study.SymmetryStudy(), pd.DataFrame(), 16)
