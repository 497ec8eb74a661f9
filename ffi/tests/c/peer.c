/*
 * One side of a mixed-language test, driven by tests/c_abi.rs.
 *
 *   peer send ENDPOINT COUNT SLOT_SIZE   open ENDPOINT, send messages 0..COUNT
 *   peer recv ENDPOINT COUNT SLOT_SIZE   create ENDPOINT, print "ready", receive and
 *                                         check messages 0..COUNT, then expect the
 *                                         sender to be gone
 *
 * Both alternate the copy calls and the zero-copy calls (even messages by ferry_send /
 * ferry_recv, odd ones by ferry_loan + ferry_commit / ferry_recv_acquire +
 * ferry_recv_release), so both paths cross every transport. The messages follow
 * pattern.h. Exits 0 only if every call succeeded and every byte matched.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry.h"
#include "pattern.h"

static int fail(const char *what, ferry_status status, uint64_t i) {
    fprintf(stderr, "peer: %s failed at message %llu: %s (%d): %s\n", what, (unsigned long long)i,
            ferry_strerror(status), (int)status, ferry_last_error_message());
    return 1;
}

static int run_sender(const char *endpoint, uint64_t count, size_t slot_size) {
    ferry_sender *tx = NULL;
    /* Waits up to 10 s for its receiver to create the endpoint. */
    ferry_status status = ferry_sender_open_timeout(endpoint, 10ull * 1000 * 1000 * 1000, &tx);
    if (status != FERRY_OK) {
        return fail("ferry_sender_open_timeout", status, 0);
    }
    size_t actual = 0;
    if ((status = ferry_sender_slot_size(tx, &actual)) != FERRY_OK || actual != slot_size) {
        fprintf(stderr, "peer: slot size %zu, expected %zu\n", actual, slot_size);
        ferry_sender_free(tx);
        return 1;
    }
    uint8_t *message = malloc(slot_size);
    if (message == NULL) {
        ferry_sender_free(tx);
        return 1;
    }
    int result = 0;
    for (uint64_t i = 0; i < count && result == 0; i++) {
        size_t len = pattern_len(i, slot_size);
        if (i % 2 == 0) {
            pattern_fill(i, message, len);
            if ((status = ferry_send(tx, message, len)) != FERRY_OK) {
                result = fail("ferry_send", status, i);
            }
        } else {
            void *slot = NULL;
            size_t capacity = 0;
            if ((status = ferry_loan(tx, &slot, &capacity)) != FERRY_OK) {
                result = fail("ferry_loan", status, i);
            } else if (capacity != slot_size) {
                fprintf(stderr, "peer: loan of %zu bytes, expected %zu\n", capacity, slot_size);
                result = 1;
            } else {
                pattern_fill(i, slot, len);
                if ((status = ferry_commit(tx, len)) != FERRY_OK) {
                    result = fail("ferry_commit", status, i);
                }
            }
        }
    }
    free(message);
    ferry_sender_free(tx);
    return result;
}

static int run_receiver(const char *endpoint, uint64_t count, size_t slot_size) {
    ferry_config cfg;
    ferry_config_init(&cfg);
    cfg.slot_size = slot_size;
    cfg.capacity = 64;
    ferry_receiver *rx = NULL;
    ferry_status status = ferry_receiver_create(endpoint, &cfg, &rx);
    if (status != FERRY_OK) {
        return fail("ferry_receiver_create", status, 0);
    }
    printf("ready\n");
    fflush(stdout);

    uint8_t *buf = malloc(slot_size);
    if (buf == NULL) {
        ferry_receiver_free(rx);
        return 1;
    }
    const uint64_t ten_seconds = 10ull * 1000 * 1000 * 1000;
    int result = 0;
    for (uint64_t i = 0; i < count && result == 0; i++) {
        const uint8_t *bytes = NULL;
        size_t len = 0;
        if (i % 2 == 0) {
            status = ferry_recv_timeout(rx, buf, slot_size, &len, ten_seconds);
            bytes = buf;
        } else {
            const void *in_place = NULL;
            status = ferry_recv_acquire_timeout(rx, &in_place, &len, ten_seconds);
            bytes = in_place;
        }
        if (status != FERRY_OK) {
            result = fail(i % 2 == 0 ? "ferry_recv_timeout" : "ferry_recv_acquire_timeout", status, i);
            break;
        }
        long wrong = pattern_check(i, bytes, len, slot_size);
        if (wrong >= 0) {
            fprintf(stderr, "peer: message %llu is wrong (length %zu, expected %zu; first bad byte %ld)\n",
                    (unsigned long long)i, len, pattern_len(i, slot_size), wrong);
            result = 1;
        }
        if (i % 2 == 1 && (status = ferry_recv_release(rx)) != FERRY_OK) {
            result = fail("ferry_recv_release", status, i);
        }
    }
    if (result == 0) {
        /* Everything was read; the sender has finished and gone. */
        size_t len = 0;
        status = ferry_recv_timeout(rx, buf, slot_size, &len, ten_seconds);
        if (status != FERRY_ERR_DISCONNECTED) {
            result = fail("the final ferry_recv_timeout (expected FERRY_ERR_DISCONNECTED)", status, count);
        } else {
            printf("received %llu messages, every byte checked\n", (unsigned long long)count);
        }
    }
    free(buf);
    ferry_receiver_free(rx);
    return result;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s send|recv ENDPOINT COUNT SLOT_SIZE\n", argv[0]);
        return 2;
    }
    uint64_t count = strtoull(argv[3], NULL, 10);
    size_t slot_size = (size_t)strtoull(argv[4], NULL, 10);
    if (strcmp(argv[1], "send") == 0) {
        return run_sender(argv[2], count, slot_size);
    }
    if (strcmp(argv[1], "recv") == 0) {
        return run_receiver(argv[2], count, slot_size);
    }
    fprintf(stderr, "peer: unknown role %s\n", argv[1]);
    return 2;
}
