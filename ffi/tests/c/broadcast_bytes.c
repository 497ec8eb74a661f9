/*
 * A broadcast channel sized in bytes from C: a ring of 16 KiB for messages of 0 to
 * 5000 bytes, one publisher, two subscribers. The ring's bytes as each end tells them
 * (ferry_*_capacity_bytes; 0 on a ring of slots). Messages of 0, 1, 64, 4096 and 5000
 * bytes published by copy, by a loan of exactly their size (ferry_publisher_loan_bytes),
 * by a larger loan committed with fewer bytes, and by a loan of the largest size
 * (ferry_publisher_loan); each subscriber receives every message once, in order, with
 * its length and bytes (one in place, one by copy). Then: a cancelled loan, and one
 * outstanding when the publisher closes, are never delivered; the slowest subscriber
 * holds the room back (FERRY_ERR_FULL, FERRY_ERR_TIMEOUT, a small loan still fits); a
 * loan above the largest message, a commit longer than its loan and a buffer too small
 * get their statuses; FERRY_POLICY_OVERWRITE or a history with capacity_bytes is
 * refused with a message in C's words; and the sized loan on a ring of slots.
 *
 * Single-threaded, so nothing here waits: a publisher in block mode waits for its
 * slowest subscriber, so every publication is the try_ or _timeout form, and each
 * batch is received before the next could fill the ring. tests/c_abi.rs builds it with
 * -std=c11 -Wall -Wextra -Werror -pedantic and runs it plain and under
 * AddressSanitizer + UndefinedBehaviorSanitizer.
 *
 *   broadcast_bytes PREFIX        channel names start with PREFIX
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "expect.h"
#include "ferry.h"

/* The largest message, and the ring: at least 2 x (16 + MAX), a power of two. */
#define MAX 5000u
#define RING 16384u
/* A second's timeout, for the calls that succeed; a millisecond for those that time out. */
#define SECOND 1000000000u
#define MILLISECOND 1000000u

static const size_t sizes[] = {0, 1, 64, 4096, MAX};
#define SIZES (sizeof sizes / sizeof sizes[0])

/* Byte i of message `id`. */
static unsigned char pattern(unsigned id, size_t i) {
    return (unsigned char)(id * 31u + (unsigned)i * 7u + 3u);
}

static void fill(void *p, unsigned id, size_t n) {
    unsigned char *bytes = p;
    for (size_t i = 0; i < n; i++) {
        bytes[i] = pattern(id, i);
    }
}

static int matches(const void *p, unsigned id, size_t n) {
    const unsigned char *bytes = p;
    for (size_t i = 0; i < n; i++) {
        if (bytes[i] != pattern(id, i)) {
            return 0;
        }
    }
    return 1;
}

static int last_error_mentions(const char *needle) {
    return strstr(ferry_last_error_message(), needle) != NULL;
}

static ferry_config byte_config(void) {
    ferry_config cfg;
    ferry_config_init(&cfg);
    cfg.kind = FERRY_KIND_BROADCAST;
    cfg.slot_size = MAX;
    cfg.capacity_bytes = RING;
    return cfg;
}

static ferry_broadcast_config seats(void) {
    ferry_broadcast_config bcfg;
    ferry_broadcast_config_init(&bcfg);
    bcfg.subscribers = 4;
    return bcfg;
}

/* The ways a message is published. */
enum how { COPY, EXACT_LOAN, LARGER_LOAN, FULL_LOAN, HOW_COUNT };

/* Publishes message `id` of `n` bytes as `how` says, never waiting: the ring has room. */
static void publish(ferry_publisher *p, unsigned id, size_t n, enum how how) {
    static unsigned char buf[MAX];
    void *ptr = NULL;
    size_t cap = 0;
    switch (how) {
    case COPY:
        fill(buf, id, n);
        EXPECT(ferry_try_publish(p, buf, n), FERRY_OK);
        return;
    case EXACT_LOAN:
        EXPECT(ferry_publisher_try_loan_bytes(p, n, &ptr), FERRY_OK);
        break;
    case LARGER_LOAN: {
        size_t loaned = n + 100 > MAX ? MAX : n + 100;
        EXPECT(ferry_publisher_loan_bytes_timeout(p, loaned, &ptr, SECOND), FERRY_OK);
        if (ptr != NULL) {
            memset(ptr, 0xee, loaned); /* the bytes past `n` are never delivered */
        }
        break;
    }
    case FULL_LOAN:
        EXPECT(ferry_publisher_try_loan(p, &ptr, &cap), FERRY_OK);
        CHECK(cap == MAX);
        break;
    default:
        CHECK(!"a way to publish");
        return;
    }
    CHECK(ptr != NULL && (uintptr_t)ptr % 16 == 0);
    if (ptr == NULL) {
        return;
    }
    fill(ptr, id, n);
    EXPECT(ferry_publisher_commit(p, n), FERRY_OK);
}

