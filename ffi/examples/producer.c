/*
 * Sends messages to `consumer` over a ferry channel, copying each one in.
 *
 *   cc -std=c11 -I ffi/include ffi/examples/producer.c -L target/release -lferry \
 *      -Wl,-rpath,$PWD/target/release -o producer
 *   ./producer [ENDPOINT] [COUNT]        (start ./consumer before it or within 5 s)
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "ferry.h"

struct message {
    uint64_t seq;
    char text[56];
};

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    const char *endpoint = argc > 1 ? argv[1] : "ferry-c-example";
    uint64_t count = argc > 2 ? strtoull(argv[2], NULL, 10) : 1000000;

    ferry_sender *tx = NULL;
    /* Waits up to five seconds for the consumer to create the channel. */
    if (ferry_sender_open_timeout(endpoint, 5ull * 1000 * 1000 * 1000, &tx) != FERRY_OK) {
        fprintf(stderr, "producer: %s\n", ferry_last_error_message());
        return 1;
    }
    double start = now_s();
    struct message m = {0, {0}};
    for (uint64_t seq = 0; seq < count; seq++) {
        m.seq = seq;
        snprintf(m.text, sizeof m.text, "message %llu from C", (unsigned long long)seq);
        ferry_status status = ferry_send(tx, &m, sizeof m); /* waits while the ring is full */
        if (status != FERRY_OK) {
            fprintf(stderr, "producer: ferry_send: %s (%s)\n", ferry_strerror(status), ferry_last_error_message());
            ferry_sender_free(tx);
            return 1;
        }
    }
    double elapsed = now_s() - start;
    printf("producer: sent %llu messages of %zu B in %.3f s (%.2f M msg/s) through `%s`\n",
           (unsigned long long)count, sizeof m, elapsed, (double)count / elapsed / 1e6, endpoint);
    ferry_sender_free(tx); /* the consumer sees FERRY_ERR_DISCONNECTED once it has read everything */
    return 0;
}
