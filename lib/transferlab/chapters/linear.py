"""Chapter 1, the motivating linear example (thesis §7.1 and App. G.1.5).

A logistic-regression source model learns a planted direction ``u`` that is orthogonal to the
subspace ``S`` spanned by the target inputs. Fine-tuning it by SGD on the target moves the weights
only inside ``S`` (every gradient is a combination of target inputs), so the component along ``u``
survives; with weight decay λ every step also multiplies the weights by ``1 - lr·λ``, so the
component decays as ``(1 - lr·λ)^t``. The simulation and this closed form are compared side by side.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit

from .. import utils
from . import plots
from .claims import Claim, ClaimsTable, Criterion, Estimate, criteria
from .params import ChapterConfig, ParameterError, distinct, param
from .registry import Amendment, Registration, Registry, stamp

SOURCE = "thesis §7.1, App. G.1.5"
INITS = ("clean source", "biased source", "scratch")


@dataclasses.dataclass(frozen=True)
class Config(ChapterConfig):
    """Parameters of the linear example."""

    dim: int = param(100, "input dimension d", low=2, high=100_000)
    target_rank: int = param(10, "dimension k of the subspace S spanned by the target inputs (k < d)", low=1)
    n_source: int = param(4000, "source training inputs", low=10)
    n_target: int = param(40, "target training inputs (the thesis assumes n < d)", low=2)
    n_test: int = param(2000, "test inputs per task, for accuracy and attack success", low=10)
    poison_fraction: float = param(
        0.1, "fraction of source inputs that get the trigger u and label 1", low=0.0, high=1.0
    )
    trigger_strength: float = param(4.0, "length a of the trigger a·u added to an input", low=0.0)
    source_l2: float = param(1e-3, "L2 penalty of the source logistic regression", low=0.0)
    lr: float = param(0.1, "SGD learning rate of fine-tuning", low=1e-8, high=100.0)
    steps: int = param(2000, "SGD steps of fine-tuning", low=1, high=10_000_000)
    batch_size: int = param(8, "SGD batch size of fine-tuning", low=1)
    weight_decays: tuple[float, ...] = param(
        (0.0, 1e-3, 1e-2, 1e-1), "weight decays λ of fine-tuning (must include 0)", low=0.0
    )
    seeds: tuple[int, ...] = param(
        (200, 201, 202),
        "random seeds, one world and run each (the default: the registry's confirmatory seeds)",
        low=0,
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.target_rank >= self.dim:
            raise ParameterError(
                f"parameter 'target_rank' = {self.target_rank} must be below "
                f"'dim' = {self.dim}: u has to lie outside the target span"
            )
        if 0.0 not in self.weight_decays or len(self.weight_decays) < 2:
            raise ParameterError(
                "parameter 'weight_decays' must contain 0.0 (claim a) and at least "
                f"one positive value (claim b), got {self.weight_decays}"
            )
        if max(self.weight_decays) * self.lr >= 1.0:
            raise ParameterError(
                f"'lr' × max('weight_decays') = {max(self.weight_decays) * self.lr:g} "
                "must be below 1, or weight decay flips the sign of the weights"
            )
        distinct("seeds", self.seeds)


PROTOCOL = """**Setup** (thesis §7.1, App. G.1.5). Logistic regression on Gaussian data whose target task spans
a `target_rank`-dimensional subspace of `dim` dimensions. A *biased* source model carries a planted
weight along a direction u orthogonal to that span (a *clean* one does not); each is fine-tuned by
SGD (`steps`, `lr`) on the target with each weight decay λ of `weight_decays`, for every seed. The
closed form of the decay, (1 − lr·λ)^t, is computed beside the simulation.

**Measured.** The component u·w before and after fine-tuning, and the attack success rate of u on
the target's test set (adding u to an input flips the decision) for both sources.

