//! The byte ring's model body, shared by the passing model (`bytes.rs`) and its
//! deliberately broken runs (`bytes_mutations.rs`). They are separate test binaries
//! because the mutation switch is global to the process: a model run beside a mutated
//! one would be broken too.

use ferry::Config;
use loom::thread;

/// The bytes of message `id`, `len` long.
fn pattern(id: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| id.wrapping_mul(31).wrapping_add(i as u8)).collect()
}

/// A 64-byte ring for messages of up to 16 bytes (records of 32). The producer sends a
/// 16-byte message through a loan (record at 0), an empty one (record at 32), then a
/// 16-byte one: only 16 bytes remain before the end, so it pads to the end and starts
/// the next lap at 0, once the consumer has released the first record. The consumer
/// gets the three whole, in order, and nothing else.
pub fn wrap_with_padding() {
    let config = Config::new().capacity_bytes(64).max_message(16);
    let (mut tx, mut rx) = ferry::in_memory(&config).unwrap();
    let producer = thread::spawn(move || {
        let mut loan = tx.loan_bytes(16).unwrap();
        loan.copy_from_slice(&pattern(0, 16));
        loan.commit(16);
        tx.send(&[]).unwrap();
        tx.send(&pattern(2, 16)).unwrap();
    });
    for (id, len) in [(0, 16), (1, 0), (2, 16)] {
        let guard = rx.recv().unwrap();
        assert_eq!(&*guard, &pattern(id, len)[..], "message {id} torn, stale or out of order");
    }
    producer.join().unwrap();
    assert!(rx.try_recv().is_err(), "nothing after the three messages");
}
