"""Streamed cells: a cell's images reach the model batch by batch, read a bounded number of
batches ahead (:mod:`pcbench.streams`), and the predictions are the whole-array path's bits."""

from __future__ import annotations

import weakref
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from pcbench.data import imagefolder
from pcbench.perturbations.corruption_sources import open_corruptions
from pcbench.runner.entries import UserModule
from pcbench.runner.run import load_suite_data, run_suite
from pcbench.store.results import read_predictions
from pcbench.streams import PREFETCH, array_blocks, prefetched, read_rows, rebatch, stream_batches
from pcbench.suite import parse_suite

WNIDS = [f"n{index:08d}" for index in range(1000)]


def test_read_rows_reads_the_file_of_a_memory_map(tmp_path):
    array = np.arange(10 * 4 * 4 * 3, dtype=np.uint8).reshape(10, 4, 4, 3)
    np.save(tmp_path / "a.npy", array)
    mapped = np.load(tmp_path / "a.npy", mmap_mode="r")
    rows = np.array([0, 1, 2, 5, 7, 8, 3])  # runs of consecutive rows, and one out of order
    assert np.array_equal(read_rows(mapped, rows), array[rows])
    assert np.array_equal(read_rows(mapped[4:], np.array([0, 2])), array[[4, 6]])  # a slice keeps the parent's offset
    assert np.array_equal(read_rows(array, rows), array[rows])
    blocks = list(array_blocks(mapped, np.arange(3, 10), block=3))
    assert [len(block) for block in blocks] == [3, 3, 1] and np.array_equal(np.concatenate(blocks), array[3:])


def test_rebatch_cuts_where_split_would():
    images = np.arange(23)
    blocks = [images[:5], images[5:6], images[6:20], images[20:]]
    batches = list(rebatch(blocks, 4))
    assert [batch.tolist() for batch in batches] == [chunk.tolist() for chunk in np.split(images, range(4, 23, 4))]
    whole = np.arange(8)
    assert all(np.shares_memory(batch, whole) for batch in rebatch([whole[:4], whole[4:]], 4))  # no copy


def test_prefetched_stays_a_bounded_number_of_items_ahead():
    consumed = 0
    ahead = []

    def items():
        for index in range(50):
            ahead.append(index - consumed)  # items produced but not yet taken by the consumer
            yield index

    for item in prefetched(items(), depth=3):
        assert item == consumed
        consumed += 1
    assert consumed == 50 and max(ahead) <= 3 + 1  # the queue, and the one item waiting to be put


def test_prefetched_raises_the_producers_error_and_stops_it_early():
    closed = []

    def failing():
        yield 1
        raise ValueError("bad file")

    stream = prefetched(failing())
    assert next(stream) == 1
    with pytest.raises(ValueError, match="bad file"):
        next(stream)

    def endless():
        try:
            index = 0
            while True:
                yield index
                index += 1
        finally:
            closed.append(True)

    stream = prefetched(endless())
    assert [next(stream) for _ in range(5)] == [0, 1, 2, 3, 4]
    stream.close()
    assert closed == [True]


def test_stream_batches_equal_the_array_cut_by_batch():
    images = np.random.default_rng(0).integers(0, 256, (37, 4, 4, 3), dtype=np.uint8)
    streamed = list(stream_batches(array_blocks(images, block=5), 8))
    assert [len(batch) for batch in streamed] == [8, 8, 8, 8, 5]
    assert np.array_equal(np.concatenate(streamed), images)


