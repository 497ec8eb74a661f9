/*
 * The broadcast channel from C: publish (copy and loan/commit) to two subscribers,
 * receive (copy and acquire/validate/release), the block-mode gate (FERRY_ERR_FULL),
 * history for a late joiner, overwrite mode's exact FERRY_ERR_LAGGED count, the end of
 * the stream (FERRY_ERR_DISCONNECTED), and misuse (a release with nothing acquired, a
 * commit with no loan, a subscriber passed as a publisher), and the subscriber's fd
 * (readable after a publication, and after the last publisher leaves). tests/c_abi.rs builds it
 * with -std=c11 -Wall -Wextra -Werror -pedantic and runs it plain and under
 * AddressSanitizer + UndefinedBehaviorSanitizer.
 *
 *   broadcast PREFIX              channel names start with PREFIX
 */
#define _POSIX_C_SOURCE 200809L

#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "expect.h"
#include "ferry.h"


static ferry_publisher *create(const char *name, uint32_t policy, size_t history) {
    ferry_config cfg;
    ferry_config_init(&cfg);
    cfg.slot_size = 64;
    cfg.capacity = 8;
    ferry_broadcast_config bcfg;
    ferry_broadcast_config_init(&bcfg);
    bcfg.policy = policy;
    bcfg.history = history;
    bcfg.subscribers = 4;
    ferry_publisher *p = NULL;
    EXPECT(ferry_publisher_create(name, &cfg, &bcfg, &p), FERRY_OK);
    return p;
}

static void publish_u64(ferry_publisher *p, uint64_t value, ferry_status want) {
    EXPECT(ferry_try_publish(p, &value, sizeof value), want);
}

static uint64_t recv_u64(ferry_subscriber *s) {
    uint64_t value = UINT64_MAX;
    size_t len = 0;
    EXPECT(ferry_subscriber_recv_timeout(s, &value, sizeof value, &len, 1000000000u), FERRY_OK);
    CHECK(len == sizeof value);
    return value;
}

static void block_mode(const char *name) {
    ferry_publisher *p = create(name, FERRY_POLICY_BLOCK, 4);
    ferry_subscriber *a = NULL, *b = NULL;
    EXPECT(ferry_subscriber_open(name, 0, &a), FERRY_OK);
    EXPECT(ferry_subscriber_open(name, 0, &b), FERRY_OK);
    size_t count = 0;
    EXPECT(ferry_publisher_subscriber_count(p, &count), FERRY_OK);
    CHECK(count == 2);

    /* Zero-copy publish of 0, then copies of 1..7: the ring of 8 is full for both. */
    void *slot = NULL;
    size_t cap = 0;
    EXPECT(ferry_publisher_loan(p, &slot, &cap), FERRY_OK);
    CHECK(slot != NULL && cap == 64 && (uintptr_t)slot % 16 == 0);
    uint64_t zero = 0;
    memcpy(slot, &zero, sizeof zero);
    EXPECT(ferry_publisher_commit(p, sizeof zero), FERRY_OK);
    for (uint64_t i = 1; i < 8; i++) {
        publish_u64(p, i, FERRY_OK);
    }
    publish_u64(p, 8, FERRY_ERR_FULL);

    /* a reads in place; b copies. The slowest gates the publisher. */
    const void *msg = NULL;
    size_t len = 0;
    EXPECT(ferry_subscriber_acquire(a, &msg, &len), FERRY_OK);
    CHECK(len == 8 && memcmp(msg, &zero, 8) == 0);
    uint64_t missed = 99;
    EXPECT(ferry_subscriber_validate(a, &missed), FERRY_OK);
    CHECK(missed == 0);
    EXPECT(ferry_subscriber_try_recv(a, NULL, 0, &len), FERRY_ERR_STATE);
    EXPECT(ferry_subscriber_release(a), FERRY_OK);
    EXPECT(ferry_subscriber_release(a), FERRY_ERR_STATE);
    publish_u64(p, 8, FERRY_ERR_FULL);
    CHECK(recv_u64(b) == 0);
    publish_u64(p, 8, FERRY_OK);

    /* A late joiner asking for history 3 gets 6, 7, 8, then the live stream. */
    ferry_subscriber *late = NULL;
    EXPECT(ferry_subscriber_open(name, 3, &late), FERRY_OK);
    for (uint64_t want = 6; want <= 8; want++) {
        CHECK(recv_u64(late) == want);
    }
    for (uint64_t want = 1; want <= 8; want++) {
        CHECK(recv_u64(a) == want);
        CHECK(recv_u64(b) == want);
    }

    /* Misuse: a commit without a loan, a subscriber passed as a publisher. */
    EXPECT(ferry_publisher_commit(p, 1), FERRY_ERR_STATE);
    EXPECT(ferry_publisher_loan_cancel(p), FERRY_ERR_STATE);
    EXPECT(ferry_try_publish((ferry_publisher *)(void *)a, &zero, 8), FERRY_ERR_BAD_HANDLE);
    uint8_t big[65] = {0};
    EXPECT(ferry_try_publish(p, big, sizeof big), FERRY_ERR_TOO_LARGE);

    /* Once every publisher has gone, a drained subscriber is told so. */
    ferry_publisher_free(p);
    EXPECT(ferry_subscriber_recv_timeout(late, &zero, sizeof zero, &len, 1000000000u), FERRY_ERR_DISCONNECTED);
    ferry_subscriber_free(a);
    ferry_subscriber_free(b);
    ferry_subscriber_free(late);
    ferry_subscriber_free(NULL);
    ferry_publisher_free(NULL);
}

