/*
 * A channel sized in bytes from C: a ring of 4 KiB for messages of 0 to 1 KiB, each
 * taking only the room it needs. The ring's bytes as both ends tell them
 * (ferry_*_capacity_bytes), loans of an exact size (ferry_loan_bytes) committed
 * whole or shorter, a copy send, in-place and copying receives with their lengths,
 * the ring full for a large loan while small ones still fit, a size above the largest
 * message, a commit longer than the loan; the same channel MPMC, with cloned senders
 * and receivers; and a broadcast kind, which ferry_in_memory refuses (the broadcast
 * channel sized in bytes is broadcast_bytes.c's). tests/c_abi.rs
 * builds it with -std=c11 -Wall -Wextra -Werror -pedantic and runs it plain and under
 * AddressSanitizer + UndefinedBehaviorSanitizer.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "expect.h"
#include "ferry.h"


/* Byte i of message `id`. */
static unsigned char pattern(unsigned id, size_t i) {
    return (unsigned char)(id * 31u + (unsigned)i);
}

static void fill(unsigned char *p, unsigned id, size_t n) {
    for (size_t i = 0; i < n; i++) {
        p[i] = pattern(id, i);
    }
}

static int matches(const unsigned char *p, unsigned id, size_t n) {
    for (size_t i = 0; i < n; i++) {
        if (p[i] != pattern(id, i)) {
            return 0;
        }
    }
    return 1;
}

/* Takes the next message in place and checks it is message `id`, `n` bytes long. */
static void expect_message(ferry_receiver *rx, unsigned id, size_t n) {
    const void *ptr = NULL;
    size_t len = SIZE_MAX;
    EXPECT(ferry_try_recv_acquire(rx, &ptr, &len), FERRY_OK);
    CHECK(len == n);
    CHECK(ptr != NULL && matches(ptr, id, len < n ? len : n));
    EXPECT(ferry_recv_release(rx), FERRY_OK);
}

