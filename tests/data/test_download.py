"""Downloads without the network: injected fetch, checksum verification, safe tar extraction."""

import gzip
import hashlib
import io
import pickle
import struct
import tarfile

import numpy as np
import pytest

from sionna_semcomm.data import (
    ChecksumError,
    DatasetError,
    UnsafeArchiveError,
    download_cifar10,
    download_file,
    download_mnist,
    load_dataset,
    safe_extract_tar,
)
from sionna_semcomm.data import download as dl


def _fake_fetch(payloads, calls=None):
    def fetch(url):
        if calls is not None:
            calls.append(url)
        if url not in payloads:
            raise OSError(f"no route to {url}")
        data = payloads[url]
        return iter([data[: len(data) // 2], data[len(data) // 2 :]]), len(data)

    return fetch


def _md5(b):
    return hashlib.md5(b).hexdigest()


def _tar(entries):
    """entries: list of (TarInfo-kwargs, bytes or None)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data, kind in entries:
            info = tarfile.TarInfo(name)
            if kind == "dir":
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif kind == "sym":
                info.type = tarfile.SYMTYPE
                info.linkname = "/etc/passwd"
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def test_download_file_checks_md5(tmp_path):
    data = b"hello world" * 1000
    url = "https://example.invalid/f.bin"
    dest = tmp_path / "sub" / "f.bin"
    out = download_file(url, dest, _md5(data), fetch=_fake_fetch({url: data}), progress=False)
    assert out == dest and dest.read_bytes() == data
    bad = tmp_path / "g.bin"
    with pytest.raises(ChecksumError, match="checksum mismatch"):
        download_file(url, bad, "0" * 32, fetch=_fake_fetch({url: data}), progress=False)
    assert not bad.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["sub"]  # no temp file left behind
    # an existing file is not clobbered by a failed download
    dest.write_bytes(b"old")
    with pytest.raises(ChecksumError):
        download_file(url, dest, "0" * 32, fetch=_fake_fetch({url: data}), progress=False)
    assert dest.read_bytes() == b"old"


def test_safe_extract(tmp_path):
    good = tmp_path / "good.tar.gz"
    good.write_bytes(_tar([("top", None, "dir"), ("top/a.txt", b"A", "file"), ("./top/sub/b.txt", b"B", "file")]))
    files = safe_extract_tar(good, tmp_path / "out")
    assert (tmp_path / "out" / "top" / "a.txt").read_bytes() == b"A"
    assert (tmp_path / "out" / "top" / "sub" / "b.txt").read_bytes() == b"B"
    assert len(files) == 2
    for name, kind, match in [("../evil.txt", "file", r"'\.\.'"), ("/tmp/evil.txt", "file", "absolute"),
                              ("top/link", "sym", "link")]:
        bad = tmp_path / "bad.tar.gz"
        bad.write_bytes(_tar([("top/ok.txt", b"ok", "file"), (name, b"x", kind)]))
        out = tmp_path / f"out_bad_{kind}"
        with pytest.raises(UnsafeArchiveError, match=match):
            safe_extract_tar(bad, out)
        assert not out.exists()  # nothing extracted, not even the safe member
    assert not (tmp_path / "evil.txt").exists()
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"not a tar")
    with pytest.raises(DatasetError, match="not a readable tar"):
        safe_extract_tar(junk, tmp_path / "o")


def _cifar_tarball():
    batch = {b"batch_label": b"b", b"labels": [1, 2], b"data": np.full((2, 3072), 7, np.uint8),
             b"filenames": [b"a.png", b"b.png"]}
    raw = pickle.dumps(batch, protocol=4)
    return _tar([("cifar-10-batches-py", None, "dir"), ("cifar-10-batches-py/data_batch_1", raw, "file"),
                 ("cifar-10-batches-py/test_batch", raw, "file")])


def test_download_cifar10(tmp_path):
    tarball = _cifar_tarball()
    calls = []
    fetch = _fake_fetch({dl.CIFAR10_URL: tarball}, calls)
    folder = download_cifar10(tmp_path, fetch=fetch, progress=False, md5=_md5(tarball))
    assert (folder / "data_batch_1").is_file() and not (tmp_path / "cifar-10-python.tar.gz").exists()
    download_cifar10(tmp_path, fetch=fetch, progress=False, md5=_md5(tarball))  # already there: no fetch
    assert calls == [dl.CIFAR10_URL]
    # the published md5 is the default, so this local tarball is rejected before extraction
    with pytest.raises(ChecksumError):
        download_cifar10(tmp_path / "other", fetch=fetch, progress=False)
    assert not (tmp_path / "other" / "cifar-10-batches-py").exists()


def test_load_dataset_download(tmp_path):
    tarball = _cifar_tarball()
    ds = load_dataset("cifar10", "test", data_dir=tmp_path, download=True,
                      fetch=_fake_fetch({dl.CIFAR10_URL: tarball}), progress=False, md5=_md5(tarball))
    assert len(ds) == 2 and ds.labels.tolist() == [1, 2]


def _idx_gz(arr):
    return gzip.compress(struct.pack(">HBB", 0, 8, arr.ndim) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes())


def test_download_mnist_mirror_fallback(tmp_path):
    files = {"t10k-images-idx3-ubyte.gz": _idx_gz(np.zeros((3, 28, 28), np.uint8)),
             "t10k-labels-idx1-ubyte.gz": _idx_gz(np.array([1, 2, 3], np.uint8))}
    md5s = {k: _md5(v) for k, v in files.items()}
    good, broken = "https://good.invalid/", "https://broken.invalid/"
    payloads = {good + k: v for k, v in files.items()}
    payloads[broken + "t10k-images-idx3-ubyte.gz"] = b"tampered"  # wrong md5 -> next mirror
    calls = []
    raw = download_mnist(tmp_path, fetch=_fake_fetch(payloads, calls), progress=False,
                         mirrors=(broken, good), md5s=md5s, splits=("test",))
    assert sorted(p.name for p in raw.iterdir()) == sorted(files)
    assert len(calls) == 4
    ds = load_dataset("mnist", "test", data_dir=tmp_path)
    assert ds.labels.tolist() == [1, 2, 3]
    with pytest.raises(DatasetError, match="could not download MNIST file train-images"):
        download_mnist(tmp_path, fetch=_fake_fetch({}), progress=False, mirrors=(good,), md5s=md5s,
                       splits=("train",))


def test_published_checksums_are_pinned():
    assert dl.CIFAR10_MD5 == "c58f30108f718f92721af3b95e74349a"
    assert dl.MNIST_MD5["t10k-images-idx3-ubyte.gz"] == "9fb629c4189551a2d022fa330f9573f3"
    assert len(dl.MNIST_MD5) == 4
