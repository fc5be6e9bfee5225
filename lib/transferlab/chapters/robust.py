"""Chapter "Robust sources" (thesis ch. 2, §2.1–2.4, App. B): do adversarially robust source models
transfer better?

Source models are trained with adversarial training (thesis Eq. 2.1: each batch replaced by its
PGD examples within an L2 or L∞ ball of radius ε) at several ε, 0 being standard training, and
transferred to every target, fixed-feature and full-network. The fair comparison of the thesis'
footnote: the best ε per target and mode is chosen on selection seeds, and only that ε is compared
with the standard source on separate evaluation seeds, each seed training its own sources. Beside
it, §2.4's analyses: source accuracy against transfer accuracy across ε and across architectures
of several widths at one fixed ε (Fig. 2.5, Table 2.2, Fig. 2.6), and the best ε per target
(§2.4.3).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.nn import functional as F

from ..params import ParameterError, distinct, param
from ..run import Job, SourceJob, TransferJob, load_model, made, run_jobs
from ..train import NORMS, Adversary, accuracy, predict, robust_accuracy
from ..world import TARGETS, DataRef, TensorData, data_function
from . import plots
from .base import ARCHS, TINY_WORLD, WorldParams, world_ref
from .claims import Claim, ClaimsTable, Criterion, Estimate, criteria
from .contract import data_parts

SOURCE = "thesis ch. 2"
MODES = ("fixed", "full")
MODE_NAMES = {"fixed": "fixed-feature", "full": "full-network"}
THESIS_PIXELS = 224  # the side of the thesis' ImageNet images, to which its L2 radii refer


@dataclasses.dataclass(frozen=True)
class Config(WorldParams):
    """Parameters of the chapter (the world and source parameters come first)."""

    image_size: int = param(
        16, "side of every image in pixels (real images are resized to it)", low=12, high=256
    )
    arch: str = param("cresnet-xs", "architecture of the source models", choices=ARCHS)
    source_epochs: int = param(
        8, "epochs of source training (triangular LR, peak at epoch 2)", low=1, high=1000
    )
    source_per_class: int = param(
        60, "source training images per class (on real data: at most this many)", low=5, high=100_000
    )
    target_per_class: int = param(60, "target training (and test) images per class", low=5, high=100_000)
    norm: str = param("l2", "the adversary's ball: 'l2' or 'linf' (thesis: both)", choices=NORMS)
    epsilons: tuple[float, ...] = param(
        (0.0, 0.1, 0.5, 3.0),
        "radii of the adversarial training in the thesis' units (0 is standard training): L2 as on "
        "224-pixel images in [0, 1], scaled here to `image_size` (×16/224 at 16 px: the distance "
        "between two images grows with the square root of their pixel count); L∞ per pixel, "
        "unscaled (8/255 ≈ 0.031). The thesis' L2 grid: 0.01, 0.03, 0.05, 0.1, 0.25, 0.5, 1, 3, 5",
        low=0.0,
        high=64.0,
    )
    attack_steps: int = param(
        1,
        "PGD steps of adversarial training (1: FGSM with a random start, the cheap variant)",
        low=1,
        high=20,
    )
    test_steps: int = param(10, "PGD steps of the attack that measures the sources' robust accuracy", low=1)
    targets: tuple[str, ...] = param(TARGETS, "target tasks", choices=TARGETS)
    archs: tuple[str, ...] = param(
        ("cresnet-xs", "cresnet-s"),
        "architectures of several widths, compared at `width_eps` and at 0 (the first is `arch`)",
        choices=ARCHS,
    )
    width_eps: float = param(
        3.0, "the fixed ε of the comparison across architectures (Table 2.2's ε = 3)", low=0.0, high=64.0
    )
    selection_seeds: tuple[int, ...] = param(
        (10, 11), "seeds whose sources choose the best ε per target and mode (never compared)", low=0
    )
    seeds: tuple[int, ...] = param(
        (0, 1, 2, 3, 4, 5, 6, 7, 8),
        "evaluation seeds: each trains its own standard and robust sources",
        low=0,
    )
    texture: bool = param(
        True,
        "Fig. 2.8: also train, on each evaluation seed, a texture-invariant source (standard training on "
        "the source task with every image's fine detail and colours taken from others) and transfer it "
        "fixed-feature",
    )
    granularities: tuple[float, ...] = param(
        (0.5,),
        "Fig. 2.7: factors by which each target is down-scaled (then up-scaled back), its fixed-feature "
        "transfer from every ε on the selection seeds (below 1; empty: none)",
        low=0.1,
        high=0.99,
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("epsilons", "targets", "archs", "selection_seeds", "seeds", "granularities"):
            distinct(name, getattr(self, name))
        if 0.0 not in self.epsilons or len(self.epsilons) < 2:
            raise ParameterError(
                f"'epsilons' needs 0 (the standard source) and at least one radius above it, got {self.epsilons}"
            )
        if self.width_eps <= 0:
            raise ParameterError("'width_eps' must be above 0 (it is compared with ε = 0)")
        if self.archs[0] != self.arch:
            raise ParameterError(
                f"parameter 'archs' must start with 'arch' ({self.arch!r}), got {self.archs}"
            )
        if set(self.selection_seeds) & set(self.seeds):
            raise ParameterError(
                "'selection_seeds' and 'seeds' must be disjoint (the thesis' fair selection)"
            )

    def radius(self, eps: float) -> float:
        """The radius here, on images of ``image_size`` pixels, of the thesis' ``eps`` (L2 on 224-pixel
        images; L∞ is per pixel and needs no scaling)."""
        return eps * self.image_size / THESIS_PIXELS if self.norm == "l2" else eps

    def adversary(self, eps: float, steps: int | None = None) -> Adversary | None:
        """The adversary of the thesis' radius ``eps`` with ``steps`` steps (default: the training
        attack's); None for ε = 0, standard training."""
        return None if eps == 0 else Adversary(self.norm, self.radius(eps), steps or self.attack_steps)


