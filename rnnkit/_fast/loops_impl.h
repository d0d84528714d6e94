/*
 * Loop bodies, included by loops.c once per dtype with REAL, SUFFIX, ACT and ROW_ACT defined, after
 * step_gemm.h (and LSTM_GATES_TANH_SIGMOID, the explicit-vector LSTM row of simd.h, for float32).
 * Argument shapes are in loops.c's header comment and in rnnkit/_fast/kernels.py, which calls these.
 *
 * Every loop runs the batch rows [b0, b1) of arrays laid out for the whole batch B: rows never meet in
 * a recurrent layer, so threads.py runs disjoint row ranges on several threads at once, each writing
 * only its rows (of the outputs, the caches and the (B, .) scratch). Up / UTp / Wp are U, Uᵀ and W
 * packed once per call (rk_pack_b). Each returns 0, or -1 when its scratch could not be allocated.
 */

/* scratch for pack_a of `rows` rows and K columns, and of `ring` such blocks with I columns (step_rows),
 * or NULL */
static REAL *SUFFIX(scratch_a)(int64_t rows, int64_t K, int64_t ring, int64_t I) {
    int64_t step = SUFFIX(packed_a_size)(rows, K), projection = ring * SUFFIX(packed_a_size)(rows, I);
    return malloc((size_t)((step > projection ? step : projection) + 1) * sizeof(REAL));
}

/* hin[t, b0:b1] = h (times the recurrent mask). */
static void SUFFIX(fill_hin)(int64_t B, int64_t H, int64_t t, const REAL *h, const REAL *rmask, REAL *hin,
                             int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; b++) {
        REAL *dst = hin + (t * B + b) * H;
        const REAL *src = h + b * H;
        if (rmask) {
            const REAL *rm = rmask + b * H;
            for (int64_t j = 0; j < H; j++) dst[j] = src[j] * rm[j];
        } else {
            memcpy(dst, src, (size_t)H * sizeof(REAL));
        }
    }
}

/* RK_LDB: the forwards' ldb is 0 when Up and Wp are packed (rk_pack_b), else the row length (G) of both
 * given as the row-major U and W themselves, read in place (G a multiple of the panel width NR): a
 * streaming call then packs nothing. */

/* Inference runs (ring > 0) project the inputs `ring` steps at a time into P, which then holds only
 * those steps, straight from the batch-major X (B, T, I) with the packed Wp; their cache pointers (hin,
 * TC, ...) are (B, ·) scratch overwritten every step. The working set stays in cache and nothing of size
 * T is allocated. Training runs (ring == 0) get P with every step projected and caches with every step.
 * Returns the rows of step t in P (the whole batch's; the caller takes its rows). */
static REAL *SUFFIX(step_rows)(int64_t B, int64_t T, int64_t I, int64_t G, int64_t t, int64_t ring, const REAL *X,
                               const REAL *Wp, int64_t ldb, REAL *Ap, REAL *P, int64_t b0, int64_t b1) {
    if (!ring) return P + t * B * G;
    if (t % ring == 0) {
        int64_t n = T - t < ring ? T - t : ring, rows = b1 - b0, stride = SUFFIX(packed_a_size)(rows, I);
        for (int64_t s = 0; s < n; s++) SUFFIX(pack_a)(rows, I, X + (b0 * T + t + s) * I, T * I, 1, Ap + s * stride);
        SUFFIX(gemm_packed_groups)(n, rows, G, I, Ap, stride, Wp, ldb, P + b0 * G, B * G, G, 0);
    }
    return P + (t % ring) * B * G;
}

/* Output row at a masked step: the previous output, or zeros (also before the first step). */
static void SUFFIX(masked_output)(REAL *o, int64_t t, int64_t H, int zero_out) {
    if (zero_out || t == 0)
        memset(o, 0, (size_t)H * sizeof(REAL));
    else
        memcpy(o, o - H, (size_t)H * sizeof(REAL));
}

/* Gradient reaching the new output of row (b, t) (sequence.output_grads, one step): writes d_new. */
static void SUFFIX(route_output_grad)(const REAL *go, REAL *carry, int m, int zero_out, REAL *d_new, int64_t H) {
    for (int64_t j = 0; j < H; j++) {
        REAL total = (go ? go[j] : (REAL)0) + carry[j];
        d_new[j] = m ? total : (REAL)0;
        carry[j] = (zero_out || m) ? (REAL)0 : total;
    }
}

