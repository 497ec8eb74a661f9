/*
 * Misuse of the C API gets a status, never a crash: NULL handles and buffers, oversized
 * messages, small buffers, commits without loans, double releases, use after close,
 * handles of the wrong type, every attach error reachable from C, opening with a timeout
 * (a late creator, none at all), and the per-thread last-error message. tests/c_abi.rs builds this with -std=c11 -Wall -Wextra -Werror
 * -pedantic and runs it plain and under AddressSanitizer + UndefinedBehaviorSanitizer.
 *
 *   misuse PREFIX                 run every check; channel names start with PREFIX
 *   misuse --codes CODE...        check each status code has its own description
 */
#define _POSIX_C_SOURCE 200809L

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "expect.h"
#include "ferry.h"

static char prefix[128];

static int last_error_mentions(const char *needle) {
    return strstr(ferry_last_error_message(), needle) != NULL;
}

static const char *name(const char *tag) {
    static char buf[4][200];
    static int next;
    char *out = buf[next++ % 4];
    snprintf(out, sizeof buf[0], "%s-%s", prefix, tag);
    return out;
}

static ferry_config config(size_t slot_size, size_t capacity) {
    ferry_config cfg;
    ferry_config_init(&cfg);
    cfg.slot_size = slot_size;
    cfg.capacity = capacity;
    return cfg;
}

static void version(void) {
    CHECK(strlen(ferry_version()) > 0);
    CHECK(ferry_layout_version() == FERRY_LAYOUT_VERSION);
}

static void strerror_names_codes(void) {
    CHECK(strcmp(ferry_strerror(FERRY_OK), "success") == 0);
    CHECK(strcmp(ferry_strerror(-9999), "unknown ferry status code") == 0);
    CHECK(strcmp(ferry_strerror(1), "unknown ferry status code") == 0);
    CHECK(strcmp(ferry_strerror(FERRY_ERR_TOO_LARGE), ferry_strerror(FERRY_ERR_BUFFER_TOO_SMALL)) != 0);
}

/* Every call with a NULL where it needs a pointer. */
static void null_arguments(void) {
    ferry_sender *tx = (ferry_sender *)(void *)&failures; /* garbage the call must clear */
    ferry_receiver *rx = (ferry_receiver *)(void *)&failures;
    void *slot = &failures;
    const void *in_place = &failures;
    size_t n = 99;
    const char *reason = NULL;
    char buf[8];

    EXPECT(ferry_config_init(NULL), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_sender_create(NULL, NULL, &tx), FERRY_ERR_NULL_ARGUMENT);
    CHECK(tx == NULL);
    CHECK(last_error_mentions("endpoint is NULL"));
    EXPECT(ferry_sender_create(name("null"), NULL, NULL), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_sender_open(NULL, &tx), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_sender_open(name("null"), NULL), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_sender_open_expecting(name("null"), NULL, &tx), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_receiver_create(NULL, NULL, &rx), FERRY_ERR_NULL_ARGUMENT);
    CHECK(rx == NULL);
    EXPECT(ferry_receiver_create(name("null"), NULL, NULL), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_receiver_open(NULL, &rx), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_receiver_open_expecting(name("null"), NULL, &rx), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_in_memory(NULL, NULL, &rx), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_in_memory(NULL, &tx, NULL), FERRY_ERR_NULL_ARGUMENT);
    CHECK(tx == NULL);
    EXPECT(ferry_unlink(NULL), FERRY_ERR_NULL_ARGUMENT);

    /* A NULL handle, to every call that takes one. */
    EXPECT(ferry_sender_clone(NULL, &tx), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_sender_close(NULL), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_sender_slot_size(NULL, &n), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_sender_capacity(NULL, &n), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_sender_capacity_bytes(NULL, &n), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_sender_fallback_reason(NULL, &reason), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_sender_set_wait_policy(NULL, 0, 0), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_send(NULL, "x", 1), FERRY_ERR_NULL_ARGUMENT);
    CHECK(last_error_mentions("sender handle is NULL"));
    EXPECT(ferry_try_send(NULL, "x", 1), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_send_timeout(NULL, "x", 1, 1000), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_loan(NULL, &slot, &n), FERRY_ERR_NULL_ARGUMENT);
    CHECK(slot == NULL && n == 0);
    EXPECT(ferry_try_loan(NULL, &slot, &n), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_loan_timeout(NULL, &slot, &n, 1000), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_commit(NULL, 0), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_loan_cancel(NULL), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_receiver_clone(NULL, &rx), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_receiver_close(NULL), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_receiver_slot_size(NULL, &n), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_receiver_capacity(NULL, &n), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_receiver_capacity_bytes(NULL, &n), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_receiver_fallback_reason(NULL, &reason), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_receiver_set_wait_policy(NULL, 0, 0), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_recv(NULL, buf, sizeof buf, &n), FERRY_ERR_NULL_ARGUMENT);
    CHECK(last_error_mentions("receiver handle is NULL"));
    EXPECT(ferry_try_recv(NULL, buf, sizeof buf, &n), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_recv_timeout(NULL, buf, sizeof buf, &n, 1000), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_recv_acquire(NULL, &in_place, &n), FERRY_ERR_NULL_ARGUMENT);
    CHECK(in_place == NULL && n == 0);
    EXPECT(ferry_try_recv_acquire(NULL, &in_place, &n), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_recv_acquire_timeout(NULL, &in_place, &n, 1000), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_recv_release(NULL), FERRY_ERR_NULL_ARGUMENT);
    ferry_sender_free(NULL);
    ferry_receiver_free(NULL);
}

