"""Chapter 8's run: train (or fetch) the plan's teachers, students and malicious sets and measure
each student's accuracy and defect inheritance; the teachers' and the weights' tables."""

from __future__ import annotations

import dataclasses
from typing import Any

import pandas as pd
import torch

from ...methods import defects as dfx
from ...methods.slicing import remos_slice
from ...models import conv_layers
from ...run import run_jobs
from ...train import accuracy, predict
from ...utils import progress as progress_bar
from ...world import TensorData
from .config import BACKDOORS, Config
from .jobs import (
    CURVE_METHODS,
    StudentKey,
    _ratio,
    _teacher_kind,
    _teacher_name,
    load_student,
    malicious_jobs,
    plan,
    student_job,
    teachers,
)


def malicious_sets(
    config: Config, target: str, entries: dict[str, Any]
) -> dict[str, tuple[TensorData, int | None]]:
    """Per defect: (malicious version of the target's test set, the targeted class or None); the
    adversarial ones from their jobs' store ``entries``, the backdoors' by adding the trigger."""
    test = config.world().target(target, "test")
    out = {label: (test.replace(x=e.tensors("malicious")["x"]), None) for label, e in entries.items()}
    trig = dfx.triggered(test, config.trigger_size)
    for d in BACKDOORS:
        if d in config.defects:
            out[d] = (trig, 0)  # targeted: triggered images sent to class 0
    return out


@dataclasses.dataclass(frozen=True)
class Results:
    config: Config
    table: pd.DataFrame  # defect, target, method, seed, accuracy, dir (at the claims' budget)
    curve: pd.DataFrame  # defect, target, ratio, accuracy, dir (ReMoS ratios; first seed and target)
    recovery: pd.DataFrame  # defect, target, method, seed, iterations, accuracy, dir (first seed, target)
    teachers: pd.DataFrame  # teacher, seed, task, accuracy (and attack success)
    changes: pd.DataFrame  # method, layer, change: |student − clean teacher| per conv weight
    excluded: pd.DataFrame  # layer, zeroed share, mean |w| zeroed, mean |w| kept (ReMoS, clean teacher)


def teacher_table(config: Config, teachers_: dict) -> pd.DataFrame:
    """Each teacher's (per seed) accuracy on its own task's test set and, for BadNets, its attack
    success: the share of triggered test images outside class 0 it sends to class 0 (did the
    backdoor take?)."""
    world = config.world()
    rows = []
    for (key, seed), model in teachers_.items():
        badnets = _teacher_kind(key) == "badnets"
        task = key[1] if badnets else "source"
        test = world.source("test") if task == "source" else world.target(task, "test")
        row = {
            "teacher": _teacher_name(key),
            "seed": seed,
            "task": task,
            "accuracy": accuracy(predict(model, test), test.y),
        }
        if badnets:
            others = test.subset((test.y != 0).nonzero().flatten())
            hit = predict(model, dfx.triggered(others, config.trigger_size)).argmax(1) == 0
            row["attack success"] = float(hit.float().mean())
        rows.append(row)
    return pd.DataFrame(rows)


def weight_changes(teacher, students: dict[str, Any]) -> pd.DataFrame:
    """|student − teacher| of every conv weight, per student (method) and layer."""
    ref = dict(conv_layers(teacher.blocks))
    frames = [
        pd.DataFrame(
            {
                "method": method,
                "layer": name,
                "change": (conv.weight - ref[name].weight).detach().abs().flatten().numpy(),
            }
        )
        for method, student in students.items()
        for name, conv in conv_layers(student.blocks)
    ]
    return (
        pd.concat(frames, ignore_index=True)
        if frames
        else pd.DataFrame(columns=["method", "layer", "change"])
    )


def excluded_weights(config: Config, teacher, data: TensorData) -> pd.DataFrame:
    """Per conv layer of the teacher: the share of its weights ReMoS zeroes (the adversarial
    defects' ratio) and the mean magnitude of the weights it zeroes and of those it keeps."""
    sliced, _ = remos_slice(
        teacher, data, ratio=config.ratio, threshold=config.threshold, scope=config.remos_scope
    )
    ref = dict(conv_layers(teacher.blocks))
    rows = []
    for name, conv in conv_layers(sliced.blocks):
        w = ref[name].weight.detach().abs()
        zeroed = (conv.weight == 0) & (w != 0)
        rows.append(
            {
                "layer": name,
                "zeroed share": float(zeroed.float().mean()),
                "mean |w| zeroed": float(w[zeroed].mean()) if zeroed.any() else float("nan"),
                "mean |w| kept": float(w[~zeroed].mean()),
            }
        )
    return pd.DataFrame(rows)


def run(config: Config, progress: bool = True) -> Results:
    """Teachers, malicious sets, every student by every method, the ReMoS ratio sweep, the recovery
    curve, and what ReMoS zeroes and fine-tuning changes."""
    tea = teachers(config, progress)
    world = config.world()
    todo = plan(config)
    jobs = {k: student_job(config, k) for k in todo.keys()}
    attacks = {
        (t, s, label): job
        for t in config.targets
        for s in config.seeds
        for label, job in malicious_jobs(config, t, s).items()
    }
    made_ = run_jobs([*jobs.values(), *attacks.values()], progress=progress)  # in the workers, together
    entries = dict(zip(jobs, made_))
    attacked = dict(zip(attacks, made_[len(jobs) :]))
    parts: dict[str, list[dict]] = {"main": [], "sweep": [], "recovery": []}
    models, predicted = {}, {}

    def predictions(key: StudentKey, label: str | None, data: TensorData) -> torch.Tensor:
        """The classes ``key`` predicts on the clean test set (``label`` None) or a malicious set."""
        if (key, label) not in predicted:
            if key not in models:
                models[key] = load_student(jobs[key], entries[key], key.iterations)
            predicted[key, label] = predict(models[key], data).argmax(1)
        return predicted[key, label]

    for target in config.targets:
        mal = {
            seed: malicious_sets(
                config, target, {d: e for (t, s, d), e in attacked.items() if (t, s) == (target, seed)}
            )
            for seed in config.seeds
        }
        test = world.target(target, "test")
        for part, rows in zip(parts, todo):
            for d, k in progress_bar(
                [x for x in rows if x[1].target == target], f"students ({part})", progress
            ):
                clean = predictions(k, None, test)
                malicious, victim = mal[k.seed][d]
                row = {"defect": d, "target": target, "method": k.method, "seed": k.seed}
                row |= {"iterations": k.iterations, "ratio": _ratio(config, k)}
                row["accuracy"] = float((clean == test.y).float().mean())
                row["dir"] = dfx.defect_rate(clean, predictions(k, d, malicious), test.y, victim)
                parts[part].append(row)
    longest = max(config.curve_iterations)
    t0, s0 = config.targets[0], config.seeds[0]
    students = {
        m: models[k] for m in CURVE_METHODS if (k := StudentKey(t0, "clean", m, s0, longest)) in models
    }
    return Results(
        config,
        pd.DataFrame(parts["main"]).drop(columns=["iterations", "ratio"]),
        pd.DataFrame(parts["sweep"]).drop(columns=["method", "seed", "iterations"]),
        pd.DataFrame(parts["recovery"]).drop(columns=["ratio"]),
        teacher_table(config, tea),
        weight_changes(tea["clean", s0], students),
        excluded_weights(config, tea["clean", s0], world.target(t0, "train")),
    )
