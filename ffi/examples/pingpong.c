/*
 * One-way latency between two C processes over ferry shared memory: ping-pong of a
 * u64 sequence number over two SPSC channels (64-byte slots, 64 slots, futex
 * signaling), one-way = round trip / 2. The same protocol as the Rust
 * `cargo run --release --example pingpong`, so the two can be compared in one run.
 *
 *   ./pingpong [ROUND_TRIPS]      (default 20000, after 1000 warm-up round trips)
 *
 * Two runs: the receivers sleep in the kernel at once (every hand-off wakes a sleeping
 * process), then the default wait policy (spin, yield, then sleep).
 */
#define _POSIX_C_SOURCE 200809L

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ferry.h"

#define WARM_UP 1000

static uint64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int by_value(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a;
    uint64_t y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static int die(const char *what) {
    fprintf(stderr, "pingpong: %s: %s\n", what, ferry_last_error_message());
    return 1;
}

/* The child: returns every number it receives on PING through PONG. */
static int echo(const char *ping, const char *pong, int park) {
    ferry_receiver *rx = NULL;
    ferry_sender *tx = NULL;
    if (ferry_receiver_open(ping, &rx) != FERRY_OK || ferry_sender_open(pong, &tx) != FERRY_OK) {
        return die("echo: open");
    }
    if (park) {
        ferry_receiver_set_wait_policy(rx, 0, 0);
        ferry_sender_set_wait_policy(tx, 0, 0);
    }
    int result = 0;
    for (;;) {
        uint64_t seq = 0;
        size_t len = 0;
        ferry_status status = ferry_recv(rx, &seq, sizeof seq, &len);
        if (status == FERRY_ERR_DISCONNECTED) {
            break;
        }
        if (status != FERRY_OK || ferry_send(tx, &seq, sizeof seq) != FERRY_OK) {
            result = die("echo");
            break;
        }
    }
    ferry_sender_free(tx);
    ferry_receiver_free(rx);
    return result;
}

/* Round trips against a child echo; prints p50/p99/p99.9 of the one-way latency. */
static int measure(const char *self, const char *label, uint64_t rounds, int park) {
    char ping[64];
    char pong[64];
    snprintf(ping, sizeof ping, "c-pingpong-%ld-%d-ping", (long)getpid(), park);
    snprintf(pong, sizeof pong, "c-pingpong-%ld-%d-pong", (long)getpid(), park);
    ferry_config cfg;
    ferry_config_init(&cfg);
    cfg.slot_size = 64;
    cfg.capacity = 64;
    ferry_sender *tx = NULL;
    ferry_receiver *rx = NULL;
    if (ferry_sender_create(ping, &cfg, &tx) != FERRY_OK || ferry_receiver_create(pong, &cfg, &rx) != FERRY_OK) {
        ferry_sender_free(tx);
        return die("create");
    }
    if (park) {
        ferry_sender_set_wait_policy(tx, 0, 0);
        ferry_receiver_set_wait_policy(rx, 0, 0);
    }
    pid_t child = fork();
    if (child == 0) {
        execl(self, self, "echo", ping, pong, park ? "park" : "spin", (char *)NULL);
        _exit(127);
    }
    uint64_t *one_way = malloc(sizeof(uint64_t) * (size_t)rounds);
    int result = child < 0 || one_way == NULL;
    for (uint64_t seq = 0; result == 0 && seq < rounds + WARM_UP; seq++) {
        uint64_t start = now_ns();
        uint64_t back = UINT64_MAX;
        size_t len = 0;
        if (ferry_send(tx, &seq, sizeof seq) != FERRY_OK || ferry_recv(rx, &back, sizeof back, &len) != FERRY_OK) {
            result = die("round trip");
        } else if (back != seq) {
            fprintf(stderr, "pingpong: echo out of order\n");
            result = 1;
        } else if (seq >= WARM_UP) {
            one_way[seq - WARM_UP] = (now_ns() - start) / 2;
        }
    }
    ferry_sender_free(tx); /* the echo sees FERRY_ERR_DISCONNECTED and exits */
    int wstatus = 0;
    if (child > 0 && (waitpid(child, &wstatus, 0) != child || !WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0)) {
        fprintf(stderr, "pingpong: the echo process failed\n");
        result = 1;
    }
    ferry_receiver_free(rx);
    if (result == 0) {
        qsort(one_way, (size_t)rounds, sizeof *one_way, by_value);
        uint64_t last = rounds - 1;
        printf("%-44s %6llu ns %6llu ns %6llu ns\n", label, (unsigned long long)one_way[last / 2],
               (unsigned long long)one_way[last * 99 / 100], (unsigned long long)one_way[last * 999 / 1000]);
    }
    free(one_way);
    return result;
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "echo") == 0) {
        return echo(argv[2], argv[3], strcmp(argv[4], "park") == 0);
    }
    uint64_t rounds = argc > 1 ? strtoull(argv[1], NULL, 10) : 20000;
    if (rounds == 0) {
        fprintf(stderr, "usage: %s [ROUND_TRIPS]\n", argv[0]);
        return 2;
    }
    printf("C <-> C over ferry shared memory: one-way latency = round trip / 2, %llu round trips\n",
           (unsigned long long)rounds);
    printf("%-44s %9s %9s %9s\n", "", "p50", "p99", "p99.9");
    return measure(argv[0], "ferry C blocking, futex (sleeps at once)", rounds, 1) ||
           measure(argv[0], "ferry C, default wait policy (spins first)", rounds, 0);
}