PROTOCOL = """**Setup** (thesis ch. 2, §2.2–2.4, App. B.1). Source models of `arch` are trained on the source
task with adversarial training at each radius of `epsilons` (thesis Eq. 2.1: every batch replaced
by its PGD examples in the `norm` ball of radius ε, `attack_steps` steps from a random start; ε = 0
is standard training) and transferred to each target (`targets`), fixed-feature and full-network.
**Radii** are given in the thesis' units, a subset of its L2 grid (App. B.1: 0.01 … 5): an L2
distance between two images grows with the square root of their pixel count, so the thesis'
ε on 224-pixel images is ε × `image_size` / 224 here (ε = 3: 0.21 at 16 px).
**Fair selection** (the thesis' footnote): sources of the `selection_seeds` choose, per target and
mode, the ε > 0 with the best transfer accuracy; only that ε is then compared with the standard
source on the evaluation `seeds`, each seed training its own standard and robust sources and
transferring them with the same seed. **Widths**: the architectures `archs` (compact ResNets of
several widths) are trained at ε = 0 and ε = `width_eps` on every evaluation seed and transferred
fixed-feature. **Texture** (Fig. 2.8b, `texture`): on every evaluation seed a standard source is
also trained on a texture-randomised copy of the source task and transferred fixed-feature.
Every source's clean accuracy and its accuracy under a PGD attack (`test_steps`
steps, at each radius of the grid) on the source test set are reported. **Granularity** (Fig. 2.7):
the selection seeds' sources of every ε are also transferred fixed-feature to each target
down-scaled by each factor of `granularities` and up-scaled back (a coarser version of the same
task); the best ε per target and granularity is a finding of the selection seeds, not a claim.

**Deviations** (scale, named): a 16-pixel world with 60 images per source class and compact
ResNets instead of ImageNet and ResNet-50; one FGSM step with a random start (`attack_steps` 1)
instead of the thesis' three PGD steps in training, its robustness measured by a 10-step PGD
attack; four radii of the thesis' ten (0, 0.1, 0.5, 3: the `paper` preset takes all ten); three
targets instead of twelve; claim (e) read on two radii of the evaluation seeds rather than on the
best ε of every data set; for Fig. 2.8's Stylized ImageNet, a source task whose images keep their
coarse layout and take their fine detail and colours from other images (no style-transfer
network), fixed-feature only.

**Measured.** Target test accuracy of every transfer; source accuracy, clean and robust.

**Claims** (per evaluation seed, a robust source and the standard source of the same seed):
- (a) Fixed-feature: the robust source (its ε chosen per target on the selection seeds) transfers
  better than the standard one, on average over the targets (Fig. 2.2, Table 2.1).
- (b) Full-network: the same (Fig. 2.3).
- (c) Source accuracy is not what decides: the robust source (`width_eps`) is less accurate on the
  source task, and at that fixed ε the wider architecture, more accurate, transfers better
  (Fig. 2.5, Table 2.2).
- (d) The robust gain grows with width: the fixed-feature gain (`width_eps` vs 0) of the widest
  architecture exceeds that of `arch` (Fig. 2.6).
- (e) The best ε differs between targets: a large ε (`width_eps`) helps the coarse target
  (objects: shapes in any look) more than the fine-grained one (flowers), in fixed-feature
  transfer, per evaluation seed (§2.4.3, Fig. 2.7: where the larger ε helps more, the best ε is
  larger).
- (f) Fixed-feature, the robust source (its chosen ε) transfers better than the texture-invariant
  source of the same seed, on average over the targets (§2.4.4, Fig. 2.8b)."""

CRITERIA = criteria(
    Criterion(
        "transfers-better",
        "transfer accuracy, robust − standard source (mean over targets)",
        ">",
        0.0,
        "the thesis' claim is an ordering ('match or improve'); the interval guards against noise",
    ),
    Criterion("less-accurate", "source accuracy, robust − standard", "<", 0.0),
    Criterion(
        "wider-transfers-better",
        "fixed-feature transfer accuracy, widest − first architecture, at width_eps",
        ">",
        0.0,
    ),
    Criterion(
        "gain-grows",
        "robust gain (width_eps − 0), widest − first architecture",
        ">",
        0.0,
        "the thesis' trend is a sign ('continues to steadily grow'), read on two widths",
    ),
    Criterion(
        "robust-beats-texture",
        "fixed-feature transfer accuracy, robust (chosen ε) − texture-invariant source (mean over targets)",
        ">",
        0.0,
        "the thesis finds it on every data set (Fig. 2.8b); an ordering, the interval guards against noise",
    ),
    Criterion(
        "coarser-gains-more",
        "fixed-feature robust gain (width_eps − 0), objects − flowers",
        ">",
        0.0,
        "a large ε helps the coarse target more than the fine-grained one: where the best ε is larger",
    ),
)

