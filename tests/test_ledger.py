"""The results ledger: a build's claims written, read back and compared, claim by claim."""

from __future__ import annotations

import json
import math

import nbformat
import pytest

from transferlab.chapters import ledger
from transferlab.chapters.claims import RECORD_MIMETYPE, Claim, ClaimsTable, Criterion, Estimate

from .conftest import ROOT

GAP = Criterion("gap", "gap", ">", 0.05)


def _chapter(folder, name, samples, preset="default", registration=None, ran=None):
    """An executed chapter notebook holding a claims record: a claim per list of per-seed values
    (``ran``: the provenance and wall time the runner records)."""
    folder.mkdir(parents=True, exist_ok=True)
    claims = [Claim(k, "c", "s", (Estimate.t(GAP, x, "seed", "t"),)) for k, x in zip("abc", samples)]
    record = ClaimsTable(name, claims, registration).to_json()
    out = nbformat.v4.new_output("display_data", data={RECORD_MIMETYPE: record})
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("", outputs=[out])])
    nb.metadata["transferlab"] = {"preset": preset, "overrides": {}, **(ran or {})}
    nbformat.write(nb, folder / name)


def test_a_build_written_to_the_ledger_compares_equal_and_a_changed_one_shows_its_changes(tmp_path):
    holds, undecided = [0.3, 0.4, 0.35], [0.0, 0.2, 0.1]
    _chapter(tmp_path / "a", "02_x.ipynb", [holds, undecided])
    path = tmp_path / "results" / "ledger.json"
    prov = ledger.provenance(ROOT)
    assert prov["commit"] != "unknown" and prov["cpu"] and prov["numerics"] in ("fast", "plain", "bf16")
    ledger.update(path, ledger.snapshot(tmp_path / "a"), prov)
    saved = ledger.load(path)
    assert saved["chapters"]["02_x"]["provenance"]["commit"] == prov["commit"]
    same = ledger.changes(saved, ledger.snapshot(tmp_path / "a"))
    assert (same.ledger == same.build).all() and (same["shift / half-width"] == 0).all()
    assert "0 verdicts changed" in ledger.report(same)

    _chapter(tmp_path / "b", "02_x.ipynb", [[0.0, 0.01, 0.005], undecided, [0.3, 0.31, 0.32]])
    moved = ledger.changes(saved, ledger.snapshot(tmp_path / "b"))
    text = ledger.report(moved)
    assert "1 verdicts changed: 02_x (a) holds → contradicted" in text and "registry" not in text
    assert "02_x (c): new claim" in text
    row = moved.set_index("claim").loc["a"]
    assert row["shift / half-width"] > 1 and row["width ratio"] < 1


def test_a_build_on_another_preset_is_not_compared(tmp_path):
    _chapter(tmp_path / "a", "01_y.ipynb", [[0.3, 0.4, 0.35]])
    path = tmp_path / "ledger.json"
    ledger.update(path, ledger.snapshot(tmp_path / "a"), ledger.provenance(ROOT))
    _chapter(tmp_path / "b", "01_y.ipynb", [[0.3, 0.4, 0.35]], preset="smoke")
    assert "01_y: ledger preset 'default'" in ledger.report(
        ledger.changes(ledger.load(path), ledger.snapshot(tmp_path / "b"))
    )


def test_updating_some_chapters_keeps_the_others_and_no_value_is_lost(tmp_path):
    path = tmp_path / "ledger.json"
    _chapter(tmp_path / "a", "01_y.ipynb", [[0.3, 0.4, 0.35]])
    _chapter(tmp_path / "b", "02_x.ipynb", [[0.5]])  # one replicate: an infinite interval
    ledger.update(path, ledger.snapshot(tmp_path / "a"), {"commit": "one"})
    ledger.update(path, ledger.snapshot(tmp_path / "b"), {"commit": "two"})
    saved = json.loads(path.read_text())
    assert {k: v["provenance"]["commit"] for k, v in saved["chapters"].items()} == {
        "01_y": "one",
        "02_x": "two",
    }
    estimate = saved["chapters"]["02_x"]["claims"][0]["estimates"][0]
    assert estimate["low"] is None and math.isclose(estimate["value"], 0.5)  # ∞ stored as null