/* Buffers, sizes, full and empty, on an in-process channel of 4 slots of 64 bytes. */
static void messages(void) {
    ferry_config cfg = config(64, 4);
    ferry_sender *tx = NULL;
    ferry_receiver *rx = NULL;
    EXPECT(ferry_in_memory(&cfg, &tx, &rx), FERRY_OK);
    size_t n = 0;
    char buf[128];
    const void *in_place = NULL;
    void *slot = NULL;

    EXPECT(ferry_sender_slot_size(tx, &n), FERRY_OK);
    CHECK(n == 64);
    EXPECT(ferry_receiver_capacity(rx, &n), FERRY_OK);
    CHECK(n == 4);
    n = 99;
    EXPECT(ferry_sender_capacity_bytes(tx, &n), FERRY_OK); /* a ring of slots: no bytes */
    CHECK(n == 0);
    n = 99;
    EXPECT(ferry_receiver_capacity_bytes(rx, &n), FERRY_OK);
    CHECK(n == 0);
    EXPECT(ferry_sender_slot_size(tx, NULL), FERRY_ERR_NULL_ARGUMENT);
    const char *reason = "not set";
    EXPECT(ferry_sender_fallback_reason(tx, &reason), FERRY_OK);
    CHECK(reason == NULL);

    /* NULL buffers: refused with a length, an empty message without. */
    EXPECT(ferry_send(tx, NULL, 5), FERRY_ERR_NULL_ARGUMENT);
    CHECK(last_error_mentions("buffer is NULL"));
    EXPECT(ferry_send(tx, NULL, 0), FERRY_OK);
    EXPECT(ferry_recv(rx, buf, sizeof buf, NULL), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_recv(rx, NULL, 5, &n), FERRY_ERR_NULL_ARGUMENT);
    n = 7;
    EXPECT(ferry_recv(rx, NULL, 0, &n), FERRY_OK);
    CHECK(n == 0);

    /* Too large: refused, nothing sent. */
    char big[65];
    memset(big, 'x', sizeof big);
    EXPECT(ferry_send(tx, big, sizeof big), FERRY_ERR_TOO_LARGE);
    CHECK(last_error_mentions("65 bytes") && last_error_mentions("64 bytes"));
    EXPECT(ferry_try_send(tx, big, sizeof big), FERRY_ERR_TOO_LARGE);
    EXPECT(ferry_send_timeout(tx, big, sizeof big, 1000), FERRY_ERR_TOO_LARGE);
    EXPECT(ferry_send(tx, big, 64), FERRY_OK);

    /* Buffer too small: the message stays, and its length is reported. */
    n = 0;
    EXPECT(ferry_recv(rx, buf, 10, &n), FERRY_ERR_BUFFER_TOO_SMALL);
    CHECK(n == 64);
    CHECK(last_error_mentions("64 bytes"));
    EXPECT(ferry_try_recv(rx, buf, 10, &n), FERRY_ERR_BUFFER_TOO_SMALL);
    EXPECT(ferry_recv(rx, buf, sizeof buf, &n), FERRY_OK);
    CHECK(n == 64 && memcmp(buf, big, 64) == 0);

    /* Empty. */
    EXPECT(ferry_try_recv(rx, buf, sizeof buf, &n), FERRY_ERR_EMPTY);
    CHECK(strcmp(ferry_last_error_message(), "the channel is empty") == 0);
    EXPECT(ferry_recv_timeout(rx, buf, sizeof buf, &n, 1000 * 1000), FERRY_ERR_TIMEOUT);
    EXPECT(ferry_try_recv_acquire(rx, &in_place, &n), FERRY_ERR_EMPTY);
    EXPECT(ferry_recv_acquire_timeout(rx, &in_place, &n, 1000 * 1000), FERRY_ERR_TIMEOUT);
    CHECK(in_place == NULL && n == 0);

    /* Full. */
    for (int i = 0; i < 4; i++) {
        EXPECT(ferry_try_send(tx, &i, sizeof i), FERRY_OK);
    }
    EXPECT(ferry_try_send(tx, "x", 1), FERRY_ERR_FULL);
    EXPECT(ferry_send_timeout(tx, "x", 1, 1000 * 1000), FERRY_ERR_TIMEOUT);
    EXPECT(ferry_try_loan(tx, &slot, &n), FERRY_ERR_FULL);
    EXPECT(ferry_loan_timeout(tx, &slot, &n, 1000 * 1000), FERRY_ERR_TIMEOUT);
    CHECK(slot == NULL && n == 0);
    for (int i = 0; i < 4; i++) {
        int got = -1;
        EXPECT(ferry_recv(rx, &got, sizeof got, &n), FERRY_OK);
        CHECK(n == sizeof got && got == i);
    }

    ferry_sender_free(tx);
    ferry_receiver_free(rx);
}