/* The gradient reaching the output of row (b, t) for a gated cell's row backward, which always reads
 * one: routed through the mask's carry (route_output_grad) in a masked run, else dout's row, else
 * zeros; work's row b is the scratch it may be written to. */
static const REAL *SUFFIX(row_output_grad)(const REAL *go, const uint8_t *mask, int m, REAL *carry, int zero_out,
                                           REAL *work, int64_t b, int64_t H) {
    REAL *row = work + b * H;
    if (mask) {
        SUFFIX(route_output_grad)(go, carry + b * H, m, zero_out, row, H);
        return row;
    }
    if (go) return go;
    memset(row, 0, (size_t)H * sizeof(REAL));
    return row;
}

/* dh += work (times the recurrent mask) over rows [b0, b1): the recurrent GEMM's share of dh_{t-1}. */
static void SUFFIX(add_recurrent_grad)(int64_t H, const REAL *work, const REAL *rmask, REAL *dh, int64_t b0,
                                       int64_t b1) {
    int64_t n = (b1 - b0) * H;
    work += b0 * H;
    dh += b0 * H;
    if (rmask) {
        rmask += b0 * H;
        for (int64_t j = 0; j < n; j++) dh[j] += work[j] * rmask[j];
    } else
        for (int64_t j = 0; j < n; j++) dh[j] += work[j];
}

/* One (b, t) row of the LSTM forward, all gate math in one pass: x W + h U + b, activations, the cell
 * update and act(c_t); inlined like lstm_backward_row. bias (4H) is required (zeros when there is none). */
static inline __attribute__((always_inline)) void SUFFIX(lstm_forward_row)(
    int64_t H, REAL *restrict g, const REAL *restrict s, const REAL *restrict bias, REAL forget_bias,
    const REAL *restrict cb, REAL *restrict cp, REAL *restrict cn, REAL *restrict tc, const int act, const int ract) {
    for (int64_t j = 0; j < H; j++) {
        REAL i = ACT(ract, g[j] + s[j] + bias[j]);
        REAL f = ACT(ract, g[H + j] + s[H + j] + bias[H + j] + forget_bias);
        REAL cc = ACT(act, g[2 * H + j] + s[2 * H + j] + bias[2 * H + j]);
        REAL o = ACT(ract, g[3 * H + j] + s[3 * H + j] + bias[3 * H + j]);
        g[j] = i;
        g[H + j] = f;
        g[2 * H + j] = cc;
        g[3 * H + j] = o;
        cp[j] = cb[j];
        REAL c_new = f * cb[j] + i * cc;
        cn[j] = c_new;
        tc[j] = ACT(act, c_new);
    }
}

/* The same row for any other pair of activations, in passes over the row: each activation then runs
 * vectorised over a whole gate (ROW_ACT), where the fused loop above, with runtime codes, would call
 * a scalar activation per value through a switch (measured: ReLU LSTMs 3x slower in their loops). */
static void SUFFIX(lstm_forward_row_passes)(int64_t H, REAL *restrict g, const REAL *restrict s,
                                            const REAL *restrict bias, REAL forget_bias, const REAL *restrict cb,
                                            REAL *restrict cp, REAL *restrict cn, REAL *restrict tc, int act,
                                            int ract) {
    for (int64_t j = 0; j < 4 * H; j++) g[j] = g[j] + s[j] + bias[j];
    for (int64_t j = 0; j < H; j++) g[H + j] = g[H + j] + forget_bias;
    ROW_ACT(ract, g, g, 2 * H); /* i, f */
    ROW_ACT(act, g + 2 * H, g + 2 * H, H);
    ROW_ACT(ract, g + 3 * H, g + 3 * H, H);
    for (int64_t j = 0; j < H; j++) {
        cp[j] = cb[j];
        cn[j] = g[H + j] * cb[j] + g[j] * g[2 * H + j];
    }
    ROW_ACT(act, tc, cn, H);
}

/* One (b, t) row of the LSTM backward; always inlined so that constant activation codes fold away
 * and the loop vectorises. */
