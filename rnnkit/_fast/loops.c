/*
 * Compiled time loops of rnnkit's recurrent kernels (SimpleRNN, LSTM, GRU), float32 and float64.
 *
 * Plain C with no Python headers: loaded through ctypes, built either by setup.py at install or
 * on first use into a cache (see rnnkit/_fast/build.py), once per instruction-set level (cpu.py).
 * No BLAS and no threads in here: each step's product runs through step_gemm.h on the calling
 * thread, and threads.py runs disjoint batch rows on several threads; the whole-sequence products
 * (x W of every step, dW, dU, dx) are made by the caller (kernels.py).
 *
 * Layout (all row-major). Everything kept per step is time-major, (T, B, ·), so that a step is one
 * contiguous block (batch-major rows T·G apart would all land in the same cache sets):
 *   P     (T, B, G)  on entry x W for every step (one GEMM done by the caller; the bias is added
 *                    in the elementwise pass, which saves a sweep over P);
 *                    the forward adds h_{t-1} U in place and overwrites it with the activated gates,
 *                    which is what the backward needs (derivatives are taken from outputs).
 *   hin   (T, B, H)  the matrix that multiplied U at step t (h_{t-1}, times the recurrent mask);
 *                    the caller gets dU as one GEMM  hinᵀ dZ  over all steps.
 *   dZ    (T, B, G)  backward result: gradient of the pre-activations; dW, db, dx are single GEMMs.
 *   out, dout (B, T, H)  the outputs and their gradient stay batch-major, as the Python API has them.
 *   Up, UTp, Wp      U (H, G), Uᵀ (G, H) and W (I, G) packed once per call (rk_pack_b, step_gemm.h).
 * Masking follows rnnkit/ops/sequence.py: a masked step keeps the state and repeats (or zeroes) the
 * previous output; the backward routes output gradients the same way (output_grads/split_state_grad).
 *
 * Activation codes: 0 linear, 1 tanh, 2 sigmoid, 3 relu, 4 hard_sigmoid.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define RK_LINEAR 0
#define RK_TANH 1
#define RK_SIGMOID 2
#define RK_RELU 3
#define RK_HARD_SIGMOID 4

/* ---------------------------------------------------------------- identity */

#if RK_PART != 2
int rk_version(void) { return 12; }

/* setup.py and build.py pass the hash of the C sources they compiled, so that a source tree edited after
 * an (editable) install is not served by the stale library (build.py compares it with the sources). */
#ifndef RK_SOURCE_HASH
#define RK_SOURCE_HASH ""
#endif
const char *rk_source_hash(void) { return RK_SOURCE_HASH; }

/* The instruction-set level this copy was compiled for (build.py / setup.py pass it; cpu.py lists them). */
#ifndef RK_VARIANT
#define RK_VARIANT "unnamed"
#endif
const char *rk_variant(void) { return RK_VARIANT; }
#endif

/* ---------------------------------------------------------------- activations */

/* The core of exp for float32, shared by exp_f32 and the vector exp of simd.h (T = float or vf32):
 * Cody-Waite range reduction x = n ln2 + r, a degree-7 polynomial for e^r (into p); adding 1.5 * 2^23
 * rounds x log2(e) to the nearest integer n and leaves it in the low mantissa bits of `shifted`, from
 * which the caller builds 2^n. x must be clamped to [-87, 88] already. */
#define RK_EXP_CORE(T, x, shifted, p)                                                                  \
    T shifted = (x) * 1.44269504088896341f + 12582912.0f;                                              \
    T p;                                                                                               \
    {                                                                                                  \
        T n_ = shifted - 12582912.0f;                                                                  \
        T r_ = (x) - n_ * 0.693359375f + n_ * 2.12194440e-4f;                                          \
        p = r_ * 1.9875691500e-4f + 1.3981999507e-3f;                                                  \
        p = p * r_ + 8.3334519073e-3f;                                                                 \
        p = p * r_ + 4.1665795894e-2f;                                                                 \
        p = p * r_ + 1.6666665459e-1f;                                                                 \
        p = p * r_ + 5.0000001201e-1f;                                                                 \
        p = p * r_ * r_ + r_ + 1.0f;                                                                   \
    }

/* exp for float32 without branches so that loops calling it vectorise. Relative error about 1 ulp on
 * [-87, 88]; arguments are clamped to that range. */
static inline __attribute__((always_inline)) float exp_f32(float x) {
    x = x < -87.0f ? -87.0f : (x > 88.0f ? 88.0f : x);
    RK_EXP_CORE(float, x, shifted, p)
    int32_t bits;
    memcpy(&bits, &shifted, 4);
    bits = (bits - 0x4B400000 + 127) << 23;
    float scale;
    memcpy(&scale, &bits, 4);
    return p * scale;
}

/* tanh for float32: an odd polynomial near 0 (where 1 - 2/(e^2x + 1) would lose digits), else through exp. */
static inline __attribute__((always_inline)) float tanh_f32(float x) {
    float ax = x < 0.0f ? -x : x;
    float z = x * x;
    float small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z +
                    1.33314422036e-1f) * z - 3.33332819422e-1f) * z * x + x;
    float e = exp_f32(2.0f * (ax > 9.0f ? 9.0f : ax));
    float big = 1.0f - 2.0f / (e + 1.0f);
    big = x < 0.0f ? -big : big;
    return ax < 0.625f ? small : big;
}

