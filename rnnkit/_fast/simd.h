/*
 * float32 vectors for the elementwise gate math, written with GCC/Clang vector extensions: one source
 * that becomes SSE, AVX2 or AVX-512 code as the target allows (RK_VL lanes).
 *
 * Why not leave it to the auto-vectoriser: GCC 12 vectorises the LSTM forward row for AVX-512 but
 * leaves it scalar for -march=znver3 ("control flow in loop"), which made the whole LSTM forward 3-5x
 * slower on those machines (measured). Written out, the vector code no longer depends on the target.
 *
 * The functions are the lane-wise versions of exp_f32 / tanh_f32 / sigmoid_f32 in loops.c, with the
 * same constants, so the scalar tail of a row and its vector body agree to rounding.
 * Included by loops.c after those scalar functions.
 */
#if defined(__AVX512F__)
#define RK_VL 16
#elif defined(__AVX__)
#define RK_VL 8
#else
#define RK_VL 4
#endif

typedef float vf32 __attribute__((vector_size(RK_VL * 4)));
typedef int32_t vi32 __attribute__((vector_size(RK_VL * 4)));
typedef double vf64 __attribute__((vector_size(RK_VL * 4))); /* RK_VL / 2 lanes: the GEMM of step_gemm.h */

#define RK_VINLINE static inline __attribute__((always_inline))

/* memcpy is how C spells an unaligned vector load/store; compilers emit one move for it. */
RK_VINLINE vf32 vload(const float *p) {
    vf32 v;
    memcpy(&v, p, sizeof v);
    return v;
}

RK_VINLINE void vstore(float *p, vf32 v) { memcpy(p, &v, sizeof v); }

RK_VINLINE vf32 vsplat(float x) {
#if RK_VL == 16
    return (vf32){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x};
#elif RK_VL == 8
    return (vf32){x, x, x, x, x, x, x, x};
#else
    return (vf32){x, x, x, x};
#endif
}

/* x in every lane of a vf64 (the GEMM of step_gemm.h; `x + (vf64){0}` would cost an add per broadcast) */
RK_VINLINE vf64 vsplat64(double x) {
#if RK_VL == 16
    return (vf64){x, x, x, x, x, x, x, x};
#elif RK_VL == 8
    return (vf64){x, x, x, x};
#else
    return (vf64){x, x};
#endif
}

/* a * b + c; the compiler fuses it into one FMA where the target has them (needs
 * -fexpensive-optimizations at -O1, see build.py). No intrinsics: <immintrin.h> alone takes about
 * 0.8 s to parse, most of the first-use compile. */
RK_VINLINE vf32 vfma(vf32 a, vf32 b, vf32 c) { return a * b + c; }

/* lanes of a where mask (all ones), else of b */
RK_VINLINE vf32 vselect(vi32 mask, vf32 a, vf32 b) { return (vf32)(((vi32)a & mask) | ((vi32)b & ~mask)); }

/* 1 / d: the hardware's 12- (14-) bit reciprocal estimate and one Newton step, r (2 - d r), which
 * leaves about 1 ulp; a division takes 3-4 times longer on these cores (5 per LSTM unit). */
#if !defined(RK_NO_RCP) && RK_VL == 16 && defined(__AVX512F__)
#define RK_RCP_ESTIMATE(d) __builtin_ia32_rcp14ps512_mask((d), (d), (unsigned short)-1)
#elif !defined(RK_NO_RCP) && RK_VL == 8 && defined(__AVX__)
#define RK_RCP_ESTIMATE(d) __builtin_ia32_rcpps256(d)
#endif

RK_VINLINE vf32 vrecip(vf32 d) {
#ifdef RK_RCP_ESTIMATE
    vf32 r = RK_RCP_ESTIMATE(d);
    return r * (2.0f - d * r);
#else
    return 1.0f / d;
#endif
}

RK_VINLINE vf32 vexp_f32(vf32 x) {
    x = vselect(x < vsplat(-87.0f), vsplat(-87.0f), x);
    x = vselect(x > vsplat(88.0f), vsplat(88.0f), x);
    RK_EXP_CORE(vf32, x, shifted, p)
    vi32 bits = ((vi32)shifted - 0x4B400000 + 127) << 23;
    return p * (vf32)bits;
}

