//! async/await over the fds (the `tokio` feature): a receiver task fed by a sender
//! process, with `recv` futures cancelled on the way losing nothing; the `Stream` ending
//! at disconnection; an async sender waiting for room; async broadcast subscribers,
//! each woken by every publication, with a cancelled `recv` and a lag on the way.
#![cfg(feature = "tokio")]

use std::{
    env,
    future::Future,
    io::{BufRead, BufReader},
    pin::pin,
    process::{self, Command, Stdio},
    task::{Context, Poll, Waker},
    thread,
    time::Duration,
};

use ferry::{
    AsyncReceiver, AsyncSender, AsyncSubscriber, Config, Policy, Publisher, Receiver, RecvError, Sender, Start,
    SubscriberError,
};

mod support;
use support::{start_watchdog, Cleanup};

/// `<channel>:<messages>` for `child_sender`.
const CHILD_ENV: &str = "FERRY_TOKIO_CHILD";
const CHILD_DONE: &str = "FERRY-TOKIO-CHILD-DONE";
const MESSAGES: u64 = 20_000;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_io().build().unwrap()
}

/// Polls `future` once with a waker that does nothing.
fn poll_once<F: Future>(future: F) -> Option<F::Output> {
    let mut future = pin!(future);
    match future.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// A sender process streams messages in bursts; a tokio task receives them with
/// `recv().await`, and every seventh receive first starts a `recv` future, polls it once
/// and drops it (cancelled while waiting, or after it found a message: then the message
/// must still be the next one received, since a cancelled future takes nothing). Every
/// message arrives once, in order; then the stream reports the sender gone.
#[test]
fn receiver_task_with_a_sender_process_and_cancelled_recvs() {
    let name = format!("tokio-{}", process::id());
    let _cleanup = Cleanup(name.clone());
    let rx = Receiver::create(&name, &Config::new().slot_size(16).capacity(64)).unwrap();
    let mut child = Command::new(env::current_exe().unwrap())
        .args(["child_sender", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, format!("{name}:{MESSAGES}"))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let (received, cancelled) = runtime().block_on(async move {
        let mut rx = AsyncReceiver::new(rx).unwrap();
        // Cancelled before the sender has sent anything: takes nothing.
        assert!(poll_once(rx.recv_vec()).is_none(), "a message before the sender started");
        let (mut next, mut cancelled) = (0u64, 0u32);
        while next < MESSAGES {
            if next % 7 == 3 {
                // A future polled once and dropped: if it found a message it returns it
                // (and it counts); if it was waiting, it must have taken nothing.
                match poll_once(rx.recv_vec()) {
                    Some(Ok(message)) => {
                        assert_eq!(u64::from_le_bytes(message[..].try_into().unwrap()), next);
                        next += 1;
                        continue;
                    }
                    Some(Err(e)) => panic!("{e}"),
                    None => cancelled += 1,
                }
            }
            let guard = rx.recv().await.unwrap();
            assert_eq!(u64::from_le_bytes(guard[..].try_into().unwrap()), next, "lost, repeated or reordered");
            next += 1;
        }
        assert_eq!(rx.recv().await.unwrap_err(), RecvError::Disconnected);
        (next, cancelled)
    });
    assert_eq!(received, MESSAGES);
    let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap()).lines().map_while(Result::ok).collect();
    assert!(child.wait().unwrap().success());
    assert!(lines.iter().any(|l| l.contains(CHILD_DONE)), "the child ran no test: {lines:?}");
    println!("{received} messages, {cancelled} recv futures cancelled while waiting");
}

/// The sender process: bursts of 100 messages, a short pause after each.
#[test]
fn child_sender() {
    let Ok(spec) = env::var(CHILD_ENV) else { return };
    start_watchdog(Duration::from_secs(120));
    let (name, count) = spec.split_once(':').unwrap();
    let count: u64 = count.parse().unwrap();
    let mut tx = Sender::open(name).unwrap();
    for seq in 0..count {
        tx.send(&seq.to_le_bytes()).unwrap();
        if seq % 100 == 99 {
            thread::sleep(Duration::from_micros(200));
        }
    }
    drop(tx);
    println!("{CHILD_DONE}");
}

/// The `Stream` yields every message, then ends when the sender goes.
#[test]
fn stream_ends_at_disconnection() {
    let (mut tx, rx) = ferry::in_memory(&Config::new().slot_size(8).capacity(4)).unwrap();
    let sender = thread::spawn(move || {
        for i in 0..100u64 {
            tx.send_value(i).unwrap();
        }
    });
    let collected = runtime().block_on(async move {
        let mut rx = AsyncReceiver::new(rx).unwrap();
        let mut out = Vec::new();
        while let Some(item) =
            std::future::poll_fn(|cx| futures_core::Stream::poll_next(std::pin::Pin::new(&mut rx), cx)).await
        {
            out.push(u64::from_le_bytes(item.unwrap()[..].try_into().unwrap()));
        }
        out
    });
    sender.join().unwrap();
    assert_eq!(collected, (0..100).collect::<Vec<u64>>());
}

/// An async sender on a full ring: a send polled once and dropped sends nothing; then
/// sends wait for room as a slow reader frees it.
#[test]
fn async_sender_waits_for_room() {
    let (tx, mut rx) = ferry::in_memory(&Config::new().slot_size(8).capacity(2)).unwrap();
    let (start_reading, go) = std::sync::mpsc::channel::<()>();
    let reader = thread::spawn(move || {
        go.recv().unwrap();
        let mut got = Vec::new();
        for _ in 0..50 {
            got.push(rx.recv_value::<u64>().unwrap());
            thread::sleep(Duration::from_millis(1));
        }
        got
    });
    runtime().block_on(async move {
        let mut tx = AsyncSender::new(tx).unwrap();
        tx.send(&0u64.to_le_bytes()).await.unwrap();
        tx.send(&1u64.to_le_bytes()).await.unwrap();
        // Full, and nobody reads yet: the send cannot complete, and dropped, sent nothing.
        assert!(poll_once(tx.send(&99u64.to_le_bytes())).is_none(), "a send into a full ring completed");
        start_reading.send(()).unwrap();
        for i in 2..50u64 {
            tx.send(&i.to_le_bytes()).await.unwrap();
        }
    });
    assert_eq!(reader.join().unwrap(), (0..50).collect::<Vec<u64>>());
}

/// A channel sized in bytes, async at both ends: messages of every size from 0 to the
/// maximum, through a ring that holds only a few, arrive in order and whole; the stream
/// ends when the async sender is dropped.
#[test]
fn byte_channel_async_at_both_ends() {
    let (tx, rx) = ferry::in_memory(&Config::new().capacity_bytes(256).max_message(64)).unwrap();
    let collected = runtime().block_on(async move {
        let mut tx = AsyncSender::new(tx).unwrap();
        let mut rx = AsyncReceiver::new(rx).unwrap();
        let mut out = Vec::new();
        for round in 0..10u8 {
            for len in 0..=64usize {
                let message = vec![round; len];
                // The ring holds a few messages: when it is full, drain it, then send async.
                if tx.get_mut().try_send(&message).is_err() {
                    while let Ok(guard) = rx.get_mut().try_recv() {
                        out.push(guard.to_vec());
                    }
                    tx.send(&message).await.unwrap();
                }
            }
        }
        drop(tx);
        while let Some(item) =
            std::future::poll_fn(|cx| futures_core::Stream::poll_next(std::pin::Pin::new(&mut rx), cx)).await
        {
            out.push(item.unwrap());
        }
        out
    });
    let expected: Vec<Vec<u8>> = (0..10u8).flat_map(|round| (0..=64usize).map(move |len| vec![round; len])).collect();
    assert_eq!(collected, expected);
}

/// Two subscribers, each in a task of its own runtime on its own thread, receive every
/// message a publisher thread sends into a small blocking ring (so both sleep on their
/// fds often), in order, through the `Stream`; a `recv` future polled once and dropped
/// takes nothing; the streams end when the publisher goes.
#[test]
fn async_subscribers_each_get_every_message() {
    const COUNT: u64 = 5_000;
    let publisher = Publisher::in_memory(&Config::new().slot_size(8).capacity(4)).unwrap();
    let subscribers: Vec<_> = (0..2).map(|_| publisher.subscribe(Start::Live).unwrap()).collect();
    // The publisher starts once both subscribers have made their cancelled poll.
    let started = std::sync::Arc::new(std::sync::Barrier::new(3));
    let tasks: Vec<_> = subscribers
        .into_iter()
        .map(|subscriber| {
            let started = started.clone();
            thread::spawn(move || {
                runtime().block_on(async move {
                    let mut news = AsyncSubscriber::new(subscriber).unwrap();
                    // Cancelled before anything was published: takes nothing.
                    assert!(poll_once(news.recv_vec()).is_none(), "a message before the publisher sent one");
                    started.wait();
                    let mut got = Vec::new();
                    while let Some(item) =
                        std::future::poll_fn(|cx| futures_core::Stream::poll_next(std::pin::Pin::new(&mut news), cx))
                            .await
                    {
                        got.push(u64::from_le_bytes(item.unwrap()[..].try_into().unwrap()));
                    }
                    got
                })
            })
        })
        .collect();
    let sender = thread::spawn(move || {
        let mut publisher = publisher;
        started.wait();
        for i in 0..COUNT {
            publisher.send(&i.to_le_bytes()).unwrap();
            if i % 500 == 499 {
                thread::sleep(Duration::from_millis(1));
            }
        }
    });
    sender.join().unwrap();
    for task in tasks {
        assert_eq!(task.join().unwrap(), (0..COUNT).collect::<Vec<u64>>());
    }
}

/// In overwrite mode a subscriber that fell a ring behind gets the lag as an item, then
/// the messages still held.
#[test]
fn async_subscriber_reports_a_lag_and_goes_on() {
    let mut publisher =
        Publisher::in_memory(&Config::new().slot_size(8).capacity(4).policy(Policy::Overwrite)).unwrap();
    let subscriber = publisher.subscribe(Start::Live).unwrap();
    for i in 0..10u64 {
        publisher.send(&i.to_le_bytes()).unwrap();
    }
    let items = runtime().block_on(async move {
        let mut news = AsyncSubscriber::new(subscriber).unwrap();
        let first = news.recv_vec().await;
        let second = news.recv_vec().await.unwrap();
        drop(publisher);
        let mut rest = Vec::new();
        while let Ok(message) = news.recv_vec().await {
            rest.push(u64::from_le_bytes(message[..].try_into().unwrap()));
        }
        (first, u64::from_le_bytes(second[..].try_into().unwrap()), rest)
    });
    assert_eq!(items.0, Err(SubscriberError::Lagged(6)));
    assert_eq!(items.1, 6);
    assert_eq!(items.2, vec![7, 8, 9]);
}
