"""The cache deletes only inside itself, makes one intact entry when two processes generate it at
once, and removes only the temporary files whose writer is gone."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path

import imagecorruptions
import numpy as np
import pytest
from filelock import FileLock

from pcbench.array_cache import (
    cache_usage,
    cached_datasets,
    clear_cache,
    entry_path,
    read_entry,
    remove_stale_temp_files,
    write_entry,
)
from pcbench.data import ImageSet, load_dataset
from pcbench.errors import PcbenchError
from pcbench.files import host_tag, remove_inside, temp_target, writer_alive
from pcbench.parallel import WorkerPool
from pcbench.perturbations.generated import GeneratedCorruptions

CORRUPTION = "gaussian_noise"
LIMIT = 20


@pytest.fixture(scope="module")
def digits() -> ImageSet:
    return load_dataset("digits", "test").subset(LIMIT, 0)


def put(kind: str, dataset: str, group: str, name: str, fill: int = 7) -> Path:
    """A small entry written by the cache's own writer."""
    path = entry_path(kind, dataset, group, name)
    write_entry(path, (4, 2, 2, 3), [np.full((4, 2, 2, 3), fill, np.uint8)], lambda: {"fill": fill})
    return path


def generate(data: ImageSet) -> np.ndarray:
    """The ``CORRUPTION`` severity-1 cell of ``data``, from the cache or generated into it."""
    with WorkerPool(1) as pool:
        return np.array(GeneratedCorruptions(data, 0, pool).cell(CORRUPTION, 1).images)


