"""The layered 5G LDPC decoder against Sionna's: structure, noise-free decoding, agreement, BLER, early stop."""

import math

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from sionna.phy.fec.ldpc import LDPC5GDecoder, LDPC5GEncoder

from baselines.conventional import codeword_plan
from sionna_semcomm.link.ldpc import LayeredLDPC5GDecoder, SionnaLDPCDecoder, build_ldpc_decoder, qc_structure


def project_codes() -> set[tuple[int, int, int]]:
    """``(k, n, bits per symbol)`` of every LDPC code the project's scenarios and benchmark use."""
    codes = {(832, 1664, 0), (1664, 3328, 0)}  # the benchmark's (no interleaver)
    for bps in (1, 2, 4, 6):
        codes.add((13 * 64 * bps // 2, 13 * 64 * bps, bps))  # bit links: [bits] 13 OFDM symbols of 64
        codes.add((6 * 64 * bps // 2, 6 * 64 * bps, bps))  # JPEG2000 equal budget: 6 OFDM symbols
        _, k, n = codeword_plan(8 * 300, 4096, bps)  # JPEG2000 fixed rate, 300-byte codestreams
        codes.add((k, n, bps))
    codes.add(codeword_plan(8 * 1000, 4096, 2)[1:] + (2,))  # longer codestreams: several codewords of base graph 1
    return codes


def _encoder(k, n, bps):
    return LDPC5GEncoder(k, n, num_bits_per_symbol=bps or None)


def _noisy(enc, batch, ebno_db, seed):
    """Random info bits and BPSK-AWGN channel logits of their codewords at ``ebno_db``."""
    g = torch.Generator().manual_seed(seed)
    u = torch.randint(0, 2, (batch, enc.k), generator=g).float()
    c = enc(u)
    no = 1 / (2 * enc.coderate * 10 ** (ebno_db / 10))
    y = (2 * c - 1) + math.sqrt(no) * torch.randn(c.shape, generator=g)
    return u, 2 * y / no


@pytest.mark.parametrize("k,n,bps", sorted(project_codes()))
def test_every_project_code_builds_and_decodes_noise_free_in_one_iteration(k, n, bps):
    enc = _encoder(k, n, bps)
    qc = qc_structure(enc.pcm, enc.z)
    rows = [r * enc.z + i for r, row in enumerate(qc["entries"]) for c, s in row for i in range(enc.z)]
    cols = [c * enc.z + (i + s) % enc.z for row in qc["entries"] for c, s in row for i in range(enc.z)]
    rebuilt = sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=enc.pcm.shape)
    assert (rebuilt != enc.pcm).nnz == 0  # the base graph and shifts describe the encoder's matrix exactly
    dec = LayeredLDPC5GDecoder(enc)
    assert dec.num_rows <= qc["rows"] and dec.kept_columns[: enc.k_ldpc // enc.z] == list(range(enc.k_ldpc // enc.z))
    u = torch.randint(0, 2, (5, k), generator=torch.Generator().manual_seed(k)).float()
    bits, iterations = dec.decode(20.0 * (2 * enc(u) - 1))
    assert torch.equal(bits, u)
    assert iterations.tolist() == [1] * 5 and bool(dec.last_converged.all())


def test_leading_dimensions_dtype_and_bad_input():
    enc = _encoder(416, 832, 4)
    dec = build_ldpc_decoder("fast", enc)
    u = torch.randint(0, 2, (2, 3, 416), generator=torch.Generator().manual_seed(0)).float()
    llr = 10.0 * (2 * enc(u) - 1).double()
    bits, iterations = dec.decode(llr)
    assert bits.shape == (2, 3, 416) and bits.dtype == torch.float64 and iterations.shape == (2, 3)
    assert torch.equal(bits, u.double()) and torch.equal(dec(llr.float()), u)
    with pytest.raises(ValueError, match="n = 832"):
        dec.decode(torch.zeros(2, 831))
    with pytest.raises(ValueError, match="unknown LDPC decoder"):
        build_ldpc_decoder("turbo", enc)
    with pytest.raises(ValueError, match="cn_update"):
        LayeredLDPC5GDecoder(enc, cn_update="sum")
    with pytest.raises(ValueError, match="num_iter"):
        LayeredLDPC5GDecoder(enc, num_iter=0)
    with pytest.raises(ValueError, match="scale"):
        LayeredLDPC5GDecoder(enc, scale=1.5)


@pytest.fixture(scope="module")
def noisy_set():
    """96 noisy codewords near the waterfall (some do not converge) and Sionna's decisions on them: its info bits,
    and whether it converged (its decisions on the n sent bits are the codeword of its info bits)."""
    enc = _encoder(416, 832, 2)
    _, llr = _noisy(enc, 96, 1.0, seed=3)
    info = SionnaLDPCDecoder(enc, 20)(llr)
    sent = LDPC5GDecoder(enc, num_iter=20, hard_out=True, return_infobits=False)(llr)
    return enc, llr, info, (enc(info) == sent).all(dim=-1)


@pytest.mark.parametrize("cn_update", ["minsum", "boxplus"])
def test_matches_sionna_on_noisy_codewords_where_both_converge(noisy_set, cn_update):
    enc, llr, info, sionna_ok = noisy_set
    fast = LayeredLDPC5GDecoder(enc, cn_update=cn_update)
    bits = fast(llr)
    both = fast.last_converged & sionna_ok
    assert 20 <= int(both.sum()) < 96  # neither trivial nor empty
    assert torch.equal(bits[both], info[both])


def test_early_termination_never_changes_a_converged_codeword():
    enc = _encoder(832, 1664, 4)
    _, llr = _noisy(enc, 128, 1.0, seed=5)
    early = LayeredLDPC5GDecoder(enc)
    full = LayeredLDPC5GDecoder(enc, early_stop=False)
    a, it_a = early.decode(llr)
    b, it_b = full.decode(llr)
    stopped = early.last_converged & (it_a < 20)
    assert 20 <= int(stopped.sum()) and int(it_a.float().mean()) < 20 and bool((it_b == 20).all())
    assert torch.equal(a[stopped], b[stopped])
    assert bool(full.last_converged[stopped].all())


def test_bler_equals_sionna_within_binomial_error():
    """Two SNR points on the slope of the waterfall, 256 frames each, the same frames for both decoders."""
    enc = _encoder(416, 832, 0)
    fast = build_ldpc_decoder("fast", enc)
    for ebno_db, seed in ((1.0, 11), (1.5, 12)):
        u, llr = _noisy(enc, 256, ebno_db, seed)
        bler = [float((d(llr) != u).any(-1).float().mean()) for d in (fast, SionnaLDPCDecoder(enc, 20))]
        p = sum(bler) / 2
        assert 0.02 < p < 0.6  # a point where BLER is measurable with 256 frames
        assert abs(bler[0] - bler[1]) <= 3 * math.sqrt(2 * p * (1 - p) / 256), (ebno_db, bler)


def test_sionna_wrapper_reports_all_iterations():
    enc = _encoder(416, 832, 0)
    dec = build_ldpc_decoder("sionna", enc, num_iter=7)
    u = torch.randint(0, 2, (3, 416), generator=torch.Generator().manual_seed(0)).float()
    bits, iterations = dec.decode(20.0 * (2 * enc(u) - 1))
    assert torch.equal(bits, u) and iterations.tolist() == [7, 7, 7]
