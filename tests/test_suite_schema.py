"""Tests for suite parsing and loading (pcbench.suite)."""

import textwrap
from pathlib import Path

import pytest

from pcbench.errors import PcbenchError
from pcbench.perturbations.corruptions import CORRUPTIONS as CORRUPTION_NAMES
from pcbench.suite import (
    ATTACK_KINDS,
    AttackConfig,
    builtin_suite_names,
    load_suite,
    parse_suite,
    with_overrides,
)

QUICK_FILE = Path(__file__).resolve().parents[1] / "suites" / "quick.toml"

BASE = """\
name = "t"
models = ["m"]
"""
DIGITS = """\
[dataset]
name = "digits"
"""


def write(tmp_path: Path, text: str, name: str = "s.toml") -> Path:
    """Write a suite file and return its path."""
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def load_error(path: Path) -> str:
    """Load a suite that must fail; return the one-line error message."""
    with pytest.raises(PcbenchError) as info:
        load_suite(path)
    message = str(info.value)
    assert "\n" not in message
    assert str(path) in message
    return message


def minimal(**extra: object) -> dict:
    """A minimal valid suite mapping plus ``extra`` top-level keys."""
    return {"name": "t", "models": ["m"], "dataset": {"name": "digits"}, **extra}


# --- the shipped quick suite ----------------------------------------------------------


def check_quick(suite) -> None:
    assert suite.name == "quick"
    assert suite.models == ("digits-cnn", "digits-pcnn")
    assert suite.timesteps == tuple(range(11))
    assert suite.clean is True and suite.seed == 0
    assert (suite.dataset.name, suite.dataset.split, suite.dataset.root) == ("digits", "test", None)
    assert len(suite.corruptions.names) == 19
    assert suite.corruptions.severities == (1, 2, 3, 4, 5)
    fgsm, pgd, transfer, apgd, square = suite.attacks
    assert (fgsm.kind, fgsm.steps, fgsm.rel_stepsize, fgsm.random_start) == ("fgsm", 1, None, False)
    assert fgsm.epsilons == (0.02, 0.05, 0.1) and pgd.epsilons == (0.02, 0.05, 0.1, 0.5)
    assert (pgd.kind, pgd.steps, pgd.rel_stepsize, pgd.random_start) == ("pgd-linf", 10, 0.25, True)
    assert (transfer.label, transfer.epsilons) == ("pgd-linf-first", (0.05, 0.1))
    assert [(a.label, a.epsilons, a.limit) for a in (apgd, square)] == [
        ("apgd-ce-linf-n20", (0.1,), 20),
        ("square-linf-q200-n20", (0.1,), 20),
    ]
    assert square.sub_attack_settings()["square"]["n_queries"] == 200
    assert suite.path == QUICK_FILE


def test_quick_loads_by_name_and_by_path():
    by_name, by_path = load_suite("quick"), load_suite(str(QUICK_FILE))
    check_quick(by_name)
    check_quick(by_path)
    assert by_name.content_hash == by_path.content_hash
    assert "quick" in builtin_suite_names()


def test_unknown_builtin_name_lists_builtins():
    with pytest.raises(PcbenchError, match=r"'nosuch'.*quick"):
        load_suite("nosuch")


def test_missing_file_path_is_an_error(tmp_path):
    with pytest.raises(PcbenchError, match="no such suite file"):
        load_suite(tmp_path / "absent.toml")


def test_toml_syntax_error(tmp_path):
    message = load_error(write(tmp_path, 'name = "t"\nmodels = [\n'))
    assert "invalid TOML" in message


# --- values and defaults --------------------------------------------------------------


def test_timesteps_int_list_and_absent():
    assert parse_suite(minimal(timesteps=3)).timesteps == (0, 1, 2, 3)
    assert parse_suite(minimal(timesteps=0)).timesteps == (0,)
    assert parse_suite(minimal(timesteps=[5, 0, 2])).timesteps == (0, 2, 5)
    assert parse_suite(minimal()).timesteps is None


def test_corruption_subsets_and_lists():
    def names(value):
        return parse_suite(minimal(corruptions={"names": value})).corruptions.names

    assert len(names("all")) == 19 and names("all")[-1] == "saturate"
    assert len(names("common")) == 15 and names("common") == names("all")[:15]
    assert names(["fog", "snow", "fog"]) == ("fog", "snow")
    corruptions = parse_suite(minimal(corruptions={"names": "all"})).corruptions
    assert corruptions.severities == (1, 2, 3, 4, 5)
    assert parse_suite(minimal()).corruptions is None


