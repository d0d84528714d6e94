/*
 * Kernel bodies, included by kernels.c once per dtype with REAL, SUFFIX, GEMM, ACT and ROW_ACT defined
 * (and LSTM_GATES_TANH_SIGMOID, the explicit-vector LSTM row of simd.h, for float32).
 * Argument shapes are in kernels.c's header comment and in rnnkit/_fast/kernels.py, which calls these.
 */

/* hin[:, t] = h (times the recurrent mask); returns nothing, rows of hin are T*H apart. */
static void SUFFIX(fill_hin)(int64_t B, int64_t T, int64_t H, int64_t t, const REAL *h, const REAL *rmask,
                             REAL *hin) {
    for (int64_t b = 0; b < B; b++) {
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

/* Inference runs (ring > 0) project the inputs `ring` steps at a time into P, which then holds only
 * those steps, from the batch-major X (B, T, I) through the staging buffer Xc (ring·B, I); their cache
 * pointers (hin, TC, ...) are (B, ·) scratch overwritten every step. The working set stays in cache and
 * nothing of size T is allocated. Training runs (ring == 0) get P with every step projected and caches
 * with every step. Returns the rows of step t in P. */
static REAL *SUFFIX(step_rows)(int64_t B, int64_t T, int64_t I, int64_t G, int64_t t, int64_t ring, const REAL *X,
                               const REAL *W, REAL *Xc, REAL *P) {
    if (!ring) return P + t * B * G;
    if (t % ring == 0) {
        int64_t n = T - t < ring ? T - t : ring;
        for (int64_t s = 0; s < n; s++)
            for (int64_t b = 0; b < B; b++)
                memcpy(Xc + (s * B + b) * I, X + (b * T + t + s) * I, (size_t)I * sizeof(REAL));
        GEMM(0, 0, n * B, G, I, 1, Xc, I, W, G, 0, P, G);
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

/* dh += work (times the recurrent mask): the recurrent GEMM's share of dh_{t-1}. */
static void SUFFIX(add_recurrent_grad)(int64_t B, int64_t H, const REAL *work, const REAL *rmask, REAL *dh) {
    int64_t n = B * H;
    if (rmask)
        for (int64_t j = 0; j < n; j++) dh[j] += work[j] * rmask[j];
    else
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

/* ring, I, X, W, Xc: see step_rows (ring = 0 for a training run). */
void SUFFIX(rk_simple_forward)(int64_t B, int64_t T, int64_t H, REAL *P, const REAL *U, const REAL *bias, REAL *h,
                               const uint8_t *mask, const REAL *rmask, int act, int zero_out, REAL *out,
                               REAL *hin, int64_t ring, int64_t I, const REAL *X, const REAL *W, REAL *Xc) {
    int threads = begin_steps(B * H * H);
    for (int64_t t = 0; t < T; t++) {
        int64_t kt = ring ? 0 : t; /* the cache's step */
        REAL *Pt = SUFFIX(step_rows)(B, T, I, H, t, ring, X, W, Xc, P);
        SUFFIX(fill_hin)(B, T, H, kt, h, rmask, hin);
        GEMM(0, 0, B, H, H, 1, hin + kt * B * H, H, U, H, 1, Pt, H);
        for (int64_t b = 0; b < B; b++) {
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
    end_steps(threads);
}

void SUFFIX(rk_simple_backward)(int64_t B, int64_t T, int64_t H, const REAL *Y, const REAL *UT, const uint8_t *mask,
                                const REAL *rmask, int act, int zero_out, const REAL *dout, REAL *dh, REAL *dZ,
                                REAL *work, REAL *carry) {
    int threads = begin_steps(B * H * H);
    for (int64_t t = T - 1; t >= 0; t--) {
        for (int64_t b = 0; b < B; b++) {
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
        GEMM(0, 0, B, H, H, 1, dZ + t * B * H, H, UT, H, 0, work, H);
        SUFFIX(add_recurrent_grad)(B, H, work, rmask, dh);
    }
    end_steps(threads);
}

/* ------------------------------------------------------------------------------------------ LSTM */

/* Gates in P rows are [i, f, c~, o] (Keras order); TC keeps act(c_t), CP keeps c_{t-1}. work: (B, H).
 * ring, I, X, W, Xc: see step_rows (ring = 0 for a training run). */
void SUFFIX(rk_lstm_forward)(int64_t B, int64_t T, int64_t H, REAL *P, const REAL *U, const REAL *bias, REAL *h,
                             REAL *c,
                             const uint8_t *mask, const REAL *rmask, REAL forget_bias, int act, int ract,
                             int zero_out, REAL *out, REAL *hin, REAL *TC, REAL *CP, REAL *work, REAL *S,
                             int64_t ring, int64_t I, const REAL *X, const REAL *W, REAL *Xc) {
    const int64_t G = 4 * H;
    int threads = begin_steps(B * H * 4 * H);
    for (int64_t t = 0; t < T; t++) {
        int64_t kt = ring ? 0 : t; /* the cache's step */
        REAL *Pt = SUFFIX(step_rows)(B, T, I, G, t, ring, X, W, Xc, P);
        SUFFIX(fill_hin)(B, T, H, kt, h, rmask, hin);
        /* into the cache-hot S rather than accumulating onto P: P was written long before (one GEMM for
         * all steps) and is cold, and beta=1 would make the GEMM kernel itself wait for it */
        GEMM(0, 0, B, G, H, 1, hin + kt * B * H, H, U, G, 0, S, G);
        for (int64_t b = 0; b < B; b++) {
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
            RK_DISPATCH(act, ract,
                        SUFFIX(lstm_forward_row)(H, g, S + b * G, bias, forget_bias, cb, cp, cn, tc, A_, R_));
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
    end_steps(threads);
}

/* Gate rows of A hold activated [i, f, c~, o]; dZ gets the pre-activation gradients. work, carry: (B, H). */
void SUFFIX(rk_lstm_backward)(int64_t B, int64_t T, int64_t H, const REAL *A, const REAL *TC, const REAL *CP,
                              const REAL *UT, const uint8_t *mask, const REAL *rmask, int act, int ract,
                              int zero_out, const REAL *dout, REAL *dh, REAL *dc, REAL *dZ, REAL *work,
                              REAL *carry) {
    const int64_t G = 4 * H;
    int threads = begin_steps(B * H * 4 * H);
    for (int64_t t = T - 1; t >= 0; t--) {
        for (int64_t b = 0; b < B; b++) {
            const REAL *g = A + (t * B + b) * G;
            const REAL *tc = TC + (t * B + b) * H, *cp = CP + (t * B + b) * H;
            const REAL *gout = dout ? dout + (b * T + t) * H : 0;
            REAL *dz = dZ + (t * B + b) * G, *dhb = dh + b * H, *dcb = dc + b * H;
            int m = !mask || mask[b * T + t];
            if (mask) {
                SUFFIX(route_output_grad)(gout, carry + b * H, m, zero_out, work + b * H, H);
                gout = work + b * H;
            }
            if (!m) {
                memset(dz, 0, (size_t)G * sizeof(REAL));
                continue;
            }
            if (!gout) {
                memset(work + b * H, 0, (size_t)H * sizeof(REAL));
                gout = work + b * H;
            }
            RK_DISPATCH(act, ract, SUFFIX(lstm_backward_row)(H, g, tc, cp, gout, dhb, dcb, dz, A_, R_));
        }
        GEMM(0, 0, B, H, G, 1, dZ + t * B * G, G, UT, H, 0, work, H);
        SUFFIX(add_recurrent_grad)(B, H, work, rmask, dh);
    }
    end_steps(threads);
}

/* ------------------------------------------------------------------------------------------ GRU */

/* Keras reset_after=True. Gate rows of P are [z, r, h~] holding x W on entry; ibias and rbias (3H,)
 * or NULL are the input and recurrent biases. HZ keeps (h_in U_h + b_rh), HP keeps h_{t-1}. work: (B, 3H). */
/* ring, I, X, W, Xc: see step_rows (ring = 0 for a training run). */
void SUFFIX(rk_gru_forward)(int64_t B, int64_t T, int64_t H, REAL *P, const REAL *U, const REAL *ibias,
                            const REAL *rbias, REAL *h,
                            const uint8_t *mask, const REAL *rmask, int act, int ract, int zero_out, REAL *out,
                            REAL *hin, REAL *HZ, REAL *HP, REAL *work,
                            int64_t ring, int64_t I, const REAL *X, const REAL *W, REAL *Xc) {
    const int64_t G = 3 * H;
    int threads = begin_steps(B * H * 3 * H);
    for (int64_t t = 0; t < T; t++) {
        int64_t kt = ring ? 0 : t; /* the cache's step */
        REAL *Pt = SUFFIX(step_rows)(B, T, I, G, t, ring, X, W, Xc, P);
        SUFFIX(fill_hin)(B, T, H, kt, h, rmask, hin);
        GEMM(0, 0, B, G, H, 1, hin + kt * B * H, H, U, G, 0, work, G);
        for (int64_t b = 0; b < B; b++) {
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
    end_steps(threads);
}

/* dX: gradient of the input-side pre-activations [z, r, h~]; dR: of the recurrent side (h~ part times r). */
void SUFFIX(rk_gru_backward)(int64_t B, int64_t T, int64_t H, const REAL *A, const REAL *HZ, const REAL *HP,
                             const REAL *UT, const uint8_t *mask, const REAL *rmask, int act, int ract, int zero_out,
                             const REAL *dout, REAL *dh, REAL *dX, REAL *dR, REAL *work, REAL *carry) {
    const int64_t G = 3 * H;
    int threads = begin_steps(B * H * 3 * H);
    for (int64_t t = T - 1; t >= 0; t--) {
        for (int64_t b = 0; b < B; b++) {
            const REAL *g = A + (t * B + b) * G;
            const REAL *hz = HZ + (t * B + b) * H, *hp = HP + (t * B + b) * H;
            const REAL *gout = dout ? dout + (b * T + t) * H : 0;
            REAL *dx = dX + (t * B + b) * G, *dr = dR + (t * B + b) * G, *dhb = dh + b * H;
            int m = !mask || mask[b * T + t];
            if (mask) {
                SUFFIX(route_output_grad)(gout, carry + b * H, m, zero_out, work + b * H, H);
                gout = work + b * H;
            }
            if (!m) {
                memset(dx, 0, (size_t)G * sizeof(REAL));
                memset(dr, 0, (size_t)G * sizeof(REAL));
                continue;
            }
            if (!gout) {
                memset(work + b * H, 0, (size_t)H * sizeof(REAL));
                gout = work + b * H;
            }
            RK_DISPATCH(act, ract, SUFFIX(gru_backward_row)(H, g, hz, hp, gout, dhb, dx, dr, A_, R_));
        }
        GEMM(0, 0, B, H, G, 1, dR + t * B * G, G, UT, H, 0, work, H);
        SUFFIX(add_recurrent_grad)(B, H, work, rmask, dh);
    }
    end_steps(threads);
}