/* Loans and acquired messages used out of order. */
static void zero_copy_state(void) {
    ferry_config cfg = config(64, 4);
    ferry_sender *tx = NULL;
    ferry_receiver *rx = NULL;
    EXPECT(ferry_in_memory(&cfg, &tx, &rx), FERRY_OK);
    void *slot = NULL;
    void *other = NULL;
    size_t capacity = 0;
    size_t n = 0;
    const void *in_place = NULL;
    char buf[64];

    EXPECT(ferry_commit(tx, 1), FERRY_ERR_STATE);
    CHECK(last_error_mentions("no loan is outstanding"));
    EXPECT(ferry_loan_cancel(tx), FERRY_ERR_STATE);
    EXPECT(ferry_recv_release(rx), FERRY_ERR_STATE);
    CHECK(last_error_mentions("no message is acquired"));

    EXPECT(ferry_loan(tx, &slot, &capacity), FERRY_OK);
    CHECK(slot != NULL && capacity == 64 && (uintptr_t)slot % 16 == 0);
    EXPECT(ferry_loan(tx, &other, &n), FERRY_ERR_STATE); /* one loan at a time */
    CHECK(other == NULL);
    EXPECT(ferry_send(tx, "x", 1), FERRY_ERR_STATE);
    CHECK(last_error_mentions("loan is outstanding"));
    EXPECT(ferry_sender_set_wait_policy(tx, 0, 0), FERRY_ERR_STATE);
    EXPECT(ferry_sender_clone(tx, &(ferry_sender *){NULL}), FERRY_ERR_STATE);
    EXPECT(ferry_sender_slot_size(tx, &n), FERRY_OK); /* reading the shape is fine */
    memcpy(slot, "hello", 5);
    EXPECT(ferry_commit(tx, 65), FERRY_ERR_TOO_LARGE); /* the loan stays outstanding */
    EXPECT(ferry_commit(tx, 5), FERRY_OK);
    EXPECT(ferry_commit(tx, 5), FERRY_ERR_STATE); /* double commit */
    EXPECT(ferry_loan_cancel(tx), FERRY_ERR_STATE);

    /* A cancelled loan sends nothing. */
    EXPECT(ferry_try_loan(tx, &slot, &capacity), FERRY_OK);
    memcpy(slot, "nope", 4);
    EXPECT(ferry_loan_cancel(tx), FERRY_OK);
    EXPECT(ferry_loan_cancel(tx), FERRY_ERR_STATE);

    EXPECT(ferry_recv_acquire(rx, &in_place, &n), FERRY_OK);
    CHECK(n == 5 && memcmp(in_place, "hello", 5) == 0);
    EXPECT(ferry_try_recv_acquire(rx, &in_place, &n), FERRY_ERR_STATE); /* one at a time */
    EXPECT(ferry_recv(rx, buf, sizeof buf, &n), FERRY_ERR_STATE);
    CHECK(last_error_mentions("release it"));
    EXPECT(ferry_receiver_set_wait_policy(rx, 0, 0), FERRY_ERR_STATE);
    EXPECT(ferry_recv_release(rx), FERRY_OK);
    EXPECT(ferry_recv_release(rx), FERRY_ERR_STATE); /* double release */
    EXPECT(ferry_try_recv(rx, buf, sizeof buf, &n), FERRY_ERR_EMPTY); /* the cancelled loan */

    /* Freed with a loan and an acquired message outstanding: both are given back. */
    EXPECT(ferry_send(tx, "last", 4), FERRY_OK);
    EXPECT(ferry_loan(tx, &slot, &capacity), FERRY_OK);
    EXPECT(ferry_recv_acquire(rx, &in_place, &n), FERRY_OK);
    ferry_sender_free(tx);
    ferry_receiver_free(rx);
}

