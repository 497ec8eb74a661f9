//! Loom model of the byte ring: claim and publish of variable-length records across the
//! wrap (a padding record, then a record at the start of the region).
//!
//! Under loom the record headers live in a table beside the region, one per 16-byte
//! unit, and each unit's payload cell records the producer's writes and the consumer's
//! reads, so a record written over bytes the consumer still reads is a reported race
//! wherever the records' boundaries fall. `bytes_mutations.rs` proves the model bites.
#![cfg(ferry_loom)]

mod byte_ring;
mod common;

use common::model;

#[test]
fn byte_ring_delivers_records_across_the_wrap_with_padding() {
    model(byte_ring::wrap_with_padding);
}
