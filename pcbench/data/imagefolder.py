"""Image folders (torchvision's ``ImageFolder`` layout) and ImageNet validation, from local paths.

Layout: ``<root>/<split>/<class>/**/<image>``; classes are the sorted sub-folder names and
samples follow ``torchvision.datasets.ImageFolder``'s order (its own listing functions are
used), so sample id ``i`` is ``ImageFolder(root/split)[i]``.

- ``imagefolder``: images as they are (RGB); they must all share one size.
- ``imagenet``: ``<root>/val/<wnid>/*.JPEG`` with the 1000 WordNet-id folders (the layout
  ImageNet-C follows); each image is resized (shorter side 256, bilinear) and centre-cropped
  to 224×224 with ``torchvision.transforms.functional``, as ImageNet-C was made.

Memory: a decoded split is written once (decoded in parallel) into the pcbench cache,
``<pcbench home>/datasets/<name>/<split>/<key>.npy`` (ImageNet val: 50,000 × 224 × 224 × 3 =
7.5 GB), and memory-mapped from there; the key covers the folder, every file's relative path,
size and modification time, and the preprocessing, so changed files are decoded again.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import uuid
import weakref
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from pcbench.array_cache import entry_path, read_entry, write_entry
from pcbench.data.imageset import ImageSet
from pcbench.errors import PcbenchError
from pcbench.hashing import hash_json
from pcbench.parallel import MAX_CHUNK, WorkerPool, chunk_slices
from pcbench.streams import read_rows

#: ImageNet preprocessing: resize the shorter side to 256, then centre-crop 224.
IMAGENET_RESIZE_CROP = (256, 224)
IMAGENET_CLASSES = 1000
_WNID = re.compile(r"n\d{8}")


@dataclass(frozen=True)
class FolderListing:
    """The images of one split folder, in ``ImageFolder`` order."""

    folder: Path
    classes: tuple[str, ...]
    files: tuple[str, ...]  # paths relative to ``folder``, e.g. ``n01440764/ILSVRC2012_val_00000293.JPEG``
    labels: np.ndarray


def list_image_folder(folder: Path, expected: str) -> FolderListing:
    """List ``folder`` like ``ImageFolder``; ``expected`` describes the layout in errors."""
    from torchvision.datasets.folder import IMG_EXTENSIONS, find_classes, make_dataset

    if not folder.is_dir():
        raise PcbenchError(f"{folder} is not a directory; {expected}")
    try:
        classes, class_to_index = find_classes(folder)
    except FileNotFoundError:
        raise PcbenchError(f"{folder} has no class folders; {expected}") from None
    samples = make_dataset(folder, class_to_index, extensions=IMG_EXTENSIONS, allow_empty=True)
    if not samples:
        raise PcbenchError(f"{folder} holds no images ({', '.join(IMG_EXTENSIONS)}); {expected}")
    files = tuple(Path(path).relative_to(folder).as_posix() for path, _ in samples)
    labels = np.array([label for _, label in samples], dtype=np.int64)
    return FolderListing(folder, tuple(classes), files, labels)


def imagenet_listing(root: Path, split: str) -> FolderListing:
    """The ImageNet validation folder ``<root>/val``, checked for its 1000 WordNet-id classes."""
    if split != "val":
        raise PcbenchError(f"dataset.split = '{split}' for imagenet; allowed: val")
    expected = (
        f"expected ImageNet validation images as <root>/val/<wnid>/*.JPEG in "
        f"{IMAGENET_CLASSES} class folders named n######## (e.g. after valprep.sh)"
    )
    listing = list_image_folder(root / split, expected)
    wnids = [name for name in listing.classes if _WNID.fullmatch(name)]
    if len(wnids) != IMAGENET_CLASSES or len(listing.classes) != IMAGENET_CLASSES:
        raise PcbenchError(
            f"{root / split} has {len(listing.classes)} class folders ({len(wnids)} named like WordNet ids); {expected}"
        )
    return listing


def load_imagenet(split: str, root: Path) -> ImageSet:
    """ImageNet validation, resized to 256 and centre-cropped to 224 (decoded once, cached)."""
    listing = imagenet_listing(root, split)
    images = decoded_images("imagenet", split, listing, IMAGENET_RESIZE_CROP)
    return ImageSet(
        "imagenet", split, images, listing.labels, np.arange(len(listing.files), dtype=np.int64), IMAGENET_CLASSES
    )


def load_imagefolder(split: str, root: Path) -> ImageSet:
    """Any ``<root>/<split>/<class>/`` image folder, images as they are (one shared size)."""
    expected = "expected <root>/<split>/<class>/<image> (torchvision's ImageFolder layout)"
    listing = list_image_folder(root / split, expected)
    images = decoded_images("imagefolder", split, listing, None)
    return ImageSet(
        "imagefolder",
        split,
        images,
        listing.labels,
        np.arange(len(listing.files), dtype=np.int64),
        len(listing.classes),
    )


def decoded_images(name: str, split: str, listing: FolderListing, resize_crop: tuple[int, int] | None) -> np.ndarray:
    """The listing's images as a memory-mapped ``uint8 [N, H, W, 3]``, decoding them once."""
    stats = [(listing.folder / file).stat() for file in listing.files]
    key = hash_json(
        {
            "folder": str(listing.folder.resolve()),
            "resize_crop": resize_crop,
            "files": [[file, stat.st_size, stat.st_mtime_ns] for file, stat in zip(listing.files, stats, strict=True)],
        }
    )
    path = entry_path("datasets", name, split, key)
    entry = read_entry(path)
    if entry is None:
        first = decode_files(listing.folder, listing.files[:1], resize_crop, None)
        with WorkerPool(1 if len(listing.files) <= MAX_CHUNK else None) as pool:
            blocks = decode_in_parallel(pool, listing.folder, listing.files, resize_crop, first.shape[1:3])
            meta = {"folder": str(listing.folder), "images": len(listing.files), "resize_crop": resize_crop}
            entry = write_entry(path, (len(listing.files), *first.shape[1:]), blocks, lambda: meta)
    return entry.array


