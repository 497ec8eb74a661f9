/*
 * Receives every message of a broadcast channel created by `publisher`, in place.
 *
 *   cc -std=c11 -I ffi/include ffi/examples/subscriber.c -L target/release -lferry \
 *      -Wl,-rpath,$PWD/target/release -o subscriber
 *   ./subscriber [NAME]
 *
 * It subscribes (waiting up to five seconds for the channel), reads each message where
 * the publisher wrote it (acquire, read, validate, release), checks that none is missing
 * or out of order, and stops when every publisher has gone.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ferry.h"

int main(int argc, char **argv) {
    const char *name = argc > 1 ? argv[1] : "ferry-c-broadcast";
    ferry_subscriber *s = NULL;
    ferry_status status = FERRY_ERR_NOT_FOUND;
    for (int tries = 0; tries < 1000 && status == FERRY_ERR_NOT_FOUND; tries++) {
        status = ferry_subscriber_open(name, 0, &s);
        if (status == FERRY_ERR_NOT_FOUND) {
            struct timespec pause = {0, 5000000};
            nanosleep(&pause, NULL);
        }
    }
    if (status != FERRY_OK) {
        fprintf(stderr, "subscriber: %s\n", ferry_last_error_message());
        return 1;
    }
    printf("subscriber: joined `%s`\n", name);
    fflush(stdout);

    uint64_t received = 0, next = 0;
    int started = 0;
    for (;;) {
        const void *msg = NULL;
        size_t len = 0;
        status = ferry_subscriber_acquire(s, &msg, &len);
        if (status == FERRY_ERR_DISCONNECTED) {
            break;
        }
        if (status == FERRY_ERR_LAGGED) { /* overwrite mode only */
            printf("subscriber: missed %zu messages\n", len);
            started = 0;
            continue;
        }
        if (status != FERRY_OK || len < sizeof(uint64_t)) {
            fprintf(stderr, "subscriber: %s\n", ferry_last_error_message());
            ferry_subscriber_free(s);
            return 1;
        }
        uint64_t seq;
        memcpy(&seq, msg, sizeof seq);
        uint64_t missed = 0;
        int intact = ferry_subscriber_validate(s, &missed) == FERRY_OK;
        ferry_subscriber_release(s);
        if (!intact) {
            continue;
        }
        if (started && seq != next) {
            fprintf(stderr, "subscriber: message %llu where %llu was due\n", (unsigned long long)seq,
                    (unsigned long long)next);
            ferry_subscriber_free(s);
            return 1;
        }
        started = 1;
        next = seq + 1;
        received++;
    }
    printf("subscriber: received %llu messages in order; the publisher has gone\n", (unsigned long long)received);
    ferry_subscriber_free(s);
    return 0;
}
