/*
 * Whole-buffer passes of a training step that NumPy would make in several passes (or on BLAS's threads):
 * the sum of squares of a gradient, the Adam update, the scatter-add of embedding rows. Included by
 * loops.c once per dtype (REAL, SUFFIX). The Python side (rnnkit/_fast/vector.py) runs a long buffer in
 * disjoint ranges on rnnkit's threads.
 *
 * Each is the same arithmetic as its NumPy reference in rnnkit/ops/vector_ops.py, operation for
 * operation, with contraction into FMAs turned off: the results are those of the reference bit for bit
 * (the sum of squares excepted: it adds in a fixed order of its own, the same on every CPU variant).
 */
#define RK_SQRT(x) _Generic((x), float: sqrtf, default: sqrt)(x) /* sqrtf on float: NumPy's float32 sqrt */

#ifdef __clang__
#define RK_NO_CONTRACT _Pragma("clang fp contract(off)")
#define RK_EXACT
#else
#define RK_NO_CONTRACT
#define RK_EXACT __attribute__((optimize("fp-contract=off")))
#endif

/* sum of x[i]^2 in double: eight running sums (lane j takes i = j mod 8), then added pairwise, then the
 * tail. NaN and Inf propagate. */
RK_EXACT double SUFFIX(rk_sum_squares)(int64_t n, const REAL *x) {
    RK_NO_CONTRACT
    double s[8] = {0, 0, 0, 0, 0, 0, 0, 0}, tail = 0;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) {
            double v = (double)x[i + j];
            s[j] += v * v;
        }
    for (; i < n; i++) {
        double v = (double)x[i];
        tail += v * v;
    }
    return (((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))) + tail;
}

/* Adam (Keras 3's form, rnnkit/optimizers/adam.py) over n values, in place:
 *   m += (g - m) c1;  v += (g g - v) c2;  (vhat: vhat = max(vhat, v), used for v)
 *   w -= (m alpha) / (sqrt(v) + eps)
 * with c1 = 1 - beta_1, c2 = 1 - beta_2; vhat NULL without AMSGrad. */
RK_EXACT void SUFFIX(rk_adam)(int64_t n, const REAL *g, REAL *w, REAL *m, REAL *v, REAL *vhat, REAL alpha, REAL c1,
                              REAL c2, REAL eps) {
    RK_NO_CONTRACT
    if (vhat) {
        for (int64_t i = 0; i < n; i++) {
            REAL gi = g[i], mi = m[i] + (gi - m[i]) * c1, vi = v[i] + (gi * gi - v[i]) * c2, h = vhat[i];
            m[i] = mi;
            v[i] = vi;
            h = (h > vi || h != h) ? h : vi; /* np.maximum: NaN wins */
            vhat[i] = h;
            w[i] -= (mi * alpha) / (RK_SQRT(h) + eps);
        }
        return;
    }
    for (int64_t i = 0; i < n; i++) {
        REAL gi = g[i], mi = m[i] + (gi - m[i]) * c1, vi = v[i] + (gi * gi - v[i]) * c2;
        m[i] = mi;
        v[i] = vi;
        w[i] -= (mi * alpha) / (RK_SQRT(vi) + eps);
    }
}

/* dst[ids[i]] += rows[i] (width values each) for i = 0..n-1 in order, as np.add.at; ids in range. */
RK_EXACT void SUFFIX(rk_scatter_add_rows)(int64_t n, int64_t width, const int64_t *ids, const REAL *rows, REAL *dst) {
    RK_NO_CONTRACT
    for (int64_t i = 0; i < n; i++) {
        REAL *d = dst + ids[i] * width;
        const REAL *r = rows + i * width;
        for (int64_t j = 0; j < width; j++) d[j] += r[j];
    }
}

#undef RK_NO_CONTRACT
#undef RK_EXACT
#undef RK_SQRT
