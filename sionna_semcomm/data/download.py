"""Downloads of the official CIFAR-10 and MNIST files, with checksums and safe archive extraction.

Each file is streamed to a temporary file next to its destination (tqdm progress bar), its MD5 is checked
against the published value BEFORE the file is renamed into place or extracted, and the rename is atomic
(:func:`sionna_semcomm.atomic.atomic_write`). Tar archives are extracted member by member after every
member has been checked (regular files and folders only, relative paths without ``..``).

The network access is one function, ``fetch(url) -> (chunks, total_bytes_or_None)``; every function takes
a ``fetch`` argument so that tests (and offline mirrors) can substitute their own.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import shutil
import tarfile
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Iterable, Iterator

from ..atomic import atomic_write
from .cifar import CIFAR10_FOLDER, cifar10_files
from .errors import ChecksumError, DatasetError, UnsafeArchiveError
from .mnist import MNIST_FILES

__all__ = [
    "CIFAR10_URL",
    "CIFAR10_MD5",
    "MNIST_MIRRORS",
    "MNIST_MD5",
    "Fetch",
    "urllib_fetch",
    "md5_file",
    "download_file",
    "safe_extract_tar",
    "download_cifar10",
    "download_mnist",
]

CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR10_MD5 = "c58f30108f718f92721af3b95e74349a"  # published on the CIFAR-10 page
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
MNIST_MD5 = {  # as published (the same values torchvision checks)
    "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
}
_CHUNK = 1 << 20

Fetch = Callable[[str], "tuple[Iterable[bytes], int | None]"]


def urllib_fetch(url: str, timeout: float = 60.0) -> tuple[Iterator[bytes], int | None]:
    """Open ``url`` with ``urllib`` -> ``(iterator over byte chunks, Content-Length or None)``."""
    req = urllib.request.Request(url, headers={"User-Agent": "sionna-semcomm"})
    resp = urllib.request.urlopen(req, timeout=timeout)  # noqa: S310 - fixed https URLs
    length = resp.headers.get("Content-Length")

    def chunks() -> Iterator[bytes]:
        with resp:
            while True:
                block = resp.read(_CHUNK)
                if not block:
                    return
                yield block

    return chunks(), int(length) if length and length.isdigit() else None


def md5_file(path: str | Path) -> str:
    """Hex MD5 of a file (read in 1 MiB blocks)."""
    h = hashlib.md5()  # noqa: S324 - integrity check against published values, not security
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def download_file(
    url: str, dest: str | Path, md5: str | None, fetch: Fetch | None = None, progress: bool = True
) -> Path:
    """Stream ``url`` to ``dest`` atomically, checking its MD5 before the rename.

    :param md5: expected hex MD5; ``None`` skips the check (only for files without a published sum).
    :param fetch: ``fetch(url) -> (chunks, total_bytes_or_None)``; default :func:`urllib_fetch`.
    :raises ChecksumError: MD5 mismatch (``dest`` is not created or changed; the temp file is removed).
    """
    from tqdm.auto import tqdm

    dest = Path(dest)
    fetch = fetch or urllib_fetch

    def write(tmp: str) -> None:
        chunks, total = fetch(url)
        h = hashlib.md5()  # noqa: S324
        with open(tmp, "wb") as f, tqdm(
            total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress, leave=False
        ) as bar:
            for block in chunks:
                f.write(block)
                h.update(block)
                bar.update(len(block))
        if md5 is not None and h.hexdigest() != md5.lower():
            raise ChecksumError(
                f"checksum mismatch for {url}: MD5 {h.hexdigest()}, expected {md5}; the download was discarded "
                f"and {dest} was not written (retry, or fetch the file by hand and place it there)"
            )

    return atomic_write(dest, write)


def _check_member(m: tarfile.TarInfo, archive: Path) -> str | None:
    """Normalised relative path of a safe member (None for the archive's root folder entry)."""
    name = m.name
    if name.startswith(("/", "\\")) or os.path.isabs(name) or (len(name) > 1 and name[1] == ":"):
        raise UnsafeArchiveError(f"{archive}: member {name!r} has an absolute path")
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeArchiveError(f"{archive}: member {name!r} contains '..'")
    if not (m.isfile() or m.isdir()):
        raise UnsafeArchiveError(f"{archive}: member {name!r} is a link or special file; refusing to extract")
    return posixpath.join(*parts) if parts else None


def safe_extract_tar(archive: str | Path, dest: str | Path) -> list[Path]:
    """Extract a (possibly compressed) tar archive into ``dest`` safely.

    Every member is checked first (no absolute paths, no ``..``, no links/devices); only then are the regular
    files written, each atomically. Nothing is written if any member is unsafe.

    :output: the extracted file paths.
    :raises UnsafeArchiveError: an unsafe member (nothing extracted). :raises DatasetError: unreadable archive.
    """
    archive, dest = Path(archive), Path(dest)
    out: list[Path] = []
    try:
        with tarfile.open(archive, "r:*") as tar:
            members = tar.getmembers()
            checked = [(m, _check_member(m, archive)) for m in members]
            for m, rel in checked:
                if rel is None:
                    continue
                target = dest.joinpath(*rel.split("/"))
                if m.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                src = tar.extractfile(m)
                if src is None:  # pragma: no cover - isfile() members always have data
                    raise UnsafeArchiveError(f"{archive}: cannot read member {m.name!r}")

                def write(tmp: str, src=src) -> None:
                    with src, open(tmp, "wb") as f:
                        shutil.copyfileobj(src, f, _CHUNK)

                out.append(atomic_write(target, write))
    except (tarfile.TarError, EOFError) as exc:
        raise DatasetError(f"{archive} is not a readable tar archive: {exc}") from exc
    return out


def download_cifar10(
    data_dir: str | Path, fetch: Fetch | None = None, progress: bool = True,
    url: str = CIFAR10_URL, md5: str | None = CIFAR10_MD5, keep_archive: bool = False,
) -> Path:
    """Download and extract the CIFAR-10 python release into ``data_dir/cifar-10-batches-py``.

    Does nothing if ``data_batch_1`` and ``test_batch`` are already there.

    :output: the ``cifar-10-batches-py`` folder.
    :raises ChecksumError: the tarball's MD5 differs from ``md5`` (nothing extracted).
    """
    data_dir = Path(data_dir)
    folder = data_dir / CIFAR10_FOLDER
    if cifar10_files(folder, "train") and (folder / "test_batch").is_file():
        return folder
    archive = data_dir / "cifar-10-python.tar.gz"
    if not (archive.is_file() and md5 is not None and md5_file(archive) == md5):
        download_file(url, archive, md5, fetch=fetch, progress=progress)
    safe_extract_tar(archive, data_dir)
    if not (folder / "test_batch").is_file():
        raise DatasetError(f"{archive} did not contain {CIFAR10_FOLDER}/test_batch")
    if not keep_archive:
        archive.unlink()
    return folder


def download_mnist(
    data_dir: str | Path, fetch: Fetch | None = None, progress: bool = True,
    mirrors: Iterable[str] = MNIST_MIRRORS, md5s: dict[str, str] | None = None,
    splits: Iterable[str] = ("train", "test"),
) -> Path:
    """Download the gzipped MNIST idx files into ``data_dir/MNIST/raw`` (kept gzipped; the reader reads them).

    Mirrors are tried in order; a file already present is kept. Each file's MD5 is checked before it is
    renamed into place.

    :output: the ``MNIST/raw`` folder.
    :raises DatasetError: every mirror failed for a file (the message lists the errors).
    """
    md5s = MNIST_MD5 if md5s is None else md5s
    raw = Path(data_dir) / "MNIST" / "raw"
    for split in splits:
        for base in MNIST_FILES[split]:
            name = base + ".gz"
            dest = raw / name
            if dest.is_file():
                continue
            errors = []
            for mirror in mirrors:
                try:
                    download_file(mirror + name, dest, md5s.get(name), fetch=fetch, progress=progress)
                    break
                except (ChecksumError, urllib.error.URLError, OSError) as exc:
                    errors.append(f"{mirror + name}: {exc}")
            else:
                raise DatasetError(f"could not download MNIST file {name}: " + "; ".join(errors))
    return raw