/* A closed handle answers FERRY_ERR_CLOSED until it is freed. */
static void use_after_close(void) {
    ferry_config cfg = config(64, 4);
    ferry_sender *tx = NULL;
    ferry_receiver *rx = NULL;
    EXPECT(ferry_in_memory(&cfg, &tx, &rx), FERRY_OK);
    size_t n = 0;
    char buf[64];
    void *slot = NULL;

    EXPECT(ferry_send(tx, "before", 6), FERRY_OK);
    EXPECT(ferry_loan(tx, &slot, &n), FERRY_OK);
    EXPECT(ferry_sender_close(tx), FERRY_OK); /* cancels the loan */
    EXPECT(ferry_send(tx, "after", 5), FERRY_ERR_CLOSED);
    CHECK(last_error_mentions("closed"));
    EXPECT(ferry_commit(tx, 1), FERRY_ERR_CLOSED);
    EXPECT(ferry_loan(tx, &slot, &n), FERRY_ERR_CLOSED);
    EXPECT(ferry_sender_slot_size(tx, &n), FERRY_ERR_CLOSED);
    EXPECT(ferry_sender_capacity_bytes(tx, &n), FERRY_ERR_CLOSED);
    EXPECT(ferry_sender_close(tx), FERRY_ERR_CLOSED);

    /* The receiver reads what was sent, then learns the sender has gone. */
    EXPECT(ferry_recv(rx, buf, sizeof buf, &n), FERRY_OK);
    CHECK(n == 6 && memcmp(buf, "before", 6) == 0);
    /* (A try call on shared memory reports an empty channel as FERRY_ERR_EMPTY even with
     * the sender gone; the blocking and timeout calls say FERRY_ERR_DISCONNECTED.) */
    EXPECT(ferry_recv(rx, buf, sizeof buf, &n), FERRY_ERR_DISCONNECTED);
    EXPECT(ferry_recv_timeout(rx, buf, sizeof buf, &n, 1000 * 1000 * 1000), FERRY_ERR_DISCONNECTED);
    EXPECT(ferry_receiver_close(rx), FERRY_OK);
    EXPECT(ferry_recv(rx, buf, sizeof buf, &n), FERRY_ERR_CLOSED);
    EXPECT(ferry_recv_release(rx), FERRY_ERR_CLOSED);
    EXPECT(ferry_receiver_close(rx), FERRY_ERR_CLOSED);
    ferry_sender_free(tx);
    ferry_receiver_free(rx);
}

