/*
 * Receives messages from `producer` over a ferry channel, copying each one out.
 *
 *   cc -std=c11 -I ffi/include ffi/examples/consumer.c -L target/release -lferry \
 *      -Wl,-rpath,$PWD/target/release -o consumer
 *   ./consumer [ENDPOINT] [COUNT]        (then start ./producer with the same arguments)
 *
 * It creates the channel (any endpoint: NAME, unix:PATH, fifo:PATH, auto:NAME), receives
 * COUNT messages or until the producer has gone, checks that the sequence numbers
 * arrive in order, and prints the rate.
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

    ferry_config cfg;
    ferry_config_init(&cfg);
    cfg.slot_size = sizeof(struct message);
    cfg.capacity = 1024;
    ferry_receiver *rx = NULL;
    ferry_status status = ferry_receiver_create(endpoint, &cfg, &rx);
    if (status != FERRY_OK) {
        fprintf(stderr, "consumer: %s\n", ferry_last_error_message());
        return 1;
    }
    printf("consumer: created `%s` (%zu slots of %zu B), waiting for the producer\n", endpoint, cfg.capacity,
           cfg.slot_size);
    fflush(stdout);

    struct message m;
    uint64_t received = 0;
    double start = 0;
    while (received < count) {
        size_t len = 0;
        status = ferry_recv(rx, &m, sizeof m, &len);
        if (status == FERRY_ERR_DISCONNECTED) {
            break; /* the producer has gone and everything it sent has been read */
        }
        if (status != FERRY_OK) {
            fprintf(stderr, "consumer: ferry_recv: %s\n", ferry_last_error_message());
            ferry_receiver_free(rx);
            return 1;
        }
        if (received == 0) {
            start = now_s();
        }
        if (len != sizeof m || m.seq != received) {
            fprintf(stderr, "consumer: message %llu is out of order or short\n", (unsigned long long)received);
            ferry_receiver_free(rx);
            return 1;
        }
        received++;
    }
    double elapsed = now_s() - start;
    printf("consumer: received %llu messages in order in %.3f s (%.2f M msg/s); last: \"%s\"\n",
           (unsigned long long)received, elapsed, elapsed > 0 ? (double)received / elapsed / 1e6 : 0.0,
           received > 0 ? m.text : "");
    ferry_receiver_free(rx); /* also removes the channel's name */
    return received == count ? 0 : 1;
}