/* `in_place` takes the next message in place, `copy` into a buffer: both must be
 * message `id`, `n` bytes long. */
static void receive(ferry_subscriber *in_place, ferry_subscriber *copy, unsigned id, size_t n) {
    const void *msg = NULL;
    size_t len = SIZE_MAX;
    EXPECT(ferry_subscriber_try_acquire(in_place, &msg, &len), FERRY_OK);
    CHECK(len == n);
    CHECK(msg != NULL && matches(msg, id, len < n ? len : n));
    uint64_t missed = 99;
    EXPECT(ferry_subscriber_validate(in_place, &missed), FERRY_OK);
    CHECK(missed == 0);
    EXPECT(ferry_subscriber_release(in_place), FERRY_OK);

    static unsigned char buf[MAX + 1];
    len = SIZE_MAX;
    EXPECT(ferry_subscriber_recv_timeout(copy, buf, sizeof buf, &len, SECOND), FERRY_OK);
    CHECK(len == n);
    CHECK(matches(buf, id, len < n ? len : n));
}

/* Both subscribers have read everything. */
static void drained(ferry_subscriber *a, ferry_subscriber *b) {
    unsigned char byte = 0;
    size_t len = 99;
    EXPECT(ferry_subscriber_try_recv(a, &byte, 1, &len), FERRY_ERR_EMPTY);
    EXPECT(ferry_subscriber_try_recv(b, &byte, 1, &len), FERRY_ERR_EMPTY);
}

static void every_size_every_way(ferry_publisher *p, ferry_subscriber *a, ferry_subscriber *b) {
    unsigned id = 0;
    /* One message at a time: each size, each way. */
    for (int how = 0; how < HOW_COUNT; how++) {
        for (size_t k = 0; k < SIZES; k++, id++) {
            publish(p, id, sizes[k], (enum how)how);
            receive(a, b, id, sizes[k]);
        }
    }
    drained(a, b);

    /* All five sizes in flight at once, then read in order, in rounds enough to wrap
     * the ring many times. Copies and loans of (about) the message's size: 10 KiB of
     * records, and less than 5 KiB of padding where one wraps, fit in 16 KiB from any
     * position (loans of the largest size would not). */
    for (unsigned round = 0; round < 40; round++) {
        unsigned first = id;
        for (size_t k = 0; k < SIZES; k++, id++) {
            publish(p, id, sizes[(k + round) % SIZES], (enum how)((k + round) % FULL_LOAN));
        }
        for (size_t k = 0; k < SIZES; k++) {
            receive(a, b, first + (unsigned)k, sizes[(k + round) % SIZES]);
        }
    }
    drained(a, b);
}

static void cancelled_loans_are_not_delivered(ferry_publisher *p, ferry_subscriber *a, ferry_subscriber *b) {
    void *ptr = NULL;
    publish(p, 100, 64, COPY);
    EXPECT(ferry_publisher_try_loan_bytes(p, 4096, &ptr), FERRY_OK);
    CHECK(ptr != NULL);
    if (ptr != NULL) {
        fill(ptr, 101, 4096);
    }
    EXPECT(ferry_publisher_loan_cancel(p), FERRY_OK);
    EXPECT(ferry_publisher_loan_cancel(p), FERRY_ERR_STATE);
    EXPECT(ferry_publisher_commit(p, 0), FERRY_ERR_STATE);
    size_t cap = 1;
    EXPECT(ferry_publisher_try_loan(p, &ptr, &cap), FERRY_OK);
    EXPECT(ferry_publisher_loan_cancel(p), FERRY_OK);
    publish(p, 102, 1, EXACT_LOAN);
    receive(a, b, 100, 64);
    receive(a, b, 102, 1);
    drained(a, b);
}