/* A receiver passed where a sender belongs, and the reverse. */
static void wrong_handle_type(void) {
    ferry_sender *tx = NULL;
    ferry_receiver *rx = NULL;
    EXPECT(ferry_in_memory(NULL, &tx, &rx), FERRY_OK);
    ferry_sender *not_a_sender = (ferry_sender *)(void *)rx;
    ferry_receiver *not_a_receiver = (ferry_receiver *)(void *)tx;
    size_t n = 0;
    char buf[8];

    EXPECT(ferry_send(not_a_sender, "x", 1), FERRY_ERR_BAD_HANDLE);
    CHECK(last_error_mentions("ferry_sender"));
    EXPECT(ferry_commit(not_a_sender, 0), FERRY_ERR_BAD_HANDLE);
    EXPECT(ferry_recv(not_a_receiver, buf, sizeof buf, &n), FERRY_ERR_BAD_HANDLE);
    EXPECT(ferry_receiver_slot_size(not_a_receiver, &n), FERRY_ERR_BAD_HANDLE);
    EXPECT(ferry_receiver_capacity_bytes(not_a_receiver, &n), FERRY_ERR_BAD_HANDLE);
    ferry_sender_free(not_a_sender); /* left alone */
    CHECK(last_error_mentions("ferry_sender"));
    ferry_receiver_free(not_a_receiver);

    /* Both still work. */
    EXPECT(ferry_send(tx, "ok", 2), FERRY_OK);
    EXPECT(ferry_recv(rx, buf, sizeof buf, &n), FERRY_OK);
    CHECK(n == 2 && memcmp(buf, "ok", 2) == 0);
    ferry_sender_free(tx);
    ferry_receiver_free(rx);
}

/* Configs that are not. */
static void bad_configs(void) {
    ferry_sender *tx = NULL;
    ferry_receiver *rx = NULL;
    ferry_config cfg = config(64, 0);
    EXPECT(ferry_in_memory(&cfg, &tx, &rx), FERRY_ERR_INVALID_CONFIG);
    CHECK(tx == NULL && rx == NULL);
    /* Any capacity, not only a power of two: exactly 3 fit. */
    cfg = config(64, 3);
    EXPECT(ferry_in_memory(&cfg, &tx, &rx), FERRY_OK);
    size_t capacity = 0;
    EXPECT(ferry_sender_capacity(tx, &capacity), FERRY_OK);
    CHECK(capacity == 3);
    for (int i = 0; i < 3; i++) EXPECT(ferry_try_send(tx, "ok", 2), FERRY_OK);
    EXPECT(ferry_try_send(tx, "ok", 2), FERRY_ERR_FULL);
    ferry_sender_free(tx);
    ferry_receiver_free(rx);
    tx = NULL;
    rx = NULL;
    cfg = config(0, 4);
    EXPECT(ferry_receiver_create(name("cfg"), &cfg, &rx), FERRY_ERR_INVALID_CONFIG);
    cfg = config(64, 4);
    cfg.kind = 9;
    EXPECT(ferry_in_memory(&cfg, &tx, &rx), FERRY_ERR_INVALID_CONFIG);
    CHECK(last_error_mentions("FERRY_KIND_SPSC"));
    cfg = config(64, 4);
    cfg.signaling = 0;
    EXPECT(ferry_in_memory(&cfg, &tx, &rx), FERRY_ERR_INVALID_CONFIG);
    cfg = config(64, 4);
    cfg.size = 0; /* not initialised with ferry_config_init */
    EXPECT(ferry_in_memory(&cfg, &tx, &rx), FERRY_ERR_INVALID_ARGUMENT);
    CHECK(last_error_mentions("ferry_config_init"));
    cfg.size = (size_t)-1;
    EXPECT(ferry_sender_create(name("cfg"), &cfg, &tx), FERRY_ERR_INVALID_ARGUMENT);
}

