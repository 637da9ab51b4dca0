"""Validation by pydantic (pcbench.validation) and the JSON Schemas it gives: ``pcbench schema
suite|models``, the committed ``schema/*.json`` files the built-in suites point their editors at,
and the reference tables the docs generate from them."""

from __future__ import annotations

import importlib.util
import json
import tomllib
from pathlib import Path
from typing import Annotated

import jsonschema
import pytest
from click.testing import CliRunner
from pydantic import Field, Strict, model_validator

import pcbench
from pcbench.cli import cli
from pcbench.errors import InvalidValue, PcbenchError
from pcbench.registry.predictor_spec import PredictorSpec
from pcbench.registry.spec import ModelSpec, PCLayer
from pcbench.validation import Table, allowed, dotted, fail, validated

ROOT = Path(__file__).resolve().parents[1]
SUITES = sorted((ROOT / "suites").glob("*.toml"))
MODELS_TOML = """
[models.my-cnn]
arch = "pcbench.models.digits:digits_cnn"
num_classes = 10
dataset = "digits"
input_size = 32
mean = [0.5, 0.5, 0.5]
std = [0.5, 0.5, 0.5]

[models.my-pcnn]
variant = "pc"
base = "my-cnn"
timesteps = 2
[models.my-pcnn.pc]
beta = 0.5
layers = ["0.1", {module = "0.4", lambda = 0.2, predictor = {kernel = 4, stride = 2, padding = 1}}]
"""


def validator(kind: str) -> jsonschema.Draft202012Validator:
    schema = pcbench.schema(kind)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


# --- the error line -------------------------------------------------------------------


class Inner(Table):
    limit: Annotated[int, Strict(), Field(ge=1), allowed("an integer >= 1")] = 1


class Outer(Table):
    seed: Annotated[int, Strict(), Field(ge=0), allowed("an integer >= 0")] = 0
    values: Annotated[list[Annotated[int, Strict(), allowed("an integer")]], allowed("a list")] = []
    inner: Inner = Inner()


@pytest.mark.parametrize(
    ("data", "line"),
    [
        ({"seed": -1}, "f.toml: seed = -1 is not allowed: an integer >= 0"),
        ({"seed": True}, "f.toml: seed = True is not allowed: an integer >= 0"),
        ({"values": [1, "x"]}, "f.toml: values[1] = 'x' is not allowed: an integer"),
        ({"values": 3}, "f.toml: values = 3 is not allowed: a list"),
        ({"inner": {"limit": 0}}, "f.toml: inner.limit = 0 is not allowed: an integer >= 1"),
        ({"inner": 5}, "f.toml: inner = 5 is not allowed: a table"),
        ({"inner": {"limt": 2}}, "f.toml: unknown key 'inner.limt'; allowed: limit"),
        ({"colour": 1}, "f.toml: unknown key 'colour'; allowed: seed, values, inner"),
    ],
)
def test_the_first_error_is_one_line_naming_file_key_value_and_what_is_allowed(data, line):
    with pytest.raises(PcbenchError) as caught:
        validated(Outer, data, "f.toml")
    assert str(caught.value) == line


def test_a_check_of_several_keys_names_its_key_under_the_table():
    class Steps(Table):
        steps: int = 1

        @model_validator(mode="after")
        def _one(self) -> Steps:
            if self.steps != 1:
                fail("{key} = {value!r} is not allowed: 1", at="steps", value=self.steps)
            return self

    with pytest.raises(PcbenchError) as caught:
        validated(Steps, {"steps": 3}, "f.toml", prefix="attacks[2]")
    assert str(caught.value) == "f.toml: attacks[2].steps = 3 is not allowed: 1"
    assert dotted("models.m", ("pc", "<table>", "layers", 1, "function-wrap[check()]", "beta")) == (
        "models.m.pc.layers[1].beta"
    )


