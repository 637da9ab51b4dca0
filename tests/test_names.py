"""One rule for names (issue 19): a model, suite or module name with a path separator, ``..``,
a control character, a bidirectional override, a leading dot or 101 characters is refused in
one line wherever it enters, before anything is written anywhere."""

from __future__ import annotations

import hashlib
import json

import pytest

import pcbench
from pcbench.names import MAX_NAME, check_name, is_name

HOSTILE = {
    "parent escape": "../../../tf-escape",
    "separator": "a/b",
    "backslash": "a\\b",
    "control character": "cnn\x07",
    "newline": "cnn\nerror: fake",
    "bidi override": "cnn\u202egnp.exe",
    "leading dot": ".hidden",
    "non-ASCII look-alike": "сnn",  # Cyrillic es
    "too long": "a" * (MAX_NAME + 1),
    "empty": "",
}


def snapshot(folder):
    return {
        str(path): hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
        for path in sorted(folder.rglob("*"))
    }


def test_the_rule_accepts_ordinary_names_and_nothing_else():
    for name in ("digits-pcnn", "presnet18-cifar100", "my_model.v2", "A" * MAX_NAME, "0"):
        assert is_name(name) and check_name("model", name, "here") == name
    for name in HOSTILE.values():
        assert not is_name(name)
    with pytest.raises(pcbench.PcbenchError) as refused:
        check_name("model", HOSTILE["bidi override"], "models.toml")
    assert str(refused.value) == (
        "models.toml: model name 'cnn\\u202egnp.exe' is not allowed; allowed: 1 to 100 ASCII letters, digits, "
        "'-', '_' and '.' (not first)"
    )


@pytest.mark.parametrize("case", HOSTILE)
def test_a_hostile_model_name_is_refused_by_register_before_any_write(case, tmp_path, fresh_home, run_main):
    name = HOSTILE[case]
    models = tmp_path / "models.toml"
    models.write_text(
        f"[models.{json.dumps(name)}]\n"
        'arch = "resnet18"\nnum_classes = 10\ndataset = "digits"\ninput_size = 32\n'
        "mean = [0.5, 0.5, 0.5]\nstd = [0.5, 0.5, 0.5]\n"
    )
    before = snapshot(tmp_path)
    status, err = run_main(["register", str(models)])
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "is not allowed" in lines[0], err
    assert "\n" not in lines[0] and "\u202e" not in lines[0] and "\x07" not in lines[0]
    assert snapshot(tmp_path) == before


@pytest.mark.parametrize("case", HOSTILE)
def test_a_hostile_suite_name_is_refused(case, tmp_path, run_main):
    suite = tmp_path / "s.toml"
    suite.write_text(f'name = {json.dumps(HOSTILE[case])}\nmodels = ["digits-cnn"]\n[dataset]\nname = "digits"\n')
    status, err = run_main(["run", str(suite), "--results", str(tmp_path / "r"), "--leaderboards", str(tmp_path / "l")])
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and "name = " in lines[0] and "is not allowed" in lines[0], err
    assert not (tmp_path / "r").exists() and not (tmp_path / "l").exists()


@pytest.mark.parametrize("case", ["parent escape", "bidi override", "separator"])
def test_hostile_names_are_refused_by_the_api(case, tmp_path, registry_snapshot):
    from torch import nn

    name = HOSTILE[case]
    with pytest.raises(pcbench.PcbenchError, match="is not allowed"):
        pcbench.evaluate(nn.Linear(2, 2), "quick", name=name, results=tmp_path / "r")
    with pytest.raises(pcbench.PcbenchError, match="is not allowed"):
        pcbench.register(name, num_classes=10, dataset="digits")(lambda num_classes: nn.Linear(2, num_classes))
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("name", ["..", ".", "", "a/b", "../escape", "x\0y"])
def test_a_path_derived_from_a_name_stays_inside_its_root(name, tmp_path):
    from pcbench.files import inside

    with pytest.raises(pcbench.PcbenchError, match=f"is not one file name inside {tmp_path}, which pcbench manages"):
        inside(tmp_path, "train-feedback", name)
    assert inside(tmp_path, "train-feedback", "digits-pcnn-0123") == tmp_path / "train-feedback" / "digits-pcnn-0123"


def test_writers_use_the_guard_for_what_they_derive_from_names(tmp_path):
    """A suite or model name that slipped past the name rule still cannot leave its folder."""
    from pcbench.executors.jobs import jobs_root
    from pcbench.leaderboards.board import csv_paths
    from pcbench.leaderboards.plots import plots_dir
    from pcbench.leaderboards.report import report_path

    for writer in (jobs_root, csv_paths, plots_dir, report_path):
        with pytest.raises(pcbench.PcbenchError, match="refusing to write"):
            writer(tmp_path, "../../escape")
