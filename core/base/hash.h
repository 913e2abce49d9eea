/* A 64-bit hash of bytes, for the checksums of the mining cache and of
 * checkpoints: not cryptographic, it catches damage, not tampering. */
#ifndef UNIC_HASH_H
#define UNIC_HASH_H

#include <stddef.h>
#include <stdint.h>

/* Order-independent over 8-byte words (so it runs in parallel), the word's
 * position mixed in so swapped words change it; the tail bytes go last. */
uint64_t unic_hash_bytes(uint64_t seed, const void *data, size_t size);

/* The checksum that checkpoints and the mining cache store per array (as
 * "checksum.NAME" in the file's metadata): 16 hex digits and a NUL. */
void unic_checksum_hex(const void *data, size_t size, char hex[17]);

#endif
