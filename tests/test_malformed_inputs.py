"""Malformed input as a hostile user types it: one ``error:`` line, exit status 2, nothing changed.

Each case of :data:`CASES` builds its input in a fresh workspace (suite and model files, data
directories, weights, a copy of a small real results directory), runs the command line and
checks that it exits with status 2 and prints exactly one line on stderr, starting with
``error:`` and naming the offending file, key or value, with no traceback; and that no file
anywhere in the workspace -- which holds the results directory, the leaderboards directory
and the pcbench home -- was created, changed or removed (paths and SHA-256, recursively).

Most cases run the real entry point :func:`pcbench.cli.main` in-process (``sys.argv``
patched, a fresh registry and pcbench home per case): a subprocess costs ~5 s of torch
start-up. A few representative cases also run as ``python -m pcbench`` subprocesses.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from PIL import Image

DIGITS_CNN = """
[models.my-cnn]
arch = "pcbench.models.digits:digits_cnn"
num_classes = 10
dataset = "digits"
input_size = 32
mean = [0.5, 0.5, 0.5]
std = [0.5, 0.5, 0.5]
"""
DIGITS_PCNN = """
[models.my-pcnn]
variant = "pc"
base = "my-cnn"
timesteps = 2
[models.my-pcnn.pc]
layers = ["0.1", "0.4"]
"""
SUITE = """
name = "tiny"
models = ["digits-cnn"]
clean = true
[dataset]
name = "digits"
limit = 5
"""
#: The suite of the real results every ``results`` case damages a copy of.
STORED_SUITE = "stored"


@dataclass(frozen=True)
class Workspace:
    """A case's folder: inputs, ``results/``, ``leaderboards/`` and the pcbench ``home/``."""

    root: Path

    @property
    def results(self) -> Path:
        return self.root / "results"

    @property
    def leaderboards(self) -> Path:
        return self.root / "leaderboards"

    @property
    def home(self) -> Path:
        return self.root / "home"

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return path


@dataclass(frozen=True)
class Case:
    """``make(workspace)`` writes the input and returns the arguments and what the error line names."""

    id: str
    make: Callable[[Workspace], tuple[list[str], list[str]]]


def suite_case(
    id: str,
    text: str,
    *fragments: str,
    files: Callable[[Workspace], None] | None = None,
    kind: str = "suite",
    names_file: bool = True,
) -> Case:
    """``pcbench run`` on a suite file ``suite.toml`` holding ``text`` (``files`` writes its data);
    the error line names the suite file unless not ``names_file``."""

    def make(ws: Workspace) -> tuple[list[str], list[str]]:
        if files is not None:
            files(ws)
        path = ws.write("suite.toml", text)
        named = ["suite.toml", *fragments] if names_file else list(fragments)
        return ["run", str(path), "--results", str(ws.results), "--leaderboards", str(ws.leaderboards)], named

    return Case(f"{kind}: {id}", make)


def with_dataset(extra: str, name: str = "digits") -> str:
    """:data:`SUITE` on data set ``name`` with ``extra`` lines in its ``[dataset]`` table (no limit)."""
    return SUITE.replace("limit = 5\n", extra).replace('"digits"', f'"{name}"')


def data_case(id: str, dataset: str, files: Callable[[Path], None], *fragments: str) -> Case:
    """``pcbench run`` on data set ``dataset`` whose root ``data/`` ``files(root)`` fills."""

    def write(ws: Workspace) -> None:
        (ws.root / "data").mkdir()
        files(ws.root / "data")

    return suite_case(
        id, with_dataset('root = "data"\n', dataset), *fragments, files=write, kind="data", names_file=False
    )


def model_case(id: str, text: str, *fragments: str, files: Callable[[Workspace], None] | None = None) -> Case:
    """``pcbench register`` on a model file ``models.toml`` holding ``text``."""

    def make(ws: Workspace) -> tuple[list[str], list[str]]:
        if files is not None:
            files(ws)
        return ["register", str(ws.write("models.toml", text))], ["models.toml", *fragments]

    return Case(f"model file: {id}", make)


