/*
 * rnnkit's own small GEMM, C = A B (or C += A B), on the calling thread only. Included by loops.c once
 * per dtype with REAL, SUFFIX, VREAL (a vector of REAL, simd.h) and VN (its lanes) defined.
 *
 * Why not BLAS: a time loop makes one small product per step, and the only way to keep OpenBLAS on
 * one thread for it is its thread-count setting, which is process-wide in NumPy's build (also the
 * misnamed openblas_set_num_threads_local): changing it races with every other thread of the process.
 * This kernel never starts a thread, so rnnkit's threads (threads.py) split the batch rows instead.
 * Each row of C is computed the same way whichever rows share its tile, so results do not depend on
 * how the rows were split (bit for bit).
 *
 * B is packed once per call (pack_b: panels of NR = 2 VN columns, k-major, zero-padded: U is packed
 * once, where a BLAS call packs it again on every step), A once per product (pack_a: blocks of MR rows,
 * k-major, so a tile's broadcasts read one contiguous line). The register tile is MR rows x 2 vectors,
 * the shape of OpenBLAS's own Haswell kernel (12 accumulators, 2 weight vectors and a broadcast fill
 * the 16 AVX2 registers; AVX-512 uses half of its 32, SSE all 16).
 */
#ifndef RK_MR
#define RK_MR 6
#endif
#define RK_NR (2 * VN)

RK_VINLINE VREAL SUFFIX(vld)(const REAL *p) {
    VREAL v;
    memcpy(&v, p, sizeof v);
    return v;
}

RK_VINLINE void SUFFIX(vst)(REAL *p, VREAL v) { memcpy(p, &v, sizeof v); }

/* REALs that pack_b writes for a K x N matrix */
static int64_t SUFFIX(packed_b_size)(int64_t K, int64_t N) { return (N + RK_NR - 1) / RK_NR * RK_NR * K; }

/* REALs that pack_a writes for M x K */
static int64_t SUFFIX(packed_a_size)(int64_t M, int64_t K) { return (M + RK_MR - 1) / RK_MR * RK_MR * K; }

/* Bp[panel][k][q] = B(k, RK_NR panel + q), zero past N; B(k, n) = B[k rs + n cs] (so Uᵀ packs from U). */
static void SUFFIX(pack_b)(int64_t K, int64_t N, const REAL *B, int64_t rs, int64_t cs, REAL *Bp) {
    for (int64_t n0 = 0; n0 < N; n0 += RK_NR) {
        int64_t w = N - n0 < RK_NR ? N - n0 : RK_NR;
        REAL *dst = Bp + n0 * K;
        for (int64_t k = 0; k < K; k++) {
            const REAL *src = B + k * rs + n0 * cs;
            REAL *d = dst + k * RK_NR;
            if (cs == 1 && w == RK_NR) { /* two vector moves, inlined, rather than a memcpy call per row */
                SUFFIX(vst)(d, SUFFIX(vld)(src));
                SUFFIX(vst)(d + VN, SUFFIX(vld)(src + VN));
                continue;
            }
            if (cs == 1)
                memcpy(d, src, (size_t)w * sizeof(REAL));
            else
                for (int64_t q = 0; q < w; q++) d[q] = src[q * cs];
            for (int64_t q = w; q < RK_NR; q++) d[q] = 0;
        }
    }
}

/* Ap[block][k][r] = A(RK_MR block + r, k), zero past M; A(m, k) = A[m rs + k cs]. */
static void SUFFIX(pack_a)(int64_t M, int64_t K, const REAL *A, int64_t rs, int64_t cs, REAL *Ap) {
    for (int64_t m0 = 0; m0 < M; m0 += RK_MR) {
        int64_t h = M - m0 < RK_MR ? M - m0 : RK_MR;
        REAL *dst = Ap + m0 * K;
        if (rs == 1 && h == RK_MR) { /* A transposed in memory (a column of a row-major matrix per row of A):
                                      * the MR values of each k lie side by side */
            for (int64_t k = 0; k < K; k++) memcpy(dst + k * RK_MR, A + m0 + k * cs, RK_MR * sizeof(REAL));
            continue;
        }
        for (int64_t r = 0; r < RK_MR; r++) {
            const REAL *src = A + (m0 + r) * rs;
            if (r < h)
                for (int64_t k = 0; k < K; k++) dst[k * RK_MR + r] = src[k * cs];
            else
                for (int64_t k = 0; k < K; k++) dst[k * RK_MR + r] = 0;
        }
    }
}