PAPER_NOTE = """The thesis' setting (App. B.1): ResNet-18 / ResNet-50 and wider ResNets on ImageNet at 224 px,
L2 radii 0 … 5 and L∞ radii 0 … 8/255 with multi-step PGD, ten transfer trials. Meant for real
data on a GPU (`-p data_dir`); without it the synthetic world is drawn at 32 px with a larger
source."""
DATA_PARTS = data_parts(  # the parts of a real-data folder (RealWorld) the chapter reads, and their role
    source="the source task of the standard and robust sources",
    objects="a target (coarse: the thesis' CIFAR-10 role)",
    flowers="a target (fine-grained)",
    pets="a target",
)

PRESETS: dict[str, dict] = {
    "smoke": {
        **TINY_WORLD,
        "full_epochs": 2,
        "epsilons": [0.0, 3.0],
        "test_steps": 2,
        "targets": ["objects", "flowers"],
        "selection_seeds": [10],
        "seeds": [0, 1],
    },
    "default": {},
    "paper": {
        "image_size": 32,
        "source_per_class": 500,
        "target_per_class": 200,
        "arch": "cresnet-s",
        "archs": ["cresnet-s", "cresnet-m", "cresnet-l"],
        "source_epochs": 16,
        "epsilons": [0.0, 0.01, 0.03, 0.05, 0.1, 0.25, 0.5, 1.0, 3.0, 5.0],
        "attack_steps": 3,
        "selection_seeds": [10, 11, 12],
        "seeds": [0, 1, 2, 3, 4],
    },
}


# ---------------------------------------------------------------------------------------------
# jobs


def source_job(config: Config, arch: str, eps: float, seed: int) -> SourceJob:
    """The source of ``arch`` trained at radius ``eps`` (0: standard) with ``seed``."""
    base = config.source_job(seed)
    return dataclasses.replace(base, arch=arch, recipe=base.recipe.replace(adversary=config.adversary(eps)))


@dataclasses.dataclass(frozen=True)
class RobustnessJob(Job):
    """A source's accuracy under a PGD attack by ``adversary`` on the first ``limit`` images of
    ``data`` (from a seeded random start): measured once, by the engine's workers, and kept in the
    store (one entry per source and radius)."""

    source: SourceJob
    data: DataRef
    adversary: Adversary
    limit: int = 600  # the attack's cost is per image

    def spec(self) -> dict[str, Any]:
        return {
            "job": "robust-accuracy",
            "source": self.source.spec(),
            "data": self.data.spec(),
            "adversary": dataclasses.asdict(self.adversary),
            "limit": self.limit,
            "attack_seed": 0,
        }

    def requires(self) -> tuple[Job, ...]:
        return (self.source,)

    def make(self, store, speed) -> dict[str, Any]:
        model = load_model(made(self.source, store, speed))
        test = self.data.load()
        test = test.subset(np.arange(min(len(test), self.limit)))
        return {"info": {"robust_accuracy": robust_accuracy(model, test, self.adversary, speed=speed)}}


def attacked_radii(config: Config, stage: str) -> tuple[float, ...]:
    """The radii at which a stage's sources are attacked: every ε > 0 of the grid on the selection
    seeds (each source's robustness curve), ``width_eps`` alone on the evaluation seeds (the radius
    the claims and the summary read; a third of the attacks)."""
    return tuple(e for e in config.epsilons if e > 0) if stage == "selection" else (config.width_eps,)


def robustness_jobs(
    config: Config, source: SourceJob, radii: tuple[float, ...]
) -> dict[float, RobustnessJob]:
    """The robust accuracy of ``source`` at each radius of ``radii`` (``test_steps`` steps), by ε."""
    test = world_ref(config.world(cache=None), "source", "test")
    return {eps: RobustnessJob(source, test, config.adversary(eps, config.test_steps)) for eps in radii}


def transfer_job(config: Config, source: SourceJob, target: str, mode: str) -> TransferJob:
    """``source`` transferred to ``target`` in ``mode`` with the source's own seed (paired)."""
    return config.transfer_job(source, target, mode, source.seed)


def selection_jobs(config: Config) -> dict[tuple, TransferJob]:
    """The selection stage: every ε of the grid, every target and mode, on the selection seeds."""
    return {
        (eps, seed, target, mode): transfer_job(
            config, source_job(config, config.arch, eps, seed), target, mode
        )
        for eps in config.epsilons
        for seed in config.selection_seeds
        for target in config.targets
        for mode in MODES
    }


def _coarse(x: torch.Tensor, factor: float) -> torch.Tensor:
    """Float images ``x`` down-scaled by ``factor`` (area averaging) and up-scaled back (bilinear)."""
    size = x.shape[-1]
    small = F.interpolate(x, size=max(1, round(size * factor)), mode="area")
    return F.interpolate(small, size=size, mode="bilinear", align_corners=False)


@data_function("robust.rescaled")
def rescaled(base: DataRef, factor: float) -> TensorData:
    """The images of ``base`` down-scaled by ``factor`` (area averaging) and up-scaled back to their
    size (bilinear): the same task at a coarser granularity (thesis Fig. 2.7's down-then-up-scaled
    CIFAR-10). Labels and metadata are kept."""
    data = base.load()
    return data.replace(x=_coarse(data.x.float(), factor).round().clamp(0, 255).to(torch.uint8))


