//! The MPMC rescue on heap memory, for the loom models.

use crate::{
    liveness::{
        attach::attach,
        process::me,
        roles::Role,
        seats::{claim, occupant},
    },
    ring::{mpmc, Geometry, RingKind},
    segment::Segment,
    signal::Signaling,
};

/// An MPMC ring of two slots with one sender seat and one receiver seat, whose handles
/// are alive, and a recoverer that believes a dead handle of the same side announced
/// position 0: `rescue` must never take a slot from the live handle.
pub struct RescueRace {
    segment: Segment,
    sender: usize,
    receiver: usize,
}

// SAFETY: shared between loom threads like a mapped segment between processes; the
// sender and the receiver are each used by one thread at a time.
unsafe impl Sync for RescueRace {}

impl Default for RescueRace {
    fn default() -> Self {
        let geometry = Geometry {
            kind: RingKind::Mpmc,
            signaling: Signaling::Futex,
            slot_size: 8,
            capacity: 2,
            fanout: Default::default(),
        };
        let segment = Segment::heap(geometry, me()).expect("a valid geometry");
        let sender = attach(&segment, Role::Sender).expect("a seat").expect("MPMC");
        let receiver = attach(&segment, Role::Receiver).expect("a seat").expect("MPMC");
        Self { segment, sender, receiver }
    }
}

impl RescueRace {
    /// The live sender claims a slot, writes `value` and publishes it.
    pub fn send(&self, value: u64) {
        let ring = self.segment.ring();
        let claim = claim(&self.segment, self.sender);
        let pos = mpmc::claim_free(&ring, claim).expect("a free slot");
        ring.meta(pos).payload.with_mut(|_| ());
        // SAFETY: the claimed slot's payload is ours until published; 8 bytes fit.
        unsafe { ring.payload(pos).cast::<u64>().write(value) };
        mpmc::publish(&ring, pos, 8, claim);
    }

    /// The live receiver takes the next message, reads it and releases the slot.
    pub fn recv(&self) -> Option<u64> {
        let ring = self.segment.ring();
        let claim = claim(&self.segment, self.receiver);
        let (pos, _) = mpmc::claim_message(&ring, claim, |_| true, || (), false).ok()?;
        ring.meta(pos).payload.with(|_| ());
        // SAFETY: the claimed slot holds a published 8-byte message until released.
        let value = unsafe { ring.payload(pos).cast::<u64>().read() };
        mpmc::release(&ring, pos, claim);
        Some(value)
    }

    /// A recoverer resolving a dead `sender` (or receiver) handle's claim on
    /// position 0, with the live handle's seat as the only other: returns whether it
    /// took the slot.
    pub fn rescue_position_0(&self, sender: bool) -> bool {
        let (live, role) = if sender { (self.sender, Role::Sender) } else { (self.receiver, Role::Receiver) };
        let seats = self.segment.seats();
        let live_claim =
            || occupant(&seats[live]).is_some_and(|(_, held_as, claim)| held_as == role as u64 && claim == 0);
        let outcome = mpmc::rescue(&self.segment.ring(), 0, sender, live_claim);
        !matches!(outcome, mpmc::Rescue::Nothing | mpmc::Rescue::Pending)
    }
}
