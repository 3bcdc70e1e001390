"""A byte-exact compact pack of a folder of JPEG files: ``python -m sionna_semcomm.data.jpegpack pack|unpack``.

Purpose: a training set of many small JPEGs (CIFAR-10 as 32x32 JPEGs) repeats the same header in every file:
all bytes from SOI through the end of the SOS segment (APP0, DQT, SOF, DHT, SOS), 623 bytes for CIFAR-10 at
quality 75, against ~300 bytes of entropy-coded scan + EOI per file (the 45 MB folder packs into 14.9 MB).
The pack stores each distinct header once and the per-file remainders concatenated, in ONE ``.npz``
(``np.savez_compressed``, no pickled objects: it loads with ``allow_pickle=False``). Unpacking rebuilds every
file byte for byte; nothing is decoded or re-encoded.

Arrays of the pack (``n`` files, ``h`` distinct headers):

- ``format`` (str ``"jpegpack"``), ``version`` (int64 ``1``)
- ``paths``: unicode ``[n]``, relative POSIX paths, sorted
- ``header_index``: int64 ``[n]``, the header of each file (``0 <= i < h``)
- ``headers``: uint8 ``[sum of header lengths]``; ``header_offsets``: int64 ``[h + 1]``
- ``remainders``: uint8 ``[sum of remainder lengths]``; ``remainder_offsets``: int64 ``[n + 1]``
- ``sha256``: str, hex digest over every file in order of ``len(path) path len(bytes) bytes`` (lengths as
  8-byte big-endian, path as UTF-8), so changed bytes and renamed files are both caught.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path, PurePosixPath

import numpy as np

from ..argtypes import ArgumentParser, input_dir, input_file
from ..atomic import atomic_write
from .errors import DatasetError

__all__ = ["FORMAT", "VERSION", "split_jpeg", "pack_folder", "unpack_folder", "main"]

FORMAT, VERSION = "jpegpack", 1
_KEYS = ("format", "version", "paths", "header_index", "headers", "header_offsets", "remainders",
         "remainder_offsets", "sha256")
_STANDALONE = {0x01, *range(0xD0, 0xD9)}  # TEM, RST0-7, SOI: markers without a length field


def split_jpeg(data: bytes, name: str = "<bytes>") -> int:
    """Length in bytes of the header of a JPEG: SOI through the end of the first SOS segment.

    :raises ValueError: ``data`` is no JPEG (no SOI, a bad or truncated segment, no SOS before the end).
    """
    if data[:2] != b"\xff\xd8":
        raise ValueError(f"{name}: not a JPEG file (does not start with SOI 0xFFD8)")
    pos = 2
    while True:
        if pos + 1 >= len(data) or data[pos] != 0xFF:
            raise ValueError(f"{name}: not a JPEG file (no marker at byte {pos}, or no SOS segment before the end)")
        while pos + 1 < len(data) and data[pos + 1] == 0xFF:  # fill bytes before a marker
            pos += 1
        marker = data[pos + 1] if pos + 1 < len(data) else 0xD9
        if marker == 0xD9:
            raise ValueError(f"{name}: not a JPEG file (EOI or end of data before any SOS segment)")
        if marker in _STANDALONE or marker == 0x00:
            raise ValueError(f"{name}: unsupported marker 0xFF{marker:02X} (no length field) before the SOS segment")
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if length < 2 or pos + 2 + length > len(data):
            raise ValueError(f"{name}: truncated or bad segment 0xFF{marker:02X} at byte {pos} (length {length})")
        pos += 2 + length
        if marker == 0xDA:  # SOS
            return pos


def _hash_update(h, path: str, data: bytes) -> None:
    p = path.encode("utf-8")
    h.update(len(p).to_bytes(8, "big") + p + len(data).to_bytes(8, "big"))
    h.update(data)


def pack_folder(src: str | os.PathLike, dst: str | os.PathLike) -> dict:
    """Pack every ``*.jpg``/``*.jpeg`` under ``src`` (recursively) into the ``.npz`` file ``dst`` (atomically).

    Returns ``{"files", "headers", "bytes_in", "bytes_out", "sha256", "pack"}`` (sizes in bytes).

    :raises ValueError: no JPEG file under ``src``, or a file that is no JPEG (the message names it).
    """
    src = Path(src)
    files = sorted((p.relative_to(src).as_posix(), p) for p in src.rglob("*")
                   if p.suffix.lower() in (".jpg", ".jpeg") and p.is_file())
    if not files:
        raise ValueError(f"{src}: no *.jpg or *.jpeg files")
    table, header_index, remainders, h, bytes_in = {}, [], [], hashlib.sha256(), 0
    for rel, path in files:
        data = path.read_bytes()
        cut = split_jpeg(data, str(path))
        header_index.append(table.setdefault(data[:cut], len(table)))
        remainders.append(data[cut:])
        _hash_update(h, rel, data)
        bytes_in += len(data)
    headers = list(table)  # insertion order == index order

    def offsets(chunks):
        return np.concatenate([[0], np.cumsum([len(c) for c in chunks], dtype=np.int64)]).astype(np.int64)

    arrays = {
        "format": np.array(FORMAT), "version": np.array(VERSION, dtype=np.int64),
        "paths": np.array([rel for rel, _ in files], dtype=str),
        "header_index": np.array(header_index, dtype=np.int64),
        "headers": np.frombuffer(b"".join(headers), dtype=np.uint8), "header_offsets": offsets(headers),
        "remainders": np.frombuffer(b"".join(remainders), dtype=np.uint8), "remainder_offsets": offsets(remainders),
        "sha256": np.array(h.hexdigest()),
    }

    def write(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)  # deflate: mostly the paths and offsets (19.1 -> 14.9 MB)

    atomic_write(dst, write)
    return {"files": len(files), "headers": len(headers), "bytes_in": bytes_in, "bytes_out": os.path.getsize(dst),
            "sha256": h.hexdigest(), "pack": str(dst)}


def _read_pack(pack: Path) -> dict:
    """The arrays of ``pack``, checked for presence, dtypes, shapes and consistent offsets."""
    def bad(problem):
        return DatasetError(f"{pack}: not a valid {FORMAT} pack: {problem}")

    try:
        with np.load(pack, allow_pickle=False) as z:
            a = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise DatasetError(f"{pack}: no such file") from None
    except Exception as e:  # truncated zip, corrupt member, pickled object
        raise bad(f"cannot read it ({type(e).__name__}: {e})") from None
    missing = [k for k in _KEYS if k not in a]
    if missing:
        raise bad(f"missing arrays {missing}")
    fmt, ver = a["format"], a["version"]
    if fmt.shape != () or fmt.dtype.kind != "U" or str(fmt) != FORMAT or ver.shape != () or ver.dtype.kind != "i" \
            or int(ver) != VERSION:
        raise bad(f"format {a['format']!r} version {a['version']!r}, expected {FORMAT!r} version {VERSION}")
    n, h = len(a["paths"]), len(a["header_offsets"]) - 1
    expected = {"paths": ("U", (n,)), "header_index": ("i", (n,)), "headers": ("u", None), "remainders": ("u", None),
                "header_offsets": ("i", (h + 1,)), "remainder_offsets": ("i", (n + 1,)), "sha256": ("U", ())}
    for k, (kind, shape) in expected.items():
        if a[k].dtype.kind != kind or (kind == "u" and a[k].dtype != np.uint8) or a[k].ndim != (1 if shape is None
                                                                                               else len(shape)):
            raise bad(f"array {k!r} has dtype {a[k].dtype} and shape {a[k].shape}")
        if shape is not None and a[k].shape != shape:
            raise bad(f"array {k!r} has shape {a[k].shape}, expected {shape}")
    for off, data in (("header_offsets", "headers"), ("remainder_offsets", "remainders")):
        o = a[off]
        if len(o) == 0 or o[0] != 0 or o[-1] != len(a[data]) or np.any(np.diff(o) < 0):
            raise bad(f"{off!r} is not monotone from 0 to len({data!r}) = {len(a[data])} (the pack is cut or altered)")
    if n and (h < 1 or a["header_index"].min() < 0 or a["header_index"].max() >= h):
        raise bad(f"'header_index' out of range [0, {h})")
    for rel in a["paths"].tolist():
        parts = PurePosixPath(rel).parts
        if not parts or rel.startswith("/") or "\\" in rel or ".." in parts:
            raise DatasetError(f"{pack}: unsafe path {rel!r} (absolute, empty or with '..'); nothing unpacked")
    if len(set(a["paths"].tolist())) != n:
        raise bad("duplicate paths")
    return a


def unpack_folder(pack: str | os.PathLike, dst: str | os.PathLike, overwrite: bool = False) -> dict:
    """Rebuild the files of ``pack`` byte for byte under the folder ``dst``.

    The files are written into a temporary sibling folder of ``dst``, checked against the stored sha256 and
    only then renamed to ``dst``; on any error nothing is left behind. Returns ``{"files", "bytes", "sha256",
    "dst"}`` (bytes: total size of the files).

    :raises DatasetError: the pack is missing, truncated, malformed, has unsafe paths or fails the sha256 check.
    :raises FileExistsError: ``dst`` exists and is not an empty folder, and ``overwrite`` is false.
    """
    pack, dst = Path(pack), Path(dst)
    a = _read_pack(pack)
    if dst.exists() and not (dst.is_dir() and not any(dst.iterdir())) and not overwrite:
        raise FileExistsError(f"{dst} exists and is not an empty folder (give overwrite=True / --overwrite)")
    dst.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent))
    headers, hoff = a["headers"].tobytes(), a["header_offsets"].tolist()
    rem, roff = a["remainders"].tobytes(), a["remainder_offsets"].tolist()
    h, total = hashlib.sha256(), 0
    try:
        for i, (rel, hi) in enumerate(zip(a["paths"].tolist(), a["header_index"].tolist())):
            data = headers[hoff[hi]:hoff[hi + 1]] + rem[roff[i]:roff[i + 1]]
            _hash_update(h, rel, data)
            out = tmp / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_bytes(data)
            total += len(data)
        if h.hexdigest() != str(a["sha256"]):
            raise DatasetError(f"{pack}: sha256 mismatch: the rebuilt files hash to {h.hexdigest()}, the pack "
                               f"records {a['sha256']} (the pack is corrupted); nothing unpacked")
        os.chmod(tmp, 0o777 & ~_umask())
        if dst.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{dst.name}.old.", suffix=".tmp", dir=dst.parent))
            os.replace(dst, old / "x")
            os.replace(tmp, dst)
            shutil.rmtree(old)
        else:
            os.replace(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"files": len(a["paths"]), "bytes": total, "sha256": h.hexdigest(), "dst": str(dst)}


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def main(argv: list[str] | None = None) -> dict:
    """Command line: ``pack SRC DST.npz`` or ``unpack PACK.npz DST_DIR [--overwrite]``; prints a JSON line."""
    parser = ArgumentParser(prog="python -m sionna_semcomm.data.jpegpack", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack", help="pack a folder of JPEG files into one .npz")
    p.add_argument("src", type=input_dir, help="folder searched recursively for *.jpg / *.jpeg")
    p.add_argument("dst", help="the .npz file to write")
    u = sub.add_parser("unpack", help="rebuild the JPEG files of a pack")
    u.add_argument("pack", type=input_file, help="a .npz written by 'pack'")
    u.add_argument("dst", help="the folder to create")
    u.add_argument("--overwrite", action="store_true", help="replace DST if it exists and is not empty")
    args = parser.parse_args(argv)
    try:
        if args.command == "pack":
            summary = pack_folder(args.src, args.dst)
        else:
            summary = unpack_folder(args.pack, args.dst, overwrite=args.overwrite)
    except (ValueError, OSError) as e:
        raise SystemExit(f"error: {e}") from None
    print(json.dumps(summary))
    return summary


if __name__ == "__main__":
    main()
