/*
 * Fused float32 LSTM forward (tanh / sigmoid, no step mask): the per-step recurrent GEMM and the gate
 * math in one pass, the way oneDNN's fused RNN does it. Included by kernels.c after simd.h; any vector
 * width (RK_VL lanes: SSE 4, AVX2 8, AVX-512 16).
 *
 * U is packed once per call into panels of VL units, gates (i, f) then (c~, o) (rk_lstm_pack_u_f32), and
 * h_{t-1} once per step into k-major blocks of 6 rows (pack_rows). Two register tiles of 6 batch rows x
 * 2 gates x VL units then hold the recurrent part of all four gates of those units; the gate math runs
 * on them while they are in registers, and nothing is packed per step (a BLAS call re-packs all of U
 * on each of the T steps). Opt-in (rnnkit/_fast/kernels.py says why and what was measured).
 *
 * Two modes, as in kernels_impl.h (step_rows):
 *   training  (ring == 0): X is the time-major input (T*B, I); P (T, B, 4H) gets x W of every step and
 *                          is overwritten with the activated gates; hin (T, B, H), TC, CP keep every step.
 *   inference (ring > 0):  X is the batch-major input (B, T, I); P holds the projection of `ring` steps
 *                          (staged through Xc, ring*B*I floats per thread), hin is a (2, B, H) double
 *                          buffer, and no cache is written (TC, CP unused).
 * One or two threads: each owns a range of unit panels (its columns of P too, so it projects them
 * itself), and both meet at one barrier per step, since the next step's GEMM reads every unit of h.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

/* The register tile: MR batch rows x 2 gates x VL units, the shape of OpenBLAS's own Haswell kernel
 * (12 accumulators, 2 weight vectors and a broadcast fill the 16 AVX2 registers; with AVX-512 it
 * uses half of them). Two such tiles, gates (i, f) then (c~, o), give a unit's 4 gates. */
#define RK_MR 6

int rk_lstm_fused_width(void) { return RK_VL; }

/* rows of the packed h a thread needs: B rounded up to whole row blocks */
int64_t rk_lstm_fused_rows(int64_t B) { return (B + RK_MR - 1) / RK_MR * RK_MR; }

/* Up (H/VL panels, 2 halves, H, 2 gates, VL) from U (H, 4H): Up[p][half][k][q][l] =
 * U[k, (2 half + q) H + VL p + l]; needs H % VL == 0. Each tile then streams one contiguous block. */
void rk_lstm_pack_u_f32(int64_t H, const float *U, float *Up) {
    const int64_t G = 4 * H;
    for (int64_t p = 0; p < H / RK_VL; p++)
        for (int64_t half = 0; half < 2; half++)
            for (int64_t k = 0; k < H; k++)
                for (int64_t q = 0; q < 2; q++)
                    memcpy(Up + (((p * 2 + half) * H + k) * 2 + q) * RK_VL,
                           U + k * G + (2 * half + q) * H + p * RK_VL, RK_VL * sizeof(float));
}

/* Ap[block][k][r] = A[(6 block + r), k]: each row block's h values k-major, so a tile's broadcasts
 * read one contiguous line (rows past B are zeros). */
static void pack_rows(int64_t B, int64_t H, const float *A, float *Ap) {
    for (int64_t b0 = 0; b0 < B; b0 += RK_MR) {
        float *dst = Ap + b0 * H;
        for (int64_t k = 0; k < H; k++)
            for (int64_t r = 0; r < RK_MR; r++) dst[k * RK_MR + r] = b0 + r < B ? A[(b0 + r) * H + k] : 0.0f;
    }
}

/* Everything one thread needs; it owns the units of panels [p_begin, p_end). */
typedef struct {
    int64_t B, T, H, I, ring, p_begin, p_end;
    float *P, *h, *c, *out, *hin, *TC, *CP, *Xc, *Ap, *S;
    const float *Up, *bias, *rmask, *X, *W;
    float forget_bias;
    int nthreads;
    atomic_int *arrived, *generation;
} lstm_fused_job;

/* All threads wait here once per step. Spins briefly (a step takes microseconds), then yields so that
 * an oversubscribed machine still makes progress. */
