"""JPEG folder pack: byte-exact round trip, shared headers, corrupt/truncated/unsafe packs, CLI."""

import io
import json

import numpy as np
import pytest
from PIL import Image

from sionna_semcomm.data.errors import DatasetError
from sionna_semcomm.data.jpegpack import pack_folder, split_jpeg, unpack_folder, main


def _jpeg(rng, size=(32, 32), quality=75, mode="RGB"):
    arr = rng.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr).convert(mode).save(buf, format="JPEG", quality=quality)
    return buf.getvalue()


def _make_folder(root):
    """Two class folders of 32x32 q75 RGB JPEGs, plus a 24x40 q90 one, a grayscale one and a non-image file."""
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (root / cls).mkdir(parents=True)
        for i in range(4):
            (root / cls / f"{i:04d}.jpg").write_bytes(_jpeg(rng))
    (root / "dog" / "big.JPEG").write_bytes(_jpeg(rng, size=(24, 40), quality=90))
    (root / "cat" / "sub").mkdir()
    (root / "cat" / "sub" / "gray.jpeg").write_bytes(_jpeg(rng, mode="L"))
    (root / "cat" / "notes.txt").write_text("not packed")
    return root


def _files(root):
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.suffix.lower() in (".jpg", ".jpeg")}


def _packed(tmp_path):
    """The generated folder ``tmp_path/src`` packed into ``tmp_path/p.npz``; returns the folder."""
    src = _make_folder(tmp_path / "src")
    pack_folder(src, tmp_path / "p.npz")
    return src