@pytest.mark.parametrize(
    ("kind", "steps", "rel_stepsize", "random_start"),
    [
        ("fgsm", 1, None, False),
        ("pgd-linf", 40, 0.01 / 0.3, True),
        ("pgd-l2", 50, 0.025, True),
        ("bim-linf", 10, 0.2, False),
    ],
)
def test_attack_defaults(kind, steps, rel_stepsize, random_start):
    (attack,) = parse_suite(minimal(attacks=[{"kind": kind, "epsilons": [0, 1]}])).attacks
    assert (attack.steps, attack.rel_stepsize, attack.random_start) == (steps, rel_stepsize, random_start)
    assert attack.epsilons == (0.0, 1.0)
    assert (attack.target_offset, attack.gradient_mode, attack.attack_timestep) == (None, "full", "last")
    assert kind in ATTACK_KINDS


def test_attack_label_and_params():
    attack = AttackConfig(
        kind="bim-linf",
        epsilons=(0.1,),
        steps=10,
        rel_stepsize=0.2,
        random_start=False,
        target_offset=800,
        gradient_mode="detached",
        attack_timestep="each",
    )
    assert attack.label == "bim-linf-t800-detached-each"
    assert AttackConfig("fgsm", (0.1,), 1, None, False, gradient_mode="detached").label == "fgsm-detached"
    assert AttackConfig("pgd-linf", (0.1,), 40, 0.03, True).label == "pgd-linf"
    assert attack.params() == {
        "kind": "bim-linf",
        "steps": 10,
        "rel_stepsize": 0.2,
        "random_start": False,
        "target_offset": 800,
        "gradient_mode": "detached",
        "attack_timestep": "each",
    }


def test_root_relative_to_suite_file_and_home(tmp_path, monkeypatch):
    (tmp_path / "data").mkdir()
    monkeypatch.chdir(Path("/"))
    path = write(tmp_path, BASE + '[dataset]\nname = "cifar10"\nroot = "data"\n')
    assert load_suite(path).dataset.root == tmp_path.resolve() / "data"
    monkeypatch.setenv("HOME", str(tmp_path))
    path = write(tmp_path, BASE + '[dataset]\nname = "cifar10"\nroot = "~/data"\n')
    assert load_suite(path).dataset.root == tmp_path.resolve() / "data"


def test_custom_dataset_table():
    suite = parse_suite({"name": "t", "models": ["m"], "dataset": {"name": "toy"}}, datasets={"toy": False})
    assert suite.dataset.name == "toy"
    with pytest.raises(PcbenchError, match="dataset.name = 'digits'"):
        parse_suite(minimal(), datasets={"toy": False})


# --- hashing and overrides ------------------------------------------------------------


def test_content_hash_ignores_key_order_but_not_values():
    a = parse_suite(minimal(seed=1, timesteps=3))
    reordered = parse_suite({"timesteps": 3, "dataset": {"name": "digits"}, "seed": 1, "models": ["m"], "name": "t"})
    assert a.content_hash == reordered.content_hash
    assert parse_suite(minimal(seed=2, timesteps=3)).content_hash != a.content_hash
    changed_attack = minimal(seed=1, timesteps=3, attacks=[{"kind": "fgsm", "epsilons": [0.1]}])
    assert parse_suite(changed_attack).content_hash != a.content_hash


def test_with_overrides_recomputes_hash():
    base = parse_suite(minimal())
    seeded = with_overrides(base, seed=5)
    assert seeded.seed == 5 and base.seed == 0
    assert seeded.content_hash == parse_suite(minimal(seed=5)).content_hash != base.content_hash
    limited = with_overrides(base, limit=10, models=["a", "b"])
    assert limited.dataset.limit == 10 and limited.models == ("a", "b")
    assert limited.content_hash not in (base.content_hash, seeded.content_hash)
    with pytest.raises(PcbenchError, match=r"dataset.limit = 0"):
        with_overrides(base, limit=0)


# --- errors ---------------------------------------------------------------------------

ATTACK = '[[attacks]]\nkind = "fgsm"\nepsilons = [0.1]\n'


