/* Counter-based random streams. A stream is a pure function of (seed, key):
 * the core derives one per sample and step, so results do not depend on how
 * many threads draw from them or in which order. */
#ifndef UNIC_RNG_H
#define UNIC_RNG_H

#include <stdint.h>

typedef struct unic_rng {
    uint64_t state;
} unic_rng;

static inline uint64_t unic_mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* A stream for (seed, a, b): e.g. (run seed, epoch, sample index). */
static inline unic_rng unic_rng_stream(uint64_t seed, uint64_t a, uint64_t b)
{
    unic_rng r;
    r.state = unic_mix64(seed ^ unic_mix64(a + 0x9e3779b97f4a7c15ULL) ^ unic_mix64(~b));
    return r;
}

/* splitmix64 */
static inline uint64_t unic_rng_u64(unic_rng *r)
{
    r->state += 0x9e3779b97f4a7c15ULL;
    return unic_mix64(r->state);
}

/* Uniform in [0, 1) with 24 random bits. */
static inline float unic_rng_uniform(unic_rng *r)
{
    return (float)(unic_rng_u64(r) >> 40) * (1.0f / 16777216.0f);
}

/* Uniform integer in [0, n), n > 0: Lemire's multiply-shift without the
 * rejection step, so the bias is below n / 2^64. */
static inline uint64_t unic_rng_below(unic_rng *r, uint64_t n)
{
    return (uint64_t)(((unsigned __int128)unic_rng_u64(r) * n) >> 64);
}

#endif
