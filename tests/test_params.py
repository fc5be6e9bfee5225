"""Parameter declaration, parsing and validation: every bad input fails at once, naming the parameter."""

import dataclasses

import pytest

from transferlab.chapters import linear
from transferlab.chapters.params import ChapterConfig, ParameterError, param, resolve
from transferlab.pipeline.runner import chapter_module

from .conftest import pages


@dataclasses.dataclass(frozen=True)
class Toy(ChapterConfig):
    n: int = param(3, "a count", low=1, high=10)
    rate: float = param(0.5, "a rate", low=0.0, high=1.0)
    mode: str = param("fixed", "transfer mode", choices=("fixed", "full"))
    flag: bool = param(False, "a switch")
    sizes: tuple[int, ...] = param((1, 2), "sizes", low=1)


PRESETS = {"smoke": {"n": 1}, "default": {}, "paper": {"n": 10, "sizes": [4, 8]}}


def test_defaults_and_presets_resolve():
    assert resolve(Toy, PRESETS) == {"n": 3, "rate": 0.5, "mode": "fixed", "flag": False, "sizes": (1, 2)}
    assert resolve(Toy, PRESETS, "paper", {"rate": 1})["sizes"] == (4, 8)
    assert resolve(Toy, PRESETS, "paper", {"rate": 1})["rate"] == 1.0


@pytest.mark.parametrize(
    "values, words",
    [
        ({"m": 1}, ["unknown parameter 'm'", "allowed: n, rate, mode, flag, sizes"]),
        ({"n": 2.5}, ["'n'", "must be an int"]),
        ({"n": True}, ["'n'", "must be an int"]),
        ({"n": 11}, ["'n' = 11 is not allowed", "int in [1, 10]"]),
        ({"rate": "high"}, ["'rate'", "must be a float"]),
        ({"mode": "partial"}, ["'mode'", "one of 'fixed', 'full'"]),
        ({"flag": 1}, ["'flag'", "must be a bool"]),
        ({"sizes": 3}, ["'sizes'", "list of int"]),
        ({"sizes": [1, 0]}, ["'sizes'", "is not allowed"]),
    ],
)
def test_bad_values_name_the_parameter_and_what_is_allowed(values, words):
    with pytest.raises(ParameterError) as e:
        Toy.validate(values)
    for w in words:
        assert w in str(e.value)


def test_unknown_preset():
    with pytest.raises(ParameterError, match="unknown preset 'fast'; allowed: smoke, default, paper"):
        resolve(Toy, PRESETS, "fast")


@pytest.mark.parametrize(
    "name, text, value",
    [
        ("n", "7", 7),
        ("rate", "0.25", 0.25),
        ("rate", "1", 1.0),
        ("flag", "yes", True),
        ("flag", "False", False),
        ("sizes", "3,4", (3, 4)),
        ("sizes", "[5, 6]", (5, 6)),
        ("mode", "full", "full"),
    ],
)
def test_command_line_values_are_parsed_by_type(name, text, value):
    assert Toy.parse_value(name, text) == value


def test_a_list_of_names_keeps_its_empty_ones():
    from transferlab.chapters import wild

    assert wild.Config.parse_value("expected", "fence,,hat") == ("fence", "", "hat")
    assert wild.Config.parse_value("expected", ",,") == ("", "", "")
    assert wild.Config(expected=("", "", "")).expected == ("", "", "")
    with pytest.raises(ParameterError, match="empty name means none"):
        wild.Config(expected=wild.Config.parse_value("expected", ","))


@pytest.mark.parametrize(
    "name, text", [("n", "3.5"), ("flag", "maybe"), ("sizes", "[1,"), ("sizes", "1,a"), ("nope", "1")]
)
def test_unparseable_command_line_values(name, text):
    with pytest.raises(ParameterError, match=repr(name)):
        Toy.parse_value(name, text)


def test_construction_validates_and_coerces():
    assert Toy(rate=1, sizes=[2, 3]).sizes == (2, 3)
    with pytest.raises(ParameterError):
        Toy(n=0)


def test_from_namespace_reads_the_parameters_cell_names():
    cfg = Toy.from_namespace(
        {"n": 4, "rate": 0.1, "mode": "full", "flag": True, "sizes": [3], "unrelated": object()}
    )
    assert (cfg.n, cfg.sizes) == (4, (3,))
    with pytest.raises(ParameterError, match="lacks rate"):
        Toy.from_namespace({"n": 4, "mode": "full", "flag": True, "sizes": [3]})


def test_describe_lists_every_parameter_with_meaning():
    table = Toy.describe()
    assert list(table.parameter) == ["n", "rate", "mode", "flag", "sizes"]
    assert table.set_index("parameter").loc["n", "allowed"] == "int in [1, 10]"


@pytest.mark.parametrize("notebook", pages(), ids=lambda p: p.stem)
def test_every_chapter_preset_is_valid(notebook):
    """Every page's smoke and default presets build its Config on the synthetic world; a paper
    preset does too, or (where it needs a real data set's size) says so with a ParameterError."""
    module = chapter_module(notebook)
    for name in module.PRESETS:
        try:
            module.Config(**resolve(module.Config, module.PRESETS, name))
        except ParameterError:
            if name != "paper":
                raise


@pytest.mark.parametrize("notebook", pages(), ids=lambda p: p.stem)
def test_no_paper_preset_has_fewer_replicates_than_the_default(notebook):
    """The `paper` preset is the source's scale: it may add seeds to a registered default, never
    drop them (every list of seeds, e.g. `seeds`, `counterfactual_seeds`, `selection_seeds`)."""
    module = chapter_module(notebook)
    default = {name: d for name, (_, d, _) in module.Config.param_infos().items()}
    default.update(module.PRESETS["default"])
    paper = {**default, **module.PRESETS["paper"]}
    for name, value in default.items():
        if name.endswith("seeds") and isinstance(value, (list, tuple)):
            assert len(paper[name]) >= len(value), f"the paper preset has fewer {name} than the default"


@pytest.mark.parametrize(
    "overrides, words",
    [
        ({"dim": 10, "target_rank": 10}, "'target_rank' = 10 must be below 'dim' = 10"),
        ({"weight_decays": [0.1]}, "'weight_decays' must contain 0.0"),
        ({"lr": 20.0}, "must be below 1"),
        ({"seeds": [1, 1]}, "'seeds' must be distinct"),
    ],
)
def test_linear_cross_checks(overrides, words):
    with pytest.raises(ParameterError, match=words.replace("(", r"\(").replace("[", r"\[")):
        resolve(linear.Config, linear.PRESETS, "default", overrides)


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "NaN"])
def test_nan_and_inf_are_refused_wherever_a_number_is_accepted(text):
    from transferlab.chapters import backdoor

    with pytest.raises(ParameterError, match="finite"):
        backdoor.Config.parse_value("trigger_fraction", text)
    with pytest.raises(ParameterError, match="finite"):
        backdoor.Config.parse_value("weight_decays", f"0.0005,{text}")
    json_text = {"nan": "NaN", "NaN": "NaN", "inf": "Infinity", "-inf": "-Infinity"}[text]
    with pytest.raises(ParameterError, match="finite"):
        backdoor.Config.parse_value("weight_decays", f"[0.0005, {json_text}]")
    with pytest.raises(ParameterError, match="finite"):
        backdoor.Config(weight_decays=(5e-4, float(text)))