static void step_barrier(atomic_int *arrived, atomic_int *generation, int n) {
    int gen = atomic_load_explicit(generation, memory_order_acquire);
    if (atomic_fetch_add_explicit(arrived, 1, memory_order_acq_rel) == n - 1) {
        atomic_store_explicit(arrived, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(generation, 1, memory_order_release);
        return;
    }
    for (long spins = 0; atomic_load_explicit(generation, memory_order_acquire) == gen; spins++) {
#if defined(__x86_64__) || defined(__i386__)
        if (spins < 4000) __builtin_ia32_pause();
        else
#endif
            sched_yield();
    }
}

/* This thread's columns of x W for steps [t, t + n) (all T steps in training) into P. */
static void fused_project(const lstm_fused_job *j, int64_t t) {
    const int64_t B = j->B, T = j->T, H = j->H, I = j->I, G = 4 * H;
    const int64_t u0 = j->p_begin * RK_VL, nu = (j->p_end - j->p_begin) * RK_VL;
    const float *A = j->X;
    int64_t rows = T * B;
    if (j->ring) {
        int64_t n = T - t < j->ring ? T - t : j->ring;
        for (int64_t s = 0; s < n; s++)
            for (int64_t b = 0; b < B; b++)
                memcpy(j->Xc + (s * B + b) * I, j->X + (b * T + t + s) * I, (size_t)I * sizeof(float));
        A = j->Xc;
        rows = n * B;
    }
    if (nu == H) {
        gemm_f32(0, 0, rows, G, I, 1, A, I, j->W, G, 0, j->P, G);
    } else {
        for (int64_t gate = 0; gate < 4; gate++)
            gemm_f32(0, 0, rows, nu, I, 1, A, I, j->W + gate * H + u0, G, 0, j->P + gate * H + u0, G);
    }
}

/* One tile: acc[r][q] = sum_k Ap[k][r] Bp[k][q] for r < MR (a literal after inlining), q < 2. */
static inline __attribute__((always_inline)) void fused_tile(const int MR, int64_t H, const float *Ap,
                                                              const float *Bp, vf32 out[RK_MR][4], int q0) {
    vf32 acc[RK_MR][2];
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) acc[r][0] = acc[r][1] = vsplat(0.0f);
    for (int64_t k = 0; k < H; k++) {
        vf32 w0 = vload(Bp + k * 2 * RK_VL), w1 = vload(Bp + k * 2 * RK_VL + RK_VL);
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            vf32 a = vsplat(Ap[k * RK_MR + r]);
            acc[r][0] = vfma(a, w0, acc[r][0]);
            acc[r][1] = vfma(a, w1, acc[r][1]);
        }
    }
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++) {
        out[r][q0] = acc[r][0];
        out[r][q0 + 1] = acc[r][1];
    }
}

/* MR rows (b0...) x the VL units of panel p: h_{t-1} U for their 4 gates (two tiles) into S (B, 4H).
 * Ap: the packed rows of h_{t-1} (times the recurrent mask). */
static inline __attribute__((always_inline)) void fused_block(const int MR, const lstm_fused_job *j,
                                                               int64_t b0, int64_t p, const float *Ap) {
    const int64_t H = j->H;
    const float *Bp = j->Up + p * 2 * H * 2 * RK_VL;
    vf32 gates[RK_MR][4];
    fused_tile(MR, H, Ap + b0 * H, Bp, gates, 0);
    fused_tile(MR, H, Ap + b0 * H, Bp + H * 2 * RK_VL, gates, 2);
    float *S = j->S + b0 * 4 * H + p * RK_VL;
    for (int r = 0; r < MR; r++)
        for (int q = 0; q < 4; q++) vstore(S + r * 4 * H + q * H, gates[r][q]);
}