RK_VINLINE vf32 vtanh_f32(vf32 x) {
    vi32 negative = x < vsplat(0.0f);
    vf32 ax = vselect(negative, -x, x);
    vf32 z = x * x;
    vf32 small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z +
                   1.33314422036e-1f) * z - 3.33332819422e-1f) * z * x + x;
    vf32 e = vexp_f32(2.0f * vselect(ax > vsplat(9.0f), vsplat(9.0f), ax));
    vf32 big = 1.0f - 2.0f * vrecip(e + 1.0f);
    big = vselect(negative, -big, big);
    return vselect(ax < vsplat(0.625f), small, big);
}

RK_VINLINE vf32 vsigmoid_f32(vf32 x) { return vrecip(1.0f + vexp_f32(-x)); }

/* y = tanh(z) / sigmoid(z) over a row of n: vector body, scalar tail. */
static void row_tanh_f32(float *y, const float *z, int64_t n) {
    int64_t j = 0;
    for (; j + RK_VL <= n; j += RK_VL) vstore(y + j, vtanh_f32(vload(z + j)));
    for (; j < n; j++) y[j] = tanh_f32(z[j]);
}

static void row_sigmoid_f32(float *y, const float *z, int64_t n) {
    int64_t j = 0;
    for (; j + RK_VL <= n; j += RK_VL) vstore(y + j, vsigmoid_f32(vload(z + j)));
    for (; j < n; j++) y[j] = sigmoid_f32(z[j]);
}

/*
 * One row of the LSTM forward with tanh / sigmoid, over units [0, n): g holds x W of the gates [i|f|c~|o]
 * with gate stride gs and is overwritten with the activated gates; s holds h U with gate stride ss and
 * bias (4 gates, stride bs) is added. c_in (c_{t-1}) is kept in cp, c_t goes to c_out (c_in itself is
 * allowed) and tanh(c_t) to tc. When h is not NULL, h and o both get h_t = o * tanh(c_t). With keep == 0
 * (inference) the activated gates, cp and tc are not stored: nothing will read them.
 */
RK_VINLINE void lstm_gates_tanh_sigmoid_f32(int64_t n, float *restrict g, int64_t gs, const float *restrict s,
                                            int64_t ss, const float *restrict bias, int64_t bs, float forget_bias,
                                            const float *c_in, float *c_out,
                                            float *restrict cp, float *restrict tc, float *restrict h,
                                            float *restrict o, const int keep) {
    int64_t j = 0;
    for (; j + RK_VL <= n; j += RK_VL) {
        vf32 i = vsigmoid_f32(vload(g + j) + vload(s + j) + vload(bias + j));
        vf32 f = vsigmoid_f32(vload(g + gs + j) + vload(s + ss + j) + vload(bias + bs + j) + forget_bias);
        vf32 cc = vtanh_f32(vload(g + 2 * gs + j) + vload(s + 2 * ss + j) + vload(bias + 2 * bs + j));
        vf32 og = vsigmoid_f32(vload(g + 3 * gs + j) + vload(s + 3 * ss + j) + vload(bias + 3 * bs + j));
        vf32 cprev = vload(c_in + j);
        vf32 c_new = f * cprev + i * cc;
        vstore(c_out + j, c_new);
        vf32 t = vtanh_f32(c_new);
        if (keep) {
            vstore(g + j, i);
            vstore(g + gs + j, f);
            vstore(g + 2 * gs + j, cc);
            vstore(g + 3 * gs + j, og);
            vstore(cp + j, cprev);
            vstore(tc + j, t);
        }
        if (h) {
            vf32 hn = og * t;
            vstore(h + j, hn);
            vstore(o + j, hn);
        }
    }
    for (; j < n; j++) {
        float i = sigmoid_f32(g[j] + s[j] + bias[j]);
        float f = sigmoid_f32(g[gs + j] + s[ss + j] + bias[bs + j] + forget_bias);
        float cc = tanh_f32(g[2 * gs + j] + s[2 * ss + j] + bias[2 * bs + j]);
        float og = sigmoid_f32(g[3 * gs + j] + s[3 * ss + j] + bias[3 * bs + j]);
        g[j] = i;
        g[gs + j] = f;
        g[2 * gs + j] = cc;
        g[3 * gs + j] = og;
        float cprev = c_in[j];
        cp[j] = cprev;
        float c_new = f * cprev + i * cc;
        c_out[j] = c_new;
        float t = tanh_f32(c_new);
        tc[j] = t;
        if (h) {
            h[j] = og * t;
            o[j] = og * t;
        }
    }
}
