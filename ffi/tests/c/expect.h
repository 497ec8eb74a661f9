/*
 * The checks the C tests share: EXPECT(call, status) and CHECK(condition) report a
 * mismatch with the file, line and ferry's last error message, and count it in
 * `failures`; a test's main returns non-zero if it is not 0.
 */
#ifndef FERRY_TEST_EXPECT_H
#define FERRY_TEST_EXPECT_H

#include <stdio.h>

#include "ferry.h"

static int failures;

#define EXPECT(call, want) expect_status((call), (want), #call, __FILE__, __LINE__)
#define CHECK(cond) check((cond), #cond, __FILE__, __LINE__)

static void expect_status(ferry_status got, ferry_status want, const char *call, const char *file, int line) {
    if (got != want) {
        fprintf(stderr, "%s:%d: %s\n  returned %d (%s), expected %d (%s)\n  last error: %s\n", file, line, call,
                (int)got, ferry_strerror(got), (int)want, ferry_strerror(want), ferry_last_error_message());
        failures++;
    }
}

static void check(int ok, const char *what, const char *file, int line) {
    if (!ok) {
        fprintf(stderr, "%s:%d: check failed: %s\n", file, line, what);
        failures++;
    }
}

#endif