static inline __attribute__((always_inline)) void SUFFIX(lstm_backward_row)(
    int64_t H, const REAL *restrict g, const REAL *restrict tc, const REAL *restrict cp, const REAL *restrict gout,
    REAL *restrict dhb, REAL *restrict dcb, REAL *restrict dz, const int act, const int ract) {
    const REAL *gi = g, *gf = g + H, *gc = g + 2 * H, *go = g + 3 * H;
    for (int64_t j = 0; j < H; j++) {
        REAL dhn = dhb[j] + gout[j];
        REAL dcn = dcb[j] + dhn * go[j] * RK_DERIV(act, tc[j], (REAL)1, (REAL)0);
        dz[j] = dcn * gc[j] * RK_DERIV(ract, gi[j], (REAL)1, (REAL)0);
        dz[H + j] = dcn * cp[j] * RK_DERIV(ract, gf[j], (REAL)1, (REAL)0);
        dz[2 * H + j] = dcn * gi[j] * RK_DERIV(act, gc[j], (REAL)1, (REAL)0);
        dz[3 * H + j] = dhn * tc[j] * RK_DERIV(ract, go[j], (REAL)1, (REAL)0);
        dcb[j] = dcn * gf[j];
        dhb[j] = 0;
    }
}

/* One (b, t) row of the GRU backward (reset_after), inlined like lstm_backward_row. */
static inline __attribute__((always_inline)) void SUFFIX(gru_backward_row)(
    int64_t H, const REAL *restrict g, const REAL *restrict hz, const REAL *restrict hp,
    const REAL *restrict gout, REAL *restrict dhb, REAL *restrict dx, REAL *restrict dr, const int act,
    const int ract) {
    const REAL *gz = g, *gr = g + H, *gh = g + 2 * H;
    for (int64_t j = 0; j < H; j++) {
        REAL dhn = dhb[j] + gout[j];
        REAL dzz = dhn * (hp[j] - gh[j]) * RK_DERIV(ract, gz[j], (REAL)1, (REAL)0);
        REAL dhh = dhn * (1 - gz[j]) * RK_DERIV(act, gh[j], (REAL)1, (REAL)0);
        REAL drr = dhh * hz[j] * RK_DERIV(ract, gr[j], (REAL)1, (REAL)0);
        dx[j] = dzz;
        dx[H + j] = drr;
        dx[2 * H + j] = dhh;
        dr[j] = dzz;
        dr[H + j] = drr;
        dr[2 * H + j] = dhh * gr[j];
        dhb[j] = dhn * gz[j];
    }
}

/* ------------------------------------------------------------------------------------------ SimpleRNN */

/* ring, I, X, Wp, ldb: see step_rows (ring = 0 for a training run) and RK_LDB. */
int SUFFIX(rk_simple_forward)(int64_t B, int64_t T, int64_t H, REAL *P, const REAL *Up, const REAL *bias, REAL *h,
                              const uint8_t *mask, const REAL *rmask, int act, int zero_out, REAL *out,
                              REAL *hin, int64_t ring, int64_t I, const REAL *X, const REAL *Wp, int64_t ldb,
                              int64_t b0, int64_t b1) {
    REAL *Ap = SUFFIX(scratch_a)(b1 - b0, H, ring, I);
    if (!Ap) return -1;
    for (int64_t t = 0; t < T; t++) {
        int64_t kt = ring ? 0 : t; /* the cache's step */
        REAL *Pt = SUFFIX(step_rows)(B, T, I, H, t, ring, X, Wp, ldb, Ap, P, b0, b1);
        SUFFIX(fill_hin)(B, H, kt, h, rmask, hin, b0, b1);
        SUFFIX(step_gemm)(b1 - b0, H, H, hin + (kt * B + b0) * H, H, Up, ldb, Ap, Pt + b0 * H, H, 1);
        for (int64_t b = b0; b < b1; b++) {
            REAL *z = Pt + b * H, *o = out + (b * T + t) * H;
            if (bias)
                for (int64_t j = 0; j < H; j++) z[j] += bias[j];
            ROW_ACT(act, z, z, H);
            if (!mask || mask[b * T + t]) {
                memcpy(h + b * H, z, (size_t)H * sizeof(REAL));
                memcpy(o, z, (size_t)H * sizeof(REAL));
            } else {
                SUFFIX(masked_output)(o, t, H, zero_out);
            }
        }
    }
    free(Ap);
    return 0;
}

