"""The defect-inheritance chapter: parameters, the summary relative to fine-tuning, the front, the claims."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from transferlab.chapters import inheritance as ih
from transferlab.chapters.inheritance import analysis as ih_analysis
from transferlab.chapters.inheritance import jobs as ih_jobs
from transferlab.chapters.inheritance import measure as ih_measure
from transferlab.chapters.params import ParameterError, resolve


def smoke(**changes):
    return ih.Config(**{**resolve(ih.Config, ih.PRESETS, "smoke"), **changes})


def _results(rows):
    table = pd.DataFrame(
        [
            {"defect": d, "target": "pets", "method": m, "seed": s, "accuracy": a, "dir": r}
            for d, m, s, a, r in rows
        ]
    )
    empty = pd.DataFrame()
    return ih_measure.Results(smoke(), table, empty, empty, empty, empty, empty)


def _rows(remos_acc, remos_dir, defects=("penultimate", "badnets")):
    rows = []
    for d in defects:
        for s, e in ((0, -0.01), (1, 0.0), (2, 0.01)):  # three seeds a point apart
            rows += [
                (d, "finetune", s, 0.80 + e, 0.60 + e),
                (d, "retrain", s, 0.50 + e, 0.10 + e),
                (d, "magprune", s, 0.78 + e, 0.62 + e),
                (d, "remos", s, remos_acc + e, remos_dir + e),
            ]
    return rows


def test_summary_is_relative_to_fine_tuning_and_the_front_excludes_dominated_methods():
    r = _results(_rows(0.78, 0.30))
    s = ih.summary(r).set_index(["defect", "method"])
    assert s.loc[("penultimate", "remos"), "rdir"] == pytest.approx(0.5, abs=1e-3)
    assert s.loc[("penultimate", "remos"), "racc"] == pytest.approx(0.78 / 0.80, abs=1e-3)
    assert s.loc[("penultimate", "finetune"), "rdir"] == pytest.approx(1.0)
    front = ih_analysis.pareto(r).set_index(["defect", "method"])["on the front"]
    assert not front[("penultimate", "magprune")]  # fine-tuning beats it on both
    assert front[("penultimate", "remos")] and front[("penultimate", "retrain")]
    by_target = ih.summary(r, by_target=True)
    assert set(by_target.target) == {"pets"}


def test_claims_follow_the_measured_numbers():
    good = ih.claims(_results(_rows(0.78, 0.30))).frame().set_index("key")
    assert (good.verdict == "holds").all(), good
    costly = ih.claims(_results(_rows(0.60, 0.30))).frame().set_index("key")  # 20 points of accuracy lost
    assert costly.loc["b", "verdict"] == "contradicted"
    useless = ih.claims(_results(_rows(0.70, 0.65))).frame().set_index("key")  # more DIR than fine-tuning
    assert useless.loc["b", "verdict"] == "contradicted" and useless.loc["c", "verdict"] == "contradicted"
    one_seed = ih.claims(_results([r for r in _rows(0.78, 0.30) if r[2] == 0])).frame().set_index("key")
    assert (one_seed.verdict == "undecided").all()  # one replicate decides nothing


def test_each_seed_has_its_own_teacher_from_the_shared_source_zoo():
    """Seed s's students, backdoored teachers and malicious sets all descend from chapter 0's source
    model of seed s (one store entry shared with chapters 0 and 5): the intervals hold the
    teachers' variance."""
    from transferlab.chapters import world as tour

    cfg, world = ih.Config(), tour.Config()
    assert set(cfg.seeds) <= set(world.seeds)

    def clean_of(job):
        while getattr(job, "teacher", None) is not None or getattr(job, "clean", None) is not None:
            job = job.clean if getattr(job, "clean", None) is not None else job.teacher
        return job

    for _, key in ih_jobs.plan(cfg).main:
        if key.method == "retrain":
            continue
        assert clean_of(ih_jobs.student_job(cfg, key)).spec() == world.source_job(key.seed).spec()
    for s in cfg.seeds[:2]:
        for job in ih_jobs.malicious_jobs(cfg, "pets", s).values():
            assert job.teacher.spec() == world.source_job(s).spec()


def test_rdir_is_a_ratio_of_means_over_the_registered_defects():
    rows = []
    for s in (0, 1, 2):  # fine-tuning inherits penultimate strongly, badnets barely
        rows += [
            ("penultimate", "finetune", s, 0.8, 0.60),
            ("penultimate", "remos", s, 0.8, 0.30),
            ("badnets", "finetune", s, 0.8, 0.01),
            ("badnets", "remos", s, 0.8, 0.03),
        ]
    table = _results(rows).table.set_index(["defect", "target", "seed"])
    ft, rm = table[table.method == "finetune"].dir, table[table.method == "remos"].dir
    ratio = ih_analysis.ratio_of_means(rm, ft, ["penultimate", "badnets"])
    assert ratio.to_numpy() == pytest.approx([0.33 / 0.61] * 3)  # a mean of ratios would say (0.5 + 3) / 2
    assert ih_analysis.ratio_of_means(rm, ft, ["penultimate"]).to_numpy() == pytest.approx([0.5] * 3)


def test_bad_parameters_are_refused():
    with pytest.raises(ParameterError, match="finetune"):
        smoke(methods=["remos", "retrain"])
    with pytest.raises(ParameterError, match="trigger_size"):
        smoke(trigger_size=15)
    with pytest.raises(ParameterError, match="not allowed"):
        smoke(defects=["kmnc"])


def _created(store: Path) -> list[str]:
    log = store / "events.jsonl"
    if not log.exists():
        return []
    return [json.loads(line)["key"] for line in log.read_text().splitlines() if '"created"' in line]


def test_students_are_engine_jobs_and_a_killed_run_resumes_without_training_one_twice(tmp_path):
    """A smoke run killed while it trains its students, then run again: every student (and teacher,
    attention) is created exactly once, all of them by run_jobs through the store."""
    from transferlab.store import spec_key

    store = tmp_path / "store"
    cfg = smoke()
    students = {spec_key(ih_jobs.student_job(cfg, k).spec()) for k in ih_jobs.plan(cfg).keys()}
    code = (
        "from transferlab.chapters import inheritance as ih; from transferlab.chapters.params import resolve; "
        "ih.run(ih.Config(**resolve(ih.Config, ih.PRESETS, 'smoke')), progress=False)"
    )
    env = {**os.environ, "TRANSFERLAB_STORE": str(store), "TRANSFERLAB_WORKERS": "2"}
    proc = subprocess.Popen(
        [sys.executable, "-c", code],
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 300
    while len(students & set(_created(store))) < 2 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the run and its worker processes
    proc.wait()
    done = students & set(_created(store))
    assert 2 <= len(done) < len(students), f"killed with {len(done)} of {len(students)} students made"
    results = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=600
    )
    assert results.returncode == 0, results.stderr[-3000:]
    created = _created(store)
    assert students <= set(created)
    twice = [k for k in set(created) if created.count(k) > 1]
    assert twice == [], f"made twice: {twice}"
    kinds = {
        json.loads((store / "objects" / k[:2] / k / "manifest.json").read_text())["spec"].get("job")
        for k in created
    }
    assert {"source", "teacher-badnets", "teacher-latent", "delta-attention", "student"} <= kinds