def test_the_ledger_keeps_what_the_run_recorded_when_it_started_not_the_checkout_at_update(tmp_path):
    path = tmp_path / "ledger.json"
    ran = {"provenance": {"commit": "ran-on", "uncommitted": True}, "seconds": 354.7, "made": 12}
    _chapter(tmp_path / "a", "07_z.ipynb", [[0.3, 0.4, 0.35]], ran=ran)
    _chapter(tmp_path / "a", "01_y.ipynb", [[0.3, 0.4, 0.35]])  # run before the runner recorded it
    ledger.update(path, ledger.snapshot(tmp_path / "a"), {"commit": "updated-on", "uncommitted": False})
    saved = ledger.load(path)["chapters"]
    assert saved["07_z"]["provenance"] == ran["provenance"] and saved["07_z"]["seconds"] == 354.7
    assert saved["01_y"]["provenance"]["commit"] == "updated-on" and "seconds" not in saved["01_y"]
    # the README's timing table is written from these fields, and says where a run recorded none
    rows = {r.split(" | ")[0].strip("| "): r for r in ledger.timings(ledger.load(path)).splitlines()[2:]}
    assert "5 min 55 s" in rows["07_z"] and "| 12 |" in rows["07_z"] and "ran-on" in rows["07_z"]
    assert "not recorded" in rows["01_y"] and "updated-on" in rows["01_y"]
    # the total sums what was recorded and says what it spans
    assert "5 min 55 s" in rows["**total**"] and "2 commit(s)" in rows["**total**"]
    assert "1 chapter(s) not recorded" in rows["**total**"]


def test_a_damaged_ledger_says_what_to_do(tmp_path):
    path = tmp_path / "ledger.json"
    path.write_text("{not json")
    with pytest.raises(ValueError, match="git checkout .*transferlab ledger update"):
        ledger.load(path)
    path.write_text(json.dumps({"version": 99, "chapters": {}}))
    with pytest.raises(ValueError, match="not a results ledger"):
        ledger.load(path)
    assert ledger.load(tmp_path / "none.json") == {"version": ledger.VERSION, "chapters": {}}


def test_the_command_writes_the_ledger_and_diffs_a_build_against_it(tmp_path, capsys):
    from transferlab.pipeline.cli import main

    root = tmp_path / "checkout"
    (root / "book").mkdir(parents=True)
    (root / "_config.yml").write_text("title: t\n")
    (root / "book" / "_toc.yml").write_text("root: intro\n")
    _chapter(root / "book" / "chapters", "02_x.ipynb", [[0.3, 0.4, 0.35]])
    assert main(["ledger", "diff", "--root", str(root)]) == 0
    assert "02_x: not in the ledger" in capsys.readouterr().out
    assert main(["ledger", "update", "--root", str(root)]) == 0
    assert "wrote 1 chapters" in capsys.readouterr().out and (root / ledger.LEDGER).is_file()
    assert main(["ledger", "diff", "--root", str(root)]) == 0
    assert "1 claims compared, 0 verdicts changed" in capsys.readouterr().out
    (root / ledger.LEDGER).write_text("[]")
    assert main(["ledger", "diff", "--root", str(root)]) == 1
    assert "not a results ledger" in capsys.readouterr().err


def test_the_summary_page_shows_the_builds_provenance_and_its_changes(tmp_path):
    from transferlab.chapters import what_transfers
    from transferlab.pipeline.book import write_provenance

    chapters = tmp_path / "book" / "chapters"
    _chapter(chapters, "02_x.ipynb", [[0.3, 0.4, 0.35]])
    assert "outside a book build" in what_transfers.provenance_text(chapters)
    prov = write_provenance(ROOT, chapters)
    text = what_transfers.provenance_text(chapters)
    assert f"commit `{prov['commit']}`" in text and prov["cpu"] in text
    root = tmp_path / "checkout"
    ledger.update(root / ledger.LEDGER, ledger.snapshot(chapters), prov)
    write_provenance(root, chapters)
    assert "1 claims compared, 0 verdicts changed" in what_transfers.provenance_text(chapters)


def test_an_amended_registry_is_named_beside_the_comparison(tmp_path):
    stamp = {"digest": "aaaa", "frozen": "2026-12-03", "confirmatory": True}
    _chapter(tmp_path / "a", "01_y.ipynb", [[0.3, 0.4, 0.35]], registration=stamp)
    path = tmp_path / "ledger.json"
    ledger.update(path, ledger.snapshot(tmp_path / "a"), {"commit": "one"})
    _chapter(tmp_path / "b", "01_y.ipynb", [[0.3, 0.4, 0.35]], registration={**stamp, "digest": "bbbb"})
    text = ledger.report(ledger.changes(ledger.load(path), ledger.snapshot(tmp_path / "b")))
    assert "1 claims compared" in text and "01_y: registry aaaa → bbbb" in text