int SUFFIX(rk_simple_backward)(int64_t B, int64_t T, int64_t H, const REAL *Y, const REAL *UTp, const uint8_t *mask,
                               const REAL *rmask, int act, int zero_out, const REAL *dout, REAL *dh, REAL *dZ,
                               REAL *work, REAL *carry, int64_t b0, int64_t b1) {
    REAL *Ap = SUFFIX(scratch_a)(b1 - b0, H, 0, 0);
    if (!Ap) return -1;
    for (int64_t t = T - 1; t >= 0; t--) {
        for (int64_t b = b0; b < b1; b++) {
            const REAL *y = Y + (t * B + b) * H;
            const REAL *go = dout ? dout + (b * T + t) * H : 0;
            REAL *dz = dZ + (t * B + b) * H, *dhb = dh + b * H;
            int m = !mask || mask[b * T + t];
            if (mask) {
                SUFFIX(route_output_grad)(go, carry + b * H, m, zero_out, work + b * H, H);
                go = work + b * H;
            }
            if (!m) {
                memset(dz, 0, (size_t)H * sizeof(REAL));
                continue;
            }
            if (go)
                for (int64_t j = 0; j < H; j++) dz[j] = (dhb[j] + go[j]) * RK_DERIV(act, y[j], (REAL)1, (REAL)0);
            else
                for (int64_t j = 0; j < H; j++) dz[j] = dhb[j] * RK_DERIV(act, y[j], (REAL)1, (REAL)0);
            memset(dhb, 0, (size_t)H * sizeof(REAL));
        }
        SUFFIX(step_gemm)(b1 - b0, H, H, dZ + (t * B + b0) * H, H, UTp, 0, Ap, work + b0 * H, H, 0);
        SUFFIX(add_recurrent_grad)(H, work, rmask, dh, b0, b1);
    }
    free(Ap);
    return 0;
}

/* ------------------------------------------------------------------------------------------ LSTM */

/* Gates in P rows are [i, f, c~, o] (Keras order); TC keeps act(c_t), CP keeps c_{t-1}. work: (B, H),
 * S: (B, 4H) scratch. ring, I, X, Wp, ldb: see step_rows (ring = 0 for a training run) and RK_LDB. */
int SUFFIX(rk_lstm_forward)(int64_t B, int64_t T, int64_t H, REAL *P, const REAL *Up, const REAL *bias, REAL *h,
                            REAL *c, const uint8_t *mask, const REAL *rmask, REAL forget_bias, int act, int ract,
                            int zero_out, REAL *out, REAL *hin, REAL *TC, REAL *CP, REAL *work, REAL *S,
                            int64_t ring, int64_t I, const REAL *X, const REAL *Wp,
                              int64_t ldb, int64_t b0, int64_t b1) {
    const int64_t G = 4 * H;
    REAL *Ap = SUFFIX(scratch_a)(b1 - b0, H, ring, I);
    if (!Ap) return -1;
    for (int64_t t = 0; t < T; t++) {
        int64_t kt = ring ? 0 : t; /* the cache's step */
        REAL *Pt = SUFFIX(step_rows)(B, T, I, G, t, ring, X, Wp, ldb, Ap, P, b0, b1);
        SUFFIX(fill_hin)(B, H, kt, h, rmask, hin, b0, b1);
        /* into the cache-hot S rather than accumulating onto P: P was written long before (one GEMM for
         * all steps) and is cold (measured with BLAS: 1% slower onto P) */
        SUFFIX(step_gemm)(b1 - b0, G, H, hin + (kt * B + b0) * H, H, Up, ldb, Ap, S + b0 * G, G, 0);
        for (int64_t b = b0; b < b1; b++) {
            REAL *g = Pt + b * G;
            const REAL *go = g + 3 * H;
            REAL *cb = c + b * H, *hb = h + b * H, *tc = TC + (kt * B + b) * H, *cp = CP + (kt * B + b) * H;
            REAL *o = out + (b * T + t) * H, *cn = work + b * H;
            int m = !mask || mask[b * T + t];
#ifdef LSTM_GATES_TANH_SIGMOID
            if (act == RK_TANH && ract == RK_SIGMOID) {
                /* explicit vectors (simd.h); a masked step leaves c and h alone */
                LSTM_GATES_TANH_SIGMOID(H, g, H, S + b * G, H, bias, H, forget_bias, cb, m ? cb : cn, cp, tc,
                                        m ? hb : 0, o, !ring);
                if (!m) SUFFIX(masked_output)(o, t, H, zero_out);
                continue;
            }
#endif
            if (act == RK_TANH && ract == RK_SIGMOID)
                SUFFIX(lstm_forward_row)(H, g, S + b * G, bias, forget_bias, cb, cp, cn, tc, RK_TANH, RK_SIGMOID);
            else
                SUFFIX(lstm_forward_row_passes)(H, g, S + b * G, bias, forget_bias, cb, cp, cn, tc, act, ract);
            if (m) {
                memcpy(cb, cn, (size_t)H * sizeof(REAL));
                for (int64_t j = 0; j < H; j++) {
                    REAL hn = go[j] * tc[j];
                    hb[j] = hn;
                    o[j] = hn;
                }
            } else {
                SUFFIX(masked_output)(o, t, H, zero_out);
            }
        }
    }
    free(Ap);
    return 0;
}