static void overwrite_mode(const char *name) {
    ferry_publisher *p = create(name, FERRY_POLICY_OVERWRITE, 0);
    ferry_subscriber *slow = NULL;
    EXPECT(ferry_subscriber_open(name, 0, &slow), FERRY_OK);
    for (uint64_t i = 0; i < 20; i++) {
        publish_u64(p, i, FERRY_OK); /* never FULL */
    }
    /* The ring of 8 holds 12..19: 12 were missed, exactly. */
    uint64_t value = 0;
    size_t len = 0;
    EXPECT(ferry_subscriber_try_recv(slow, &value, sizeof value, &len), FERRY_ERR_LAGGED);
    CHECK(len == 12);
    CHECK(recv_u64(slow) == 12);
    /* In place: acquire, read, validate, release. */
    const void *msg = NULL;
    EXPECT(ferry_subscriber_try_acquire(slow, &msg, &len), FERRY_OK);
    memcpy(&value, msg, sizeof value);
    uint64_t missed = 99;
    EXPECT(ferry_subscriber_validate(slow, &missed), FERRY_OK);
    CHECK(value == 13 && missed == 0);
    EXPECT(ferry_subscriber_release(slow), FERRY_OK);
    /* Overwritten while held: validation fails with the count, this one included. */
    EXPECT(ferry_subscriber_try_acquire(slow, &msg, &len), FERRY_OK);
    for (uint64_t i = 20; i < 30; i++) {
        publish_u64(p, i, FERRY_OK);
    }
    EXPECT(ferry_subscriber_validate(slow, &missed), FERRY_ERR_LAGGED);
    CHECK(missed == 22 - 14);
    EXPECT(ferry_subscriber_release(slow), FERRY_OK);
    CHECK(recv_u64(slow) == 22);
    ferry_subscriber_free(slow);
    ferry_publisher_free(p);
}

static int readable(int fd, int timeout_ms) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN, .revents = 0};
    return poll(&pfd, 1, timeout_ms) == 1 && (pfd.revents & (POLLIN | POLLHUP)) != 0;
}

static void pollable(const char *name) {
    ferry_publisher *p = create(name, FERRY_POLICY_OVERWRITE, 0);
    ferry_subscriber *s = NULL;
    EXPECT(ferry_subscriber_open(name, 0, &s), FERRY_OK);
    int fd = -1;
    EXPECT(ferry_subscriber_fd(s, &fd), FERRY_OK);
    CHECK(fd >= 0);
    uint64_t value = 0;
    size_t len = 0;
    /* An empty try_recv arms the fd; nothing is published yet, so it stays quiet. */
    EXPECT(ferry_subscriber_try_recv(s, &value, sizeof value, &len), FERRY_ERR_EMPTY);
    CHECK(!readable(fd, 0));
    publish_u64(p, 41, FERRY_OK);
    CHECK(readable(fd, 5000));
    EXPECT(ferry_subscriber_try_recv(s, &value, sizeof value, &len), FERRY_OK);
    CHECK(value == 41);
    EXPECT(ferry_subscriber_try_recv(s, &value, sizeof value, &len), FERRY_ERR_EMPTY);
    /* The last publisher leaving makes it readable; the next receive says so. */
    ferry_publisher_free(p);
    CHECK(readable(fd, 5000));
    EXPECT(ferry_subscriber_try_recv(s, &value, sizeof value, &len), FERRY_ERR_DISCONNECTED);
    int pfd = -1;
    EXPECT(ferry_publisher_fd(NULL, &pfd), FERRY_ERR_NULL_ARGUMENT);
    ferry_subscriber_free(s);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: broadcast PREFIX\n");
        return 2;
    }
    char block[200], overwrite[200], polled[200];
    snprintf(block, sizeof block, "%s-block", argv[1]);
    snprintf(overwrite, sizeof overwrite, "%s-overwrite", argv[1]);
    snprintf(polled, sizeof polled, "%s-polled", argv[1]);
    block_mode(block);
    overwrite_mode(overwrite);
    pollable(polled);
    if (failures) {
        fprintf(stderr, "%d check(s) failed\n", failures);
        return 1;
    }
    printf("every broadcast check passed\n");
    return 0;
}