@data_function("robust.stylized")
def stylized(base: DataRef, seed: int) -> TensorData:
    """The images of ``base`` with their texture and colours taken from others (thesis §2.4.4's
    Stylized ImageNet, in the small): each keeps its coarse layout (down-scaled by half and up again)
    and takes the fine detail of one random image of the set and the per-channel colour statistics
    of another. Labels are kept: a model trained on it can rely on shape only."""
    data = base.load()
    x = data.x.float()
    g = torch.Generator().manual_seed(seed)
    texture, colour = torch.randperm(len(x), generator=g), torch.randperm(len(x), generator=g)
    coarse = _coarse(x, 0.5)
    styled = coarse + (x - coarse)[texture]
    mean, std = styled.mean((2, 3), keepdim=True), styled.std((2, 3), keepdim=True).clamp_min(1.0)
    x_mean, x_std = x.mean((2, 3), keepdim=True), x.std((2, 3), keepdim=True)
    out = (styled - mean) / std * x_std[colour] + x_mean[colour]
    return data.replace(x=out.round().clamp(0, 255).to(torch.uint8))


def rescaled_ref(config: Config, target: str, factor: float, split: str = "train") -> DataRef:
    """A job's reference to target ``target`` down-then-up-scaled by ``factor``."""
    return DataRef.of(
        "robust.rescaled", base=world_ref(config.world(cache=None), target, split), factor=factor
    )


def granularity_jobs(config: Config) -> dict[tuple, TransferJob]:
    """Fig. 2.7: every ε's source of the selection seeds, transferred fixed-feature to each target
    down-then-up-scaled by each factor of ``granularities`` (keys: eps, seed, target, factor)."""
    return {
        (eps, seed, target, factor): config.transfer_job(
            source_job(config, config.arch, eps, seed),
            target,
            "fixed",
            seed,
            data=rescaled_ref(config, target, factor),
        )
        for eps in config.epsilons
        for seed in config.selection_seeds
        for target in config.targets
        for factor in config.granularities
    }


def texture_source_job(config: Config, seed: int) -> SourceJob:
    """Fig. 2.8's texture-invariant source: ``arch`` trained as the standard source of ``seed`` but
    on the stylized source task (its test accuracy still on the source test set as drawn)."""
    base = config.source_job(seed)
    return dataclasses.replace(base, data=DataRef.of("robust.stylized", base=base.data, seed=seed))


def texture_jobs(config: Config) -> dict[tuple, TransferJob]:
    """The texture-invariant source of each evaluation seed, transferred fixed-feature to every
    target (keys: seed, target); none when ``texture`` is off."""
    if not config.texture:
        return {}
    return {
        (seed, target): transfer_job(config, texture_source_job(config, seed), target, "fixed")
        for seed in config.seeds
        for target in config.targets
    }


def choose(config: Config, selection: pd.DataFrame) -> dict[tuple[str, str], float]:
    """The best ε > 0 per (target, mode): the highest mean transfer accuracy over the selection seeds."""
    robust = selection[selection.eps > 0]
    means = robust.groupby(["target", "mode", "eps"]).accuracy.mean().reset_index()
    best = means.loc[means.groupby(["target", "mode"]).accuracy.idxmax()]
    return {(r.target, r.mode): float(r.eps) for r in best.itertuples()}


def evaluation_jobs(config: Config, chosen: dict[tuple[str, str], float]) -> dict[tuple, TransferJob]:
    """The evaluation stage on the evaluation seeds: per target and mode the standard source and
    the chosen ε; and every architecture at 0 and ``width_eps``, fixed-feature (keys: arch, eps,
    seed, target, mode)."""
    jobs = {}
    for seed in config.seeds:
        for (target, mode), eps in chosen.items():
            for e in (0.0, eps):
                jobs[(config.arch, e, seed, target, mode)] = transfer_job(
                    config, source_job(config, config.arch, e, seed), target, mode
                )
        for arch in config.archs:
            for e in (0.0, config.width_eps):
                for target in config.targets:
                    jobs[(arch, e, seed, target, "fixed")] = transfer_job(
                        config, source_job(config, arch, e, seed), target, "fixed"
                    )
    return jobs


# ---------------------------------------------------------------------------------------------
# run and measure


@dataclasses.dataclass(frozen=True)
class Results:
    """Tidy measurements of both stages."""

    config: Config
    selection: pd.DataFrame  # eps, seed, target, mode, accuracy (selection seeds, arch)
    chosen: pd.DataFrame  # target, mode, eps: the chosen radius of each
    transfers: pd.DataFrame  # arch, eps, seed, target, mode, accuracy (evaluation seeds)
    sources: pd.DataFrame  # arch, eps, seed, stage, accuracy, and robust accuracy at each radius (robust@ε)
    # eps, seed, target, factor, accuracy (fixed-feature, selection seeds; factor 1: as drawn)
    granularity: pd.DataFrame
    texture: pd.DataFrame  # seed, target, accuracy, source (the texture-invariant sources, fixed-feature)


def _source_rows(config: Config, sources: dict[tuple, SourceJob], entries: dict, stage: str) -> list[dict]:
    """Each source (keys: arch, eps, seed): its clean accuracy on the source test set and its robust
    accuracy at the stage's radii (:func:`attacked_radii`)."""
    rows = []
    for (arch, eps, seed), job in sources.items():
        row = {"arch": arch, "eps": eps, "seed": seed, "stage": stage}
        row["accuracy"] = entries[job].info["test_accuracy"]
        for r, measure in robustness_jobs(config, job, attacked_radii(config, stage)).items():
            row[f"robust@{r:g}"] = entries[measure].info["robust_accuracy"]
        rows.append(row)
    return rows


