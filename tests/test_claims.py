"""The claims table: spread over seeds, HTML, and the record read back from a notebook."""

import math

import nbformat
import numpy as np
import pytest

from transferlab.chapters.claims import RECORD_MIMETYPE, Claim, ClaimsTable, read_record


def test_from_samples_mean_and_spread():
    c = Claim.from_samples("a", "x", "src", [1.0, 2.0, 3.0], holds=True, criterion="> 0")
    assert c.measured == 2.0 and c.spread == pytest.approx(1.0)
    assert c.measured_text() == "2 ± 1"
    single = Claim.from_samples("b", "x", "src", [0.5], holds=False, criterion="")
    assert single.spread is None and single.measured_text() == "0.5"


def test_table_html_marks_holds_and_fails():
    t = ClaimsTable(
        "demo",
        [Claim("a", "up", "s", 1.0, 0.1, True, "c"), Claim("b", "<down>", "s", math.nan, None, False, "c")],
    )
    html = t._repr_html_()
    assert 'class="tl-claims"' in html and "tl-holds" in html and "tl-fails" in html
    assert "&lt;down&gt;" in html
    assert list(t.frame().holds) == ["yes", "no"]
    with pytest.raises(ValueError, match="duplicate"):
        ClaimsTable("demo", [t.claims[0], t.claims[0]])


def test_record_roundtrip_through_a_notebook(tmp_path):
    t = ClaimsTable("demo", [Claim("a", "up", "s", 1.0, 0.1, True, "c")])
    rec = t.to_json({"n": np.int64(3), "xs": (1, 2)})
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_code_cell(
                "", outputs=[nbformat.v4.new_output("display_data", data={RECORD_MIMETYPE: rec})]
            )
        ]
    )
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, str(path))
    back = read_record(path)
    assert back["chapter"] == "demo" and back["metrics"] == {"n": 3, "xs": [1, 2]}
    assert back["claims"][0]["holds"] is True
    nbformat.write(nbformat.v4.new_notebook(), str(path))
    with pytest.raises(LookupError, match="no claims record"):
        read_record(path)


def test_a_value_not_measured_survives_the_record_and_the_summary(tmp_path):
    """JSON has no NaN: an unmeasured value is stored as null and shown as n/a on the summary page."""
    import json

    import pandas as pd

    from transferlab.chapters import what_transfers as summary

    t = ClaimsTable("demo", [Claim("a", "up", "s", float("nan"), None, False, "c")])
    rec = json.loads(json.dumps(t.to_json(), allow_nan=False))  # what a strict JSON writer keeps
    assert rec["claims"][0]["measured"] is None
    row = pd.Series({**rec["claims"][0], "chapter": 7, "doc": "07_x", "title": "7. X"})
    assert summary._claim(row).measured_text() == "n/a"
    assert "| n/a | ✗ no |" in summary.markdown_table(pd.DataFrame([row]))
