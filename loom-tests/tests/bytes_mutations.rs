//! Proof that the byte ring's model bites: it runs with the publish and the release
//! weakened to Relaxed, and loom must report each. The same model passes unbroken in
//! `bytes.rs`.
#![cfg(ferry_loom)]

mod byte_ring;
mod common;

use common::with_mutation;
use ferry::loom_hooks::Mutation;

#[test]
#[should_panic]
fn byte_ring_publish_without_release_is_caught() {
    with_mutation(Mutation::BytesPublish, byte_ring::wrap_with_padding);
}

#[test]
#[should_panic]
fn byte_ring_release_without_release_is_caught() {
    with_mutation(Mutation::BytesRelease, byte_ring::wrap_with_padding);
}