static void misuse(ferry_publisher *p, ferry_subscriber *a, ferry_subscriber *b) {
    void *ptr = &failures;
    static unsigned char buf[MAX + 1];

    /* Above the largest message: refused before the ring, nothing outstanding. */
    EXPECT(ferry_publisher_try_loan_bytes(p, MAX + 1, &ptr), FERRY_ERR_TOO_LARGE);
    CHECK(ptr == NULL);
    EXPECT(ferry_publisher_loan_bytes(p, SIZE_MAX, &ptr), FERRY_ERR_TOO_LARGE);
    EXPECT(ferry_publisher_loan_bytes_timeout(p, MAX + 1, &ptr, SECOND), FERRY_ERR_TOO_LARGE);
    EXPECT(ferry_try_publish(p, buf, MAX + 1), FERRY_ERR_TOO_LARGE);
    EXPECT(ferry_publisher_commit(p, 0), FERRY_ERR_STATE);

    /* A commit longer than the loan (though within the largest message) keeps it. */
    EXPECT(ferry_publisher_try_loan_bytes(p, 64, &ptr), FERRY_OK);
    void *second = &failures;
    EXPECT(ferry_publisher_try_loan_bytes(p, 64, &second), FERRY_ERR_STATE); /* one at a time */
    CHECK(second == NULL);
    EXPECT(ferry_try_publish(p, buf, 1), FERRY_ERR_STATE);
    EXPECT(ferry_publisher_commit(p, 65), FERRY_ERR_TOO_LARGE);
    CHECK(last_error_mentions("loan of 64 bytes"));
    EXPECT(ferry_publisher_commit(p, MAX), FERRY_ERR_TOO_LARGE);
    if (ptr != NULL) {
        fill(ptr, 110, 64); /* still the caller's to write */
    }
    EXPECT(ferry_publisher_commit(p, 64), FERRY_OK);

    /* A buffer too small keeps the message and says its length. */
    size_t len = 0;
    EXPECT(ferry_subscriber_try_recv(b, buf, 10, &len), FERRY_ERR_BUFFER_TOO_SMALL);
    CHECK(len == 64);
    receive(a, b, 110, 64);
    drained(a, b);

    EXPECT(ferry_publisher_loan_bytes(NULL, 1, &ptr), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_publisher_try_loan_bytes(p, 1, NULL), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_publisher_try_loan_bytes((ferry_publisher *)(void *)a, 1, &ptr), FERRY_ERR_BAD_HANDLE);
}

/* The slowest subscriber holds the room back. On a new channel, three records of the
 * largest message (16 bytes of header each, 5024 bytes in all) take 15 KiB of the 16:
 * the largest no longer fits while a small one does, until both subscribers have
 * read. */
static void slowest_subscriber_gates(const char *name) {
    ferry_config cfg = byte_config();
    ferry_broadcast_config bcfg = seats();
    ferry_publisher *p = NULL;
    ferry_subscriber *a = NULL, *b = NULL;
    EXPECT(ferry_publisher_create(name, &cfg, &bcfg, &p), FERRY_OK);
    EXPECT(ferry_subscriber_open(name, 0, &a), FERRY_OK);
    EXPECT(ferry_subscriber_open(name, 0, &b), FERRY_OK);
    if (p == NULL || a == NULL || b == NULL) {
        ferry_subscriber_free(a);
        ferry_subscriber_free(b);
        ferry_publisher_free(p);
        return;
    }
    void *ptr = NULL;
    for (unsigned id = 120; id < 123; id++) {
        publish(p, id, MAX, (enum how)(id % HOW_COUNT));
    }
    EXPECT(ferry_publisher_try_loan_bytes(p, MAX, &ptr), FERRY_ERR_FULL);
    CHECK(ptr == NULL);
    EXPECT(ferry_publisher_loan_bytes_timeout(p, MAX, &ptr, MILLISECOND), FERRY_ERR_TIMEOUT);
    EXPECT(ferry_try_publish(p, NULL, 0), FERRY_OK); /* 16 bytes still fit */
    EXPECT(ferry_publisher_try_loan_bytes(p, 16, &ptr), FERRY_OK);
    EXPECT(ferry_publisher_loan_cancel(p), FERRY_OK);

    /* a reads everything; b, the slowest, still holds the room. */
    const void *msg = NULL;
    size_t len = 0;
    for (unsigned id = 120; id < 123; id++) {
        EXPECT(ferry_subscriber_try_acquire(a, &msg, &len), FERRY_OK);
        CHECK(len == MAX && msg != NULL && matches(msg, id, MAX));
        EXPECT(ferry_subscriber_release(a), FERRY_OK);
    }
    EXPECT(ferry_subscriber_try_acquire(a, &msg, &len), FERRY_OK);
    CHECK(len == 0);
    EXPECT(ferry_subscriber_release(a), FERRY_OK);
    EXPECT(ferry_publisher_try_loan_bytes(p, MAX, &ptr), FERRY_ERR_FULL);

    static unsigned char buf[MAX];
    for (unsigned id = 120; id < 123; id++) {
        EXPECT(ferry_subscriber_try_recv(b, buf, sizeof buf, &len), FERRY_OK);
        CHECK(len == MAX && matches(buf, id, MAX));
    }
    EXPECT(ferry_subscriber_try_recv(b, buf, sizeof buf, &len), FERRY_OK);
    CHECK(len == 0);
    drained(a, b);
    /* Drained: the largest fits again. */
    publish(p, 130, MAX, EXACT_LOAN);
    receive(a, b, 130, MAX);
    drained(a, b);
    ferry_publisher_free(p);
    ferry_subscriber_free(a);
    ferry_subscriber_free(b);
}

