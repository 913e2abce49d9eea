/* expf and erff written so the compiler can vectorise loops over them (glibc's
 * are scalar calls without -ffast-math). Relative error of expf about 2e-7,
 * absolute error of erff below 1.5e-7 (Abramowitz & Stegun 7.1.26). */
#ifndef UNIC_FASTMATH_H
#define UNIC_FASTMATH_H

#include <stdint.h>

static inline float unic_expf(float x)
{
    const float in = x;
    /* Clamped so that n below converts to an int in [-126, 127]; written so
     * NaN lands on -87 too (a NaN converted to int is undefined), and put
     * back at the end. Not fminf: its NaN rules block vectorisation. */
    x = x > -87.0f ? x : -87.0f;
    x = x < 88.0f ? x : 88.0f;
    /* round to nearest by the 1.5 * 2^23 trick: roundf would be a libm call
     * and stop the loop from vectorising */
    float n = (x * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = x - n * 0.693145751953125f - n * 1.428606765330187045e-06f;
    /* minimax polynomial for e^r on [-ln2/2, ln2/2] */
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    union {
        int32_t i;
        float f;
    } scale = {(int32_t)((uint32_t)((int32_t)n + 127) << 23)};
    return in == in ? p * scale.f : in;
}

static inline float unic_erff(float x)
{
    float ax = __builtin_fabsf(x);
    float t = 1.0f / (1.0f + 0.3275911f * ax);
    float y = t * (0.254829592f + t * (-0.284496736f + t * (1.421413741f +
                   t * (-1.453152027f + t * 1.061405429f))));
    return __builtin_copysignf(1.0f - y * unic_expf(-ax * ax), x);
}

#endif