def weights_case(id: str, write: Callable[[Path], None], *fragments: str) -> Case:
    """``pcbench register`` of a feedforward model whose ``weights = "w.pt"`` ``write`` makes."""
    return model_case(
        f"weights {id}", DIGITS_CNN + 'weights = "w.pt"\n', "w.pt", *fragments, files=lambda ws: write(ws.root / "w.pt")
    )


def cli_case(id: str, args: Callable[[Workspace], list[str]], *fragments: str) -> Case:
    """Any command line; ``args(workspace)`` may write files first."""
    return Case(f"cli: {id}", lambda ws: (args(ws), list(fragments)))


def results_case(id: str, damage: Callable[[Path], str], *fragments: str, args: tuple[str, ...] = ()) -> Case:
    """``pcbench compare`` on a copy of real results that ``damage(<results>/<suite>)`` spoils.

    ``damage`` returns the name of the file it damaged, which the error line must name.
    """

    def make(ws: Workspace) -> tuple[list[str], list[str]]:
        damaged = damage(ws.results / STORED_SUITE)
        return ["compare", STORED_SUITE, "--results", str(ws.results), "--leaderboards", str(ws.leaderboards), *args], [
            damaged,
            *fragments,
        ]

    return Case(f"results: {id}", make)


def stored_args(*extra: str) -> Callable[[Workspace], list[str]]:
    """``compare`` of the intact stored results with ``extra`` options."""
    return lambda ws: [
        "compare",
        STORED_SUITE,
        "--results",
        str(ws.results),
        "--leaderboards",
        str(ws.leaderboards),
        *extra,
    ]


def a_file(ws: Workspace, name: str = "a-file") -> str:
    return str(ws.write(name, "not a directory\n"))


# --- damaged inputs -------------------------------------------------------------------------

#: Names that must never become a path or be shown as they are.
HOSTILE_NAMES = {
    "with '..'": "../../../tf-escape",
    "with a separator": "a/b",
    "with a control character": "cnn\x07",
    "with a bidi override": "cnn\u202egnp.exe",
    "with a leading dot": ".hidden",
}


def symlink_loop(path: Path) -> None:
    other = path.with_name("loop.pt")
    os.symlink(other, path)
    os.symlink(path, other)


def predictions_over_scores(root: Path) -> str:
    (scores,) = (root / "scores").glob("*.parquet")
    shutil.copyfile(root / "predictions" / scores.name, scores)
    return scores.name


def pair_under_another_name(root: Path) -> str:
    from pcbench.store import cell_stem

    stem = cell_stem("digits-cnn", "fog/1")
    for kind in ("scores", "predictions"):
        (source,) = (root / kind).glob("*.parquet")
        shutil.copyfile(source, root / kind / f"{stem}.parquet")
    return f"{stem}.parquet"


class CodePickle:
    """Unpickling this runs ``os.mkdir``: what a weights file with code looks like."""

    def __reduce__(self):
        return (os.mkdir, ("/tmp/pcbench-must-never-exist",))


def pickled_code(path: Path) -> None:
    torch.save({"weight": torch.zeros(1), "hook": CodePickle()}, path)


def pickled_lambda_module(path: Path) -> None:
    torch.save({"fn": os.getcwd}, path)  # a function by reference: refused by weights_only


def image_folder(root: Path, sizes: tuple[tuple[int, int], ...], junk: bool = False) -> None:
    """``<root>/test/class<i>/<n>.png`` of ``sizes``; ``junk`` adds a text file named ``.png``."""
    for index, size in enumerate(sizes):
        path = root / "test" / f"class{index % 2}" / f"{index}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.new("RGB", size, (index * 40, 0, 0)).save(path)
    if junk:
        (root / "test" / "class0" / "notes.png").write_text("not an image\n")


def first_file(root: Path, kind: str) -> Path:
    return min((root / kind).glob("*.parquet"))


def truncate_scores(root: Path) -> str:
    path = first_file(root, "scores")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    return path.name


def fake_parquet(root: Path) -> str:
    path = root / "scores" / "notes.parquet"
    path.write_text("model,cell\nx,y\n")
    return path.name