def test_dataclasses_built_in_python_name_the_object_and_the_field():
    with pytest.raises(InvalidValue) as caught:
        ModelSpec(name="x", arch="a:b", num_classes="ten")
    assert str(caught.value) == "model 'x': num_classes = 'ten' must be an integer >= 1"
    with pytest.raises(InvalidValue, match=r"^model 'x': mean = \[0.5\] must be a list of numbers"):
        ModelSpec(name="x", arch="a:b", num_classes=2, mean=[0.5])  # a list in a frozen dataclass: refused
    with pytest.raises(InvalidValue, match=r"^predictor: kernel = 0 must be an integer >= 1$"):
        PredictorSpec(kernel=0)
    with pytest.raises(InvalidValue, match=r"^PCoder 'a': lambda = 2 must lie in \[0, 1\]$"):
        PCLayer("a", lam=2)
    with pytest.raises(PcbenchError, match=r"^model 'x': std = \[1.0, 1.0\] must be a list of positive numbers"):
        ModelSpec(name="x", arch="a:b", num_classes=2, std=(1.0, 1.0))


# --- the schemas ----------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["suite", "models"])
def test_the_committed_schema_files_are_up_to_date(kind):
    committed = (ROOT / "schema" / f"{kind}.json").read_text(encoding="utf-8")
    assert committed == json.dumps(pcbench.schema(kind), indent=2, ensure_ascii=False) + "\n", (
        f"regenerate it: pcbench schema {kind} > schema/{kind}.json"
    )


def test_the_suite_schema_accepts_every_builtin_suite_and_each_points_its_editor_at_it():
    check = validator("suite")
    assert len(SUITES) >= 10
    for path in SUITES:
        text = path.read_text(encoding="utf-8")
        assert text.startswith("#:schema ../schema/suite.json\n"), path.name
        check.validate(tomllib.loads(text))


@pytest.mark.parametrize(
    "edit",
    [
        lambda s: s | {"seed": -1},
        lambda s: s | {"colour": "red"},
        lambda s: s | {"timesteps": [1, "x"]},
        lambda s: s | {"dataset": {"name": "mnist"}},
        lambda s: s | {"attacks": [{"kind": "cw", "epsilons": [0.1]}]},
        lambda s: s | {"attacks": [{"kind": "square", "epsilons": [0.1], "steps": 5}]},  # a foolbox key
        lambda s: s | {"attacks": [{"kind": "fgsm", "epsilons": [-0.1]}]},
        lambda s: {key: value for key, value in s.items() if key != "models"},
    ],
)
def test_the_suite_schema_rejects_a_malformed_suite(edit):
    quick = tomllib.loads((ROOT / "suites" / "quick.toml").read_text(encoding="utf-8"))
    assert validator("suite").is_valid(quick)
    assert not validator("suite").is_valid(edit(quick))


def test_the_models_schema_accepts_a_model_file_and_rejects_a_malformed_one():
    check = validator("models")
    data = tomllib.loads(MODELS_TOML)
    check.validate(data)
    data["models"]["my-pcnn"]["pc"]["layers"][1]["predictor"]["kernal"] = 3
    assert not check.is_valid(data)
    assert not check.is_valid({"models": {"../escape": {"arch": "a:b", "num_classes": 2}}})
    assert not check.is_valid({"models": {"m": {"arch": "a:b", "num_classes": 0}}})


def test_pcbench_schema_prints_the_api_schema_and_refuses_other_kinds():
    runner = CliRunner()
    printed = runner.invoke(cli, ["schema", "models"])
    assert printed.exit_code == 0 and json.loads(printed.output) == pcbench.schema("models")
    assert runner.invoke(cli, ["schema", "suites"]).exit_code == 2
    with pytest.raises(PcbenchError, match="^schema: unknown kind 'suites'; allowed: suite, models$"):
        pcbench.schema("suites")


def test_the_docs_reference_tables_come_from_the_schema():
    spec = importlib.util.spec_from_file_location("pcbench_docs_hooks", ROOT / "docs" / "hooks.py")
    hooks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hooks)
    suite = hooks.schema_tables(pcbench.schema("suite"))
    assert "| `seed` | integer, ≥ 0 | `0` | Seed of every random choice. |" in suite
    assert "| `dataset` | [DatasetTable](#datasettable) | required |" in suite
    assert "#### SquareAttack" in suite
    models = hooks.schema_tables(pcbench.schema("models"))
    assert "| `lambda` | number, ≥ 0, ≤ 1 | `0.1` |" in models
    for page, kind in (("suites.md", "suite"), ("models.md", "models")):
        assert f"<!-- schema: {kind} -->" in (ROOT / "docs" / "reference" / page).read_text(encoding="utf-8")
