/*
 * Publishes a stream to every subscriber of a broadcast channel, zero-copy.
 *
 *   cc -std=c11 -I ffi/include ffi/examples/publisher.c -L target/release -lferry \
 *      -Wl,-rpath,$PWD/target/release -o publisher
 *   ./publisher [NAME] [COUNT] [SUBSCRIBERS]      (and ./subscriber NAME in other terminals)
 *
 * It creates the channel (block mode: it waits for the slowest live subscriber), waits
 * up to ten seconds for SUBSCRIBERS subscribers, then publishes COUNT numbered messages,
 * each written once into shared memory and read there by every subscriber.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferry.h"

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : "ferry-c-broadcast";
    uint64_t count = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000;
    size_t wanted = argc > 3 ? strtoull(argv[3], NULL, 10) : 1;

    ferry_config cfg;
    ferry_config_init(&cfg);
    cfg.slot_size = 64;
    cfg.capacity = 1024;
    ferry_broadcast_config bcfg;
    ferry_broadcast_config_init(&bcfg);
    bcfg.policy = FERRY_POLICY_BLOCK;
    bcfg.history = 16;
    ferry_publisher *p = NULL;
    if (ferry_publisher_create(name, &cfg, &bcfg, &p) != FERRY_OK) {
        fprintf(stderr, "publisher: %s\n", ferry_last_error_message());
        return 1;
    }
    printf("publisher: created `%s`, waiting for %zu subscriber(s)\n", name, wanted);
    fflush(stdout);
    size_t attached = 0;
    double deadline = now_s() + 10.0;
    while (ferry_publisher_subscriber_count(p, &attached) == FERRY_OK && attached < wanted && now_s() < deadline) {
        struct timespec pause = {0, 5000000};
        nanosleep(&pause, NULL);
    }

    double start = now_s();
    for (uint64_t seq = 0; seq < count; seq++) {
        void *slot = NULL;
        size_t cap = 0;
        if (ferry_publisher_loan(p, &slot, &cap) != FERRY_OK) {
            fprintf(stderr, "publisher: %s\n", ferry_last_error_message());
            ferry_publisher_free(p);
            return 1;
        }
        memcpy(slot, &seq, sizeof seq);
        memset((char *)slot + sizeof seq, (int)(seq & 0xff), 56);
        ferry_publisher_commit(p, 64);
    }
    double elapsed = now_s() - start;
    printf("publisher: published %llu messages of 64 B in %.3f s (%.2f M msg/s)\n", (unsigned long long)count, elapsed,
           (double)count / (elapsed > 0 ? elapsed : 1e-9) / 1e6);
    /* Freeing the publisher ends the stream for the subscribers once they have read it. */
    ferry_publisher_free(p);
    return 0;
}