/* Every attach error a C program can provoke. */
static void attach_errors(void) {
    ferry_config cfg = config(64, 4);
    ferry_sender *tx = NULL;
    ferry_sender *tx2 = NULL;
    ferry_receiver *rx = NULL;
    ferry_receiver *rx2 = NULL;

    EXPECT(ferry_sender_open(name("absent"), &tx), FERRY_ERR_NOT_FOUND);
    CHECK(last_error_mentions("no channel named"));
    EXPECT(ferry_receiver_open(name("absent"), &rx), FERRY_ERR_NOT_FOUND);
    EXPECT(ferry_sender_open("bogus:x", &tx), FERRY_ERR_INVALID_ENDPOINT);
    EXPECT(ferry_sender_open("\xff\xfe", &tx), FERRY_ERR_INVALID_ENDPOINT);
    CHECK(last_error_mentions("not UTF-8"));
    EXPECT(ferry_sender_open("shm:a/b", &tx), FERRY_ERR_INVALID_NAME);
    EXPECT(ferry_receiver_create(".hidden", &cfg, &rx), FERRY_ERR_INVALID_NAME);
    EXPECT(ferry_sender_create("unix:/tmp/ferry-misuse.sock", &cfg, &tx), FERRY_ERR_UNSUPPORTED);
    EXPECT(ferry_receiver_open("unix:/tmp/ferry-misuse.sock", &rx), FERRY_ERR_UNSUPPORTED);
    EXPECT(ferry_unlink(name("absent")), FERRY_ERR_NOT_FOUND);

    /* SPSC: one sender and one receiver. */
    EXPECT(ferry_receiver_create(name("spsc"), &cfg, &rx), FERRY_OK);
    EXPECT(ferry_receiver_create(name("spsc"), &cfg, &rx2), FERRY_ERR_ALREADY_EXISTS);
    CHECK(rx2 == NULL);
    EXPECT(ferry_receiver_open(name("spsc"), &rx2), FERRY_ERR_ROLE_TAKEN);
    EXPECT(ferry_sender_open(name("spsc"), &tx), FERRY_OK);
    EXPECT(ferry_sender_open(name("spsc"), &tx2), FERRY_ERR_ROLE_TAKEN);
    CHECK(last_error_mentions("already has a sender"));
    EXPECT(ferry_sender_clone(tx, &tx2), FERRY_ERR_ROLE_TAKEN);
    ferry_config other = config(128, 4);
    EXPECT(ferry_sender_open_expecting(name("spsc"), &other, &tx2), FERRY_ERR_GEOMETRY_MISMATCH);
    EXPECT(ferry_receiver_open_expecting(name("spsc"), &other, &rx2), FERRY_ERR_GEOMETRY_MISMATCH);

    /* The peer has gone: a receive on an empty channel, a send that must wait. */
    char buf[64];
    size_t n = 0;
    ferry_sender_free(tx);
    EXPECT(ferry_recv(rx, buf, sizeof buf, &n), FERRY_ERR_DISCONNECTED);
    EXPECT(ferry_sender_open_expecting(name("spsc"), &cfg, &tx), FERRY_OK); /* the role is free again */
    ferry_receiver_free(rx); /* also removes the name */
    /* Room or not, nothing is accepted for a receiver that has gone. */
    EXPECT(ferry_try_send(tx, "x", 1), FERRY_ERR_DISCONNECTED);
    EXPECT(ferry_send(tx, "x", 1), FERRY_ERR_DISCONNECTED);
    CHECK(strcmp(ferry_last_error_message(), "the receiver has gone") == 0);
    EXPECT(ferry_sender_clone(tx, &tx2), FERRY_ERR_DISCONNECTED);
    CHECK(tx2 == NULL);
    ferry_sender_free(tx);
    EXPECT(ferry_sender_open(name("spsc"), &tx), FERRY_ERR_NOT_FOUND);

    /* MPMC: any number of each. */
    cfg.kind = FERRY_KIND_MPMC;
    cfg.signaling = FERRY_SIGNALING_SEMAPHORE;
    EXPECT(ferry_sender_create(name("mpmc"), &cfg, &tx), FERRY_OK);
    EXPECT(ferry_sender_clone(tx, &tx2), FERRY_OK);
    EXPECT(ferry_receiver_open_expecting(name("mpmc"), &cfg, &rx), FERRY_OK);
    EXPECT(ferry_receiver_clone(rx, &rx2), FERRY_OK);
    EXPECT(ferry_send(tx, "one", 3), FERRY_OK);
    EXPECT(ferry_send(tx2, "two", 3), FERRY_OK);
    EXPECT(ferry_recv(rx2, buf, sizeof buf, &n), FERRY_OK);
    CHECK(n == 3 && memcmp(buf, "one", 3) == 0);
    EXPECT(ferry_recv(rx, buf, sizeof buf, &n), FERRY_OK);
    CHECK(n == 3 && memcmp(buf, "two", 3) == 0);
    ferry_sender_free(tx2);
    ferry_sender_free(tx);
    ferry_receiver_free(rx2);
    ferry_receiver_free(rx);

    /* A shared-memory object that is not a ferry segment. */
    char path[300];
    snprintf(path, sizeof path, "/dev/shm/ferry.%s", name("forged"));
    int fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0600);
    CHECK(fd >= 0);
    if (fd >= 0) {
        unsigned char junk[4096];
        memset(junk, 0xab, sizeof junk);
        CHECK(write(fd, junk, sizeof junk) == (ssize_t)sizeof junk);
        close(fd);
        EXPECT(ferry_sender_open(name("forged"), &tx), FERRY_ERR_BAD_MAGIC);
        CHECK(last_error_mentions("not a ferry segment"));
        EXPECT(ferry_unlink(name("forged")), FERRY_OK);
        EXPECT(ferry_unlink(name("forged")), FERRY_ERR_NOT_FOUND);
    }
}