/* MR rows x the w (<= NR) columns of one panel: C = [C +] Ap Bp. MR is a literal after inlining. */
RK_VINLINE void SUFFIX(tile)(const int MR, int64_t K, const REAL *Ap, int64_t ars, int64_t acs, const REAL *Bp,
                             int64_t bks, REAL *C, int64_t ldc, int64_t w, int accumulate) {
    VREAL acc[RK_MR][2];
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = (VREAL){0};
    for (int64_t k = 0; k < K; k++) {
        VREAL w0 = SUFFIX(vld)(Bp + k * bks), w1 = SUFFIX(vld)(Bp + k * bks + VN);
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            VREAL a = VSPLAT(Ap[k * acs + r * ars]);
            acc[r][0] = a * w0 + acc[r][0];
            acc[r][1] = a * w1 + acc[r][1];
        }
    }
    for (int r = 0; r < MR; r++) {
        REAL *c = C + r * ldc;
        if (w == RK_NR) {
            if (accumulate) {
                acc[r][0] += SUFFIX(vld)(c);
                acc[r][1] += SUFFIX(vld)(c + VN);
            }
            SUFFIX(vst)(c, acc[r][0]);
            SUFFIX(vst)(c + VN, acc[r][1]);
        } else {
            REAL t[RK_NR];
            SUFFIX(vst)(t, acc[r][0]);
            SUFFIX(vst)(t + VN, acc[r][1]);
            for (int64_t q = 0; q < w; q++) c[q] = accumulate ? c[q] + t[q] : t[q];
        }
    }
}

/* `groups` products at once, sharing B: C_g (M x N, row stride ldc) = [C_g +] A_g B, where A_g = Ap +
 * g ap_stride (pack_a of M rows) and C_g = C + g c_stride. Panels outer, so a panel of B stays in L1
 * while every row block of every group passes over it (an inference run projects `ring` steps of inputs
 * this way: B = W is read once per ring, not once per step). B is packed (pack_b) when ldb is 0, else
 * row-major with rows of ldb values read in place, which needs N a multiple of NR (whole panels). */
static void SUFFIX(gemm_packed_groups)(int64_t groups, int64_t M, int64_t N, int64_t K, const REAL *Ap,
                                       int64_t ap_stride, const REAL *Bp, int64_t ldb, REAL *C, int64_t c_stride,
                                       int64_t ldc, int accumulate) {
    int64_t bks = ldb ? ldb : RK_NR;
    for (int64_t n0 = 0; n0 < N; n0 += RK_NR) {
        int64_t w = N - n0 < RK_NR ? N - n0 : RK_NR;
        const REAL *panel = ldb ? Bp + n0 : Bp + n0 * K;
        for (int64_t g = 0; g < groups; g++) {
            const REAL *A = Ap + g * ap_stride;
            REAL *Cg = C + g * c_stride + n0;
            int64_t m0 = 0;
            for (; m0 + RK_MR <= M; m0 += RK_MR) SUFFIX(tile)(RK_MR, K, A + m0 * K, 1, RK_MR, panel, bks, Cg + m0 * ldc, ldc, w, accumulate);
            switch (M - m0) {
#define RK_REST(n) case n: SUFFIX(tile)(n, K, A + m0 * K, 1, RK_MR, panel, bks, Cg + m0 * ldc, ldc, w, accumulate); break;
            RK_REST(1) RK_REST(2) RK_REST(3) RK_REST(4) RK_REST(5)
#undef RK_REST
            default: break;
            }
        }
    }
}

/* One product of a time loop: C (M x N, ldc) = [C +] A (M x K: A[m rs + k]) B, packing A into Ap; B as
 * for gemm_packed_groups (packed when ldb is 0). */
static void SUFFIX(step_gemm)(int64_t M, int64_t N, int64_t K, const REAL *A, int64_t rs, const REAL *Bp,
                              int64_t ldb, REAL *Ap, REAL *C, int64_t ldc, int accumulate) {
    SUFFIX(pack_a)(M, K, A, rs, 1, Ap);
    SUFFIX(gemm_packed_groups)(1, M, N, K, Ap, 0, Bp, ldb, C, 0, ldc, accumulate);
}

/* Exported: B (K x N, B[k rsb + n csb]) packed into Bp (packed_b_size REALs), for the loops' U and W. */
void SUFFIX(rk_pack_b)(int64_t K, int64_t N, const REAL *B, int64_t rsb, int64_t csb, REAL *Bp) {
    SUFFIX(pack_b)(K, N, B, rsb, csb, Bp);
}

int64_t SUFFIX(rk_packed_b_size)(int64_t K, int64_t N) { return SUFFIX(packed_b_size)(K, N); }

/* Blocking of rk_gemm_blocked: each KC x NR panel of a KC x NC block of packed B stays in L1 while an
 * MC x KC block of packed A (L2) passes over it. NC is wide so that A is packed once per K block for
 * most products (1024: measured 5-14% faster than 256 at a training step's shapes, where A was packed
 * three times). */