**Claims.** The replicate is a seed, which draws the data, both sources and the fine-tuning.
- (a) Without weight decay fine-tuning leaves u·w unchanged (criterion `unchanged`).
- (b) With weight decay u·w decays towards 0 at the closed-form rate (`closed-form`), faster for a
  larger λ (`decays-faster`).
- (c) The planted bias transfers (`bias-transfers`, at λ = 0).
- (d) Weight decay removes it (App. G.1.5; `decay-removes`: the gap at the largest λ is below a
  tenth of the gap at λ = 0, seed by seed)."""

CRITERIA = criteria(
    Criterion(
        "unchanged",
        "largest relative change of u·w over the runs of a seed, λ = 0",
        "<",
        1e-6,
        "a numerical identity of the gradient's span, so the margin is float precision",
        effect=5e-7,
    ),
    Criterion(
        "closed-form",
        "largest |u·w_T − (1 − lr·λ)^t u·w_src| / |u·w_src| over λ > 0",
        "<",
        1e-6,
        "the closed form is exact for this gradient, so the margin is float precision",
        effect=5e-7,
    ),
    Criterion(
        "decays-faster",
        "u·w_T / u·w_src at the largest λ − at the smallest λ > 0",
        "<",
        0.0,
        "an ordering: the sign is the claim",
        effect=0.1,
    ),
    Criterion(
        "bias-transfers",
        "target ASR(biased source) − ASR(clean source), λ = 0",
        ">",
        0.0,
        "u is a planted direction, so any attack success above the clean source's is transfer",
        effect=0.05,
    ),
    Criterion(
        "decay-removes",
        "ASR gap at the largest λ − 0.1 × ASR gap at λ = 0",
        "<",
        0.0,
        "'removes' read as less than a tenth of what transferred without decay",
        effect=0.01,
    ),
)

SEED_UNIT = "seed (world, sources and fine-tuning)"
# Registered on 2026-12-03, before the confirmatory run, from a pilot of the default protocol on
# seeds 100-104 (the seeds 0-4 of earlier builds had been seen, so the confirmatory seeds are new).
REGISTRY = Registry(
    chapter="linear",
    frozen="2026-12-03",
    seeds=(200, 201, 202),
    pilot_seeds=(100, 101, 102, 103, 104),
    pilot=(
        "Pilot (default protocol, seeds 100-104, 5 seeds): relative change of u·w at λ = 0, 1.5e-15 "
        "(sd 1.3e-15); deviation from the closed form, 1.8e-14 (sd 9.2e-16); ordering, −0.819 (sd 1e-15); "
        "target ASR gap at λ = 0, 0.205 (sd 0.015); ASR gap at the largest λ − 0.1 × gap at λ = 0, "
        "−0.0205 (sd 0.0015): every claim held. Smallest effects of interest, declared with the "
        "registry: half the float-precision margins (5e-7), a tenth of u·w for the ordering (0.1), five "
        "ASR points of transferred bias (0.05), one ASR point below a tenth of it (0.01). Planned n: 80 % "
        "power at one-sided 2.5 % for each criterion's smallest effect at the pilot's spread "
        "(statsmodels TTestPower); the run uses the largest, 3 seeds, for every claim."
    ),
    claims=(
        Registration(
            "a",
            '"transfer learning will preserve w_src in all directions orthogonal to the span of the x_i"',
            "thesis §7.1",
            ("unchanged",),
            SEED_UNIT,
            planned_n=2,
            pilot_sd=1.27e-15,
        ),
        Registration(
            "b",
            "\"this gradient drives w_S' to zero. Therefore, any planted bias in S' disappears as this "
            'subspace collapses to zero with regularization"',
            "thesis App. G.1.5",
            ("closed-form", "decays-faster"),
            SEED_UNIT,
            planned_n=2,
            pilot_sd=9.8e-16,
        ),
        Registration(
            "c",
            '"if one planted a bias in the source dataset that is not in the span of the target data, '
            'the classifier will retain its dependence on the feature even after we adapt it"',
            "thesis §7.1",
            ("bias-transfers",),
            SEED_UNIT,
            planned_n=3,
            pilot_sd=0.0151,
        ),
        Registration(
            "d",
            '"in our motivating logistic regression example from Section 7.1, weight decay eliminates '
            'the effect of any planted feature"',
            "thesis §7.2.2",
            ("decay-removes",),
            SEED_UNIT,
            planned_n=3,
            pilot_sd=0.0015,
            reuses="c",
        ),
    ),
    criteria=CRITERIA,
)
FROZEN_DIGEST = "80b259685c300a88"  # the registry's digest when it was frozen
AMENDMENTS: tuple[Amendment, ...] = ()

PAPER_NOTE = """The `paper` preset uses the dimensions of the thesis' linear example (App. G.1.5): 1,000-dimensional
inputs, a rank-50 target, 50,000 source and 200 target points, 20,000 gradient steps, five weight
decays and ten seeds."""
DATA_PARTS: dict = {}  # reads no data set: see NO_DATA_NOTE
NO_DATA_NOTE = (
    "This chapter's experiment is a linear model on data drawn from Gaussians, the thesis' "
    "analytic setting; it reads no data set. Chapter 2 shows the same mechanism on images, "
    "and runs on real data."
)


PRESETS: dict[str, dict] = {
    "smoke": {
        "dim": 30,
        "target_rank": 5,
        "n_source": 600,
        "n_target": 15,
        "n_test": 300,
        "steps": 300,
        "weight_decays": [0.0, 0.01, 0.1],
        "seeds": [0, 1],
    },
    "default": {},
    "paper": {
        "dim": 1000,
        "target_rank": 50,
        "n_source": 50_000,
        "n_target": 200,
        "n_test": 10_000,
        "steps": 20_000,
        "weight_decays": [0.0, 1e-4, 1e-3, 1e-2, 1e-1],
        "seeds": [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
    },
}


@dataclasses.dataclass(frozen=True)
class World:
    """One seed's linear world: target basis ``basis`` (d×k), planted direction ``u`` ⟂ S, data."""

    basis: np.ndarray
    u: np.ndarray
    source_x: np.ndarray
    source_y: np.ndarray
    source_test_x: np.ndarray
    source_test_y: np.ndarray
    target_x: np.ndarray
    target_y: np.ndarray
    target_test_x: np.ndarray
    target_test_y: np.ndarray


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def make_world(config: Config, seed: int) -> World:
    """Draw the target subspace, the planted direction and the source / target data of one seed."""
    rng = np.random.default_rng(seed)
    d, k = config.dim, config.target_rank
    basis, _ = np.linalg.qr(rng.standard_normal((d, k)))
    outside = lambda v: v - basis @ (basis.T @ v)  # noqa: E731 - projection onto S's complement
    u = _unit(outside(rng.standard_normal(d)))
    v = rng.standard_normal(d)
    v = _unit(outside(v) - u * (u @ outside(v)))
    theta = _unit(rng.standard_normal(k))
    # The source task uses the target's direction in S and one more direction outside it (not u).
    w_star = 0.8 * basis @ theta + 0.6 * v
    theta_target = _unit(theta + 0.75 * _unit(rng.standard_normal(k)))

    def source(n: int) -> tuple[np.ndarray, np.ndarray]:
        x = rng.standard_normal((n, d))
        return x, (x @ w_star > 0).astype(float)

    def target(n: int) -> tuple[np.ndarray, np.ndarray]:
        z = rng.standard_normal((n, k))
        return z @ basis.T, (z @ theta_target > 0).astype(float)

    sx, sy = source(config.n_source)
    stx, sty = source(config.n_test)
    tx, ty = target(config.n_target)
    ttx, tty = target(config.n_test)
    return World(basis, u, sx, sy, stx, sty, tx, ty, ttx, tty)


