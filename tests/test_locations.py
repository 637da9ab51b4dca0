"""Where a run's files go (:mod:`pcbench.store.locations`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pcbench.errors import PcbenchError
from pcbench.store.locations import check_output_dir, suite_name

SUITE = 'name = "located"\nmodels = ["digits-cnn"]\nclean = true\n[dataset]\nname = "digits"\nlimit = 5\n'


def test_a_suite_is_stored_under_its_files_name_or_the_name_given(tmp_path):
    path = tmp_path / "file-name.toml"
    path.write_text(SUITE)
    assert suite_name(path) == suite_name(str(path)) == "located"
    assert suite_name("quick") == "quick"


def test_an_output_directory_below_a_file_is_refused_naming_the_option(tmp_path):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(PcbenchError, match=f"^--results {tmp_path}/a-file/out lies below {tmp_path}/a-file, which"):
        check_output_dir("results", tmp_path / "a-file" / "out")
    check_output_dir("leaderboards", tmp_path / "new" / "dir")  # created later: accepted
    assert not Path(tmp_path / "new").exists()