#define RK_KC 256
#define RK_NC 1024
#define RK_MC 96

/* Exported: C (M x N, ldc) = [C +] A B on this thread, A[m rsa + k csa], B[k rsb + n csb], blocked and
 * packed for the whole-sequence products (dW, dU, dx, x W) of any size, which threads.py splits into
 * disjoint blocks of C over rnnkit's threads. Each element of C is the same sum in the same order
 * whichever block of C it lies in (K runs in KC blocks, each an FMA chain in k order), so the result
 * does not depend on the split. Returns -1 when out of memory (nothing written). */
int SUFFIX(rk_gemm_blocked)(int64_t M, int64_t N, int64_t K, const REAL *A, int64_t rsa, int64_t csa,
                            const REAL *B, int64_t rsb, int64_t csb, REAL *C, int64_t ldc, int accumulate) {
    int64_t kc_max = K < RK_KC ? K : RK_KC, nc_max = N < RK_NC ? N : RK_NC, mc_max = M < RK_MC ? M : RK_MC;
    /* With few rows of C (one block of A), packing B would cost about as much memory traffic as the
     * product: B with contiguous rows is then read in place, a panel of NR columns at a time (only a
     * partial last panel is packed). With more rows, the packed panel's contiguous lines win (a panel
     * read in place spans a page per few rows of B: a TLB miss per step of k). */
    int direct = csb == 1 && M <= RK_MC;
    REAL *Bp = malloc((size_t)(SUFFIX(packed_b_size)(kc_max, direct ? 1 : nc_max) + 1) * sizeof(REAL));
    REAL *Ap = malloc((size_t)(SUFFIX(packed_a_size)(mc_max, kc_max) + 1) * sizeof(REAL));
    if (!Bp || !Ap) {
        free(Bp);
        free(Ap);
        return -1;
    }
    if (K == 0 && !accumulate)
        for (int64_t m = 0; m < M; m++) memset(C + m * ldc, 0, (size_t)N * sizeof(REAL));
    for (int64_t n0 = 0; n0 < N; n0 += RK_NC) {
        int64_t nc = N - n0 < RK_NC ? N - n0 : RK_NC;
        for (int64_t k0 = 0; k0 < K; k0 += RK_KC) {
            int64_t kc = K - k0 < RK_KC ? K - k0 : RK_KC;
            int acc = accumulate || k0 > 0;
            if (!direct) SUFFIX(pack_b)(kc, nc, B + k0 * rsb + n0 * csb, rsb, csb, Bp);
            for (int64_t m0 = 0; m0 < M; m0 += RK_MC) {
                int64_t mc = M - m0 < RK_MC ? M - m0 : RK_MC;
                /* A with contiguous rows is read in place too (six rows streamed at a time) */
                const REAL *Am = A + m0 * rsa + k0 * csa;
                int64_t ars = rsa, acs = 1, ablock = RK_MR * rsa;
                if (csa != 1) {
                    SUFFIX(pack_a)(mc, kc, Am, rsa, csa, Ap);
                    Am = Ap, ars = 1, acs = RK_MR, ablock = RK_MR * kc;
                }
                for (int64_t n = 0; n < nc; n += RK_NR) {
                    int64_t w = nc - n < RK_NR ? nc - n : RK_NR;
                    const REAL *panel = Bp + n * kc;
                    int64_t bks = RK_NR;
                    if (direct && w == RK_NR) {
                        panel = B + k0 * rsb + n0 + n;
                        bks = rsb;
                    } else if (direct) {
                        SUFFIX(pack_b)(kc, w, B + k0 * rsb + n0 + n, rsb, 1, Bp);
                        panel = Bp;
                    }
                    REAL *Cn = C + m0 * ldc + n0 + n;
                    int64_t m = 0;
                    if (acs == RK_MR && bks == RK_NR) /* both packed: the strides as constants in the tile */
                        for (; m + RK_MR <= mc; m += RK_MR)
                            SUFFIX(tile)(RK_MR, kc, Am + m * kc, 1, RK_MR, panel, RK_NR, Cn + m * ldc, ldc, w, acc);
                    for (; m + RK_MR <= mc; m += RK_MR)
                        SUFFIX(tile)(RK_MR, kc, Am + m / RK_MR * ablock, ars, acs, panel, bks, Cn + m * ldc, ldc, w, acc);
                    switch (mc - m) {
#define RK_REST(r) case r: SUFFIX(tile)(r, kc, Am + m / RK_MR * ablock, ars, acs, panel, bks, Cn + m * ldc, ldc, w, acc); break;
                    RK_REST(1) RK_REST(2) RK_REST(3) RK_REST(4) RK_REST(5)
#undef RK_REST
                    default: break;
                    }
                }
            }
        }
    }
    free(Bp);
    free(Ap);
    return 0;
}
