//! The segment's initialisation handshake on heap memory, for the loom models.

use crate::{
    error::AttachError,
    ring::{Geometry, RingKind},
    segment::{
        header::{initialise, published},
        Segment,
    },
    signal::Signaling,
};

/// A segment whose creator has not published it yet.
pub struct Handshake {
    segment: Segment,
    total: usize,
}

// SAFETY: shared between loom threads like a mapped segment between processes; the
// header is written once before the magic is published and only read after.
unsafe impl Sync for Handshake {}

impl Handshake {
    /// An unpublished SPSC segment of `capacity` slots of `slot_size` bytes.
    pub fn new(slot_size: usize, capacity: usize) -> Self {
        let geometry = Geometry {
            kind: RingKind::Spsc,
            signaling: Signaling::Futex,
            slot_size,
            capacity,
            fanout: Default::default(),
        };
        let (segment, total) = Segment::heap_unpublished(geometry).expect("a valid geometry");
        Self { segment, total }
    }

    /// The creator's side: writes the header and the ring, then publishes the magic.
    pub fn publish(&self) {
        // SAFETY: called once, by the one creator thread; openers read only the magic
        // until it is published. (No process creates a model's segment: creator 0.)
        unsafe { initialise(self.segment.base, &self.segment.geometry, self.total, 0) };
    }

    /// The opener's side: `None` before publication, else the checked
    /// `(slot_size, capacity)`.
    pub fn observe(&self) -> Option<Result<(usize, usize), AttachError>> {
        published("model", self.segment.header(), self.total as u64, None)
            .map(|geometry| geometry.map(|g| (g.slot_size, g.capacity)))
    }
}