def _made(
    config: Config, transfers: list[TransferJob], sources: dict[tuple, SourceJob], stage: str, progress: bool
) -> dict:
    """Every transfer, every source and each source's robust accuracies at the ``stage``'s radii,
    made (or fetched): job → store entry."""
    radii = attacked_radii(config, stage)
    measures = [m for s in sources.values() for m in robustness_jobs(config, s, radii).values()]
    every = list(dict.fromkeys([*(j.source for j in transfers), *transfers, *measures]))
    return dict(zip(every, run_jobs(every, progress=progress)))


def _scores(
    config: Config, names: tuple[str, ...], jobs: dict, entries: dict, tests: dict | None = None
) -> pd.DataFrame:
    """A row per job: its key's fields (``names``) and its test accuracy, on ``tests[target]`` (by
    default each target's test set as drawn) or, for keys ending in a factor, ``tests[(target, factor)]``."""
    if tests is None:
        world = config.world()
        tests = {t: world.target(t, "test") for t in config.targets}
    rows = []
    for key, job in jobs.items():
        row = dict(zip(names, key))
        test = tests[(row["target"], row["factor"]) if "factor" in row else row["target"]]
        rows.append({**row, "accuracy": accuracy(predict(load_model(entries[job]), test), test.y)})
    return pd.DataFrame(rows)


def run(config: Config, progress: bool = True) -> Results:
    """Train (or fetch from the store) the selection stage (and the granularity transfers of its
    sources), choose ε, then the evaluation stage; every source's robust accuracy on the way."""
    select, coarse = selection_jobs(config), granularity_jobs(config)
    select_sources = {(config.arch, k[0], k[1]): j.source for k, j in select.items()}
    entries = _made(config, [*select.values(), *coarse.values()], select_sources, "selection", progress)
    selection = _scores(config, ("eps", "seed", "target", "mode"), select, entries)
    chosen = choose(config, selection)
    evaluate = evaluation_jobs(config, chosen)
    evaluate_sources = {k[:3]: j.source for k, j in evaluate.items()}
    texture = texture_jobs(config)
    entries.update(
        _made(config, [*evaluate.values(), *texture.values()], evaluate_sources, "evaluation", progress)
    )
    transfers = _scores(config, ("arch", "eps", "seed", "target", "mode"), evaluate, entries)
    textured = _scores(config, ("seed", "target"), texture, entries)
    if texture:
        textured["source"] = [entries[j.source].info["test_accuracy"] for j in texture.values()]
    rows = _source_rows(config, select_sources, entries, "selection")
    rows += _source_rows(config, evaluate_sources, entries, "evaluation")
    chosen_frame = pd.DataFrame([{"target": t, "mode": m, "eps": e} for (t, m), e in chosen.items()])
    return Results(
        config,
        selection,
        chosen_frame,
        transfers,
        pd.DataFrame(rows),
        _granularity(config, selection, coarse, entries),
        textured,
    )


def _granularity(config: Config, selection: pd.DataFrame, jobs: dict, entries: dict) -> pd.DataFrame:
    """Fixed-feature transfer accuracy of every ε at each granularity (``jobs``: :func:`granularity_jobs`),
    on the rescaled test sets; factor 1 is the selection stage's own (the targets as drawn)."""
    tests = {
        (t, f): rescaled_ref(config, t, f, "test").load()
        for t in config.targets
        for f in config.granularities
    }
    rescaled = _scores(config, ("eps", "seed", "target", "factor"), jobs, entries, tests)
    drawn = selection[selection["mode"] == "fixed"].drop(columns="mode").assign(factor=1.0)
    return pd.concat([drawn, rescaled.reindex(columns=drawn.columns)], ignore_index=True)


# ---------------------------------------------------------------------------------------------
# views of the results

REPLICATE = "evaluation seed (standard and robust sources and their transfers, paired)"


def gains(results: Results) -> pd.DataFrame:
    """Per evaluation seed, target and mode: the chosen-ε source's transfer accuracy minus the
    standard source's (``arch``)."""
    c, t = results.config, results.transfers
    rows = []
    for r in results.chosen.itertuples():
        d = (
            t[(t.arch == c.arch) & (t.target == r.target) & (t["mode"] == r.mode)]
            .set_index(["seed", "eps"])
            .accuracy
        )
        for seed in c.seeds:
            rows.append(
                {
                    "seed": seed,
                    "target": r.target,
                    "mode": r.mode,
                    "eps": r.eps,
                    "gain": d[(seed, r.eps)] - d[(seed, 0.0)],
                }
            )
    return pd.DataFrame(rows)


def _fixed_transfers(results: Results, arch: str) -> pd.Series:
    """The evaluation stage's fixed-feature transfer accuracies of ``arch``'s sources, by target, ε and seed."""
    t = results.transfers
    return (
        t[(t.arch == arch) & (t["mode"] == "fixed")]
        .set_index(["target", "eps", "seed"])
        .sort_index()
        .accuracy
    )


def texture_gains(results: Results) -> pd.DataFrame:
    """Per evaluation seed and target: fixed-feature transfer accuracy of the standard, the
    texture-invariant and the robust source (its chosen ε), and the robust one's gain over the
    texture-invariant one (empty when ``texture`` is off)."""
    if results.texture.empty:
        return pd.DataFrame()
    c = results.config
    fixed = _fixed_transfers(results, c.arch)
    texture = results.texture.set_index(["target", "seed"]).accuracy
    rows = []
    for r in results.chosen[results.chosen["mode"] == "fixed"].itertuples():
        for seed in c.seeds:
            robust, invariant = fixed[(r.target, r.eps, seed)], texture[(r.target, seed)]
            rows.append(
                {
                    "seed": seed,
                    "target": r.target,
                    "eps": r.eps,
                    "standard": fixed[(r.target, 0.0, seed)],
                    "texture-invariant": invariant,
                    "robust": robust,
                    "gain": robust - invariant,
                }
            )
    return pd.DataFrame(rows)


