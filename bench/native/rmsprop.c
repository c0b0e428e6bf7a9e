/*
 * The native reference for `npm run bench`: Keras's RMSprop update as one fused C loop per
 * variant (the same float32 operations in the same order: built with -ffp-contract=off, no
 * fast-math), over OpenMP threads. It measures what the hardware allows, not the numbers:
 * the library's own tests check those.
 *
 *   rmsprop <parameters> <threads> <repetitions>
 * prints one JSON line: {"basic": median ms, "full": median ms}.
 */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static int compare(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

static float *array(long n, float fill) {
  float *a = aligned_alloc(64, ((n * sizeof(float) + 63) / 64) * 64);
  if (!a) { fprintf(stderr, "out of memory\n"); exit(2); }
#pragma omp parallel for simd schedule(static)
  for (long i = 0; i < n; i++) a[i] = fill; /* first touch on the thread that updates it */
  return a;
}

static const float lr = 0.001f, rho = 0.9f, one_minus_rho = 0.1f, eps = 1e-7f;

static void basic(long n, float *restrict p, const float *restrict g, float *restrict v) {
#pragma omp parallel for simd schedule(static)
  for (long i = 0; i < n; i++) {
    float gi = g[i];
    float vi = rho * v[i] + one_minus_rho * (gi * gi);
    v[i] = vi;
    p[i] = p[i] - (lr * gi) / sqrtf(vi + eps);
  }
}

static void full(long n, float *restrict p, const float *restrict g, float *restrict v, float *restrict m,
                 float *restrict mg, float *restrict a) {
  const float clip = 1.0f, momentum = 0.9f, ema = 0.99f, ema_one_minus = 1.0f - 0.99f;
  double squares = 0;
#pragma omp parallel for simd schedule(static) reduction(+ : squares)
  for (long i = 0; i < n; i++) squares += (double)(g[i] * g[i]);
  float norm = sqrtf((float)squares);
  float scale = clip * fminf(1.0f / norm, 1.0f / clip);
#pragma omp parallel for simd schedule(static)
  for (long i = 0; i < n; i++) {
    float gi = g[i] * scale;
    float vi = rho * v[i] + one_minus_rho * (gi * gi);
    v[i] = vi;
    float mgi = rho * mg[i] + one_minus_rho * gi;
    mg[i] = mgi;
    float increment = (lr * gi) / sqrtf((vi - mgi * mgi) + eps);
    float mi = momentum * m[i] + increment;
    m[i] = mi;
    float pi = p[i] - mi;
    p[i] = pi;
    a[i] = ema * a[i] + ema_one_minus * pi;
  }
}

int main(int argc, char **argv) {
  if (argc != 4) { fprintf(stderr, "usage: rmsprop <parameters> <threads> <repetitions>\n"); return 2; }
  long n = atol(argv[1]);
  int threads = atoi(argv[2]), reps = atoi(argv[3]);
  omp_set_num_threads(threads);
  double *times = malloc(sizeof(double) * reps);
  double medians[2];
  for (int variant = 0; variant < 2; variant++) {
    float *p = array(n, 0.1f), *g = array(n, 0.01f), *v = array(n, 0);
    float *m = variant ? array(n, 0) : NULL, *mg = variant ? array(n, 0) : NULL, *a = variant ? array(n, 0) : NULL;
    for (int r = -1; r < reps; r++) { /* one warm-up */
      double start = now_ms();
      if (variant) full(n, p, g, v, m, mg, a); else basic(n, p, g, v);
      if (r >= 0) times[r] = now_ms() - start;
    }
    qsort(times, reps, sizeof(double), compare);
    medians[variant] = reps % 2 ? times[reps / 2] : (times[reps / 2 - 1] + times[reps / 2]) / 2;
    free(p); free(g); free(v); free(m); free(mg); free(a);
  }
  printf("{\"basic\": %.6f, \"full\": %.6f}\n", medians[0], medians[1]);
  return 0;
}
