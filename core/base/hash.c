#include "base/hash.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "unic/rng.h"

uint64_t unic_hash_bytes(uint64_t h, const void *data, size_t size)
{
    const unsigned char *p = data;
    size_t words = size / 8;
#pragma omp parallel for reduction(^ : h) schedule(static)
    for (size_t w = 0; w < words; w++) {
        uint64_t v;
        memcpy(&v, p + w * 8, 8);
        h ^= unic_mix64(v ^ unic_mix64(w + 1));
    }
    for (size_t b = words * 8; b < size; b++) h = unic_mix64(h ^ p[b] ^ ((uint64_t)b << 8));
    return unic_mix64(h);
}

void unic_checksum_hex(const void *data, size_t size, char hex[17])
{
    snprintf(hex, 17, "%016" PRIx64, unic_hash_bytes(0x6a09e667f3bcc909ULL, data, size));
}