static void *fused_run(void *arg) {
    const lstm_fused_job *j = (const lstm_fused_job *)arg;
    const int64_t B = j->B, T = j->T, H = j->H, G = 4 * H, ring = j->ring;
    for (int64_t t = 0; t < T; t++) {
        if (ring ? t % ring == 0 : t == 0) fused_project(j, t);
        float *Pt = j->P + (ring ? t % ring : t) * B * G;
        const float *A = j->hin + (ring ? t % 2 : t) * B * H;
        float *A_next = t + 1 < T ? j->hin + (ring ? (t + 1) % 2 : t + 1) * B * H : 0;
        pack_rows(B, H, A, j->Ap); /* every thread its own copy: no wait for another's */
        for (int64_t p = j->p_begin; p < j->p_end; p++) {
            int64_t b0 = 0;
            for (; b0 + RK_MR <= B; b0 += RK_MR) fused_block(RK_MR, j, b0, p, j->Ap);
            switch (B - b0) {
#define RK_REST(n) case n: fused_block(n, j, b0, p, j->Ap); break;
            RK_REST(1) RK_REST(2) RK_REST(3) RK_REST(4) RK_REST(5)
#undef RK_REST
            default: break;
            }
        }
        /* the gate math row by row over this thread's units, as in the BLAS loop: all of a row's units
         * in one call (calls per tile, 8 units each, took 17% of a forward against 11%, measured) */
        const int64_t u0 = j->p_begin * RK_VL, nu = (j->p_end - j->p_begin) * RK_VL;
        for (int64_t b = 0; b < B; b++) {
            float *cb = j->c + b * H + u0, *h_next = (A_next ? A_next : j->h) + b * H + u0;
            lstm_gates_tanh_sigmoid_f32(nu, Pt + b * G + u0, H, j->S + b * G + u0, H, j->bias + u0, H,
                                        j->forget_bias, cb, cb, ring ? 0 : j->CP + (t * B + b) * H + u0,
                                        ring ? 0 : j->TC + (t * B + b) * H + u0, h_next,
                                        j->out + (b * T + t) * H + u0, !ring);
            if (A_next && j->rmask)
                for (int64_t k = 0; k < nu; k++) h_next[k] *= j->rmask[b * H + u0 + k];
        }
        if (j->nthreads > 1 && t + 1 < T) step_barrier(j->arrived, j->generation, j->nthreads);
    }
    return 0;
}

/* The LSTM forward described at the top of this file. h, c (B, H): the initial state on entry, the
 * final one on exit; out (B, T, H). Ap: nthreads x rk_lstm_fused_rows(B) x H floats of scratch; S: B x 4H.
 * nthreads: 1 or 2 (fewer when there are fewer panels). */
void rk_lstm_forward_fused_f32(int64_t B, int64_t T, int64_t H, int64_t I, int64_t ring, const float *X,
                               const float *W, float *P, float *Xc, float *Ap, float *S, const float *Up,
                               const float *bias, float *h, float *c, const float *rmask, float forget_bias,
                               float *out, float *hin, float *TC, float *CP, int nthreads) {
    const int64_t panels = H / RK_VL, packed_rows = (B + RK_MR - 1) / RK_MR * RK_MR;
    atomic_int arrived = 0, generation = 0;
    if (nthreads > panels) nthreads = (int)panels;
    if (nthreads < 1) nthreads = 1;
    if (nthreads > 2) nthreads = 2;
    for (int64_t i = 0; i < B * H; i++) hin[i] = rmask ? h[i] * rmask[i] : h[i]; /* the first GEMM's operand */
    lstm_fused_job jobs[2];
    for (int k = 0; k < nthreads; k++) {
        lstm_fused_job job = {B, T, H, I, ring, panels * k / nthreads, panels * (k + 1) / nthreads, P, h, c, out,
                              hin, TC, CP, Xc + k * (ring * B * I), Ap + k * packed_rows * H, S, Up, bias, rmask, X, W,
                              forget_bias, nthreads, &arrived, &generation};
        jobs[k] = job;
    }
    /* BLAS on one thread for both threads' projections: OpenBLAS's own pool, once woken, keeps spinning
     * on the cores these threads need for the time loop (measured: 2x slower). Set here, not per thread:
     * this OpenBLAS setting is not private to the calling thread. */
    int previous = (nthreads == 2 && set_threads_local) ? set_threads_local(1) : 0;
    pthread_t worker;
    if (nthreads == 2 && pthread_create(&worker, 0, fused_run, &jobs[1]) != 0) {
        /* no second thread: one thread does all panels */
        jobs[0].p_end = panels;
        jobs[0].nthreads = 1;
        nthreads = 1;
    }
    fused_run(&jobs[0]);
    if (nthreads == 2) pthread_join(worker, 0);
    if (previous > 0) set_threads_local(previous);
}