class Counting(nn.Module):
    """A tiny ImageNet classifier that counts the images it has been given."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(48, 1000))
        self.seen = 0

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        self.seen += len(images)
        return self.head(images)


def write_imagenet_and_c(root: Path, count: int) -> None:
    """``count`` ImageNet val JPEGs (all 1000 class folders) and their ImageNet-C ``fog/3`` versions."""
    rng = np.random.default_rng(1)
    for wnid in WNIDS:
        (root / "imagenet" / "val" / wnid).mkdir(parents=True)
    for index in range(count):
        file = f"{WNIDS[index % 7]}/ILSVRC2012_val_{index:08d}.JPEG"
        for folder in (root / "imagenet" / "val", root / "ImageNet-C" / "fog" / "3"):
            (folder / file).parent.mkdir(parents=True, exist_ok=True)
            pixels = rng.integers(0, 256, (224, 224, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(folder / file, quality=90)


def test_an_imagenet_c_cell_is_decoded_a_bounded_number_of_batches_ahead(tmp_path, monkeypatch):
    """The model never lags the decoder by more than the prefetch queue, the batch being
    built and the one being evaluated (the old code decoded the whole cell first), and the
    stored predictions are those of the whole decoded cell evaluated by ``predict``."""
    count, batch_size = 64, 4  # 8 decoded blocks of 8 images (one worker: 8 blocks)
    write_imagenet_and_c(tmp_path, count)
    suite = parse_suite(
        {
            "name": "stream",
            "models": ["tiny"],
            "timesteps": 0,
            "clean": False,
            "dataset": {"name": "imagenet", "split": "val", "root": str(tmp_path / "imagenet")},
            "corruptions": {
                "names": ["fog"],
                "severities": [3],
                "source": "precomputed",
                "root": str(tmp_path / "ImageNet-C"),
            },
        }
    )
    model = Counting()
    decoded = imagefolder.decode_files
    sizes: list[int] = []  # images of each decoded block
    blocks: list[weakref.ref] = []  # the decoded blocks, held or not
    ahead: list[int] = []  # images decoded but not yet evaluated, whenever a block is decoded
    live: list[int] = []  # decoded blocks still held, whenever a block is decoded
    probed = []  # images the run's layout probes gave the model before the cell

    def counted(folder, *args, **kwargs):
        if "ImageNet-C" not in folder.parts:  # the clean images, decoded into the cache before the run
            return decoded(folder, *args, **kwargs)
        probed.append(model.seen) if not probed else None
        ahead.append(sum(sizes) - (model.seen - probed[0]))
        live.append(sum(ref() is not None for ref in blocks))
        block = decoded(folder, *args, **kwargs)
        sizes.append(len(block))
        blocks.append(weakref.ref(block))
        return block

    monkeypatch.setattr(imagefolder, "decode_files", counted)
    run_suite(
        suite,
        results_dir=tmp_path / "results",
        device="cpu",
        batch_size=batch_size,
        progress=False,
        workers=1,
        modules={"tiny": UserModule(model)},
    )
    assert sizes == [8] * 8 and model.seen - probed[0] == count
    assert max(ahead) <= (PREFETCH + 2) * batch_size  # the old code: 56 images ahead at the last block
    assert max(live) <= PREFETCH + 3  # the old code: 7 blocks held at the last block

    monkeypatch.undo()
    data = load_suite_data(suite)
    with open_corruptions(suite, data, 1) as source:
        whole = data.tensor(source.cell("fog", 3).images)  # the whole cell in memory, the old path
    with torch.no_grad():
        expected = torch.cat([model.head(batch).argmax(-1) for batch in whole.split(batch_size)])
    stored = read_predictions(tmp_path / "results" / "stream").sort_values("sample_id")
    assert np.array_equal(stored["sample_id"].to_numpy(), data.ids)
    assert np.array_equal(stored["prediction"].to_numpy(), expected.numpy())


def test_workers_decode_into_shared_slots_in_order(tmp_path, monkeypatch):
    """With worker processes, blocks come back through a shared buffer (only counts cross the
    pipe): the blocks equal a plain decode, and the buffer file is gone afterwards."""
    from pcbench.parallel import WorkerPool

    folder = tmp_path / "fog" / "3"
    files = tuple(f"n00000000/{index}.png" for index in range(20))
    (folder / "n00000000").mkdir(parents=True)
    for index, file in enumerate(files):
        Image.fromarray(np.full((40, 36, 3), 12 * index, np.uint8)).save(folder / file)
    plain = imagefolder.decode_files(folder, files, None, (40, 36))
    buffer = tmp_path / "slots"
    buffer.write_bytes(bytes(2 * 8 * 40 * 36 * 3))
    assert imagefolder.decode_into_slot(buffer, (8, 40, 36, 3), 1, files[:5], folder, None) == 5
    slots = np.fromfile(buffer, np.uint8).reshape(2, 8, 40, 36, 3)
    assert np.array_equal(slots[1, :5], plain[:5]) and not slots[0].any() and not slots[1, 5:].any()
    made = []
    slot_buffer = imagefolder._slot_buffer
    monkeypatch.setattr(imagefolder, "_slot_buffer", lambda nbytes: made.append(slot_buffer(nbytes)) or made[-1])
    with WorkerPool(2) as pool:
        blocks = list(imagefolder.decode_in_parallel(pool, folder, files, None, (40, 36)))
    assert len(blocks) > pool.in_flight and np.array_equal(np.concatenate(blocks), plain)  # every slot reused
    assert len(made) == 1 and not made[0].exists()