def texture_table(results: Results) -> pd.DataFrame:
    """Fig. 2.8 as a table: per target, the three sources' fixed-feature transfer accuracy (mean over
    the evaluation seeds) and the robust one's gain over the texture-invariant one, with its 95 %
    interval."""
    g = texture_gains(results)
    if g.empty:
        return pd.DataFrame()
    rows = [
        {
            "target": target,
            **d[["standard", "texture-invariant", "robust"]].mean(),
            "ε": eps,
            **_interval(d.gain, "robust-beats-texture"),
        }
        for (target, eps), d in g.groupby(["target", "eps"])
    ]
    return pd.DataFrame(rows).set_index("target").round(3)


def width_table(results: Results) -> pd.DataFrame:
    """Per architecture, ε (0 and ``width_eps``) and seed: source accuracy and fixed-feature transfer
    accuracy (mean over targets)."""
    c = results.config
    t = results.transfers
    fixed = t[(t["mode"] == "fixed") & t.eps.isin([0.0, c.width_eps]) & t.arch.isin(c.archs)]
    transfer = fixed.groupby(["arch", "eps", "seed"]).accuracy.mean().rename("transfer")
    src = results.sources[results.sources.stage == "evaluation"].drop_duplicates(["arch", "eps", "seed"])
    source = src.set_index(["arch", "eps", "seed"]).accuracy.rename("source")
    return pd.concat([source, transfer], axis=1, join="inner").reset_index()


def best_eps(results: Results) -> pd.DataFrame:
    """Per selection seed, target and mode: the ε > 0 with the best transfer accuracy on that seed."""
    s = results.selection[results.selection.eps > 0]
    return s.loc[s.groupby(["seed", "target", "mode"]).accuracy.idxmax(), ["seed", "target", "mode", "eps"]]


def granularity_table(results: Results) -> pd.DataFrame:
    """Fig. 2.7 as a table: per target and granularity factor, the fixed-feature transfer accuracy
    of every ε (mean over the selection seeds) and the best ε > 0."""
    g = results.granularity
    if g.empty:
        return pd.DataFrame()
    means = g.groupby(["target", "factor", "eps"]).accuracy.mean().unstack("eps")
    robust = means[[e for e in means.columns if e > 0]]
    return means.assign(**{"best ε": robust.idxmax(axis=1)}).round(3)


def source_table(results: Results) -> pd.DataFrame:
    """Every source's clean and robust accuracy (mean over its seeds), per stage, architecture and ε."""
    s = results.sources
    cols = [c for c in s.columns if c == "accuracy" or c.startswith("robust@")]
    return s.groupby(["stage", "arch", "eps"])[cols].mean().round(3)


def claims(results: Results) -> ClaimsTable:
    """Claims (a)–(e) of thesis ch. 2, measured in this run."""
    c = results.config
    g = gains(results)
    w = width_table(results).set_index(["arch", "eps", "seed"]).sort_index()
    wide, first = c.archs[-1], c.archs[0]

    def at(arch, eps, col):
        return w.loc[(arch, eps)][col] if (arch, eps) in w.index.droplevel("seed") else pd.Series(dtype=float)

    def per_seed(mode):
        return g[g["mode"] == mode].groupby("seed").gain.mean()

    table = gain_table(results)
    per_target = {
        mode: ", ".join(f"{t} {r.gain:+.3f} (ε {r.ε:g})" for t, r in table.loc[mode].iterrows())
        for mode in MODES
    }
    crit = CRITERIA
    estimates_c: tuple[Estimate, ...] = (
        Estimate.t(
            crit["less-accurate"],
            at(first, c.width_eps, "source") - at(first, 0.0, "source"),
            REPLICATE,
            f"{first}, ε {c.width_eps:g} vs 0",
        ),
    )
    if len(c.archs) > 1:
        estimates_c += (
            Estimate.t(
                crit["wider-transfers-better"],
                at(wide, c.width_eps, "transfer") - at(first, c.width_eps, "transfer"),
                REPLICATE,
                f"{wide} − {first}",
            ),
        )
        gain_d = Estimate.t(
            crit["gain-grows"],
            (at(wide, c.width_eps, "transfer") - at(wide, 0.0, "transfer"))
            - (at(first, c.width_eps, "transfer") - at(first, 0.0, "transfer")),
            REPLICATE,
            f"{wide} − {first}",
        )
    else:
        gain_d = Estimate.not_measured(crit["gain-grows"], "one architecture")
    best = best_eps(results)
    if {"objects", "flowers"} <= set(c.targets):
        fixed = _fixed_transfers(results, first)

        def robust_gain(target):
            return fixed.loc[(target, c.width_eps)] - fixed.loc[(target, 0.0)]

        e_est = Estimate.t(
            crit["coarser-gains-more"],
            robust_gain("objects") - robust_gain("flowers"),
            REPLICATE,
            f"fixed-feature, ε {c.width_eps:g}",
        )
    else:
        e_est = Estimate.not_measured(crit["coarser-gains-more"], "needs the objects and flowers targets")
    tg = texture_gains(results)
    f_est = (
        Estimate.t(crit["robust-beats-texture"], tg.groupby("seed").gain.mean(), REPLICATE, "fixed-feature")
        if not tg.empty
        else Estimate.not_measured(crit["robust-beats-texture"], "texture is off")
    )
    return ClaimsTable(
        "robust",
        [
            *(
                Claim(
                    key,
                    text,
                    f"{SOURCE}, {where}",
                    (Estimate.t(crit["transfers-better"], per_seed(mode), REPLICATE, MODE_NAMES[mode]),),
                    note="Per target (its chosen ε): " + per_target[mode] + ".",
                )
                for key, mode, text, where in (
                    (
                        "a",
                        "fixed",
                        "Fixed-feature: a robust source transfers better than a standard one (most targets)",
                        "§2.2, Fig. 2.2, Table 2.1",
                    ),
                    (
                        "b",
                        "full",
                        "Full-network: a robust source transfers at least as well and better on average",
                        "§2.3, Fig. 2.3",
                    ),
                )
            ),
            Claim(
                "c",
                "Source accuracy predicts transfer at a fixed ε (across architectures), not across ε: "
                "the robust source is less accurate yet transfers better",
                SOURCE + ", §2.4.1, Fig. 2.5, Table 2.2",
                estimates_c,
                note="Claim (a) says whether, across ε, the less accurate source is the better one to transfer.",
            ),
            Claim(
                "d",
                "The benefit of robustness grows with width",
                SOURCE + ", §2.4.2, Fig. 2.6",
                (gain_d,),
                note="Fixed-feature, mean over targets.",
            ),
            Claim(
                "e",
                "The best ε differs between targets: larger for coarse targets than for fine-grained ones",
                SOURCE + ", §2.4.3, Fig. 2.7",
                (e_est,),
                note="Read on the evaluation seeds' standard and ε = width_eps sources (a best ε of two "
                "selection seeds has no interval). Best ε per selection seed, fixed-feature: "
                + "; ".join(
                    f"{t} {', '.join(f'{v:g}' for v in grp.eps)}"
                    for t, grp in best[best["mode"] == "fixed"].groupby("target")
                )
                + ".",
            ),
            Claim(
                "f",
                "Adversarial robustness, not texture invariance: a robust source transfers better than a "
                "texture-invariant one",
                SOURCE + ", §2.4.4, Fig. 2.8b",
                (f_est,),
                note="Fixed-feature, the robust source at its chosen ε; per target in the texture table.",
            ),
        ],
    )