def non_csv_reference(ws: Workspace) -> list[str]:
    reference = ws.write("reference.csv", "a,b\n1,2\n")
    return stored_args("--against", str(reference))(ws)


CASES = [
    # suites: values of every type
    suite_case("timesteps a string", 'timesteps = "x"\n' + SUITE, "timesteps", "'x'"),
    suite_case("timesteps repeated", "timesteps = [1, 1]\n" + SUITE, "timesteps[1]"),
    suite_case("negative seed", "seed = -1\n" + SUITE, "seed", "-1"),
    suite_case("limit zero", with_dataset("limit = 0\n"), "dataset.limit", "0"),
    suite_case("limit a string", with_dataset('limit = "10"\n'), "dataset.limit", "'10'"),
    suite_case("limit above the split", with_dataset("limit = 1000\n"), "dataset.limit", "1000", "360"),
    suite_case(
        "timesteps beyond T",
        "timesteps = 12\n" + SUITE.replace("digits-cnn", "digits-pcnn"),
        "digits-pcnn",
        "12",
        "T = 10",
    ),
    suite_case(
        "severity zero", SUITE + "[corruptions]\nnames = ['fog']\nseverities = [0]\n", "corruptions.severities[0]", "0"
    ),
    suite_case(
        "epsilons a string", SUITE + "[[attacks]]\nkind = 'fgsm'\nepsilons = '0.1'\n", "attacks[0].epsilons", "'0.1'"
    ),
    suite_case(
        "steps a float",
        SUITE + "[[attacks]]\nkind = 'pgd-linf'\nepsilons = [0.1]\nsteps = 1.5\n",
        "attacks[0].steps",
        "1.5",
    ),
    suite_case("unknown attack", SUITE + "[[attacks]]\nkind = 'cw'\nepsilons = [0.1]\n", "attacks[0].kind", "'cw'"),
    suite_case(
        "unknown corruption", SUITE + "[corruptions]\nnames = ['fog', 'smog']\n", "corruptions.names[1]", "'smog'"
    ),
    suite_case("unknown key", "colour = 'red'\n" + SUITE, "colour"),
    suite_case("draws zero", "draws = 0\n" + SUITE, "draws", "0"),
    suite_case("draws a string", 'draws = "5"\n' + SUITE, "draws", "'5'"),
    suite_case("eot zero", SUITE + "[[attacks]]\nkind = 'fgsm'\nepsilons = [0.1]\neot = 0\n", "attacks[0].eot", "0"),
    suite_case(
        "eot for square",
        SUITE + "[[attacks]]\nkind = 'square'\nepsilons = [0.1]\neot = 4\n",
        "attacks[0].eot",
        "'square'",
    ),
    suite_case("models a string", SUITE.replace('["digits-cnn"]', '"digits-cnn"'), "models", "'digits-cnn'"),
    suite_case("clean a string", SUITE.replace("clean = true", 'clean = "yes"'), "clean", "'yes'"),
    suite_case("dataset a number", SUITE.replace('name = "digits"', "name = 5"), "dataset.name", "5"),
    suite_case("missing root", with_dataset("", "cifar10"), "dataset.root"),
    suite_case("root does not exist", with_dataset('root = "nowhere"\n', "cifar10"), "dataset.root", "nowhere"),
    suite_case("invalid TOML", SUITE + "[dataset\n", "invalid TOML"),
    suite_case("unknown model", SUITE.replace("digits-cnn", "ghost-cnn"), "ghost-cnn", names_file=False),
    # model files (pcbench register FILE)
    model_case(
        "num_classes a string",
        DIGITS_CNN.replace("num_classes = 10", 'num_classes = "ten"'),
        "models.my-cnn.num_classes",
        "'ten'",
    ),
    model_case(
        "timesteps a string",
        DIGITS_CNN + DIGITS_PCNN.replace("timesteps = 2", 'timesteps = "x"'),
        "models.my-pcnn.timesteps",
        "'x'",
    ),
    model_case(
        "negative timesteps",
        DIGITS_CNN + DIGITS_PCNN.replace("timesteps = 2", "timesteps = -1"),
        "models.my-pcnn.timesteps",
        "-1",
    ),
    model_case(
        "mean a number", DIGITS_CNN.replace("mean = [0.5, 0.5, 0.5]", "mean = 0.5"), "models.my-cnn.mean", "0.5"
    ),
    model_case(
        "mean of strings",
        DIGITS_CNN.replace("mean = [0.5, 0.5, 0.5]", 'mean = ["a", "b", "c"]'),
        "models.my-cnn.mean",
        "'a'",
    ),
    model_case("beta a string", DIGITS_CNN + DIGITS_PCNN + 'beta = "high"\n', "models.my-pcnn.pc.beta", "'high'"),
    model_case(
        "layer beta a string",
        DIGITS_CNN + DIGITS_PCNN.replace('["0.1", "0.4"]', '[{module = "0.1", beta = "high"}]'),
        "models.my-pcnn.pc.layers[0].beta",
        "'high'",
    ),
    model_case(
        "negative input_size",
        DIGITS_CNN.replace("input_size = 32", "input_size = -3"),
        "models.my-cnn.input_size",
        "-3",
    ),
    model_case(
        "arch a number", DIGITS_CNN.replace('"pcbench.models.digits:digits_cnn"', "5"), "models.my-cnn.arch", "5"
    ),
    model_case(
        "arch not a module", DIGITS_CNN.replace("pcbench.models.digits:digits_cnn", "builtins:dict"), "builtins:dict"
    ),
    model_case(
        "arch import fails",
        DIGITS_CNN.replace("pcbench.models.digits:digits_cnn", "no_such_module:f"),
        "no_such_module",
    ),
    model_case(
        "unknown torchvision name", DIGITS_CNN.replace("pcbench.models.digits:digits_cnn", "resnet999"), "resnet999"
    ),
    model_case("weights a number", DIGITS_CNN + "weights = 3\n", "models.my-cnn.weights", "3"),
    model_case(
        "layers a string",
        DIGITS_CNN + DIGITS_PCNN.replace('["0.1", "0.4"]', '"relu"'),
        "models.my-pcnn.pc.layers",
        "'relu'",
    ),
    model_case(
        "predictor kernel a string",
        DIGITS_CNN + DIGITS_PCNN.replace('["0.1", "0.4"]', '[{module = "0.1", predictor = {kernel = "big"}}]'),
        "models.my-pcnn.pc.layers[0].predictor",
        "'big'",
    ),
    model_case(
        "gradient_scaling a string",
        DIGITS_CNN + DIGITS_PCNN + 'gradient_scaling = "yes"\n',
        "models.my-pcnn.pc.gradient_scaling",
        "'yes'",
    ),
    model_case(
        "variant unknown",
        DIGITS_CNN.replace("[models.my-cnn]", '[models.my-cnn]\nvariant = "rnn"'),
        "models.my-cnn.variant",
        "'rnn'",
    ),
    model_case(
        "dataset a number", DIGITS_CNN.replace('dataset = "digits"', "dataset = 5"), "models.my-cnn.dataset", "5"
    ),
    model_case(
        "base a number", DIGITS_CNN + DIGITS_PCNN.replace('base = "my-cnn"', "base = 5"), "models.my-pcnn.base", "5"
    ),
    model_case("arch_kwargs a number", DIGITS_CNN + "arch_kwargs = 3\n", "models.my-cnn.arch_kwargs", "3"),
    model_case("weights_sha256 a number", DIGITS_CNN + "weights_sha256 = 5\n", "models.my-cnn.weights_sha256", "5"),
    model_case("description a number", DIGITS_CNN + "description = 5\n", "models.my-cnn.description", "5"),
    model_case("zero std", DIGITS_CNN.replace("std = [0.5, 0.5, 0.5]", "std = [0, 1, 1]"), "models.my-cnn", "std"),
    model_case("unknown key", DIGITS_CNN + 'colour = "red"\n', "models.my-cnn", "colour"),
    model_case("python_path a number", DIGITS_CNN + "python_path = 3\n", "models.my-cnn.python_path", "3"),
    model_case(
        "transfer_datasets a string",
        DIGITS_CNN + 'transfer_datasets = "cifar10"\n',
        "models.my-cnn.transfer_datasets",
        "'cifar10'",
    ),
    model_case(
        "predictors a number", DIGITS_CNN + DIGITS_PCNN + "predictors = 5\n", "models.my-pcnn.pc.predictors", "5"
    ),
    model_case(
        "lambda above 1 - beta",
        DIGITS_CNN + DIGITS_PCNN.replace('["0.1", "0.4"]', '[{module = "0.1", beta = 0.9, lambda = 0.5}, "0.4"]'),
        "models.my-pcnn.pc.layers[0]",
        "beta + lambda",
    ),
    model_case("invalid TOML", DIGITS_CNN + "[models\n", "invalid TOML"),
    # weights files
    weights_case("zero bytes", lambda path: path.write_bytes(b""), "not a plain state dict"),
    weights_case("pickled code", pickled_code, "not a plain state dict"),
    weights_case("pickled function", pickled_lambda_module, "not a plain state dict"),
    weights_case("a text file", lambda path: path.write_text("these are my weights\n"), "not a plain state dict"),
    weights_case("a directory", lambda path: path.mkdir(), "is a directory"),
    weights_case("that do not fit", lambda path: torch.save({"w": torch.zeros(2)}, path), "do not fit"),
    # data directories
    data_case(
        "CIFAR root without batches", "cifar10", lambda root: (root / "cifar-10-batches-py").mkdir(), "test_batch"
    ),
    data_case(
        "image folder of mixed sizes",
        "imagefolder",
        lambda root: image_folder(root, ((8, 8), (8, 8), (9, 8))),
        "2.png",
        "9x8",
    ),
    data_case(
        "image folder with a non-image",
        "imagefolder",
        lambda root: image_folder(root, ((8, 8),) * 2, True),
        "notes.png",
    ),
    # command-line options
    cli_case("batch size zero", lambda ws: ["run", "quick", "--batch-size", "0"], "--batch-size", "0"),
    cli_case(
        "unknown device",
        lambda ws: ["run", "quick", "--device", "tpu", "--limit", "5", "--results", str(ws.results)],
        "--device",
        "tpu",
    ),
    cli_case(
        "results a file", lambda ws: ["run", "quick", "--limit", "5", "--results", a_file(ws)], "--results", "a-file"
    ),
    cli_case(
        "leaderboards a file",
        lambda ws: ["run", "quick", "--limit", "5", "--results", str(ws.results), "--leaderboards", a_file(ws)],
        "--leaderboards",
        "a-file",
    ),
    cli_case(
        "results below a file",
        lambda ws: ["run", "quick", "--limit", "5", "--results", a_file(ws) + "/results"],
        "--results",
        "a-file",
    ),
    cli_case("negative limit", lambda ws: ["run", "quick", "--limit", "-1"], "--limit", "-1"),
    cli_case("zero workers", lambda ws: ["run", "quick", "--workers", "0"], "--workers", "0"),
    cli_case("unknown option", lambda ws: ["run", "quick", "--colour", "red"], "--colour"),
    cli_case("unknown command", lambda ws: ["frobnicate"], "frobnicate"),
    cli_case("timestep a word", stored_args("--timestep", "x"), "--timestep", "'x'"),
    cli_case("unknown sort metric", stored_args("--sort", "ghost"), "ghost"),
    cli_case("unknown on-conflict", stored_args("--on-conflict", "maybe"), "--on-conflict", "'maybe'"),
    cli_case(
        "compare to a leaderboards file",
        lambda ws: ["compare", STORED_SUITE, "--results", str(ws.results), "--leaderboards", a_file(ws)],
        "a-file",
    ),
    cli_case("unknown baseline", stored_args("--baseline", "ghost-cnn"), "ghost-cnn"),
    cli_case("missing reference", stored_args("--against", "no-such.csv"), "no-such.csv"),
    cli_case("reference not a leaderboard", non_csv_reference, "reference.csv"),
    cli_case(
        "compare on a missing results dir",
        lambda ws: ["compare", STORED_SUITE, "--results", str(ws.root / "nowhere")],
        "nowhere",
    ),
    cli_case("register a missing file", lambda ws: ["register", str(ws.root / "none.toml")], "none.toml"),
    cli_case("show an unknown model", lambda ws: ["models", "show", "ghost-cnn"], "ghost-cnn"),
    cli_case("unregister an unknown model", lambda ws: ["unregister", "ghost-cnn"], "ghost-cnn"),
    # damaged results
    results_case("truncated scores file", truncate_scores),
    results_case("not Parquet", fake_parquet),
    results_case("predictions copied over scores", predictions_over_scores, "is not a scores file"),
    results_case("a pair under another cell's names", pair_under_another_name, "not of the cell its name stands for"),
    # hostile names, wherever a name enters (issue 19)
    *[
        suite_case(f"name {label}", SUITE.replace('name = "tiny"', f"name = {json.dumps(name)}"), "name", "allowed")
        for label, name in HOSTILE_NAMES.items()
    ],
    *[
        model_case(f"name {label}", DIGITS_CNN.replace("[models.my-cnn]", f"[models.{json.dumps(name)}]"), "allowed")
        for label, name in HOSTILE_NAMES.items()
    ],
    model_case(
        "base named with a separator", DIGITS_CNN + DIGITS_PCNN.replace('base = "my-cnn"', 'base = "../my-cnn"'), "base"
    ),
    # weights that are not files (issue 19)
    weights_case("a symlink loop", symlink_loop, "is a symlink loop"),
    weights_case("a FIFO", lambda path: os.mkfifo(path), "is a named pipe (FIFO)"),
    weights_case(
        "random bytes", lambda path: path.write_bytes(bytes([7, 7]) + bytes(range(256))), "not a file written"
    ),
    # where pcbench may write (issue 19)
    cli_case(
        "results inside the pcbench home",
        lambda ws: ["run", "quick", "--limit", "5", "--results", str(ws.home / "corruptions")],
        "--results",
        "the pcbench home",
    ),
    cli_case(
        "leaderboards containing the pcbench home",
        lambda ws: ["run", "quick", "--limit", "5", "--results", str(ws.results), "--leaderboards", str(ws.root)],
        "--leaderboards",
        "the pcbench home",
    ),
    cli_case("suite path a directory", lambda ws: ["run", str(ws.results)], "is a directory"),
    cli_case("detach without SLURM", lambda ws: ["run", "quick", "--limit", "5", "--detach"], "--detach"),
]