static inline __attribute__((always_inline)) float sigmoid_f32(float x) { return 1.0f / (1.0f + exp_f32(-x)); }

static inline __attribute__((always_inline)) double sigmoid_f64(double x) { return 0.5 * (tanh(0.5 * x) + 1.0); }

static inline __attribute__((always_inline)) float act_f32(int code, float z) {
    switch (code) {
    case RK_TANH: return tanh_f32(z);
    case RK_SIGMOID: return sigmoid_f32(z);
    case RK_RELU: return z > 0.0f ? z : 0.0f;
    case RK_HARD_SIGMOID: { float y = z / 6.0f + 0.5f; return y < 0.0f ? 0.0f : (y > 1.0f ? 1.0f : y); }
    default: return z;
    }
}

static inline __attribute__((always_inline)) double act_f64(int code, double z) {
    switch (code) {
    case RK_TANH: return tanh(z);
    case RK_SIGMOID: return sigmoid_f64(z);
    case RK_RELU: return z > 0.0 ? z : 0.0;
    case RK_HARD_SIGMOID: { double y = z / 6.0 + 0.5; return y < 0.0 ? 0.0 : (y > 1.0 ? 1.0 : y); }
    default: return z;
    }
}

/* f'(z) written through y = f(z), which the forward kept. */
#define RK_DERIV(code, y, one, zero)                                                                   \
    ((code) == RK_TANH ? (one) - (y) * (y)                                                             \
     : (code) == RK_SIGMOID ? (y) * ((one) - (y))                                                      \
     : (code) == RK_RELU ? ((y) > (zero) ? (one) : (zero))                                             \
     : (code) == RK_HARD_SIGMOID ? (((y) > (zero) && (y) < (one)) ? (one) / 6 : (zero))               \
     : (one))

/* Activation over a row, with the switch hoisted out of the loop so each case vectorises. */
#define RK_DEFINE_ROW_ACT(NAME, REAL, ACT)                                                             \
    static void NAME(int code, REAL *y, const REAL *z, int64_t n) {                  \
        switch (code) {                                                                                \
        case RK_TANH: for (int64_t j = 0; j < n; j++) y[j] = ACT(RK_TANH, z[j]); break;                \
        case RK_SIGMOID: for (int64_t j = 0; j < n; j++) y[j] = ACT(RK_SIGMOID, z[j]); break;          \
        case RK_RELU: for (int64_t j = 0; j < n; j++) y[j] = ACT(RK_RELU, z[j]); break;                \
        case RK_HARD_SIGMOID: for (int64_t j = 0; j < n; j++) y[j] = ACT(RK_HARD_SIGMOID, z[j]); break; \
        default: for (int64_t j = 0; j < n; j++) y[j] = z[j]; break;                                   \
        }                                                                                              \
    }
RK_DEFINE_ROW_ACT(row_act_any_f32, float, act_f32)
RK_DEFINE_ROW_ACT(row_act_f64, double, act_f64)

#include "simd.h"

static void row_act_f32(int code, float *y, const float *z, int64_t n) {
    if (code == RK_TANH) row_tanh_f32(y, z, n);
    else if (code == RK_SIGMOID) row_sigmoid_f32(y, z, n);
    else row_act_any_f32(code, y, z, n);
}

/* Runs CALL with A_, R_ bound to the activation codes: as literals for the usual (tanh, sigmoid) pair so
 * that inlined row loops specialise and vectorise, else as runtime values. */
#define RK_DISPATCH(act, ract, CALL)                                                                   \
    do {                                                                                               \
        if ((act) == RK_TANH && (ract) == RK_SIGMOID) {                                                \
            const int A_ = RK_TANH, R_ = RK_SIGMOID;                                                   \
            CALL;                                                                                      \
        } else {                                                                                       \
            const int A_ = (act), R_ = (ract);                                                         \
            CALL;                                                                                      \
        }                                                                                              \
    } while (0)

/* ---------------------------------------------------------------- the kernels, per dtype
 *
 * RK_PART splits the library into two translation units that compile in parallel (build.py, for the
 * first-use build of a source checkout): 1 = the float32 loops, 2 = the float64 loops. Undefined
 * (setup.py): one unit. */

#if RK_PART != 2
#define REAL float
#define VREAL vf32
#define VN RK_VL
#define VSPLAT vsplat
#define SUFFIX(name) name##_f32
#define ACT act_f32
#define ROW_ACT row_act_f32
#define LSTM_GATES_TANH_SIGMOID lstm_gates_tanh_sigmoid_f32
#include "step_gemm.h"
#include "loops_impl.h"
#include "vector_ops.h"
#undef LSTM_GATES_TANH_SIGMOID
#undef REAL
#undef VREAL
#undef VN
#undef VSPLAT
#undef SUFFIX
#undef ACT
#undef ROW_ACT
#endif

#if RK_PART != 1
#define REAL double
#define VREAL vf64
#define VN (RK_VL / 2)
#define VSPLAT vsplat64
#define SUFFIX(name) name##_f64
#define ACT act_f64
#define ROW_ACT row_act_f64
#include "step_gemm.h"
#include "loops_impl.h"
#include "vector_ops.h"
#undef REAL
#undef VREAL
#undef VN
#undef VSPLAT
#undef SUFFIX
#undef ACT
#undef ROW_ACT
#endif
