/*
 * The messages the mixed-language tests exchange: message i of a run over a channel
 * of slot size S is a deterministic function of (i, S), so each side can check every
 * byte it receives. tests/c_abi.rs (Rust) and examples/python/ferry_client.py (Python)
 * implement the same function.
 *
 *   length: 0 for i == 0, S for i == 1, else 1 + (i * 7919) % S
 *   byte j: (i * 31 + j * 7 + 3) mod 256
 */
#ifndef FERRY_TEST_PATTERN_H
#define FERRY_TEST_PATTERN_H

#include <stddef.h>
#include <stdint.h>

static size_t pattern_len(uint64_t i, size_t slot_size) {
    if (i == 0) {
        return 0;
    }
    if (i == 1) {
        return slot_size;
    }
    return 1 + (size_t)((i * 7919u) % slot_size);
}

static uint8_t pattern_byte(uint64_t i, size_t j) {
    return (uint8_t)((i * 31u + j * 7u + 3u) & 0xffu);
}

static void pattern_fill(uint64_t i, uint8_t *buf, size_t len) {
    for (size_t j = 0; j < len; j++) {
        buf[j] = pattern_byte(i, j);
    }
}

/* Returns the index of the first wrong byte, or -1 if `buf` is message i. */
static long pattern_check(uint64_t i, const uint8_t *buf, size_t len, size_t slot_size) {
    if (len != pattern_len(i, slot_size)) {
        return (long)len;
    }
    for (size_t j = 0; j < len; j++) {
        if (buf[j] != pattern_byte(i, j)) {
            return (long)j;
        }
    }
    return -1;
}

#endif