def snapshot(top: Path, skip: tuple[Path, ...] = ()) -> dict[str, str]:
    """Every path under ``top`` (links not followed) with its bytes' hash, link target or ``dir``."""
    state = {}
    for folder, dirs, files in os.walk(top):
        for name in dirs + files:
            path = Path(folder) / name
            if any(path == other or other in path.parents for other in skip):
                continue
            if path.is_symlink():
                state[str(path.relative_to(top))] = f"-> {os.readlink(path)}"
            elif path.is_dir():
                state[str(path.relative_to(top))] = "dir"
            else:
                state[str(path.relative_to(top))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return state


@pytest.fixture
def tree(tmp_path, monkeypatch, digits) -> dict[str, Path]:
    """A home with real entries of two data sets, files beside the cache, links pointing outside."""
    home, outside = tmp_path / "home", tmp_path / "outside"
    monkeypatch.setenv("PCBENCH_HOME", str(home))
    (outside / "sub").mkdir(parents=True)
    (outside / "keep.txt").write_text("precious")
    (outside / "sub" / "data.bin").write_bytes(os.urandom(64))
    (home / "weights").mkdir(parents=True)
    (home / "weights" / "model.pt").write_bytes(os.urandom(32))
    (home / "registry.toml").write_text("[models]\n")
    generate(digits)
    put("corruptions", "digits", "fog", "s2-aaaa")
    put("datasets", "digits", "test", "bbbb")
    put("corruptions", "cifar10", "contrast", "s1-cccc")
    put("datasets", "cifar10", "test", "dddd")
    (home / "corruptions" / "evil").symlink_to(outside, target_is_directory=True)
    (home / "corruptions" / "digits" / "fog" / "s9-link.npy").symlink_to(outside / "keep.txt")
    (home / "corruptions" / "digits" / "outlink").symlink_to(outside / "sub", target_is_directory=True)
    (home / "datasets" / "cifar10" / "test" / "outlink").symlink_to(outside, target_is_directory=True)
    return {"top": tmp_path, "home": home, "outside": outside}


def pcbench(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PCBENCH_HOME": str(home)}
    return subprocess.run(
        [sys.executable, "-m", "pcbench", *args], env=env, capture_output=True, text=True, timeout=300, check=False
    )


HOSTILE = ["..", "../..", "..\\..", "<outside>", "/", "evil", "digits/fog", "digits\\fog", "", ".", "weights", "DIGITS"]


@pytest.mark.parametrize("name", HOSTILE)
def test_clear_refuses_any_name_cache_info_does_not_list_and_deletes_nothing(tree, name):
    before = snapshot(tree["top"])
    dataset = name.replace("<outside>", str(tree["outside"]))
    result = pcbench(tree["home"], "cache", "clear", "--dataset", dataset)
    assert result.returncode == 2, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "cached: cifar10, digits" in lines[0]
    assert "Traceback" not in result.stdout + result.stderr and result.stdout == ""
    assert snapshot(tree["top"]) == before


def test_clear_dataset_removes_exactly_its_entries_and_unlinks_links_without_following(tree):
    home = tree["home"]
    digits_dirs = (home / "corruptions" / "digits", home / "datasets" / "digits")
    before = snapshot(tree["top"], skip=digits_dirs)
    result = pcbench(home, "cache", "clear", "--dataset", "digits")
    assert result.returncode == 0, result
    assert result.stdout.startswith("removed ") and "(3 entries, 0 stale temporary files)" in result.stdout
    assert not any(path.exists() or path.is_symlink() for path in digits_dirs)
    assert snapshot(tree["top"], skip=digits_dirs) == before  # cifar10, the links' targets, the rest
    assert read_entry(entry_path("corruptions", "cifar10", "contrast", "s1-cccc")) is not None
    assert cached_datasets() == ["cifar10"]


def test_clear_all_deletes_only_the_cache_folders_contents(tree):
    home = tree["home"]
    cache = (home / "corruptions", home / "datasets")
    before = snapshot(tree["top"], skip=cache)
    result = pcbench(home, "cache", "clear")
    assert result.returncode == 0 and "(5 entries, 0 stale temporary files)" in result.stdout, result
    assert all(folder.is_dir() and not any(folder.iterdir()) for folder in cache)
    assert snapshot(tree["top"], skip=cache) == before  # registry, weights, everything outside
    assert (tree["outside"] / "keep.txt").read_text() == "precious"


def test_a_linked_cache_folder_is_cleared_inside_its_target_only(tmp_path, monkeypatch):
    home, disk = tmp_path / "home", tmp_path / "disk"
    monkeypatch.setenv("PCBENCH_HOME", str(home))
    (disk / "corruptions").mkdir(parents=True)
    (disk / "other.txt").write_text("kept")
    home.mkdir()
    (home / "corruptions").symlink_to(disk / "corruptions", target_is_directory=True)
    put("corruptions", "digits", "fog", "s1-aaaa")
    assert [row.entries for row in cache_usage()] == [1]
    assert clear_cache().entries == 1
    assert (home / "corruptions").is_symlink() and not any((disk / "corruptions").iterdir())
    assert (disk / "other.txt").read_text() == "kept"


def test_remove_inside_refuses_targets_outside_and_unlinks_links(tmp_path):
    managed, outside = tmp_path / "managed", tmp_path / "outside"
    (managed / "sub").mkdir(parents=True)
    outside.mkdir()
    (outside / "keep.txt").write_text("precious")
    (managed / "link").symlink_to(outside, target_is_directory=True)
    for target in (
        managed,
        managed / "..",
        managed / "sub" / ".." / "..",
        outside / "keep.txt",
        Path("/"),
        managed / "link" / "keep.txt",
        tmp_path / "managed-sibling",
    ):
        with pytest.raises(PcbenchError, match="refusing to delete .* not inside"):
            remove_inside(target, managed)
    remove_inside(managed / "link", managed)
    assert not (managed / "link").is_symlink() and (outside / "keep.txt").read_text() == "precious"
    (managed / "sub" / "file").write_text("x")
    with pytest.raises(OSError):  # never recursive
        remove_inside(managed / "sub", managed)
    remove_inside(managed / "sub" / "file", managed)
    remove_inside(managed / "sub", managed)
    assert list(managed.iterdir()) == []


def _generate_in_child(home: str, barrier: multiprocessing.synchronize.Barrier, results: multiprocessing.Queue) -> None:
    """Generate the test cell in ``home`` once ``barrier`` lets both processes go; report the
    number of images this process corrupted and the cell's hash."""
    os.environ["PCBENCH_HOME"] = home
    calls = []
    original = imagecorruptions.corruption_dict[CORRUPTION]

    def slow(*args, **kwargs):  # long enough for both processes to find the entry missing
        calls.append(1)
        time.sleep(0.02)
        return original(*args, **kwargs)

    imagecorruptions.corruption_dict[CORRUPTION] = slow
    data = load_dataset("digits", "test").subset(LIMIT, 0)
    barrier.wait(timeout=240)
    images = generate(data)
    results.put((len(calls), hashlib.sha256(images.tobytes()).hexdigest()))


def test_two_processes_generating_one_entry_make_one_intact_entry_once(digits, tmp_path, monkeypatch):
    shared = tmp_path / "shared"
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(2), context.Queue()
    children = [context.Process(target=_generate_in_child, args=(str(shared), barrier, results)) for _ in range(2)]
    for child in children:
        child.start()
    reports = [results.get(timeout=300) for _ in children]
    for child in children:
        child.join(timeout=60)
        assert child.exitcode == 0
    monkeypatch.setenv("PCBENCH_HOME", str(tmp_path / "alone"))
    alone = generate(digits)
    assert sum(calls for calls, _ in reports) == LIMIT  # one process generated, the other waited and read
    assert {digest for _, digest in reports} == {hashlib.sha256(alone.tobytes()).hexdigest()}
    folder = shared / "corruptions" / "digits" / CORRUPTION
    names = sorted(path.name for path in folder.iterdir())
    assert [Path(name).suffix for name in names] == [".lock", ".json", ".npy"], names
    assert not list(shared.rglob("*.tmp"))
    monkeypatch.setenv("PCBENCH_HOME", str(shared))
    entry = read_entry(folder / names[2])
    assert entry is not None and np.array_equal(entry.array, alone)
    assert (folder / names[2]).read_bytes() == next((tmp_path / "alone").rglob("*.npy")).read_bytes()


def dead_pid() -> int:
    """The pid of a process that has exited."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def temp_file(folder: Path, target: str, writer: str | None) -> Path:
    """A zero-byte temporary file of ``target`` as a killed :func:`atomic_write` leaves it."""
    path = folder / (f".{target}.{writer}.k1l2m3n4.tmp" if writer else f".{target}.k1l2m3n4.tmp")
    path.write_bytes(b"")
    return path


def test_temp_names_record_the_writer(tmp_path):
    host = host_tag()
    assert writer_alive(temp_file(tmp_path, "a.npy", f"{host}-{os.getpid()}")) is True
    assert writer_alive(temp_file(tmp_path, "b.npy", f"{host}-{dead_pid()}")) is False
    assert writer_alive(temp_file(tmp_path, "c.npy", "elsewhere-1")) is None
    assert writer_alive(temp_file(tmp_path, "d.npy", None)) is None
    assert [temp_target(path) for path in sorted(tmp_path.iterdir())] == ["a.npy", "b.npy", "c.npy", "d.npy"]


def test_only_temp_files_whose_writer_is_gone_are_removed(fresh_home):
    host = host_tag()
    entry = put("corruptions", "digits", "fog", "s1-aaaa")
    folder = entry.parent
    dead = temp_file(folder, "s1-aaaa.npy", f"{host}-{dead_pid()}")
    alive = temp_file(folder, "s1-aaaa.json", f"{host}-{os.getpid()}")
    legacy = temp_file(folder, "s1-bbbb.npy", None)
    legacy_in_use = temp_file(folder, "s1-cccc.npy", None)
    elsewhere = temp_file(folder, "s1-dddd.npy", "elsewhere-1")
    with FileLock(folder / ".s1-cccc.lock"):  # a writer of s1-cccc at work
        assert remove_stale_temp_files(folder) == 3
    assert sorted(path.name for path in folder.glob(".*.tmp")) == sorted([alive.name, legacy_in_use.name])
    assert not any(path.exists() for path in (dead, legacy, elsewhere))
    assert read_entry(entry) is not None


def test_writing_into_a_folder_and_clearing_remove_stale_temp_files(fresh_home):
    folder = put("corruptions", "digits", "fog", "s1-aaaa").parent
    dead = temp_file(folder, "s1-aaaa.npy", f"{host_tag()}-{dead_pid()}")
    put("corruptions", "digits", "fog", "s2-aaaa")
    assert not dead.exists()
    temp_file(folder, "s1-aaaa.npy", f"{host_tag()}-{dead_pid()}")
    temp_file(folder, "s3-aaaa.json", None)
    result = pcbench(fresh_home, "cache", "clear")
    assert result.returncode == 0 and "(2 entries, 2 stale temporary files)" in result.stdout, result


def test_clear_keeps_entries_another_process_is_writing(fresh_home):
    busy = put("corruptions", "digits", "fog", "s1-aaaa")
    put("corruptions", "digits", "fog", "s2-aaaa")
    put("datasets", "digits", "test", "bbbb")
    writing = temp_file(busy.parent, "s1-aaaa.npy", None)
    with FileLock(busy.parent / ".s1-aaaa.lock"):
        cleared = clear_cache("digits")
    assert (cleared.entries, cleared.in_use, cleared.stale_temp_files) == (2, 1, 0)
    assert read_entry(busy) is not None and writing.exists()
    assert sorted(path.name for path in busy.parent.iterdir()) == sorted(
        [busy.name, busy.with_suffix(".json").name, writing.name, ".s1-aaaa.lock"]
    )
