"""Tables worth reading: ssb.tables.show / text_table (issue 13, item 4)."""
from __future__ import annotations

import numpy as np
import pandas as pd

from ssb import tables


def test_series_and_interval_cells():
    text = tables.text_table(pd.Series({"articles": 120.0, "tokens": 1228800.0}, name="corpus"))
    assert "1,228,800" in text and "120" in text and "120.0" not in text and "e+06" not in text
    checks = pd.DataFrame({"value": [0.012345], "ci": [[0.0101234, 0.0456789]], "passed": [True]},
                          index=["beyond_null"])
    text = tables.text_table(checks)
    assert "[0.0101, 0.0457]" in text and "beyond_null" in text
    html = tables.styled(checks).to_html()
    assert "[0.0101, 0.0457]" in html


def test_no_duplicate_index_and_text_left_aligned():
    df = pd.DataFrame({"relation": ["located in the administrative territorial entity", "x"], "n": [1.0, 22.0]})
    lines = tables.text_table(df).splitlines()
    assert lines[0].startswith("relation")                   # no 0..N index column in front
    assert lines[-1].startswith("x ") and lines[-1].rstrip().endswith("22")       # text left, numbers right
    assert str(tables.tidy(df)["n"].dtype) == "Int64"
    assert np.array_equal(tables.tidy(df)["n"].to_numpy(dtype=int), [1, 22])