static void byte_channel(const char *name) {
    ferry_config cfg = byte_config();
    ferry_broadcast_config bcfg = seats();
    ferry_publisher *p = NULL;
    EXPECT(ferry_publisher_create(name, &cfg, &bcfg, &p), FERRY_OK);
    if (p == NULL) {
        return;
    }
    ferry_subscriber *a = NULL, *b = NULL;
    EXPECT(ferry_subscriber_open(name, 0, &a), FERRY_OK);
    EXPECT(ferry_subscriber_open(name, 0, &b), FERRY_OK);
    if (a == NULL || b == NULL) {
        ferry_subscriber_free(a);
        ferry_subscriber_free(b);
        ferry_publisher_free(p);
        return;
    }

    /* Sized in bytes: the largest message, and no slots. */
    size_t value = 0;
    EXPECT(ferry_publisher_slot_size(p, &value), FERRY_OK);
    CHECK(value == MAX);
    EXPECT(ferry_subscriber_slot_size(a, &value), FERRY_OK);
    CHECK(value == MAX);
    value = 99;
    EXPECT(ferry_publisher_capacity(p, &value), FERRY_OK);
    CHECK(value == 0);
    value = 99;
    EXPECT(ferry_subscriber_capacity(b, &value), FERRY_OK);
    CHECK(value == 0);
    value = 0;
    EXPECT(ferry_publisher_capacity_bytes(p, &value), FERRY_OK);
    CHECK(value == RING);
    value = 0;
    EXPECT(ferry_subscriber_capacity_bytes(a, &value), FERRY_OK);
    CHECK(value == RING);
    EXPECT(ferry_publisher_capacity_bytes(p, NULL), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_subscriber_capacity_bytes(b, NULL), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_publisher_capacity_bytes(NULL, &value), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_subscriber_capacity_bytes(NULL, &value), FERRY_ERR_NULL_ARGUMENT);

    every_size_every_way(p, a, b);
    cancelled_loans_are_not_delivered(p, a, b);
    misuse(p, a, b);

    /* A loan outstanding when the publisher closes is cancelled: the subscribers get
     * what was published before it, then the end of the stream. */
    publish(p, 140, 4096, COPY);
    void *ptr = NULL;
    EXPECT(ferry_publisher_try_loan_bytes(p, 64, &ptr), FERRY_OK);
    if (ptr != NULL) {
        fill(ptr, 141, 64);
    }
    EXPECT(ferry_publisher_close(p), FERRY_OK);
    EXPECT(ferry_publisher_commit(p, 64), FERRY_ERR_CLOSED);
    EXPECT(ferry_publisher_try_loan_bytes(p, 1, &ptr), FERRY_ERR_CLOSED);
    receive(a, b, 140, 4096);
    unsigned char byte = 0;
    size_t len = 0;
    EXPECT(ferry_subscriber_recv_timeout(a, &byte, 1, &len, SECOND), FERRY_ERR_DISCONNECTED);
    EXPECT(ferry_subscriber_recv_timeout(b, &byte, 1, &len, SECOND), FERRY_ERR_DISCONNECTED);
    ferry_publisher_free(p);
    ferry_subscriber_free(a);
    ferry_subscriber_free(b);
}