/* Each thread has its own last error. */
static void *fail_in_thread(void *arg) {
    (void)arg;
    ferry_sender *tx = NULL;
    ferry_status status = ferry_sender_open(name("thread-absent"), &tx);
    int ok = status == FERRY_ERR_NOT_FOUND && last_error_mentions("thread-absent");
    return ok ? arg : NULL;
}

static void last_error_is_per_thread(void) {
    ferry_sender *tx = NULL;
    ferry_receiver *rx = NULL;
    EXPECT(ferry_in_memory(NULL, &tx, &rx), FERRY_OK);
    static char big[2048];
    EXPECT(ferry_send(tx, big, sizeof big), FERRY_ERR_TOO_LARGE);
    char mine[256];
    snprintf(mine, sizeof mine, "%s", ferry_last_error_message());
    CHECK(strstr(mine, "2048 bytes") != NULL);

    pthread_t thread;
    void *result = NULL;
    int token = 0;
    CHECK(pthread_create(&thread, NULL, fail_in_thread, &token) == 0);
    CHECK(pthread_join(thread, &result) == 0);
    CHECK(result == &token);
    CHECK(strcmp(ferry_last_error_message(), mine) == 0);

    /* Successful calls leave it alone. */
    EXPECT(ferry_send(tx, "ok", 2), FERRY_OK);
    CHECK(strcmp(ferry_last_error_message(), mine) == 0);
    ferry_sender_free(tx);
    ferry_receiver_free(rx);
}

