"""The stability check: the chapters under the plain numeric path against the fast one, claim by claim."""

from __future__ import annotations

import math

import pytest

from transferlab.chapters.claims import RECORD_MIMETYPE, Claim, ClaimsTable, Criterion, Estimate, read_claims
from transferlab.chapters.what_transfers import chapter_files
from transferlab.pipeline import stability
from transferlab.store import Store
from transferlab.train import Speed, numerics

from .conftest import ROOT

GAP = Criterion("gap", "gap", ">", 0.05)


def _chapter(folder, name, claims):
    import nbformat

    folder.mkdir(parents=True, exist_ok=True)
    rec = ClaimsTable(name, claims).to_json()
    out = nbformat.v4.new_output("display_data", data={RECORD_MIMETYPE: rec})
    nbformat.write(
        nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("", outputs=[out])]), folder / name
    )


def test_compare_counts_opposite_and_undecided_verdicts(tmp_path):
    def claims(*samples):
        return [Claim(k, "c", "s", (Estimate.t(GAP, x, "seed"),)) for k, x in zip("abc", samples)]

    _chapter(tmp_path / "a", "02_x.ipynb", claims([0.3, 0.4, 0.35], [0.0, 0.01, 0.02], [0.0, 0.2, 0.1]))
    _chapter(tmp_path / "b", "02_x.ipynb", claims([0.0, 0.01, 0.02], [0.0, 0.1, 0.05], [0.0, 0.21, 0.1]))
    table = stability.compare(tmp_path / "a", tmp_path / "b")
    s = stability.summary(table)
    assert (s["claims"], s["agree"], s["opposite"], s["decided vs undecided"]) == (3, 1, 1, 1)
    shift = table.set_index("claim")["shift / half-width"]
    assert shift["c"] < 0.05 < shift["a"]
    text = stability.report(table, "fast", "plain")
    assert "1 decided verdicts turn into the opposite one" in text and "02_x (a): holds under fast" in text
    (tmp_path / "b" / "02_x.ipynb").unlink()
    with pytest.raises(FileNotFoundError, match="both settings"):
        stability.compare(tmp_path / "a", tmp_path / "b")


def test_the_numeric_path_is_read_from_the_environment(monkeypatch):
    import torch

    cpu = torch.device("cpu")
    monkeypatch.setenv("TRANSFERLAB_NUMERICS", "plain")
    plain = Speed(cpu)
    assert numerics() == "plain" and (plain.channels_last, plain.bf16, plain.reuse_memory) == (False,) * 3
    monkeypatch.setenv("TRANSFERLAB_NUMERICS", "bf16")
    assert (Speed(cpu).channels_last, Speed(cpu).bf16, Speed(cpu).reuse_memory) == (True,) * 3
    assert Speed(cpu, bf16=False).bf16 is False  # an explicit switch wins
    monkeypatch.setenv("TRANSFERLAB_NUMERICS", "fastest")
    with pytest.raises(ValueError, match="TRANSFERLAB_NUMERICS must be one of"):
        Speed(cpu)


@pytest.mark.notebook
def test_no_decided_verdict_turns_under_the_plain_numeric_path(smoke_book, tmp_path_factory):
    """The chapters with a decided claim on smoke, again under plain float32 and one model at a time
    (a store of its own), against the smoke book's fast path: a decided verdict never turns into the
    opposite one. Only a claim decided under both settings can turn, so the chapters with none decided
    under the fast path are not run again (half the time)."""
    fast = smoke_book / "chapters"
    decided_in = [
        int(p.stem[:2])
        for p in chapter_files(fast)
        if any(c.verdict in stability.DECIDED for c in read_claims(p))
    ]
    assert len(decided_in) >= 3, (
        f"only chapters {decided_in} decide a claim on smoke: the check could not fail"
    )
    out = tmp_path_factory.mktemp("plain")
    plain = stability.execute_under(
        ROOT, out, "plain", "smoke", Store(out / "store"), progress=False, only=decided_in
    )
    table = stability.compare(plain, fast)
    s = stability.summary(table)
    recorded = sum(len(read_claims(p)) for p in chapter_files(plain))
    assert s["claims"] == recorded and len(chapter_files(plain)) == len(decided_in)
    decided = table.drop_duplicates(["chapter", "claim"])["claim second"].isin(stability.DECIDED).sum()
    assert decided >= 4, f"only {decided} decided claims on smoke: the comparison could not fail"
    assert s["opposite"] == 0, stability.report(table, "fast", "plain")
    assert math.isfinite(s["median shift"])
    # the plain models were trained anew, into the plain store (not taken from the fast one)
    plain = Store(out / "store")
    sources = [e for e in map(plain.get, plain.keys()) if e is not None and e.spec.get("job") == "source"]
    assert sources, "the plain path trained no source model of its own"
    assert s["median shift"] > 0  # other trajectories, other numbers