/* Overwrite mode and a history need slots: refused, in C's words. */
static void refused_shapes(const char *name) {
    ferry_config cfg = byte_config();
    ferry_broadcast_config bcfg = seats();
    bcfg.policy = FERRY_POLICY_OVERWRITE;
    ferry_publisher *p = (ferry_publisher *)(void *)&failures; /* garbage the call must clear */
    EXPECT(ferry_publisher_create(name, &cfg, &bcfg, &p), FERRY_ERR_INVALID_CONFIG);
    CHECK(p == NULL);
    CHECK(last_error_mentions("FERRY_POLICY_OVERWRITE") && last_error_mentions("capacity_bytes"));
    CHECK(!last_error_mentions("::")); /* no Rust names */

    bcfg = seats();
    bcfg.history = 2;
    EXPECT(ferry_publisher_create(name, &cfg, &bcfg, &p), FERRY_ERR_INVALID_CONFIG);
    CHECK(p == NULL && last_error_mentions("history 2"));

    /* Nothing was created: the name is free for a valid shape, then NULL for the
     * broadcast defaults works too. */
    ferry_subscriber *s = NULL;
    EXPECT(ferry_subscriber_open(name, 0, &s), FERRY_ERR_NOT_FOUND);
    EXPECT(ferry_publisher_create(name, &cfg, NULL, &p), FERRY_OK);
    ferry_publisher_free(p);

    /* A ring too small for two of the largest messages. */
    cfg.capacity_bytes = 8192;
    EXPECT(ferry_publisher_create(name, &cfg, NULL, &p), FERRY_ERR_INVALID_CONFIG);
    CHECK(p == NULL);
}

/* On a ring of slots the sized loan is a slot seen as its first n bytes. */
static void sized_loan_on_slots(const char *name) {
    ferry_config cfg;
    ferry_config_init(&cfg);
    cfg.slot_size = 64;
    cfg.capacity = 4;
    ferry_publisher *p = NULL;
    EXPECT(ferry_publisher_create(name, &cfg, NULL, &p), FERRY_OK);
    ferry_subscriber *s = NULL;
    EXPECT(ferry_subscriber_open(name, 0, &s), FERRY_OK);
    if (p == NULL || s == NULL) {
        ferry_subscriber_free(s);
        ferry_publisher_free(p);
        return;
    }
    void *ptr = NULL;
    EXPECT(ferry_publisher_try_loan_bytes(p, 65, &ptr), FERRY_ERR_TOO_LARGE);
    EXPECT(ferry_publisher_try_loan_bytes(p, 10, &ptr), FERRY_OK);
    CHECK(ptr != NULL && (uintptr_t)ptr % 16 == 0);
    EXPECT(ferry_publisher_commit(p, 11), FERRY_ERR_TOO_LARGE); /* the loan is 10, the slot 64 */
    if (ptr != NULL) {
        fill(ptr, 150, 10);
    }
    EXPECT(ferry_publisher_commit(p, 7), FERRY_OK);
    unsigned char buf[64];
    size_t len = 0;
    EXPECT(ferry_subscriber_try_recv(s, buf, sizeof buf, &len), FERRY_OK);
    CHECK(len == 7 && matches(buf, 150, 7));
    size_t value = 0;
    EXPECT(ferry_publisher_capacity(p, &value), FERRY_OK);
    CHECK(value == 4);
    value = 99;
    EXPECT(ferry_publisher_capacity_bytes(p, &value), FERRY_OK); /* a ring of slots: no bytes */
    CHECK(value == 0);
    value = 99;
    EXPECT(ferry_subscriber_capacity_bytes(s, &value), FERRY_OK);
    CHECK(value == 0);
    ferry_subscriber_free(s);
    ferry_publisher_free(p);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: broadcast_bytes PREFIX\n");
        return 2;
    }
    char bytes[200], gate[200], refused[200], slots[200];
    snprintf(bytes, sizeof bytes, "%s-bytes", argv[1]);
    snprintf(gate, sizeof gate, "%s-gate", argv[1]);
    snprintf(refused, sizeof refused, "%s-refused", argv[1]);
    snprintf(slots, sizeof slots, "%s-slots", argv[1]);
    byte_channel(bytes);
    slowest_subscriber_gates(gate);
    refused_shapes(refused);
    sized_loan_on_slots(slots);
    if (failures != 0) {
        fprintf(stderr, "%d broadcast byte-channel check(s) failed\n", failures);
        return 1;
    }
    printf("every broadcast byte-channel check passed\n");
    return 0;
}