def snapshot(root: Path) -> dict[str, str]:
    """Every file under ``root`` (recursively, hidden ones too) with its SHA-256.

    Left out: the empty lock files of cache entries (``home/<kind>/<dataset>/<group>/.<name>.lock``,
    :mod:`pcbench.array_cache`), which the cache creates before it decodes anything and keeps
    by design; they hold no data.
    """
    found = {}
    for path in sorted(root.rglob("*")):
        relative = path.relative_to(root)
        cache_lock = relative.parts[0] == "home" and path.name.startswith(".") and path.suffix == ".lock"
        if path.is_file() and not (cache_lock and path.stat().st_size == 0):
            found[str(relative)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


@pytest.fixture(scope="module")
def stored_results(tmp_path_factory) -> Path:
    """A real results directory: ``digits-cnn`` on 5 clean digits, as ``pcbench run`` stores it."""
    from pcbench.runner import run_suite
    from pcbench.suite import parse_suite

    results = tmp_path_factory.mktemp("stored") / "results"
    suite = parse_suite(
        {"name": STORED_SUITE, "models": ["digits-cnn"], "clean": True, "dataset": {"name": "digits", "limit": 5}}
    )
    run_suite(suite, results_dir=results, device="cpu", progress=False)
    return results


@pytest.fixture
def workspace(tmp_path, stored_results, monkeypatch) -> Workspace:
    """A fresh workspace whose ``results/`` is a copy of the stored results, with its own home,
    registry and working directory."""
    from pcbench.registry import registry

    ws = Workspace(tmp_path / "ws")
    shutil.copytree(stored_results, ws.results)
    ws.home.mkdir()
    monkeypatch.setenv("PCBENCH_HOME", str(ws.home))
    monkeypatch.setattr(registry, "_REGISTRY", {})
    monkeypatch.setattr(registry, "_BROKEN", {})
    monkeypatch.setattr(registry, "_sources_loaded", False)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.chdir(ws.root)
    return ws


def assert_one_error(status: int, stderr: str, fragments: list[str]) -> None:
    """Exit status 2 and one ``error:`` line naming every fragment, no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = stderr.strip().splitlines()
    assert status == 2 and len(lines) == 1 and lines[0].startswith("error: "), (status, stderr)
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_malformed_input_is_one_error_line_and_changes_nothing(case, workspace, monkeypatch, run_main):
    args, fragments = case.make(workspace)
    assert fragments, "a case names what its error line must name: the file, key, option or value"
    before = snapshot(workspace.root)
    status, stderr = run_main(args)
    assert_one_error(status, stderr, fragments)
    assert snapshot(workspace.root) == before
    assert not Path("/tmp/pcbench-must-never-exist").exists()


#: Cases that also run as ``python -m pcbench``, one of each kind.
SUBPROCESS_CASES = [
    "suite: timesteps a string",
    "model file: num_classes a string",
    "model file: weights zero bytes",
    "cli: batch size zero",
    "results: truncated scores file",
]


@pytest.mark.parametrize("case", [case for case in CASES if case.id in SUBPROCESS_CASES], ids=lambda case: case.id)
def test_the_installed_command_gives_the_same_line(case, workspace):
    args, fragments = case.make(workspace)
    before = snapshot(workspace.root)
    env = {**os.environ, "PCBENCH_HOME": str(workspace.home)}
    result = subprocess.run(
        [sys.executable, "-m", "pcbench", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=workspace.root,
        check=False,
    )
    assert_one_error(result.returncode, result.stderr, fragments)
    assert snapshot(workspace.root) == before


@pytest.mark.parametrize(
    ("error", "fragments"),
    [
        (
            OSError(errno.ENOSPC, "No space left on device", "/data/results/quick/scores/.x.parquet.1.tmp"),
            ["/data/results/quick/scores:", "no space left on the device (ENOSPC)", "rerun"],
        ),
        (OSError(errno.ENOSPC, "No space left on device"), ["no space left on the device (ENOSPC)", "--results"]),
        (PermissionError(errno.EACCES, "Permission denied", "/data/results"), ["/data/results:", "permission denied"]),
        (OSError(errno.EROFS, "Read-only file system", "/mnt/ro/x"), ["/mnt/ro/x:", "read-only file system"]),
        (NotADirectoryError(errno.ENOTDIR, "Not a directory", "/data/file/x"), ["/data/file/x:", "not a directory"]),
        (FileNotFoundError(errno.ENOENT, "No such file or directory", "/data/gone"), ["/data/gone:", "no such file"]),
    ],
    ids=["full disk", "full disk, no path", "permission denied", "read-only", "file in the path", "gone"],
)
def test_the_environments_os_errors_are_one_line(error, fragments, workspace, monkeypatch, run_main):
    def fail() -> list[str]:
        raise error

    monkeypatch.setattr("pcbench.suite.builtin_suite_names", fail)
    status, stderr = run_main(["suites"])
    assert_one_error(status, stderr, fragments)


@pytest.mark.parametrize(
    "error",
    [ZeroDivisionError("division by zero"), OSError(errno.EIO, "Input/output error")],
    ids=["a bug", "an OSError that is no user's doing"],
)
def test_a_bug_shows_its_traceback_and_asks_for_a_report(error, workspace, monkeypatch, run_main):
    from pcbench import __version__

    def fail() -> list[str]:
        raise error

    monkeypatch.setattr("pcbench.suite.builtin_suite_names", fail)
    status, stderr = run_main(["suites"])
    lines = stderr.strip().splitlines()
    assert status == 1 and lines[0] == "Traceback (most recent call last):" and str(error) in lines[-2]
    assert lines[-1] == f"pcbench {__version__} hit an internal error; please report it with the traceback above"
