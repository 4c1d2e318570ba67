"""Functional model: BF16, compressed formats, pruning, instruction semantics, whole GEMM programs vs numpy."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vegeta.formats import (
    bf16,
    block_nnz,
    compress_nm,
    decompress_nm,
    from_bf16_bits,
    pack_indices,
    rowwise_dense,
    rowwise_tiles,
    to_bf16_bits,
    unpack_indices,
)
from vegeta.functional import Machine, rown_from_descriptor
from vegeta.isa import Instr
from vegeta.kernel import Blocking, fits
from vegeta.program import run_gemm
from vegeta.prune import prune_nm, prune_row_wise, prune_unstructured, random_sparse, rowwise_cover

OPS = {4: "TILE_GEMM", 2: "TILE_SPMM_U", 1: "TILE_SPMM_V"}


# --------------------------------------------------------------------------- BF16 and metadata
def test_bf16_rounding_known_values():
    # 1.0 = 0x3F800000 -> 0x3F80; 1 + 2^-8 is exactly half-way between BF16 1.0 and 1 + 2^-7: ties to even -> 1.0;
    # 1 + 3*2^-8 is half-way between 1+2^-7 (odd mantissa) and 1+2^-6: ties to even -> 1 + 2^-6
    x = np.array([1.0, 1 + 2 ** -8, 1 + 3 * 2 ** -8, -2.0, 0.0], np.float32)
    bits = to_bf16_bits(x)
    assert bits.tolist() == [0x3F80, 0x3F80, 0x3F82, 0xC000, 0x0000]
    assert from_bf16_bits(bits).tolist() == [1.0, 1.0, 1 + 2 ** -6, -2.0, 0.0]
    assert np.isnan(bf16(np.array([np.nan], np.float32)))[0]


def test_metadata_packing_is_two_bits_low_first():
    # indices 1,2,3,0 -> 0b00_11_10_01 = 0x39; a 16x32 tile's 512 indices fill exactly one 128 B mreg
    assert pack_indices(np.array([1, 2, 3, 0])).tolist() == [0x39]
    idx = np.random.default_rng(1).integers(0, 4, 512)
    packed = pack_indices(idx)
    assert packed.size == 128
    assert np.array_equal(unpack_indices(packed, 512), idx)


@given(rows=st.integers(1, 6), blocks=st.integers(1, 12), n=st.sampled_from([1, 2, 4]), seed=st.integers(0, 99))
def test_compress_roundtrip_property(rows, blocks, n, seed):
    a = prune_nm(np.random.default_rng(seed).standard_normal((rows, 4 * blocks)).astype(np.float32), n)
    vals, idx = compress_nm(a, n)
    assert vals.shape == (rows, blocks * n) and idx.max(initial=0) <= 3
    # indices ascend inside every block (stored in position order)
    assert (np.diff(idx.reshape(rows, blocks, n).astype(int), axis=-1) > 0).all()
    assert np.array_equal(decompress_nm(vals, idx, n), a)


def test_compress_rejects_too_dense_block():
    with pytest.raises(ValueError, match="not 2:4"):
        compress_nm(np.array([[1, 1, 1, 0]], np.float32), 2)


# --------------------------------------------------------------------------- pruning
@given(m=st.integers(1, 8), k=st.integers(1, 40), n=st.sampled_from([1, 2, 4]), seed=st.integers(0, 99))
def test_prune_nm_keeps_the_largest_per_block(m, k, n, seed):
    w = np.random.default_rng(seed).standard_normal((m, k)).astype(np.float32)
    p = prune_nm(w, n)
    assert p.shape == w.shape
    pad = np.pad(p, ((0, 0), (0, (-k) % 4)))
    assert (block_nnz(pad) <= n).all()
    kept = p != 0
    assert np.array_equal(p[kept], w[kept])
    # every dropped value is no larger than the smallest kept value of its block
    wp = np.pad(np.abs(w), ((0, 0), (0, (-k) % 4))).reshape(m, -1, 4)
    kp = np.pad(kept, ((0, 0), (0, (-k) % 4))).reshape(m, -1, 4)
    low_kept = np.where(kp, wp, np.inf).min(axis=-1)
    high_dropped = np.where(~kp, wp, -np.inf).max(axis=-1)
    assert (high_dropped <= low_kept).all()


def test_prune_unstructured_exact_count_and_rowwise_cover():
    rng = np.random.default_rng(3)
    w = rng.standard_normal((32, 128)).astype(np.float32)
    p = prune_unstructured(w, 0.95)
    assert int((p != 0).sum()) == round(0.05 * w.size)
    assert np.abs(p[p != 0]).min() >= np.abs(w[p == 0]).max()
    cover = rowwise_cover(p)
    assert cover.shape == (32, 2)
    # each (row, window): N is the smallest of 1, 2, 4 holding its densest block
    worst = block_nnz(p).reshape(32, 2, 16).max(axis=-1)
    expect = np.select([worst <= 1, worst == 2], [1, 2], 4)
    assert np.array_equal(cover, expect)


def test_prune_row_wise_reaches_density_and_prefers_important_rows():
    rng = np.random.default_rng(4)
    w = rng.standard_normal((16, 64)).astype(np.float32)
    w[:4] *= 10                                   # four rows carry most of the magnitude
    p, n = prune_row_wise(w, 0.25 + 4 * 16 * 3 / (16 * 64))   # budget: exactly four rows upgraded 1 -> 4
    assert n[:4, 0].tolist() == [4, 4, 4, 4] and (n[4:, 0] == 1).all()
    assert int((p != 0).sum()) == 16 * 16 + 4 * 48
    for r in range(16):
        assert (block_nnz(p[r:r + 1]) <= n[r, 0]).all()


# --------------------------------------------------------------------------- single instructions on the Machine
def _machine_with(a_bytes: bytes, b: np.ndarray, meta: bytes = b""):
    mem = np.frombuffer(a_bytes + meta + to_bf16_bits(b).tobytes(), np.uint8).copy()
    return Machine(mem), len(a_bytes), len(a_bytes) + len(meta)


@pytest.mark.parametrize("n", [4, 2, 1])
def test_single_nm_instruction_equals_numpy(n):
    rng = np.random.default_rng(n)
    k = 32 * 4 // n
    a = prune_nm(rng.integers(-8, 9, (16, k)).astype(np.float32), n)
    b = rng.integers(-8, 9, (k, 16)).astype(np.float32)
    vals, idx = compress_nm(a, n)
    meta = pack_indices(idx).tobytes() if n < 4 else b""
    m, meta_at, b_at = _machine_with(to_bf16_bits(vals).tobytes(), b, meta)
    width = {4: 1, 2: 2, 1: 4}[n]
    base = 8 - width
    prog = [Instr("TILE_ZERO", (1,)), Instr("TILE_LOAD_T", (0,), addr=0, rows=16, row_bytes=64, stride=64),
            Instr({1: "TILE_LOAD_T", 2: "TILE_LOAD_U", 4: "TILE_LOAD_V"}[width], (base,), addr=b_at, rows=k,
                  row_bytes=32, stride=32)]
    if n < 4:
        prog.append(Instr("TILE_LOAD_M", (), mreg=3, addr=meta_at, rows=1, row_bytes=128, stride=128))
    prog.append(Instr(OPS[n], (1, 0, base), mreg=3 if n < 4 else -1))
    prog.append(Instr(OPS[n], (1, 0, base), mreg=3 if n < 4 else -1))      # accumulates: C = 2 A B
    m.run(prog)
    assert np.array_equal(m.c_tile(1), 2 * (a @ b))


def test_rowwise_tile_packing_and_semantics():
    rng = np.random.default_rng(7)
    w = prune_nm(rng.integers(-5, 6, (16, 64)).astype(np.float32), 4)
    rown = np.array([1, 2, 4, 1] * 4)
    win = np.vstack([prune_nm(w[r:r + 1], int(rown[r])) for r in range(16)])
    (tile,) = rowwise_tiles(win, rown)            # sum N = 32 half-slots: exactly one treg
    assert tile.half_slots == 32 and tile.feed == 16 and tile.values.size == 512
    assert rown_from_descriptor(tile.descriptor) == tuple(int(x) for x in rown)
    assert np.array_equal(rowwise_dense(tile), win)
    b = rng.integers(-5, 6, (64, 16)).astype(np.float32)
    m, meta_at, b_at = _machine_with(to_bf16_bits(tile.values).tobytes(), b, pack_indices(tile.idx).tobytes())
    m.run([Instr("TILE_ZERO", (2,)), Instr("TILE_LOAD_T", (0,), addr=0, rows=1, row_bytes=1024, stride=1024),
           Instr("TILE_LOAD_M", (), mreg=0, addr=meta_at, rows=1, row_bytes=128, stride=128),
           Instr("TILE_LOAD_U", (6,), addr=b_at, rows=64, row_bytes=32, stride=32),
           Instr("TILE_SPMM_R", (2, 0, 6), mreg=0, feed=tile.feed, rown=tile.rown)])
    assert np.array_equal(m.c_tile(2), win @ b)


def test_rowwise_dense_rows_split_over_two_instructions():
    w = np.ones((16, 64), np.float32)             # every row N = 4: 64 half-slots > 32
    tiles = rowwise_tiles(w)
    assert [t.half_slots for t in tiles] == [32, 32] and [t.feed for t in tiles] == [16, 16]
    assert np.array_equal(rowwise_dense(tiles[0]) + rowwise_dense(tiles[1]), w)
    # 6 rows at N = 4 then 10 at N = 1: 34 half-slots; the balanced contiguous split is after row 4 (16 | 18),
    # not the greedy 32 | 2, so the two instructions feed 8 and 9 cycles
    rown = np.array([4] * 6 + [1] * 10)
    w2 = np.vstack([prune_nm(np.ones((1, 64), np.float32), int(n)) for n in rown])
    assert [t.half_slots for t in rowwise_tiles(w2, rown)] == [16, 18]
    assert [t.feed for t in rowwise_tiles(w2, rown)] == [8, 9]


def test_bad_programs_raise():
    m = Machine(np.zeros(4096, np.uint8))
    with pytest.raises(ValueError, match="outside memory"):
        m.run([Instr("TILE_LOAD_T", (0,), addr=4000, rows=16, row_bytes=64, stride=64)])
    with pytest.raises(ValueError, match="not aligned"):
        m.run([Instr("TILE_LOAD_V", (2,), addr=0, rows=16, row_bytes=64, stride=64)])
    with pytest.raises(ValueError, match="overlap"):
        m.run([Instr("TILE_SPMM_U", (6, 0, 6), mreg=0)])


# --------------------------------------------------------------------------- whole GEMMs vs numpy
@settings(max_examples=40)
@given(m=st.integers(1, 40), k=st.integers(1, 200), n=st.integers(1, 40), pattern=st.sampled_from([4, 2, 1]),
       na=st.integers(1, 3), nb=st.integers(1, 2), panels=st.integers(1, 3), seed=st.integers(0, 10 ** 6))
def test_gemm_program_equals_numpy_nm(m, k, n, pattern, na, nb, panels, seed):
    # small integers: every BF16 product and FP32 partial sum is exact, so equality is exact
    rng = np.random.default_rng(seed)
    a = prune_nm(rng.integers(-7, 8, (m, k)).astype(np.float32), pattern)
    b = rng.integers(-7, 8, (k, n)).astype(np.float32)
    op = OPS[pattern]
    while not fits(na, nb, op):                   # 1:4 B takes 4 tregs: shrink the block until it fits
        na, nb = (na, nb - 1) if nb > 1 else (na - 1, nb)
    c = run_gemm(a, b, op, Blocking(na, nb), panels)
    assert np.array_equal(c, a @ b)


@settings(max_examples=25)
@given(m=st.integers(1, 40), k=st.integers(1, 200), n=st.integers(1, 24), sparsity=st.floats(0.0, 0.99),
       na=st.integers(1, 3), seed=st.integers(0, 10 ** 6))
def test_gemm_program_equals_numpy_unstructured_via_rowwise_cover(m, k, n, sparsity, na, seed):
    rng = np.random.default_rng(seed)
    a = np.round(4 * random_sparse((m, k), sparsity, rng))
    b = rng.integers(-7, 8, (k, n)).astype(np.float32)
    assert np.array_equal(run_gemm(a, b, "TILE_SPMM_R", Blocking(na, 1)), a @ b)


def test_gemm_program_float_inputs_match_bf16_product():
    rng = np.random.default_rng(11)
    a = prune_nm(rng.standard_normal((50, 300)).astype(np.float32), 2)
    b = rng.standard_normal((300, 33)).astype(np.float32)
    c = run_gemm(a, b, "TILE_SPMM_U", Blocking(3, 1), panels=2)
    ref = bf16(a).astype(np.float64) @ bf16(b).astype(np.float64)
    np.testing.assert_allclose(c, ref, rtol=1e-5, atol=1e-4)


@given(m=st.integers(1, 20), k=st.integers(1, 200), density=st.floats(0.25, 1.0), seed=st.integers(0, 99))
def test_prune_row_wise_property(m, k, density, seed):
    w = np.random.default_rng(seed).standard_normal((m, k)).astype(np.float32) + 0.01
    p, n = prune_row_wise(w, density)
    kp = -(-k // 64) * 64
    assert n.shape == (m, kp // 64) and set(np.unique(n)) <= {1, 2, 4}
    # every (row, window) obeys its N; kept values are unchanged; the budget (padding included) is not exceeded
    nnz = block_nnz(np.pad(p, ((0, 0), (0, kp - k)))).reshape(m, -1, 16)
    assert (nnz.max(axis=-1) <= n).all()
    assert np.array_equal(p[p != 0], w[p != 0])
    assert n.sum() * 16 <= max(round(density * m * kp), m * kp // 4)
    # the cover of the pruned matrix never needs more than the chosen N
    assert (rowwise_cover(p) <= n).all()


@given(m=st.integers(1, 20), k=st.integers(1, 200), sparsity=st.floats(0, 0.99), seed=st.integers(0, 99))
def test_rowwise_cover_is_the_smallest(m, k, sparsity, seed):
    a = random_sparse((m, k), sparsity, np.random.default_rng(seed))
    cover = rowwise_cover(a)
    worst = block_nnz(np.pad(a, ((0, 0), (0, (-k) % 64)))).reshape(m, -1, 16).max(axis=-1)
    assert (cover >= worst).all()                        # holds every non-zero
    smaller = np.where(cover == 4, 2, cover // 2)        # the next smaller N (0 for N = 1)
    assert ((smaller < worst) | (cover == 1)).all()      # and the next smaller N would not