/* Creates the receiver of the endpoint `arg` 200 ms late and receives one message. */
static void *create_late(void *arg) {
    const struct timespec late = {0, 200 * 1000 * 1000};
    nanosleep(&late, NULL);
    ferry_config cfg = config(64, 4);
    ferry_receiver *rx = NULL;
    if (ferry_receiver_create((const char *)arg, &cfg, &rx) != FERRY_OK) {
        return NULL;
    }
    char buf[64];
    size_t n = 0;
    ferry_status status = ferry_recv_timeout(rx, buf, sizeof buf, &n, 10ull * 1000 * 1000 * 1000);
    ferry_receiver_free(rx);
    return status == FERRY_OK && n == 5 && memcmp(buf, "early", 5) == 0 ? arg : NULL;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* ferry_*_open_timeout: waits for a late creator, gives up naming the endpoint, and
 * returns an error that waiting cannot cure at once. */
static void open_timeout(void) {
    const uint64_t ms = 1000 * 1000;
    ferry_sender *tx = NULL;
    ferry_receiver *rx = NULL;
    EXPECT(ferry_sender_open_timeout(NULL, 10 * ms, &tx), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_sender_open_timeout(name("late"), 10 * ms, NULL), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_receiver_open_timeout(NULL, 10 * ms, &rx), FERRY_ERR_NULL_ARGUMENT);

    double start = now_s();
    EXPECT(ferry_sender_open_timeout(name("never"), 150 * ms, &tx), FERRY_ERR_TIMEOUT);
    double took = now_s() - start;
    CHECK(tx == NULL);
    CHECK(took >= 0.15 && took < 5.0);
    CHECK(last_error_mentions(name("never")) && last_error_mentions("did not appear"));
    EXPECT(ferry_receiver_open_timeout(name("never"), 50 * ms, &rx), FERRY_ERR_TIMEOUT);
    CHECK(rx == NULL);

    start = now_s();
    EXPECT(ferry_sender_open_timeout("bogus:x", 10000 * ms, &tx), FERRY_ERR_INVALID_ENDPOINT);
    CHECK(now_s() - start < 5.0);

    /* Started first, the sender waits for the receiver that comes 200 ms later. */
    pthread_t creator;
    const char *late = name("late");
    if (pthread_create(&creator, NULL, create_late, (void *)late) != 0) {
        CHECK(!"pthread_create");
        return;
    }
    start = now_s();
    EXPECT(ferry_sender_open_timeout(late, 10000 * ms, &tx), FERRY_OK);
    CHECK(now_s() - start >= 0.1);
    EXPECT(ferry_send(tx, "early", 5), FERRY_OK);
    void *received = NULL;
    pthread_join(creator, &received);
    CHECK(received == late);
    ferry_sender_free(tx);
}

static int check_codes(int argc, char **argv) {
    for (int i = 2; i < argc; i++) {
        int code = atoi(argv[i]);
        const char *text = ferry_strerror(code);
        if (text == NULL || strcmp(text, "unknown ferry status code") == 0) {
            fprintf(stderr, "misuse: status %d has no description\n", code);
            failures++;
        }
        for (int j = 2; j < i; j++) {
            if (strcmp(text, ferry_strerror(atoi(argv[j]))) == 0) {
                fprintf(stderr, "misuse: statuses %d and %s share a description\n", code, argv[j]);
                failures++;
            }
        }
    }
    printf("misuse: %d status codes checked, %d failure(s)\n", argc - 2, failures);
    return failures == 0 ? 0 : 1;
}

int main(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "--codes") == 0) {
        return check_codes(argc, argv);
    }
    if (argc != 2) {
        fprintf(stderr, "usage: %s PREFIX | --codes CODE...\n", argv[0]);
        return 2;
    }
    snprintf(prefix, sizeof prefix, "%s", argv[1]);
    version();
    strerror_names_codes();
    null_arguments();
    messages();
    zero_copy_state();
    use_after_close();
    wrong_handle_type();
    bad_configs();
    attach_errors();
    open_timeout();
    last_error_is_per_thread();
    printf("misuse: %s\n", failures == 0 ? "every check passed" : "FAILED");
    return failures == 0 ? 0 : 1;
}