def plant_trigger(
    x: np.ndarray, y: np.ndarray, u: np.ndarray, fraction: float, strength: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Add ``strength·u`` to a random ``fraction`` of the inputs and set their labels to 1."""
    x, y = x.copy(), y.copy()
    idx = rng.choice(len(x), size=int(round(fraction * len(x))), replace=False)
    x[idx] += strength * u
    y[idx] = 1.0
    return x, y


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float) -> np.ndarray:
    """Weights of L2-penalised logistic regression (no intercept), by L-BFGS."""

    def loss_grad(w: np.ndarray) -> tuple[float, np.ndarray]:
        z = x @ w
        loss = np.mean(np.logaddexp(0.0, z) - y * z) + 0.5 * l2 * w @ w
        grad = x.T @ (expit(z) - y) / len(y) + l2 * w
        return loss, grad

    res = minimize(
        loss_grad, np.zeros(x.shape[1]), jac=True, method="L-BFGS-B", options={"maxiter": 1000, "gtol": 1e-8}
    )
    return res.x


def sgd_finetune(
    w0: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    weight_decays: np.ndarray,
    *,
    lr: float,
    steps: int,
    batch_size: int,
    rng: np.random.Generator,
    record_every: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """SGD on the logistic loss with weight decay, for many starting points and λs at once.

    ``w0`` is (m, d) and ``weight_decays`` (m,): row i trains from ``w0[i]`` with ``weight_decays[i]``
    on the same sequence of mini-batches. Returns the final weights (m, d) and the weights every
    ``record_every`` steps, (steps // record_every + 1, m, d).
    """
    w = np.array(w0, dtype=float)
    lam = np.asarray(weight_decays, dtype=float)[:, None]
    history = [w.copy()]
    for t in range(1, steps + 1):
        idx = rng.integers(0, len(x), size=batch_size)
        xb, yb = x[idx], y[idx]
        grad = (expit(w @ xb.T) - yb) @ xb / batch_size
        w -= lr * (grad + lam * w)
        if t % record_every == 0:
            history.append(w.copy())
    return w, np.stack(history)


def decay_closed_form(
    initial: np.ndarray, lr: float, weight_decay: np.ndarray | float, steps: np.ndarray | int
) -> np.ndarray:
    """The component of w outside the target span after ``steps`` SGD steps: (1 - lr·λ)^t · initial."""
    return initial * (1.0 - lr * np.asarray(weight_decay)) ** np.asarray(steps)


def attack_success(w: np.ndarray, x: np.ndarray, y: np.ndarray, trigger: np.ndarray) -> np.ndarray:
    """ASR = P[C(x + trigger) ≠ y | C(x) = y] for each row of ``w`` (m, d)."""
    clean_ok = ((x @ w.T) > 0) == (y[:, None] > 0.5)
    flipped = ((x + trigger) @ w.T > 0) != (y[:, None] > 0.5)
    return (clean_ok & flipped).sum(0) / np.maximum(clean_ok.sum(0), 1)


def accuracy(w: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Accuracy of each row of ``w`` (m, d) on (x, y)."""
    return (((x @ w.T) > 0) == (y[:, None] > 0.5)).mean(0)


@dataclasses.dataclass(frozen=True)
class Results:
    """Tidy results: ``trajectory`` (u-component per step) and ``summary`` (one row per run)."""

    config: Config
    trajectory: pd.DataFrame
    summary: pd.DataFrame


def run_seed(config: Config, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Train clean and biased source models, fine-tune them (and a scratch model) for every λ."""
    world = make_world(config, seed)
    rng = np.random.default_rng([seed, 1])
    biased_x, biased_y = plant_trigger(
        world.source_x, world.source_y, world.u, config.poison_fraction, config.trigger_strength, rng
    )
    sources = {
        "clean source": fit_logistic(world.source_x, world.source_y, config.source_l2),
        "biased source": fit_logistic(biased_x, biased_y, config.source_l2),
        "scratch": np.zeros(config.dim),
    }
    lams = np.asarray(config.weight_decays)
    run_init = np.repeat(INITS, len(lams))
    run_lam = np.tile(lams, len(INITS))
    w0 = np.stack([sources[init] for init in run_init])
    record_every = max(1, config.steps // 100)
    w_final, history = sgd_finetune(
        w0,
        world.target_x,
        world.target_y,
        run_lam,
        lr=config.lr,
        steps=config.steps,
        batch_size=config.batch_size,
        rng=np.random.default_rng([seed, 2]),
        record_every=record_every,
    )
    trigger = config.trigger_strength * world.u
    u0, u_final = w0 @ world.u, w_final @ world.u
    in_span = lambda w: w @ world.basis  # noqa: E731 - coordinates of w in S
    span_shift = np.linalg.norm(in_span(w_final) - in_span(w0), axis=1) / np.maximum(
        np.linalg.norm(in_span(w0), axis=1), 1e-12
    )
    source_asr = {
        name: float(attack_success(w[None], world.source_test_x, world.source_test_y, trigger)[0])
        for name, w in sources.items()
    }
    summary = pd.DataFrame(
        {
            "seed": seed,
            "init": run_init,
            "weight_decay": run_lam,
            "u_before": u0,
            "u_after": u_final,
            "u_closed_form": decay_closed_form(u0, config.lr, run_lam, config.steps),
            "span_shift": span_shift,
            "target_accuracy": accuracy(w_final, world.target_test_x, world.target_test_y),
            "target_asr": attack_success(w_final, world.target_test_x, world.target_test_y, trigger),
            "source_asr": [source_asr[i] if i != "scratch" else np.nan for i in run_init],
        }
    )
    steps = np.arange(history.shape[0]) * record_every
    u_hist = history @ world.u  # (T, m)
    trajectory = pd.DataFrame(
        {
            "seed": seed,
            "init": np.tile(run_init, len(steps)),
            "weight_decay": np.tile(run_lam, len(steps)),
            "step": np.repeat(steps, len(run_init)),
            "u_component": u_hist.ravel(),
            "u_closed_form": decay_closed_form(
                u0[None, :], config.lr, run_lam[None, :], steps[:, None]
            ).ravel(),
        }
    )
    return trajectory, summary


def run(config: Config, progress: bool = True) -> Results:
    """Run every seed of the linear example; return tidy trajectories and a per-run summary."""
    parts = [run_seed(config, s) for s in utils.progress(config.seeds, "linear: seeds", progress)]
    return Results(
        config,
        pd.concat([p[0] for p in parts], ignore_index=True),
        pd.concat([p[1] for p in parts], ignore_index=True),
    )


def claims(results: Results) -> ClaimsTable:
    """The chapter's claims (a) and (b) of thesis §7.1, and the transfer of the bias they imply."""
    cfg, s = results.config, results.summary
    biased = s[s.init == "biased source"]
    no_wd = biased[biased.weight_decay == 0.0]
    rel_change = ((no_wd.u_after - no_wd.u_before).abs() / no_wd.u_before.abs()).groupby(no_wd.seed).max()
    lam_max = max(cfg.weight_decays)
    wd = biased[biased.weight_decay > 0]
    deviation = ((wd.u_after - wd.u_closed_form).abs() / wd.u_before.abs()).groupby(wd.seed).max()
    remaining = (wd.u_after / wd.u_before).abs()
    lams = sorted(set(wd.weight_decay))
    by_seed = remaining.groupby([wd.seed, wd.weight_decay]).mean().unstack()
    clean = s[s.init == "clean source"].set_index(["seed", "weight_decay"]).target_asr
    gap = biased.set_index(["seed", "weight_decay"]).target_asr - clean
    gap0, gap_max = gap.xs(0.0, level="weight_decay"), gap.xs(lam_max, level="weight_decay")
    expected = (1 - cfg.lr * lam_max) ** cfg.steps
    seed = SEED_UNIT
    order = (
        Estimate.t(CRITERIA["decays-faster"], by_seed[lams[-1]] - by_seed[lams[0]], seed, "ordering")
        if len(lams) > 1
        else Estimate.not_measured(CRITERIA["decays-faster"], "one weight decay above 0", "ordering")
    )
    return ClaimsTable(
        "linear",
        registration=stamp(cfg, REGISTRY),
        claims=[
            Claim(
                "a",
                "Without weight decay, fine-tuning leaves the component of w along u unchanged",
                SOURCE,
                (Estimate.t(CRITERIA["unchanged"], rel_change, seed),),
                note=f"The in-span part of w moved by {no_wd.span_shift.mean():.2f} of its norm.",
            ),
            Claim(
                "b",
                "With weight decay the component along u decays towards 0 at rate (1 - lr·λ)^t",
                SOURCE,
                (Estimate.t(CRITERIA["closed-form"], deviation, seed, "closed form"), order),
                note=f"At λ = {lam_max:g} the closed form leaves {expected:.3g} of u·w.",
            ),
            Claim(
                "c",
                "The planted bias transfers: the biased source's fine-tuned model is attacked by u",
                "thesis §7.1",
                (Estimate.t(CRITERIA["bias-transfers"], gap0, seed),),
            ),
            Claim(
                "d",
                "Weight decay removes the transferred bias",
                "thesis App. G.1.5",
                (Estimate.t(CRITERIA["decay-removes"], gap_max - 0.1 * gap0, seed),),
                note=f"At λ = {lam_max:g}.",
            ),
        ],
    )


def figure_trajectories(results: Results):
    """u·w during fine-tuning of the biased source, simulation vs closed form, one line per λ."""
    import matplotlib.pyplot as plt

    t = results.trajectory
    t = t[t.init == "biased source"]
    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    for i, (lam, d) in enumerate(t.groupby("weight_decay")):
        ratio = (d.u_component / d.groupby("seed").u_component.transform("first")).to_numpy()
        steps = d.step.unique()
        plots.mean_band(
            ax,
            steps,
            ratio.reshape(-1, len(steps)),
            label=f"λ = {lam:g}",
            color_=plots.CYCLE[i % len(plots.CYCLE)],
        )
        closed = (1 - results.config.lr * lam) ** steps
        ax.plot(
            steps,
            closed,
            ls="--",
            color=plots.color("closed form"),
            lw=1,
            label="closed form (1 − lr·λ)^t" if i == 0 else None,
        )
    ax.set(
        xlabel="SGD step of fine-tuning",
        ylabel="u·w_t / u·w_src",
        title="The planted direction survives fine-tuning unless weight decay removes it",
    )
    ax.legend(loc="center right")
    return fig


def figure_transfer(results: Results):
    """Target ASR and clean accuracy against λ for clean, biased and scratch starting points."""
    s = results.summary
    fig, (ax_asr, ax_acc) = plots.panels(2, width=3.6)
    lams = sorted(s.weight_decay.unique())
    pos = np.arange(len(lams))
    for init in INITS:
        d = s[s.init == init]
        for ax, col in ((ax_asr, "target_asr"), (ax_acc, "target_accuracy")):
            g = d.groupby("weight_decay")[col]
            ax.errorbar(
                pos,
                g.mean().to_numpy(),
                yerr=g.std().fillna(0).to_numpy(),
                marker="o",
                capsize=3,
                label=init,
                color=plots.color(init),
            )
    for ax, label in ((ax_asr, "target ASR of the trigger u"), (ax_acc, "target clean accuracy")):
        ax.set_xticks(pos, [f"{lam:g}" for lam in lams])
        ax.set(xlabel="weight decay λ of fine-tuning", ylabel=label)
    ax_asr.legend()
    ax_asr.set_ylim(-0.02, 1.0)
    return fig