/* Gate rows of A hold activated [i, f, c~, o]; dZ gets the pre-activation gradients. work, carry: (B, H). */
int SUFFIX(rk_lstm_backward)(int64_t B, int64_t T, int64_t H, const REAL *A, const REAL *TC, const REAL *CP,
                             const REAL *UTp, const uint8_t *mask, const REAL *rmask, int act, int ract,
                             int zero_out, const REAL *dout, REAL *dh, REAL *dc, REAL *dZ, REAL *work,
                             REAL *carry, int64_t b0, int64_t b1) {
    const int64_t G = 4 * H;
    REAL *Ap = SUFFIX(scratch_a)(b1 - b0, G, 0, 0);
    if (!Ap) return -1;
    for (int64_t t = T - 1; t >= 0; t--) {
        for (int64_t b = b0; b < b1; b++) {
            const REAL *g = A + (t * B + b) * G;
            const REAL *tc = TC + (t * B + b) * H, *cp = CP + (t * B + b) * H;
            const REAL *gout = dout ? dout + (b * T + t) * H : 0;
            REAL *dz = dZ + (t * B + b) * G, *dhb = dh + b * H, *dcb = dc + b * H;
            int m = !mask || mask[b * T + t];
            gout = SUFFIX(row_output_grad)(gout, mask, m, carry, zero_out, work, b, H);
            if (!m) {
                memset(dz, 0, (size_t)G * sizeof(REAL));
                continue;
            }
            RK_DISPATCH(act, ract, SUFFIX(lstm_backward_row)(H, g, tc, cp, gout, dhb, dcb, dz, A_, R_));
        }
        SUFFIX(step_gemm)(b1 - b0, H, G, dZ + (t * B + b0) * G, G, UTp, 0, Ap, work + b0 * H, H, 0);
        SUFFIX(add_recurrent_grad)(H, work, rmask, dh, b0, b1);
    }
    free(Ap);
    return 0;
}

/* ------------------------------------------------------------------------------------------ GRU */

/* Keras reset_after=True. Gate rows of P are [z, r, h~] holding x W on entry; ibias and rbias (3H,)
 * or NULL are the input and recurrent biases. HZ keeps (h_in U_h + b_rh), HP keeps h_{t-1}. work: (B, 3H). */
