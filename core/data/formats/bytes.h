/* Little-endian loads from file bytes (private to the format readers). */
#ifndef UNIC_FORMATS_BYTES_H
#define UNIC_FORMATS_BYTES_H

#include <stdint.h>
#include <string.h>

/* The readers hand out stored little-endian data as is. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "unic's file readers assume a little-endian host"
#endif

/* Arrays mapped from files written by other tools may be misaligned, so every
 * element is read through memcpy (which compiles to a plain load). */
static inline uint16_t unic_ld_u16(const unsigned char *p)
{
    uint16_t v;
    memcpy(&v, p, 2);
    return v;
}

static inline uint32_t unic_ld_u32(const unsigned char *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint64_t unic_ld_u64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline float unic_bits_f32(uint32_t b)
{
    float f;
    memcpy(&f, &b, 4);
    return f;
}

static inline double unic_bits_f64(uint64_t b)
{
    double d;
    memcpy(&d, &b, 8);
    return d;
}

#endif
