/* Hands a fuzz input to readers that take a path: the bytes go into one
 * memfd per process, reached through symlinks whose names carry the suffix
 * a reader dispatches on (labels.npy, labels-ubyte, ...). Nothing is
 * written to disk, and the folder of links is removed at exit. */
#ifndef UNIC_FUZZ_FILE_H
#define UNIC_FUZZ_FILE_H

#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static int fuzz_fd = -1;
static char fuzz_dir[4096];
static char fuzz_link[4200];

static inline void fuzz_cleanup(void)
{
    if (!fuzz_dir[0]) return;
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", fuzz_dir);
    if (system(cmd) != 0) fprintf(stderr, "fuzz: could not remove %s\n", fuzz_dir);
}

/* This process's scratch folder (under TMPDIR), removed at exit; a harness
 * may keep files of its own there. */
static inline const char *fuzz_scratch_dir(void)
{
    if (fuzz_fd < 0) {
        fuzz_fd = memfd_create("unic-fuzz", 0);
        const char *base = getenv("TMPDIR");
        snprintf(fuzz_dir, sizeof fuzz_dir, "%s/unic-fuzz-XXXXXX", base && *base ? base : "/tmp");
        if (fuzz_fd < 0 || !mkdtemp(fuzz_dir)) abort();
        atexit(fuzz_cleanup);
    }
    return fuzz_dir;
}

/* A path (valid until the next call) whose file holds data[0..n) and whose
 * name ends with suffix. */
static inline const char *fuzz_as_file(const uint8_t *data, size_t n, const char *suffix)
{
    fuzz_scratch_dir();
    if (ftruncate(fuzz_fd, 0) != 0 || pwrite(fuzz_fd, data, n, 0) != (ssize_t)n) abort();
    snprintf(fuzz_link, sizeof fuzz_link, "%s/input%s", fuzz_dir, suffix);
    if (access(fuzz_link, F_OK) != 0) {
        char target[64];
        snprintf(target, sizeof target, "/proc/self/fd/%d", fuzz_fd);
        if (symlink(target, fuzz_link) != 0) abort();
    }
    return fuzz_link;
}

/* A harness's own file, written whole; aborts on failure. */
static inline void fuzz_write_bytes(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp || (n && fwrite(data, 1, n, fp) != n)) abort();
    fclose(fp);
}

/* A harness's own file read whole (malloc'ed), its size in *n. */
static inline uint8_t *fuzz_read_whole(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) abort();
    fseek(fp, 0, SEEK_END);
    *n = (size_t)ftell(fp);
    rewind(fp);
    uint8_t *bytes = malloc(*n ? *n : 1);
    if (fread(bytes, 1, *n, fp) != *n) abort();
    fclose(fp);
    return bytes;
}

/* The input as a NUL-terminated string (malloc'ed). */
static inline char *fuzz_as_text(const uint8_t *data, size_t n)
{
    char *s = malloc(n + 1);
    memcpy(s, data, n);
    s[n] = '\0';
    return s;
}

#endif