int main(void) {
    ferry_config cfg;
    EXPECT(ferry_config_init(&cfg), FERRY_OK);
    CHECK(cfg.capacity_bytes == 0);
    cfg.slot_size = 1024; /* the largest message */
    cfg.capacity_bytes = 4096;
    ferry_sender *tx = NULL;
    ferry_receiver *rx = NULL;
    EXPECT(ferry_in_memory(&cfg, &tx, &rx), FERRY_OK);
    size_t max = 0;
    EXPECT(ferry_sender_slot_size(tx, &max), FERRY_OK);
    CHECK(max == 1024);

    /* Sized in bytes: both ends tell the ring's bytes, and no slots. */
    size_t value = 0;
    EXPECT(ferry_sender_capacity_bytes(tx, &value), FERRY_OK);
    CHECK(value == 4096);
    value = 0;
    EXPECT(ferry_receiver_capacity_bytes(rx, &value), FERRY_OK);
    CHECK(value == 4096);
    value = 99;
    EXPECT(ferry_sender_capacity(tx, &value), FERRY_OK);
    CHECK(value == 0);
    value = 99;
    EXPECT(ferry_receiver_capacity(rx, &value), FERRY_OK);
    CHECK(value == 0);
    EXPECT(ferry_sender_capacity_bytes(tx, NULL), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_receiver_capacity_bytes(rx, NULL), FERRY_ERR_NULL_ARGUMENT);

    /* Exact loans of 0, 1, 100 and 1024 bytes, and one of 1024 committed at 10. */
    static const size_t sizes[] = {0, 1, 100, 1024};
    for (unsigned id = 0; id < 4; id++) {
        void *p = NULL;
        EXPECT(ferry_loan_bytes(tx, sizes[id], &p), FERRY_OK);
        CHECK(p != NULL && (uintptr_t)p % 16 == 0);
        fill(p, id, sizes[id]);
        EXPECT(ferry_commit(tx, sizes[id]), FERRY_OK);
    }
    void *p = NULL;
    EXPECT(ferry_loan_bytes_timeout(tx, 1024, &p, 1000000000u), FERRY_OK);
    fill(p, 4, 10);
    EXPECT(ferry_commit(tx, 1025), FERRY_ERR_TOO_LARGE); /* longer than the loan: it stays */
    EXPECT(ferry_commit(tx, 10), FERRY_OK);
    unsigned char buf[1024];
    fill(buf, 5, 300);
    EXPECT(ferry_try_send(tx, buf, 300), FERRY_OK);

    for (unsigned id = 0; id < 4; id++) {
        expect_message(rx, id, sizes[id]);
    }
    expect_message(rx, 4, 10);
    size_t len = 0;
    memset(buf, 0, sizeof buf);
    EXPECT(ferry_try_recv(rx, buf, sizeof buf, &len), FERRY_OK);
    CHECK(len == 300 && matches(buf, 5, 300));
    EXPECT(ferry_try_recv(rx, buf, sizeof buf, &len), FERRY_ERR_EMPTY);

    /* Too large is refused before the ring; a loan that finds no contiguous room is
     * FERRY_ERR_FULL while a small one still fits. */
    EXPECT(ferry_try_loan_bytes(tx, 1025, &p), FERRY_ERR_TOO_LARGE);
    CHECK(p == NULL);
    for (unsigned id = 0; id < 3; id++) {
        EXPECT(ferry_try_loan_bytes(tx, 1000, &p), FERRY_OK);
        fill(p, 10 + id, 1000);
        EXPECT(ferry_commit(tx, 1000), FERRY_OK);
    }
    EXPECT(ferry_try_loan_bytes(tx, 1024, &p), FERRY_ERR_FULL);
    EXPECT(ferry_loan_bytes_timeout(tx, 1024, &p, 1000000u), FERRY_ERR_TIMEOUT);
    EXPECT(ferry_try_loan_bytes(tx, 16, &p), FERRY_OK);
    EXPECT(ferry_loan_cancel(tx), FERRY_OK);
    for (unsigned id = 0; id < 3; id++) {
        expect_message(rx, 10 + id, 1000);
    }
    EXPECT(ferry_try_recv(rx, buf, sizeof buf, &len), FERRY_ERR_EMPTY); /* the cancelled loan sent nothing */
    EXPECT(ferry_try_loan_bytes(tx, 1024, &p), FERRY_OK);                /* drained: the largest fits */
    EXPECT(ferry_loan_cancel(tx), FERRY_OK);
    EXPECT(ferry_loan_bytes(NULL, 1, &p), FERRY_ERR_NULL_ARGUMENT);
    EXPECT(ferry_loan_bytes(tx, 1, NULL), FERRY_ERR_NULL_ARGUMENT);
    ferry_sender_free(tx);
    ferry_receiver_free(rx);

    /* MPMC: two senders loan the largest size and commit fewer bytes (each record keeps
     * the size it was loaned with until it is received), two receivers take the
     * messages in place; a cancelled loan is stepped over. Each message is received
     * before the next is sent: six loans of the largest size go round the 4 KiB ring
     * more than once, padding its end. */
    cfg.kind = FERRY_KIND_MPMC;
    EXPECT(ferry_in_memory(&cfg, &tx, &rx), FERRY_OK);
    ferry_sender *tx2 = NULL;
    ferry_receiver *rx2 = NULL;
    EXPECT(ferry_sender_clone(tx, &tx2), FERRY_OK);
    EXPECT(ferry_receiver_clone(rx, &rx2), FERRY_OK);
    value = 0;
    EXPECT(ferry_sender_capacity_bytes(tx2, &value), FERRY_OK); /* a clone tells it too */
    CHECK(value == 4096);
    value = 0;
    EXPECT(ferry_receiver_capacity_bytes(rx2, &value), FERRY_OK);
    CHECK(value == 4096);
    for (unsigned id = 20; id < 26; id++) {
        ferry_sender *from = id % 2 ? tx2 : tx;
        size_t n = sizes[id % 4];
        EXPECT(ferry_loan_bytes(from, 1024, &p), FERRY_OK);
        CHECK((uintptr_t)p % 16 == 0);
        fill(p, id, n);
        EXPECT(ferry_commit(from, n), FERRY_OK); /* fewer than loaned */
        EXPECT(ferry_try_loan_bytes(from, 8, &p), FERRY_OK);
        EXPECT(ferry_loan_cancel(from), FERRY_OK);
        expect_message(id % 2 ? rx2 : rx, id, n);
    }
    EXPECT(ferry_try_recv(rx2, buf, sizeof buf, &len), FERRY_ERR_EMPTY);
    ferry_sender_free(tx2);
    ferry_receiver_free(rx2);
    ferry_sender_free(tx);
    ferry_receiver_free(rx);

    /* A broadcast channel has publishers and subscribers, not a sender and a receiver. */
    cfg.kind = FERRY_KIND_BROADCAST;
    tx = NULL;
    rx = NULL;
    EXPECT(ferry_in_memory(&cfg, &tx, &rx), FERRY_ERR_UNSUPPORTED);
    CHECK(tx == NULL && rx == NULL);
    CHECK(strstr(ferry_last_error_message(), "ferry_publisher_open") != NULL);

    if (failures != 0) {
        fprintf(stderr, "%d byte-channel check(s) failed\n", failures);
        return 1;
    }
    printf("every byte-channel check passed\n");
    return 0;
}
