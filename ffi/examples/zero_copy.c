/*
 * Zero-copy in both directions: the producer writes each message straight into a slot
 * of the shared ring (ferry_loan -> write -> ferry_commit), and the consumer reads it
 * where it lies (ferry_recv_acquire -> read -> ferry_recv_release). No byte is copied by
 * ferry on either side.
 *
 *   ./zero_copy [NAME] [COUNT]              runs both: creates NAME, starts itself as
 *                                           the producer, consumes
 *   ./zero_copy consume|produce NAME COUNT  one side only
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

/* A message is laid out in the slot itself. */
struct tick {
    uint64_t seq;
    uint64_t checksum; /* of `prices` */
    double prices[6];
};

static uint64_t checksum(const struct tick *t) {
    uint64_t sum = 0xcbf29ce484222325u; /* FNV-1a over the prices' bytes */
    const unsigned char *bytes = (const unsigned char *)t->prices;
    for (size_t i = 0; i < sizeof t->prices; i++) {
        sum = (sum ^ bytes[i]) * 0x100000001b3u;
    }
    return sum;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int produce(const char *name, uint64_t count) {
    ferry_sender *tx = NULL;
    if (ferry_sender_open(name, &tx) != FERRY_OK) {
        fprintf(stderr, "producer: %s\n", ferry_last_error_message());
        return 1;
    }
    for (uint64_t seq = 0; seq < count; seq++) {
        void *slot = NULL;
        size_t capacity = 0;
        if (ferry_loan(tx, &slot, &capacity) != FERRY_OK || capacity < sizeof(struct tick)) {
            fprintf(stderr, "producer: ferry_loan: %s\n", ferry_last_error_message());
            ferry_sender_free(tx);
            return 1;
        }
        struct tick *t = slot; /* payloads are 16-byte aligned */
        t->seq = seq;
        for (int i = 0; i < 6; i++) {
            t->prices[i] = (double)seq + i / 8.0;
        }
        t->checksum = checksum(t);
        ferry_commit(tx, sizeof *t);
    }
    ferry_sender_free(tx);
    return 0;
}

static int consume(ferry_receiver *rx, uint64_t count) {
    double start = now_s();
    uint64_t seq = 0;
    for (; seq < count; seq++) {
        const void *message = NULL;
        size_t len = 0;
        ferry_status status = ferry_recv_acquire(rx, &message, &len);
        if (status != FERRY_OK) {
            fprintf(stderr, "consumer: ferry_recv_acquire: %s\n", ferry_last_error_message());
            return 1;
        }
        const struct tick *t = message;
        int ok = len == sizeof *t && t->seq == seq && t->checksum == checksum(t);
        ferry_recv_release(rx); /* the slot goes back to the producer */
        if (!ok) {
            fprintf(stderr, "consumer: message %llu is wrong\n", (unsigned long long)seq);
            return 1;
        }
    }
    double elapsed = now_s() - start;
    printf("zero_copy: %llu messages of %zu B written and read in place in %.3f s (%.2f M msg/s), "
           "every checksum verified\n",
           (unsigned long long)seq, sizeof(struct tick), elapsed, (double)seq / elapsed / 1e6);
    return 0;
}

static int create(const char *name, ferry_receiver **rx) {
    ferry_config cfg;
    ferry_config_init(&cfg);
    cfg.slot_size = sizeof(struct tick);
    cfg.capacity = 1024;
    if (ferry_receiver_create(name, &cfg, rx) != FERRY_OK) {
        fprintf(stderr, "consumer: %s\n", ferry_last_error_message());
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 4 && strcmp(argv[1], "produce") == 0) {
        return produce(argv[2], strtoull(argv[3], NULL, 10));
    }
    ferry_receiver *rx = NULL;
    if (argc == 4 && strcmp(argv[1], "consume") == 0) {
        int result = create(argv[2], &rx) || consume(rx, strtoull(argv[3], NULL, 10));
        ferry_receiver_free(rx);
        return result;
    }

    char name[64];
    snprintf(name, sizeof name, "%s", argc > 1 ? argv[1] : "");
    if (name[0] == '\0') {
        snprintf(name, sizeof name, "ferry-zero-copy-%ld", (long)getpid());
    }
    const char *count = argc > 2 ? argv[2] : "1000000";
    if (create(name, &rx) != 0) {
        return 1;
    }
    pid_t child = fork();
    if (child == 0) {
        execl(argv[0], argv[0], "produce", name, count, (char *)NULL);
        _exit(127);
    }
    int result = child < 0 || consume(rx, strtoull(count, NULL, 10));
    int wstatus = 0;
    if (child > 0 && (waitpid(child, &wstatus, 0) != child || !WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0)) {
        fprintf(stderr, "zero_copy: the producer failed\n");
        result = 1;
    }
    ferry_receiver_free(rx);
    return result;
}