/* ring, I, X, Wp, ldb: see step_rows (ring = 0 for a training run) and RK_LDB. */
int SUFFIX(rk_gru_forward)(int64_t B, int64_t T, int64_t H, REAL *P, const REAL *Up, const REAL *ibias,
                           const REAL *rbias, REAL *h, const uint8_t *mask, const REAL *rmask, int act, int ract,
                           int zero_out, REAL *out, REAL *hin, REAL *HZ, REAL *HP, REAL *work, int64_t ring,
                           int64_t I, const REAL *X, const REAL *Wp,
                              int64_t ldb, int64_t b0, int64_t b1) {
    const int64_t G = 3 * H;
    REAL *Ap = SUFFIX(scratch_a)(b1 - b0, H, ring, I);
    if (!Ap) return -1;
    for (int64_t t = 0; t < T; t++) {
        int64_t kt = ring ? 0 : t; /* the cache's step */
        REAL *Pt = SUFFIX(step_rows)(B, T, I, G, t, ring, X, Wp, ldb, Ap, P, b0, b1);
        SUFFIX(fill_hin)(B, H, kt, h, rmask, hin, b0, b1);
        SUFFIX(step_gemm)(b1 - b0, G, H, hin + (kt * B + b0) * H, H, Up, ldb, Ap, work + b0 * G, G, 0);
        for (int64_t b = b0; b < b1; b++) {
            REAL *g = Pt + b * G, *w = work + b * G;
            REAL *gz = g, *gr = g + H, *gh = g + 2 * H;
            REAL *hb = h + b * H, *hz = HZ + (kt * B + b) * H, *hp = HP + (kt * B + b) * H;
            REAL *o = out + (b * T + t) * H;
            int m = !mask || mask[b * T + t];
            if (ibias)
                for (int64_t j = 0; j < G; j++) g[j] += ibias[j];
            if (rbias)
                for (int64_t j = 0; j < 2 * H; j++) g[j] += w[j] + rbias[j];
            else
                for (int64_t j = 0; j < 2 * H; j++) g[j] += w[j];
            ROW_ACT(ract, g, g, 2 * H);
            for (int64_t j = 0; j < H; j++) {
                REAL v = w[2 * H + j] + (rbias ? rbias[2 * H + j] : (REAL)0);
                hz[j] = v;
                gh[j] += gr[j] * v;
            }
            ROW_ACT(act, gh, gh, H);
            memcpy(hp, hb, (size_t)H * sizeof(REAL));
            if (m) {
                for (int64_t j = 0; j < H; j++) {
                    REAL hn = gz[j] * hp[j] + (1 - gz[j]) * gh[j];
                    hb[j] = hn;
                    o[j] = hn;
                }
            } else {
                SUFFIX(masked_output)(o, t, H, zero_out);
            }
        }
    }
    free(Ap);
    return 0;
}

/* dX: gradient of the input-side pre-activations [z, r, h~]; dR: of the recurrent side (h~ part times r). */
int SUFFIX(rk_gru_backward)(int64_t B, int64_t T, int64_t H, const REAL *A, const REAL *HZ, const REAL *HP,
                            const REAL *UTp, const uint8_t *mask, const REAL *rmask, int act, int ract, int zero_out,
                            const REAL *dout, REAL *dh, REAL *dX, REAL *dR, REAL *work, REAL *carry, int64_t b0,
                            int64_t b1) {
    const int64_t G = 3 * H;
    REAL *Ap = SUFFIX(scratch_a)(b1 - b0, G, 0, 0);
    if (!Ap) return -1;
    for (int64_t t = T - 1; t >= 0; t--) {
        for (int64_t b = b0; b < b1; b++) {
            const REAL *g = A + (t * B + b) * G;
            const REAL *hz = HZ + (t * B + b) * H, *hp = HP + (t * B + b) * H;
            const REAL *gout = dout ? dout + (b * T + t) * H : 0;
            REAL *dx = dX + (t * B + b) * G, *dr = dR + (t * B + b) * G, *dhb = dh + b * H;
            int m = !mask || mask[b * T + t];
            gout = SUFFIX(row_output_grad)(gout, mask, m, carry, zero_out, work, b, H);
            if (!m) {
                memset(dx, 0, (size_t)G * sizeof(REAL));
                memset(dr, 0, (size_t)G * sizeof(REAL));
                continue;
            }
            RK_DISPATCH(act, ract, SUFFIX(gru_backward_row)(H, g, hz, hp, gout, dhb, dx, dr, A_, R_));
        }
        SUFFIX(step_gemm)(b1 - b0, H, G, dR + (t * B + b0) * G, G, UTp, 0, Ap, work + b0 * H, H, 0);
        SUFFIX(add_recurrent_grad)(H, work, rmask, dh, b0, b1);
    }
    free(Ap);
    return 0;
}
