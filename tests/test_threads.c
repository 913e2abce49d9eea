/* A run's numbers do not depend on its thread count: the CPU ops give
 * bit-identical results with one thread and with two. OpenBLAS's threaded
 * sgemm once summed the inner dimension in other blocks with two threads
 * than with one (6000 x 10 x 6000, A and B transposed, moved by an ulp),
 * so `--jobs 2` of a grid (one thread per point) and `--jobs 1` (two)
 * printed different tables. The end-to-end check is in test_e2e.c. */
#include <criterion/criterion.h>
#include <omp.h>
#include <string.h>

#include "base/fpenv.h"
#include "ops/ops.h"

static unic_tensor *seeded(int64_t rows, int64_t cols, uint64_t stream)
{
    unic_tensor *t = unic_tensor_new(UNIC_CPU, 2, (int64_t[]){rows, cols});
    unic_fill_uniform(t, 1.0f, 7, stream);
    return t;
}

/* C = op(A) op(B) + C at 1 and at 2 threads, compared byte for byte. */
static void expect_same_at_any_thread_count(int ta, int tb, int64_t m, int64_t n, int64_t k)
{
    unic_tensor *a = ta ? seeded(k, m, 1) : seeded(m, k, 1);
    unic_tensor *b = tb ? seeded(n, k, 2) : seeded(k, n, 2);
    unic_tensor *c1 = seeded(m, n, 3), *c2 = seeded(m, n, 3);
    omp_set_num_threads(1);
    unic_gemm(ta, tb, 0.5f, a, b, 1.0f, c1);
    omp_set_num_threads(2);
    unic_gemm(ta, tb, 0.5f, a, b, 1.0f, c2);
    cr_expect(memcmp(c1->data, c2->data, sizeof(float) * (size_t)(m * n)) == 0,
              "gemm ta=%d tb=%d %lld x %lld x %lld differs between 1 and 2 threads", ta, tb,
              (long long)m, (long long)n, (long long)k);
    unic_tensor_free(a);
    unic_tensor_free(b);
    unic_tensor_free(c1);
    unic_tensor_free(c2);
}

Test(threads, gemm_is_the_same_at_one_and_two_threads)
{
    expect_same_at_any_thread_count(1, 1, 6000, 10, 6000);
    expect_same_at_any_thread_count(0, 1, 6000, 2048, 784); /* the quickstart's first layer */
    expect_same_at_any_thread_count(1, 0, 2048, 784, 6000); /* and its weight gradient */
    expect_same_at_any_thread_count(0, 0, 300, 1500, 777);
}

/* Denormals are flushed on every thread a run uses: a collapsed head once
 * ran 7x slower on denormal probabilities (base/fpenv.h). */
Test(threads, denormals_are_flushed_on_every_thread)
{
    omp_set_num_threads(2);
    unic_flush_denormals();
    int denormal = 0;
#pragma omp parallel reduction(+ : denormal)
    {
        volatile float tiny = 1e-30f, small = 1e-10f;
        float product = tiny * small; /* 1e-40: a denormal unless flushed */
        denormal += product != 0.0f;
    }
    cr_expect_eq(denormal, 0, "%d threads kept a denormal", denormal);
}
