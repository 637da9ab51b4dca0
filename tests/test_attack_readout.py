"""The attack × read-out matrix: images attacked at one timestep, read at every timestep.

Checked against hand-made adversarial images (the same attack called directly), through
the store (off-diagonal rows apart from the cells' own rows, so nothing is counted twice)
and into the leaderboard (long CSV, heatmap, report link). digits-pcnn's timesteps barely
differ, so a matrix read the wrong way round would pass on it: :class:`Halves`, whose
timesteps see different halves of the image, tells attack time and read-out time apart.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
from torch import nn

from pcbench.api import evaluate, leaderboard, write_report
from pcbench.data.digits import load_digits_split
from pcbench.leaderboards.readout import COLUMNS
from pcbench.models.build import build_model
from pcbench.perturbations.attacks import attack_images, unrolled_to
from pcbench.runner.adversarial import attacked_predictions
from pcbench.runner.run import load_suite_data
from pcbench.store import cell_stem, read_predictions, read_scores
from pcbench.suite import AttackConfig, parse_suite

CPU = torch.device("cpu")
PGD = AttackConfig(kind="pgd-linf", epsilons=(0.1,), steps=2, rel_stepsize=0.5, random_start=True)
PGD_STEPS = {"kind": "pgd-linf", "epsilons": [0.1], "steps": 2, "rel_stepsize": 0.5}
SUITE = {
    "name": "matrix",
    "models": ["digits-cnn"],
    "timesteps": 2,
    "clean": False,
    "seed": 3,
    "dataset": {"name": "digits", "limit": 20},
    "attacks": [{**PGD_STEPS, "attack_timestep": "each"}, {**PGD_STEPS, "attack_timestep": "first"}],
}
EACH, FIRST = "pgd-linf-each@0.1", "pgd-linf-first@0.1"


class Halves(nn.Module):
    """digits-cnn at three timesteps: on the whole image (0), its left half (1), its right half (2)."""

    def __init__(self) -> None:
        super().__init__()
        self.cnn = build_model("digits-cnn")
        left = torch.zeros(1, 1, 1, 32)
        left[..., :16] = 1
        self.register_buffer("masks", torch.stack([torch.ones_like(left), left, 1 - left]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.cnn(x * mask)[0] for mask in self.masks])


def adversarial(model, data, config: AttackConfig, attacked_at: int, seed: int) -> torch.Tensor:
    """The images ``config`` crafts against ``attacked_at`` (the model unrolled to it, as
    ``each`` attacks)."""
    with unrolled_to(model, attacked_at):
        return attack_images(
            model,
            data.tensor(),
            torch.from_numpy(data.labels),
            data.ids,
            config,
            0.1,
            attacked_at,
            num_classes=data.num_classes,
            seed=seed,
            batch_size=8,
            device=CPU,
        )


@pytest.mark.parametrize("name", ["digits-pcnn", "halves"])
def test_each_matrix_reads_the_attacked_images_at_every_timestep_and_its_diagonal_is_each(name):
    data = load_digits_split("test").subset(8, seed=0)
    model = Halves() if name == "halves" else build_model(name)
    model.timesteps = 2  # digits-pcnn: a short unroll keeps the test fast (it is truncated to t for each attack)
    config = dataclasses.replace(PGD, attack_timestep="each")
    predictions, _, matrix = attacked_predictions(model, config, 0.1, data, (0, 1, 2), seed=0, batch_size=8, device=CPU)
    assert matrix is not None and matrix.shape == (3, 3, 8)
    assert np.array_equal(matrix[[0, 1, 2], [0, 1, 2]], predictions)  # the diagonal is what `each` stores
    for attacked_at in (0, 1, 2):
        images = adversarial(model, data, config, attacked_at, seed=0)
        with torch.no_grad():
            whole = model(images).argmax(dim=-1).numpy()  # every read-out timestep, by hand
            with unrolled_to(model, attacked_at):
                diagonal = model(images).argmax(dim=-1)[attacked_at].numpy()
        assert np.array_equal(predictions[attacked_at], diagonal)  # today's `each` numbers
        for readout in (0, 1, 2):
            if readout != attacked_at:
                assert np.array_equal(matrix[attacked_at, readout], whole[readout]), (attacked_at, readout)
    if name == "halves":  # attack time and read-out time are not interchangeable here
        assert not np.array_equal(matrix[1, 2], matrix[2, 1])
    _, _, single = attacked_predictions(model, PGD, 0.1, data, (0, 1, 2), seed=0, batch_size=8, device=CPU)
    assert single is None  # `last`: one set of images, already read at every timestep


@pytest.fixture(scope="module")
def stored(tmp_path_factory) -> Path:
    """The suite run once: its results directory (parent of ``matrix/``)."""
    results = tmp_path_factory.mktemp("results")
    evaluate(Halves(), parse_suite(SUITE), name="halves", base="digits-cnn", results=results, device="cpu", workers=1)
    return results


def test_stored_matrix_rows_are_apart_from_the_cells_rows(stored: Path) -> None:
    root = stored / "matrix"
    own, everything = read_predictions(root), read_predictions(root, matrix=True)
    assert own["attacked_at"].isna().all()
    counts = own.groupby(["model", "cell"]).size().to_dict()
    assert counts == {(m, c): 20 * (3 if m == "halves" else 1) for m in ("digits-cnn", "halves") for c in (EACH, FIRST)}
    extra = everything[everything["attacked_at"].notna()]
    assert set(extra["cell"]) == {EACH} and set(extra["model"]) == {"halves"}  # the cnn has one timestep
    assert len(extra) == 20 * 3 * 2 and (extra["attacked_at"] != extra["timestep"]).all()
    # stored off-diagonal entries: the images attacked at 1 read at 2 and the other way round, by hand
    suite = parse_suite(SUITE)
    data, model = load_suite_data(suite), Halves()
    for attacked_at, readout in ((1, 2), (2, 1)):
        images = adversarial(model, data, suite.attacks[0], attacked_at, seed=3)
        with torch.no_grad():
            by_hand = model(images).argmax(dim=-1)[readout].numpy()
        rows = extra[(extra["attacked_at"] == attacked_at) & (extra["timestep"] == readout)]
        rows = rows.set_index("sample_id").loc[data.ids]
        assert np.array_equal(rows["prediction"].to_numpy(), by_hand) and np.array_equal(rows["label"], data.labels)
    scores = read_scores(root)
    assert scores.groupby(["model", "cell"]).size().to_dict() == {key: value // 20 for key, value in counts.items()}


def test_a_predictions_file_without_the_column_still_reads(stored: Path, tmp_path: Path) -> None:
    root = tmp_path / "matrix"
    for kind in ("scores", "predictions"):
        (root / kind).mkdir(parents=True)
        for path in (stored / "matrix" / kind).glob("*.parquet"):
            (root / kind / path.name).write_bytes(path.read_bytes())
    path = root / "predictions" / f"{cell_stem('halves', FIRST)}.parquet"
    table = pq.read_table(path)
    pq.write_table(table.drop(["attacked_at"]).replace_schema_metadata(table.schema.metadata), path)
    pd.testing.assert_frame_equal(read_predictions(root), read_predictions(stored / "matrix"))


def test_leaderboard_matrix_csv_heatmap_and_report(stored: Path, tmp_path: Path) -> None:
    board = leaderboard("matrix", results=stored)
    table = board.attack_readout
    assert list(table.columns) == COLUMNS
    scores = board.results.scores.set_index(["model", "cell", "timestep"])
    halves = table[table["model"] == "halves"]
    each = halves[halves["attack_timestep"] == "each"]
    assert len(each) == 9 and set(each["threat"]) == {"pgd-linf"}
    diagonal = each[each["attacked_at"] == each["readout"]]
    for row in diagonal.itertuples(index=False):  # exactly the `each` numbers of the scores
        stored_row = scores.loc[("halves", EACH, row.readout)]
        assert (row.n, row.correct, row.accuracy) == (stored_row["n"], stored_row["correct"], stored_row["accuracy"])
    off = read_predictions(stored / "matrix", matrix=True).query("attacked_at == 1 and timestep == 2")
    (entry,) = each[(each["attacked_at"] == 1) & (each["readout"] == 2)].itertuples(index=False)
    assert (entry.n, entry.correct) == (20, int((off["prediction"] == off["label"]).sum()))
    first = halves[halves["attack_timestep"] == "first"]  # one row of the matrix, attacked at 0
    assert list(first["attacked_at"]) == [0, 0, 0] and list(first["readout"]) == [0, 1, 2]
    assert list(first["accuracy"]) == [scores.loc[("halves", FIRST, t), "accuracy"] for t in (0, 1, 2)]
    written = write_report(board, tmp_path)
    csv = tmp_path / "matrix-attack-readout.csv"
    heatmap = tmp_path / "matrix-plots" / "attack-readout.png"
    assert csv in written and heatmap in written and heatmap.stat().st_size > 1024
    assert list(pd.read_csv(csv).columns) == COLUMNS and len(pd.read_csv(csv)) == len(table)
    report = (tmp_path / "matrix-report.md").read_text()
    assert "](matrix-plots/attack-readout.png)" in report and "](matrix-attack-readout.csv)" in report