# ---------------------------------------------------------------------------------------------
# figures


def eps_label(config: Config) -> str:
    """The axis label of ε, in the thesis' units."""
    return "ε (L2, on 224-px images)" if config.norm == "l2" else "ε (L∞, per pixel)"


def _against_eps(results: Results, curves, ylabel: str):
    """One panel per target: transfer accuracy against ε (mean ± std over the selection seeds),
    one line per curve of ``curves(target)``, each (label, accuracies grouped by ε, colour or None,
    the ε to circle or None)."""
    c = results.config
    fig, axes = plots.panels(len(c.targets), width=3.0, height=2.7, sharey=False)
    for ax, target in zip(axes, c.targets):
        for label, accuracies, colour, circled in curves(target):
            line = plots.mean_line(ax, accuracies, label=label, **({"color": colour} if colour else {}))
            if circled is not None:
                mean = accuracies.mean().get(circled, np.nan)  # nan: not measured, nothing drawn
                ax.plot(circled, mean, "o", ms=12, mfc="none", color=line.lines[0].get_color())
        ax.set(title=target, xlabel=eps_label(c), ylabel=ylabel if target == c.targets[0] else None)
        # the grid is roughly geometric, and holds 0
        ax.set_xscale("symlog", linthresh=min(e for e in c.epsilons if e > 0))
    axes[0].legend(fontsize=7)
    return fig


def figure_selection(results: Results):
    """Transfer accuracy against ε on the selection seeds, one panel per target, both modes; the
    chosen ε circled."""
    s, chosen = results.selection, results.chosen

    def curves(target):
        for mode in MODES:
            e = chosen[(chosen.target == target) & (chosen["mode"] == mode)].eps
            accuracies = s[(s.target == target) & (s["mode"] == mode)].groupby("eps").accuracy
            yield (
                MODE_NAMES[mode],
                accuracies,
                plots.color(MODE_NAMES[mode]),
                float(e.iloc[0]) if len(e) else None,
            )

    return _against_eps(results, curves, "transfer accuracy")


def figure_granularity(results: Results):
    """Fig. 2.7: fixed-feature transfer accuracy against ε on the selection seeds, one panel per
    target, one line per granularity (the target as drawn, and down-then-up-scaled); the best ε > 0
    of each circled."""
    g = results.granularity
    if g.empty or g.factor.nunique() < 2:
        return plots.left_out("the granularity comparison: `granularities` is empty.")

    def curves(target):
        for factor, d in g[g.target == target].groupby("factor"):
            accuracies = d.groupby("eps").accuracy
            robust = accuracies.mean()[accuracies.mean().index > 0]
            label = "as drawn" if factor == 1 else f"down-scaled ×{factor:g}, up again"
            yield label, accuracies, None, robust.idxmax()

    return _against_eps(results, curves, "fixed-feature transfer accuracy")