@pytest.mark.parametrize(
    ("text", "fragments"),
    [
        (BASE + 'nmae = "x"\n' + DIGITS, ["unknown key 'nmae'", "allowed: name,"]),
        (BASE + DIGITS + 'rot = "x"\n', ["unknown key 'dataset.rot'", "allowed: name, split, root, limit, seed"]),
        (BASE + DIGITS + ATTACK + "foo = 1\n", ["unknown key 'attacks[0].foo'"]),
        (
            BASE + DIGITS + '[corruptions]\nnames = ["fog", "gausian_noise"]\n',
            ["corruptions.names[1]", "'gausian_noise'", "gaussian_noise"],
        ),
        (BASE + DIGITS + '[corruptions]\nnames = "most"\n', ["corruptions.names", "'most'"]),
        (BASE + DIGITS + "[corruptions]\nseverities = [1, 0]\n", ["corruptions.severities[1] = 0 ", "from 1 to 5"]),
        (BASE + DIGITS + "[corruptions]\nseverities = [6]\n", ["corruptions.severities[0] = 6 "]),
        (BASE + DIGITS + '[corruptions]\nseverities = "3"\n', ["corruptions.severities = '3'"]),
        (
            BASE + DIGITS + '[[attacks]]\nkind = "pgd-l2"\nepsilons = [0.1, -0.5]\n',
            ["attacks[0].epsilons[1] = -0.5 ", ">= 0"],
        ),
        (BASE + DIGITS + '[[attacks]]\nkind = "cw"\nepsilons = [0.1]\n', ["attacks[0].kind = 'cw'", "pgd-linf"]),
        (BASE + DIGITS + ATTACK + "steps = 3\n", ["attacks[0].steps = 3 "]),
        (
            BASE + DIGITS + '[[attacks]]\nkind = "pgd-linf"\nepsilons = [0.1]\nrel_stepsize = 0\n',
            ["attacks[0].rel_stepsize = 0 "],
        ),
        (BASE + DIGITS + ATTACK + 'gradient_mode = "none"\n', ["attacks[0].gradient_mode = 'none'", "full, detached"]),
        (BASE + DIGITS + ATTACK + "targeted = 0\n", ["attacks[0].targeted = 0 "]),
        ("timesteps = -1\n" + BASE + DIGITS, ["timesteps = -1 "]),
        ("timesteps = [0, -2]\n" + BASE + DIGITS, ["timesteps[1] = -2 "]),
        ("timesteps = [1, 1]\n" + BASE + DIGITS, ["timesteps[1] = 1 ", "not already"]),
        (BASE + '[dataset]\nname = "cifar10"\n', ["dataset.root", "'cifar10'"]),
        (
            BASE + '[dataset]\nname = "cifar10"\nroot = "/no/such/dir"\n',
            ["dataset.root = '/no/such/dir' does not exist", "cifar10"],
        ),
        (BASE + '[dataset]\nname = "mnist"\n', ["dataset.name = 'mnist'", "digits, cifar10"]),
        ("seed = true\n" + BASE + DIGITS, ["seed = True ", "integer"]),
        (BASE + DIGITS + "limit = false\n", ["dataset.limit = False "]),
        (BASE + DIGITS + "limit = 0\n", ["dataset.limit = 0 "]),
        ('clean = "yes"\n' + BASE + DIGITS, ["clean = 'yes'", "true or false"]),
        ('name = "a b"\nmodels = ["m"]\n' + DIGITS, ["name = 'a b'"]),
        ('name = "t"\nmodels = "m"\n' + DIGITS, ["models = 'm'", "list"]),
        ('name = "t"\nmodels = []\n' + DIGITS, ["models = []"]),
        (BASE, ["missing required key 'dataset'"]),
        (BASE + "[dataset]\nsplit = 'test'\n", ["missing required key 'dataset.name'"]),
        (BASE + DIGITS + '[[attacks]]\nkind = "fgsm"\n', ["'attacks[0].epsilons'"]),
        (BASE + DIGITS + ATTACK + ATTACK, ["attacks[1] repeats attacks[0]", "'fgsm'"]),
        (
            BASE + DIGITS + ATTACK + '[[attacks]]\nkind = "fgsm"\nepsilons = [0.2]\n',
            ["attacks[0] and attacks[1]", "'fgsm'", "change"],
        ),
    ],
)
def test_errors_are_one_line_and_name_file_key_value(tmp_path, text, fragments):
    message = load_error(write(tmp_path, text))
    for fragment in fragments:
        assert fragment in message


