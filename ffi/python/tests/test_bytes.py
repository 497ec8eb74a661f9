"""A channel sized in bytes: messages of any size up to a maximum, each taking only the
room it needs, zero-copy at every size."""

from __future__ import annotations

import threading

import pytest

import ferry


def pattern(seq: int, size: int) -> bytes:
    return bytes((seq * 31 + i) & 0xFF for i in range(size))


def test_mixed_sizes_arrive_whole_and_in_order(name: str) -> None:
    config = ferry.Config(slot_size=64 * 1024, capacity_bytes=256 * 1024)
    assert config.capacity_bytes == 256 * 1024
    sizes = [0, 1, 64, 4096, 64 * 1024, 100, 0, 60_000] * 20
    with ferry.Receiver.create(name, config) as rx, ferry.Sender.open(name) as tx:
        assert tx.slot_size == 64 * 1024
        assert (tx.capacity_bytes, tx.capacity) == (rx.capacity_bytes, rx.capacity) == (256 * 1024, 0)

        def produce() -> None:
            for seq, size in enumerate(sizes):
                if seq % 2:
                    tx.send(pattern(seq, size), timeout=10)
                else:
                    with tx.loan(timeout=10, size=size) as loan:
                        assert len(loan) == size
                        loan[:size] = pattern(seq, size)
                        loan.commit(size)

        producer = threading.Thread(target=produce)
        producer.start()
        for seq, size in enumerate(sizes):
            assert rx.recv(timeout=10) == pattern(seq, size), f"message {seq}"
        producer.join(timeout=10)


def test_a_channel_of_empty_messages_only(name: str) -> None:
    # As in Rust: sized in bytes, the largest message may be 0 bytes; with slots it may not.
    with pytest.raises(ferry.InvalidConfig):
        ferry.Config(slot_size=0)
    config = ferry.Config(slot_size=0, capacity_bytes=64)
    with ferry.Receiver.create(name, config) as rx, ferry.Sender.open(name) as tx:
        assert tx.slot_size == 0
        tx.send(b"")
        with pytest.raises(ferry.TooLarge):
            tx.try_send(b"x")
        assert rx.try_recv() == b""
        with pytest.raises(ferry.Empty):
            rx.try_recv()


def test_a_large_loan_waits_for_room_a_small_one_fits(name: str) -> None:
    config = ferry.Config(slot_size=1024, capacity_bytes=4096)
    with ferry.Receiver.create(name, config) as rx, ferry.Sender.open(name) as tx:
        for _ in range(3):
            tx.try_send(bytes(1000))
        with pytest.raises(ferry.Full):
            tx.try_loan(size=1024)
        with pytest.raises(ferry.Timeout):
            tx.loan(timeout=0.01, size=1024)
        with tx.try_loan(size=16) as small:
            small[:2] = b"hi"
            small.commit(2)
        with pytest.raises(ferry.TooLarge):
            tx.try_loan(size=1025)
        assert [len(rx.try_recv()) for _ in range(3)] == [1000, 1000, 1000]
        assert rx.try_recv() == b"hi"
        with tx.try_loan() as whole:  # no size: the largest message
            assert len(whole) == 1024
            whole.commit(5)
        with rx.recv_guard(timeout=1) as message:
            assert len(message) == 5


def test_bad_byte_configs_are_config_errors(name: str) -> None:
    with pytest.raises(ferry.InvalidConfig):
        ferry.Config(capacity_bytes=0)
    with pytest.raises(ferry.InvalidConfig):
        ferry.Receiver.create(name, ferry.Config(slot_size=1024, capacity_bytes=1000))  # not a power of two
    with pytest.raises(ferry.InvalidConfig):
        # Room for two of the largest message is 2 x (16 + 4096) bytes.
        ferry.Receiver.create(name, ferry.Config(kind="mpmc", slot_size=4096, capacity_bytes=4096))


def test_mpmc_sized_in_bytes_delivers_each_message_once(name: str) -> None:
    config = ferry.Config(kind="mpmc", slot_size=8192, capacity_bytes=32 * 1024)
    sizes = [0, 1, 64, 8192, 100, 4096]
    per_sender = 200
    with ferry.Receiver.create(name, config) as rx, ferry.Sender.open(name) as tx:
        senders = [tx, tx.try_clone()]
        receivers = [rx, rx.try_clone()]

        def message_of(who: int, seq: int) -> bytes:
            size = sizes[seq % len(sizes)]
            # The first byte names the sender, the second the sequence number.
            head = bytes([who, seq & 0xFF])[:size]
            return head + pattern(seq, size)[len(head) :]

        def produce(who: int) -> None:
            sender = senders[who]
            for seq in range(per_sender):
                message = message_of(who, seq)
                size = len(message)
                if seq % 2:
                    sender.send(message, timeout=10)
                else:
                    with sender.loan(timeout=10, size=8192) as loan:
                        loan[:size] = message
                        loan.commit(size)
            sender.close()

        got: list[list[bytes]] = [[], []]

        def consume(which: int) -> None:
            # Until both senders have closed and every message is taken.
            while True:
                try:
                    got[which].append(receivers[which].recv(timeout=10))
                except ferry.Disconnected:
                    return

        threads = [threading.Thread(target=produce, args=(w,)) for w in range(2)]
        threads += [threading.Thread(target=consume, args=(w,)) for w in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        received = got[0] + got[1]
        assert len(received) == 2 * per_sender
        expected = [message_of(who, seq) for who in range(2) for seq in range(per_sender)]
        assert sorted(received) == sorted(expected)
        # Each receiver sees each sender's messages in order.
        for mine in got:
            for who in range(2):
                seqs = [m[1] for m in mine if len(m) >= 2 and m[0] == who]
                assert seqs == sorted(seqs)
