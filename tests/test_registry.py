"""Claims registered before the run that decides them: a registry is data with a digest, and a
change to it without an amendment fails; the registered claims are the ones the chapter checks."""

from __future__ import annotations

import dataclasses

import pytest

from transferlab.chapters import linear
from transferlab.chapters.contract import contract_errors
from transferlab.chapters.params import resolve
from transferlab.chapters.registry import Amendment, Registry, amendment_errors, registry_markdown, stamp

REGISTERED = [linear]  # the chapters registered so far


@pytest.mark.parametrize("chapter", REGISTERED, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_a_registry_changed_without_an_amendment_fails_until_one_is_recorded(chapter):
    reg = chapter.REGISTRY
    assert contract_errors(chapter) == []
    edited = dataclasses.replace(
        reg, claims=(dataclasses.replace(reg.claims[0], planned_n=1), *reg.claims[1:])
    )
    log = tuple(chapter.AMENDMENTS)
    errors = amendment_errors(edited, chapter.FROZEN_DIGEST, log)
    assert errors and "Record an Amendment" in errors[0] and edited.digest() in errors[0]
    amended = (*log, Amendment("2026-12-04", "claim a planned at 1", "a test", True, edited.digest()))
    assert amendment_errors(edited, chapter.FROZEN_DIGEST, amended) == []
    margin = dataclasses.replace(reg.criteria["bias-transfers"], margin=0.01)  # a moved margin too
    moved = dataclasses.replace(reg, criteria={**reg.criteria, "bias-transfers": margin})
    assert moved.digest() != reg.digest()


@pytest.mark.parametrize("chapter", REGISTERED, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_planned_n_is_what_the_power_computation_gives_from_the_pilot(chapter):
    reg = chapter.REGISTRY
    for r in reg.claims:
        needed = max(reg.criteria[name].replicates_needed(r.pilot_sd) for name in r.criteria)
        assert needed == r.planned_n, r.key
        assert all(reg.criteria[name].effect is not None for name in r.criteria), r.key
    assert max(r.planned_n for r in reg.claims) == len(reg.seeds)
    text = registry_markdown(reg, chapter.AMENDMENTS)
    assert reg.digest() in text and "Amendments" in text and reg.claims[0].statement in text


@pytest.fixture(scope="module")
def smoke_table():
    cfg = linear.Config(**resolve(linear.Config, linear.PRESETS, "smoke"))
    return cfg, linear.claims(linear.run(cfg, progress=False))


def test_the_registered_claims_are_the_ones_the_chapter_checks(smoke_table):
    cfg, table = smoke_table
    reg = linear.REGISTRY
    assert [c.key for c in table.claims] == [r.key for r in reg.claims]
    for claim in table.claims:
        assert {e.criterion.name for e in claim.estimates} == set(reg.registration(claim.key).criteria)
    assert table.registration == stamp(cfg, reg) and not table.registration["confirmatory"]
    assert "not the confirmatory run" in table.registration_text()
    assert stamp(linear.Config(), reg)["confirmatory"]


def test_a_registry_refuses_overlapping_seeds_unknown_criteria_and_too_few_seeds():
    reg = linear.REGISTRY
    fields = {f.name: getattr(reg, f.name) for f in dataclasses.fields(Registry)}
    with pytest.raises(ValueError, match="overlap"):
        Registry(**{**fields, "pilot_seeds": (reg.seeds[0],)})
    with pytest.raises(ValueError, match="unknown criteria"):
        Registry(**{**fields, "criteria": {}})
    with pytest.raises(ValueError, match="more replicates"):
        Registry(**{**fields, "seeds": reg.seeds[:1]})
    # a claim whose replicates the design fixes (held-out runs, copies) may plan more than the seeds,
    # and naming it changes the digest; a registry that names none keeps the digest it was frozen with
    keys = tuple(r.key for r in reg.claims)
    Registry(**{**fields, "seeds": reg.seeds[:1], "design_units": keys})  # no error
    assert Registry(**{**fields, "design_units": keys}).digest() != reg.digest()
    assert amendment_errors(reg, linear.FROZEN_DIGEST, linear.AMENDMENTS) == []


def test_the_confirmatory_run_is_read_from_the_parameter_that_holds_the_seeds():
    from transferlab.chapters import influences

    reg = influences.REGISTRY
    assert reg.seeds_parameter == "counterfactual_seeds" and "seeds" not in influences.Config.param_infos()
    assert stamp(influences.Config(), reg)["confirmatory"]
    other = influences.Config(counterfactual_seeds=reg.pilot_seeds)
    assert not stamp(other, reg)["confirmatory"]


def test_a_claim_that_reuses_another_series_says_so_and_the_summary_counts_it_once(smoke_table, tmp_path):
    import nbformat

    from transferlab.chapters import what_transfers
    from transferlab.chapters.claims import RECORD_MIMETYPE

    _, table = smoke_table
    assert "Reuses claim (c)&#x27;s per-replicate series" in table._repr_html_()  # claim (d)
    out = nbformat.v4.new_output("display_data", data={RECORD_MIMETYPE: table.to_json()})
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("", outputs=[out])])
    nb.metadata["transferlab"] = {"preset": "smoke", "overrides": {}}
    nbformat.write(nb, tmp_path / "01_linear.ipynb")
    claims = what_transfers.collect(tmp_path)
    assert list(claims.reuses) == [False, False, False, True]
    assert "so the build holds 3 independent pieces of evidence" in what_transfers.findings_text(claims)