def test_parse_without_file_names_suite():
    with pytest.raises(PcbenchError, match=r"^<suite>: seed = -1 is not allowed"):
        parse_suite(minimal(seed=-1))


# --- corruption sources ---------------------------------------------------------------


def test_corruptions_default_to_generated():
    corruptions = parse_suite(minimal(corruptions={"names": ["fog"]})).corruptions
    assert (corruptions.source, corruptions.root) == ("generated", None)


def test_precomputed_root_is_resolved_against_the_suite_file(tmp_path):
    (tmp_path / "data" / "CIFAR-10-C").mkdir(parents=True)
    path = write(
        tmp_path,
        BASE + '[dataset]\nname = "cifar10"\nroot = "data"\n'
        '[corruptions]\nsource = "precomputed"\nroot = "data/CIFAR-10-C"\n',
    )
    suite = load_suite(path)
    assert suite.corruptions.source == "precomputed"
    assert suite.corruptions.root == (tmp_path / "data" / "CIFAR-10-C").resolve()
    generated = load_suite(
        write(tmp_path, BASE + '[dataset]\nname = "cifar10"\nroot = "data"\n[corruptions]\n', "g.toml")
    )
    assert generated.content_hash != suite.content_hash


@pytest.mark.parametrize(
    ("corruptions", "fragments"),
    [
        ('source = "files"\n', ["corruptions.source = 'files'", "one of generated, precomputed"]),
        ('source = "precomputed"\n', ["corruptions.root is missing", "CIFAR-10-C"]),
        (
            'source = "precomputed"\nroot = "nowhere"\n',
            ["corruptions.root = 'nowhere'", "does not exist", "a directory holding CIFAR-10-C"],
        ),
        ('root = "."\n', ["corruptions.root = '.'", "no root with source = 'generated'"]),
        ('rooot = "."\n', ["unknown key 'corruptions.rooot'", "source, root"]),
    ],
)
def test_bad_corruption_sources(tmp_path, corruptions, fragments):
    message = load_error(
        write(tmp_path, BASE + f'[dataset]\nname = "cifar10"\nroot = "."\n[corruptions]\n{corruptions}')
    )
    for fragment in fragments:
        assert fragment in message


def test_precomputed_needs_a_data_set_that_has_one(tmp_path):
    message = load_error(write(tmp_path, BASE + DIGITS + '[corruptions]\nsource = "precomputed"\nroot = "."\n'))
    assert "corruptions.source = 'precomputed'" in message
    assert "'generated' for dataset 'digits': precomputed sets exist for cifar10, cifar100, imagenet" in message


C_SUITES = {
    "cifar10-c": ("cifar10", "precomputed"),
    "cifar10-c-generated": ("cifar10", "generated"),
    "cifar100-c": ("cifar100", "precomputed"),
    "cifar100-c-generated": ("cifar100", "generated"),
    "imagenet-c": ("imagenet", "precomputed"),
    "imagenet-c-generated": ("imagenet", "generated"),
}


@pytest.mark.parametrize("name", sorted(C_SUITES))
def test_shipped_corruption_suites_run_once_pointed_at_data(name, tmp_path):
    dataset, source = C_SUITES[name]
    assert name in builtin_suite_names()
    with pytest.raises(PcbenchError, match=rf"^{name}.toml: dataset.root is missing; .*pcbench run --root DIR"):
        load_suite(name)
    roots = {"dataset_root": tmp_path}
    if source == "precomputed":
        with pytest.raises(PcbenchError, match=r"corruptions.root is missing; .*pcbench run --corruptions-root DIR\)$"):
            load_suite(name, **roots)
        (tmp_path / "c").mkdir()
        roots["corruptions_root"] = tmp_path / "c"
    suite = load_suite(name, **roots)
    assert (suite.dataset.name, suite.dataset.root, suite.corruptions.source) == (dataset, tmp_path.resolve(), source)
    assert suite.corruptions.root == (None if source == "generated" else (tmp_path / "c").resolve())
    assert suite.corruptions.names == tuple(CORRUPTION_NAMES) and suite.clean