def figure_gains(results: Results):
    """Transfer accuracy of the standard and the robust source (its chosen ε) per target, both
    modes, mean ± std over evaluation seeds (Fig. 2.2 and 2.3); in fixed-feature also the
    texture-invariant source (Fig. 2.8b)."""
    c, t = results.config, results.transfers
    fig, axes = plots.panels(2, width=3.6, height=3.0, sharey=True)
    x = np.arange(len(c.targets))
    texture = results.texture
    for ax, mode in zip(axes, MODES):
        chosen = results.chosen[results.chosen["mode"] == mode].set_index("target").eps
        ours = t[(t.arch == c.arch) & (t["mode"] == mode)]
        bars = {
            "standard source": (
                "clean source",
                [ours[(ours.target == tg) & (ours.eps == 0)] for tg in c.targets],
            )
        }
        if mode == "fixed" and not texture.empty:
            bars["texture-invariant"] = (
                "texture-invariant",
                [texture[texture.target == tg] for tg in c.targets],
            )
        bars["robust source"] = (
            "fixed-feature",
            [ours[(ours.target == tg) & np.isclose(ours.eps, float(chosen[tg]))] for tg in c.targets],
        )
        width = 0.8 / len(bars)
        for i, (name, (colour, rows)) in enumerate(bars.items()):
            vals = [r.accuracy for r in rows]
            ax.bar(
                x + (i - (len(bars) - 1) / 2) * width,
                [v.mean() for v in vals],
                width,
                yerr=[v.std() if len(v) > 1 else 0 for v in vals],
                capsize=3,
                label=name,
                color=plots.color(colour),
            )
        ax.set_xticks(x, list(c.targets))
        ax.set(title=MODE_NAMES[mode], ylabel="target accuracy" if mode == "fixed" else None, ylim=(0, 1))
    axes[0].legend(fontsize=7, loc="upper right")
    return fig


def figure_stylized(config: Config, n: int = 8):
    """The first seed's source images as drawn (top) and as the texture-invariant source sees them
    (bottom: layout kept, fine detail and colours from other images)."""
    job = texture_source_job(config, config.seeds[0])
    drawn, styled = config.source_job(config.seeds[0]).data.load(), job.data.load()
    rows = np.linspace(0, len(drawn) - 1, n).astype(int)
    names = [drawn.classes[int(drawn.y[i])] for i in rows]
    return plots.image_grid(
        torch.cat([drawn.x[rows], styled.x[rows]]),
        [*names, *["stylized"] * n],
        ncols=n,
        title="source images, as drawn and stylized",
    )


def figure_accuracy_transfer(results: Results):
    """Source accuracy against fixed-feature transfer accuracy (mean over targets): every
    architecture at ε = 0 and ``width_eps`` (mean over seeds); a line joins the architectures of one
    ε (Table 2.2) and an arrow goes from standard to robust per architecture (Fig. 2.5)."""
    c = results.config
    w = width_table(results).groupby(["arch", "eps"])[["source", "transfer"]].mean().reset_index()
    fig, ax = plots.panels(1, width=4.6, height=3.4)
    ax = ax[0]
    for eps, g in w.groupby("eps"):
        g = g.set_index("arch").reindex(list(c.archs)).dropna()
        ax.plot(
            g.source,
            g.transfer,
            "o-",
            label=f"ε = {eps:g}",
            color=plots.color("clean source" if eps == 0 else "fixed-feature"),
        )
        for arch, r in g.iterrows():
            ax.annotate(arch, (r.source, r.transfer), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set(xlabel="source accuracy", ylabel="fixed-feature transfer accuracy\n(mean over targets)")
    ax.legend(fontsize=7)
    return fig


def summary_text(results: Results) -> str:
    """What this run found, from the numbers."""
    g = gains(results)
    src = source_table(results)
    c = results.config
    ev = src.loc["evaluation"] if "evaluation" in src.index.get_level_values(0) else src
    std = ev.loc[(c.arch, 0.0)]
    rob = ev.loc[(c.arch, c.width_eps)] if (c.arch, c.width_eps) in ev.index else None
    text = (
        f"The standard {c.arch} source reaches {std.accuracy:.1%} on the source test set"
        + (
            f"; trained at ε = {c.width_eps:g} it reaches {rob.accuracy:.1%}, and under a {c.test_steps}-step PGD "
            f"attack of that radius {rob[f'robust@{c.width_eps:g}']:.1%} (the standard one: "
            f"{std[f'robust@{c.width_eps:g}']:.1%})"
            if rob is not None and f"robust@{c.width_eps:g}" in ev.columns
            else ""
        )
        + ". "
    )
    for mode in MODES:
        m = g[g["mode"] == mode]
        text += (
            f"{MODE_NAMES[mode].capitalize()}: the robust sources (ε chosen per target on the selection seeds) "
            f"change transfer accuracy by {m.gain.mean():+.3f} on average over targets and seeds. "
        )
    return text


def _interval(gains: pd.Series, criterion: str) -> dict[str, float]:
    """A table row's mean gain over evaluation seeds, its 95 % t-interval and its seed count."""
    e = Estimate.t(CRITERIA[criterion], gains, REPLICATE)
    return {"gain": e.value, "low": e.low, "high": e.high, "seeds": e.n}


def gain_table(results: Results) -> pd.DataFrame:
    """Per target and mode: the robust source's gain over the standard one (its chosen ε), with its
    95 % interval over evaluation seeds (the claims read the mean over targets)."""
    rows = [
        {"target": target, "mode": mode, "ε": eps, **_interval(g.gain, "transfers-better")}
        for (target, mode, eps), g in gains(results).groupby(["target", "mode", "eps"])
    ]
    return pd.DataFrame(rows).set_index(["mode", "target"]).sort_index().round(3)