def _resave(src, dst, **changes):
    with np.load(src, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays.update(changes)
    with open(dst, "wb") as f:
        np.savez(f, **arrays)
    return arrays


def test_round_trip_is_byte_exact(tmp_path):
    src = _make_folder(tmp_path / "src")
    summary = pack_folder(src, tmp_path / "p.npz")
    files = _files(src)
    assert summary["files"] == len(files) == 10 and summary["headers"] >= 3
    assert summary["bytes_in"] == sum(map(len, files.values()))
    assert summary["bytes_out"] == (tmp_path / "p.npz").stat().st_size
    with np.load(tmp_path / "p.npz", allow_pickle=False) as z:
        assert z["paths"].tolist() == sorted(files) and z["remainder_offsets"].dtype == np.int64
    out = unpack_folder(tmp_path / "p.npz", tmp_path / "out")
    assert out["files"] == 10 and out["sha256"] == summary["sha256"]
    assert _files(tmp_path / "out") == files
    assert not (tmp_path / "out" / "cat" / "notes.txt").exists()
    for rel in files:
        a, b = Image.open(src / rel), Image.open(tmp_path / "out" / rel)
        assert a.mode == b.mode and np.array_equal(np.asarray(a), np.asarray(b))
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_pack_is_smaller_when_headers_repeat(tmp_path):
    rng = np.random.default_rng(1)
    (tmp_path / "src").mkdir()
    for i in range(20):
        (tmp_path / "src" / f"{i}.jpg").write_bytes(_jpeg(rng))
    summary = pack_folder(tmp_path / "src", tmp_path / "p.npz")
    assert summary["headers"] == 1
    assert summary["bytes_out"] < summary["bytes_in"]


def test_split_jpeg_rejects_bad_data():
    good = _jpeg(np.random.default_rng(2))
    cut = split_jpeg(good)
    assert good[cut - 14:cut - 12] == b"\xff\xda" and good.endswith(b"\xff\xd9")
    with pytest.raises(ValueError, match="SOI"):
        split_jpeg(b"GIF89a")
    with pytest.raises(ValueError, match="SOS"):
        split_jpeg(b"\xff\xd8\xff\xd9")
    with pytest.raises(ValueError, match="truncated"):
        split_jpeg(good[:100], "x.jpg")
    with pytest.raises(ValueError, match="0xFFD0"):
        split_jpeg(b"\xff\xd8\xff\xd0" + good[2:])


def test_non_jpeg_file_is_named(tmp_path):
    src = _make_folder(tmp_path / "src")
    (src / "dog" / "fake.jpg").write_bytes(b"\x89PNG\r\n\x1a\n not a jpeg")
    with pytest.raises(ValueError, match="fake.jpg"):
        pack_folder(src, tmp_path / "p.npz")
    assert not (tmp_path / "p.npz").exists()


def test_truncated_pack(tmp_path):
    _packed(tmp_path)
    data = (tmp_path / "p.npz").read_bytes()
    (tmp_path / "cut.npz").write_bytes(data[:len(data) // 2])
    with pytest.raises(DatasetError, match="cut.npz"):
        unpack_folder(tmp_path / "cut.npz", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_malformed_pack(tmp_path):
    _packed(tmp_path)
    with np.load(tmp_path / "p.npz", allow_pickle=False) as z:
        rem, off = z["remainders"], z["remainder_offsets"]
    _resave(tmp_path / "p.npz", tmp_path / "short.npz", remainders=rem[:-5])
    with pytest.raises(DatasetError, match="remainder_offsets"):
        unpack_folder(tmp_path / "short.npz", tmp_path / "out")
    _resave(tmp_path / "p.npz", tmp_path / "order.npz", remainder_offsets=off[::-1].copy())
    with pytest.raises(DatasetError, match="monotone"):
        unpack_folder(tmp_path / "order.npz", tmp_path / "out")
    _resave(tmp_path / "p.npz", tmp_path / "v2.npz", version=np.array(2))
    with pytest.raises(DatasetError, match="version"):
        unpack_folder(tmp_path / "v2.npz", tmp_path / "out")
    with np.load(tmp_path / "p.npz", allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files if k != "headers"}
    np.savez(tmp_path / "missing.npz", **arrays)
    with pytest.raises(DatasetError, match="missing arrays.*headers"):
        unpack_folder(tmp_path / "missing.npz", tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_altered_data_fails_sha256(tmp_path):
    _packed(tmp_path)
    with np.load(tmp_path / "p.npz", allow_pickle=False) as z:
        rem = z["remainders"].copy()
    rem[len(rem) // 2] ^= 0xFF
    _resave(tmp_path / "p.npz", tmp_path / "bad.npz", remainders=rem)
    with pytest.raises(DatasetError, match="sha256"):
        unpack_folder(tmp_path / "bad.npz", tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.npz", "p.npz", "src"]


def test_path_traversal_is_refused(tmp_path):
    _packed(tmp_path)
    with np.load(tmp_path / "p.npz", allow_pickle=False) as z:
        paths = z["paths"].tolist()
    for evil in ("../evil.jpg", "/tmp/evil.jpg", "cat/../../evil.jpg"):
        _resave(tmp_path / "p.npz", tmp_path / "evil.npz", paths=np.array([evil] + paths[1:]))
        with pytest.raises(DatasetError, match="unsafe path"):
            unpack_folder(tmp_path / "evil.npz", tmp_path / "d" / "out")
        assert not (tmp_path / "evil.jpg").exists() and not (tmp_path / "d" / "out").exists()


def test_existing_destination(tmp_path):
    src = _packed(tmp_path)
    (tmp_path / "empty").mkdir()
    unpack_folder(tmp_path / "p.npz", tmp_path / "empty")  # an empty folder is fine
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "old.txt").write_text("x")
    with pytest.raises(FileExistsError, match="overwrite"):
        unpack_folder(tmp_path / "p.npz", tmp_path / "full")
    unpack_folder(tmp_path / "p.npz", tmp_path / "full", overwrite=True)
    assert _files(tmp_path / "full") == _files(src) and not (tmp_path / "full" / "old.txt").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_cli(tmp_path, capsys):
    src = _make_folder(tmp_path / "src")
    packed = main(["pack", str(src), str(tmp_path / "p.npz")])
    assert json.loads(capsys.readouterr().out) == packed and packed["files"] == 10
    unpacked = main(["unpack", str(tmp_path / "p.npz"), str(tmp_path / "out")])
    assert json.loads(capsys.readouterr().out) == unpacked and unpacked["sha256"] == packed["sha256"]
    assert _files(tmp_path / "out") == _files(src)
    with pytest.raises(SystemExit, match="error: .*overwrite"):
        main(["unpack", str(tmp_path / "p.npz"), str(tmp_path / "out")])
    main(["unpack", str(tmp_path / "p.npz"), str(tmp_path / "out"), "--overwrite"])
    with pytest.raises(SystemExit) as e:
        main(["unpack", str(tmp_path / "missing.npz"), str(tmp_path / "out2")])
    assert e.value.code != 0 and "no such file" in capsys.readouterr().err
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(SystemExit, match="error: .*junk.npz.*not a valid jpegpack"):
        main(["unpack", str(tmp_path / "junk.npz"), str(tmp_path / "out2")])
    (src / "x.jpg").write_bytes(b"nope")
    with pytest.raises(SystemExit, match="error: .*x.jpg"):
        main(["pack", str(src), str(tmp_path / "q.npz")])
    assert not (tmp_path / "out2").exists() and not (tmp_path / "q.npz").exists()
