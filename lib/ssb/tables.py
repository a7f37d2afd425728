"""Tables worth reading: how the notebooks display a pandas DataFrame.

    from ssb import tables
    tables.show(df, caption="Relations and their recognised nodes")

``show`` displays ``tidy(df)`` through ``styled``:

- integers print as integers: a float column whose values are all whole numbers (counts that
  pandas made float, ``120.000000``) becomes an integer column; large integers get thousands
  separators (``1,228,800``, not ``1.228800e+06``);
- other floats print with ``digits`` significant digits (default 3), never in e-notation
  between 1e-4 and 1e6;
- no duplicate index: a default 0..N-1 index, or an index equal to one of the columns, is
  not shown;
- a cell holding a list or tuple of numbers (a confidence interval) prints each number the
  same way: ``[0.0123, 0.0456]``;
- a Series is shown as a one-column table;
- text is left-aligned and wraps (relation names appear in full, ``wrap`` characters wide,
  default 40), numbers are right-aligned.

Outside IPython ``show`` prints the same table as plain text.  The CSV files the notebooks
save (``results.save_table``) are not affected: they keep full precision.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

TEXT_STYLE = "text-align: left; white-space: normal; overflow-wrap: anywhere;"
NUMBER_STYLE = "text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums;"


def _whole(series: pd.Series) -> bool:
    values = series.dropna()
    if values.empty or not pd.api.types.is_float_dtype(series):
        return False
    finite = np.isfinite(values.to_numpy(dtype=float))
    return bool(finite.all() and (values == np.round(values)).all() and (values.abs() < 2 ** 53).all())


def _duplicate_index(df: pd.DataFrame) -> bool:
    """True when the index carries nothing: 0..N-1, or a copy of one of the columns."""
    index = df.index
    if isinstance(index, pd.RangeIndex) and index.start == 0 and index.step == 1:
        return True
    for column in df.columns:
        try:
            if list(df[column]) == list(index):
                return True
        except (TypeError, ValueError):
            continue
    return False


def tidy(df: pd.DataFrame) -> pd.DataFrame:
    """A copy with whole-number float columns as (nullable) integers and a meaningless index
    dropped; a meaningful index becomes the first column."""
    if isinstance(df, pd.Series):
        df = df.to_frame()
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"tables.tidy expects a pandas DataFrame, got {type(df).__name__}")
    out = df.copy()
    if _duplicate_index(out):
        out = out.reset_index(drop=True)
    else:
        out = out.reset_index()
    for column in out.columns:
        if _whole(out[column]):
            out[column] = out[column].round().astype("Int64")
    return out


def format_number(x: Any, digits: int = 3) -> str:
    """One cell: ints with thousands separators, floats with ``digits`` significant digits."""
    if x is None or x is pd.NA or (isinstance(x, float) and math.isnan(x)):
        return ""
    if isinstance(x, (bool, np.bool_)):
        return str(bool(x))
    if isinstance(x, (int, np.integer)):
        return f"{int(x):,}"
    if isinstance(x, (float, np.floating)):
        x = float(x)
        if math.isinf(x):
            return "inf" if x > 0 else "-inf"
        if x == 0:
            return "0"
        if 1e-4 <= abs(x) < 1e6:
            decimals = max(0, digits - 1 - int(math.floor(math.log10(abs(x)))))
            return f"{x:,.{decimals}f}"
        return f"{x:.{digits - 1}e}"
    if isinstance(x, (list, tuple)) and all(v is None or isinstance(v, (int, float, np.integer, np.floating))
                                            for v in x):
        return "[" + ", ".join("None" if v is None else format_number(v, digits) for v in x) + "]"
    return str(x)


def _text(x: Any, digits: int = 3) -> str:
    """A text-column cell: sequences of numbers formatted like numbers, anything else as str."""
    return format_number(x, digits) if isinstance(x, (list, tuple)) else ("" if x is None else str(x))


def _is_text(series: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series))


def text_table(df: pd.DataFrame, digits: int = 3, wrap: int = 40) -> str:
    """The tidy table as plain text (numbers formatted as in ``show``, long text wrapped)."""
    import textwrap

    out = tidy(df)
    cells = {c: [format_number(v, digits) if not _is_text(out[c]) else textwrap.fill(_text(v, digits), wrap)
                 for v in out[c]] for c in out.columns}
    widths = {c: max([len(str(c))] + [max(len(line) for line in s.split("\n")) if s else 0 for s in cells[c]])
              for c in out.columns}
    lines = ["  ".join(str(c).ljust(widths[c]) for c in out.columns)]
    for i in range(len(out)):
        parts = {c: cells[c][i].split("\n") for c in out.columns}
        height = max(len(p) for p in parts.values())
        for k in range(height):
            row = []
            for c in out.columns:
                piece = parts[c][k] if k < len(parts[c]) else ""
                row.append(piece.ljust(widths[c]) if _is_text(out[c]) else piece.rjust(widths[c]))
            lines.append("  ".join(row).rstrip())
    return "\n".join(lines)


def styled(df: pd.DataFrame, digits: int = 3, wrap: int = 40, caption: str | None = None):
    """A pandas Styler of ``tidy(df)``: formatted numbers, left-aligned wrapping text, no index."""
    out = tidy(df)
    text_columns = [c for c in out.columns if _is_text(out[c])]
    number_columns = [c for c in out.columns if c not in text_columns]
    styler = out.style.hide(axis="index")
    if number_columns:
        styler = styler.format(lambda x: format_number(x, digits), subset=number_columns)
        styler = styler.set_properties(subset=number_columns, **_props(NUMBER_STYLE))
    if text_columns:
        styler = styler.format(lambda x: _text(x, digits), subset=text_columns)
        styler = styler.set_properties(subset=text_columns, **_props(TEXT_STYLE + f" max-width: {wrap}ch;"))
    headers = [{"selector": "th", "props": [("text-align", "left")]}]
    styler = styler.set_table_styles(headers)
    if caption:
        styler = styler.set_caption(caption)
    return styler


def _props(css: str) -> dict[str, str]:
    return {k.strip(): v.strip() for k, v in (item.split(":", 1) for item in css.split(";") if item.strip())}


def show(df: pd.DataFrame, digits: int = 3, wrap: int = 40, caption: str | None = None) -> None:
    """Display ``df`` for reading (see the module docstring): HTML in a notebook, text elsewhere."""
    text = text_table(df, digits, wrap)
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:
        get_ipython = None
    if get_ipython is not None and get_ipython() is not None:
        html = styled(df, digits, wrap, caption).to_html()
        display({"text/html": html, "text/plain": text}, raw=True)
    else:
        print((caption + "\n" if caption else "") + text)