def decode_in_parallel(
    pool: WorkerPool,
    folder: Path,
    files: tuple[str, ...],
    resize_crop: tuple[int, int] | None,
    size: tuple[int, int],
) -> Iterator[np.ndarray]:
    """Decoded blocks of ``files`` in order, each image checked to be ``size`` (height, width).

    Blocks are decoded as the iterator is consumed, at most ``pool.in_flight`` blocks ahead.
    With worker processes, a worker decodes its block into one slot of a shared buffer file
    (one slot per task in flight) and only the image count crosses the pipe; each block is
    read out of its slot, in order, before the slot's next task is submitted. (Pickling the
    decoded pixels through the pool's pipe would cost the parent a copy and many pipe round
    trips per block.)

    Example::

        blocks = decode_in_parallel(pool, root / "fog" / "3", files, None, (224, 224))
    """
    slices = chunk_slices(len(files), pool.workers)
    if pool.workers == 1 or not slices:
        yield from pool.map(
            partial(decode_files, folder, resize_crop=resize_crop, size=size), (files[s] for s in slices)
        )
        return
    rows = max(s.stop - s.start for s in slices)
    slot_shape = (rows, *size, 3)
    buffer = _slot_buffer(pool.in_flight * int(np.prod(slot_shape)))
    slot_rows = np.memmap(buffer, np.uint8, "r", shape=(pool.in_flight * rows, *size, 3))
    # removed when the blocks end or stop, or at the latest when the interpreter exits
    remove = weakref.finalize(slot_rows, buffer.unlink, missing_ok=True)
    try:
        work = partial(decode_into_slot, buffer, slot_shape, folder=folder, resize_crop=resize_crop)
        slots = [index % pool.in_flight for index in range(len(slices))]
        for slot, count in zip(slots, pool.map(work, slots, (files[s] for s in slices)), strict=True):
            yield read_rows(slot_rows, slot * rows + np.arange(count))
    finally:
        remove()


def decode_into_slot(
    buffer: Path,
    slot_shape: tuple[int, ...],
    slot: int,
    files: tuple[str, ...],
    folder: Path,
    resize_crop: tuple[int, int] | None,
) -> int:
    """:func:`decode_files` into slot ``slot`` (``uint8 slot_shape`` each) of the shared
    ``buffer`` file; returns how many images it wrote (a worker's task).

    A worker keeps the last buffer it wrote to mapped (its pages stay faulted in for the
    next task), so at most one unlinked buffer per worker outlives its cell.
    """
    if _mapped.get("path") != buffer:
        _mapped.clear()  # the previous cell's buffer is unmapped, and so freed
        _mapped.update(path=buffer, slots=np.memmap(buffer, np.uint8, "r+").reshape(-1, *slot_shape))
    return len(decode_files(folder, files, resize_crop, slot_shape[1:3], out=_mapped["slots"][slot]))


#: :func:`decode_into_slot`'s mapping of the buffer it last wrote to (per worker process).
_mapped: dict = {}


def _slot_buffer(nbytes: int) -> Path:
    """A new ``nbytes`` file for :func:`decode_in_parallel`'s slots: in ``/dev/shm`` (memory)
    when it has room for it twice over, else in the temporary folder."""
    shm = Path("/dev/shm")
    folder = shm if shm.is_dir() and shutil.disk_usage(shm).free > 2 * nbytes else Path(tempfile.gettempdir())
    handle, name = tempfile.mkstemp(prefix=f"pcbench-decode-{uuid.uuid4().hex}-", dir=folder)  # never reused
    os.ftruncate(handle, nbytes)
    os.close(handle)
    return Path(name)


def decode_files(
    folder: Path,
    files: tuple[str, ...],
    resize_crop: tuple[int, int] | None,
    size: tuple[int, int] | None,
    out: np.ndarray | None = None,
) -> np.ndarray:
    """Decode ``files`` (relative to ``folder``) to RGB ``uint8 [N, H, W, 3]``.

    ``resize_crop = (resize, crop)`` applies torchvision's ``resize`` then ``center_crop``;
    every image must then have ``size`` (height, width) when it is given. With ``out``
    (``uint8 [>= N, *size, 3]``) the images are written there and ``out[:N]`` is returned.
    """
    import torchvision.transforms.functional as F
    from PIL import Image

    images = []
    for index, file in enumerate(files):
        path = folder / file
        try:
            with Image.open(path) as opened:
                image = opened.convert("RGB")
        except (OSError, ValueError) as exc:
            raise PcbenchError(f"cannot decode {path}: {' '.join(str(exc).split())}") from None
        if resize_crop is not None:
            image = F.center_crop(F.resize(image, resize_crop[0]), resize_crop[1])
        array = np.asarray(image, dtype=np.uint8)
        if size is not None and array.shape[:2] != tuple(size):
            raise PcbenchError(
                f"{path} is {array.shape[1]}x{array.shape[0]} but the images before it are "
                f"{size[1]}x{size[0]}: all images of a data set must share one size"
            )
        if out is None:
            images.append(array)
        else:
            out[index] = array
    return np.stack(images) if out is None else out[: len(files)]
