/*
 * Waits on two ferry channels and stdin at once with poll(2): the pollable fds of
 * `ferry_receiver_fd`.
 *
 *   cc -std=c11 -Wall -Wextra -Werror -pedantic -I ffi/include ffi/examples/poll_two.c \
 *      -L target/release -lferry -Wl,-rpath,$PWD/target/release -o poll_two
 *   ./poll_two [COUNT]            (type `quit` to stop early)
 *
 * It creates two shared-memory channels, forks a producer process that sends COUNT
 * numbered messages into each (in bursts, pausing between them, so the receiver really
 * sleeps), and sleeps in one poll() over both receivers' fds and stdin. When a channel's
 * fd is readable it receives with ferry_try_recv until FERRY_ERR_EMPTY, which re-arms the
 * fd; FERRY_ERR_DISCONNECTED says its producer has gone. It checks every message arrives
 * once, in order, and prints how many poll() wake-ups it took.
 */
#define _POSIX_C_SOURCE 200809L

#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ferry.h"

static int produce(const char *names[2], uint64_t count) {
    ferry_sender *tx[2] = {NULL, NULL};
    for (int c = 0; c < 2; c++) {
        if (ferry_sender_open(names[c], &tx[c]) != FERRY_OK) {
            fprintf(stderr, "producer: %s\n", ferry_last_error_message());
            return 1;
        }
    }
    struct timespec pause = {0, 2000000}; /* 2 ms */
    for (uint64_t seq = 0; seq < count; seq++) {
        for (int c = 0; c < 2; c++) {
            if (ferry_send(tx[c], &seq, sizeof seq) != FERRY_OK) {
                fprintf(stderr, "producer: ferry_send: %s\n", ferry_last_error_message());
                return 1;
            }
        }
        if (seq % 100 == 99) {
            nanosleep(&pause, NULL);
        }
    }
    ferry_sender_free(tx[0]);
    ferry_sender_free(tx[1]);
    return 0;
}

int main(int argc, char **argv) {
    uint64_t count = argc > 1 ? strtoull(argv[1], NULL, 10) : 10000;
    char names_buf[2][64];
    const char *names[2];
    for (int c = 0; c < 2; c++) {
        snprintf(names_buf[c], sizeof names_buf[c], "ferry-poll-two-%ld-%d", (long)getpid(), c);
        names[c] = names_buf[c];
    }

    ferry_config cfg;
    ferry_config_init(&cfg);
    cfg.slot_size = sizeof(uint64_t);
    cfg.capacity = 64;
    ferry_receiver *rx[2] = {NULL, NULL};
    struct pollfd fds[3];
    for (int c = 0; c < 2; c++) {
        if (ferry_receiver_create(names[c], &cfg, &rx[c]) != FERRY_OK ||
            ferry_receiver_fd(rx[c], &fds[c].fd) != FERRY_OK) {
            fprintf(stderr, "poll_two: %s\n", ferry_last_error_message());
            return 1;
        }
        fds[c].events = POLLIN;
    }
    fds[2].fd = STDIN_FILENO;
    fds[2].events = POLLIN;

    fflush(stdout);
    pid_t producer = fork();
    if (producer < 0) {
        perror("fork");
        return 1;
    }
    if (producer == 0) {
        _exit(produce(names, count));
    }

    uint64_t next[2] = {0, 0};
    int done[2] = {0, 0};
    unsigned long wakeups = 0;
    int failed = 0;
    while (!(done[0] && done[1]) && !failed) {
        /* Drain first (also before the first wait): FERRY_ERR_EMPTY re-arms the fd. */
        for (int c = 0; c < 2 && !failed; c++) {
            while (!done[c]) {
                uint64_t seq = 0;
                size_t len = 0;
                ferry_status status = ferry_try_recv(rx[c], &seq, sizeof seq, &len);
                if (status == FERRY_ERR_EMPTY) {
                    break;
                }
                if (status == FERRY_ERR_DISCONNECTED) {
                    done[c] = 1;
                    fds[c].fd = -1; /* poll ignores it from now on */
                    break;
                }
                if (status != FERRY_OK || len != sizeof seq || seq != next[c]) {
                    fprintf(stderr, "poll_two: channel %d, message %llu: %s\n", c, (unsigned long long)next[c],
                            status == FERRY_OK ? "out of order" : ferry_last_error_message());
                    failed = 1;
                    break;
                }
                next[c]++;
            }
        }
        if ((done[0] && done[1]) || failed) {
            break;
        }
        if (poll(fds, 3, 10000) < 0) {
            perror("poll");
            failed = 1;
            break;
        }
        wakeups++;
        if (fds[2].revents) {
            char line[64];
            if (fgets(line, sizeof line, stdin) == NULL) {
                fds[2].fd = -1; /* end of input: stop watching it */
            } else if (strncmp(line, "quit", 4) == 0) {
                printf("poll_two: quit after %llu and %llu messages\n", (unsigned long long)next[0],
                       (unsigned long long)next[1]);
                break;
            }
        }
    }
    int status = 0;
    waitpid(producer, &status, 0);
    ferry_receiver_free(rx[0]);
    ferry_receiver_free(rx[1]);
    if (failed || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        return 1;
    }
    printf("poll_two: %llu + %llu messages in order through %lu poll() wake-ups\n", (unsigned long long)next[0],
           (unsigned long long)next[1], wakeups);
    return (done[0] && done[1] && next[0] == count && next[1] == count) ? 0 : 1;
}
