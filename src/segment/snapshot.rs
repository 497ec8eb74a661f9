//! A copy of what `ferry ls` shows of a segment (its header, its seats, its ring's two
//! positions), read with `pread` from the object, never mapped.
//!
//! A mapping of another user's object is at that user's mercy: truncating it makes the
//! next read of the mapping SIGBUS. A read of a file is not: past the end it comes back
//! short, which is an error here. So inspection opens the name without following links
//! and without blocking, accepts only a regular file, reads a bounded number of bytes
//! (at most a header, the seats, the subscriber seats and two words), and never waits for a creator: an
//! unpublished segment is reported as such at once.

use std::mem::{offset_of, size_of};

use crate::{
    error::AttachError,
    ring::{bytes_mpmc, Geometry, RingControl, RingKind},
    segment::{
        header::subscribers_offset,
        header::{published, ring_offset, seats_offset, Header},
        object::Object,
        seat::{seat_count, Seat, SubscriberSeat},
        short_object, validate_name,
    },
};

/// The bytes of a header, aligned as one.
#[repr(C, align(128))]
struct HeaderBytes([u8; size_of::<Header>()]);

impl HeaderBytes {
    fn as_header(&self) -> &Header {
        // SAFETY: `HeaderBytes` has the header's size and alignment, and a header is
        // `repr(C)` integers and atomics of integers (and, outside loom, a zero-sized
        // cell), valid for any bytes; the copy is this process's own.
        unsafe { &*std::ptr::from_ref(self).cast::<Header>() }
    }
}

/// What was read of a segment.
pub(crate) struct Snapshot {
    header: Box<HeaderBytes>,
    seats: Vec<Seat>,
    /// The subscriber seats of a broadcast segment (none for a queue).
    subscriber_seats: Vec<SubscriberSeat>,
    /// The geometry the header describes, checked as an open checks it.
    pub(crate) geometry: Geometry,
    /// The ring's head and tail positions, as read.
    pub(crate) head: u64,
    pub(crate) tail: u64,
    /// The uid that owns the object.
    pub(crate) owner: u32,
}

impl Snapshot {
    /// Reads the segment `name`, whoever owns it.
    pub(crate) fn read(name: &str) -> Result<Self, AttachError> {
        validate_name(name)?;
        let (object, stat) = Object::open(name, false)?;
        let size = u64::try_from(stat.st_size).unwrap_or(0);
        let io = |e: std::io::Error| match e.kind() {
            // Shorter than the header says: truncated, or not yet sized.
            std::io::ErrorKind::UnexpectedEof => {
                AttachError::CorruptHeader { name: name.to_owned(), reason: "it was truncated while being read" }
            }
            _ => AttachError::Io { op: "read", name: name.to_owned(), source: e },
        };
        let mut header = Box::new(HeaderBytes([0; size_of::<Header>()]));
        if size == 0 {
            return Err(AttachError::NotInitialised { name: name.to_owned() });
        }
        if size < size_of::<Header>() as u64 {
            return Err(short_object(&object.file, name));
        }
        object.read_exact_at(&mut header.0, 0).map_err(io)?;
        let geometry = published(name, header.as_header(), size, None)
            .ok_or_else(|| AttachError::NotInitialised { name: name.to_owned() })??;
        let mut seats: Vec<Seat> = (0..seat_count(geometry.kind)).map(|_| Seat::new()).collect();
        // SAFETY: the seats are this process's, borrowed mutably here only; a `Seat` is
        // `repr(C)` atomics of plain integers, valid for any bytes.
        let seat_bytes =
            unsafe { std::slice::from_raw_parts_mut(seats.as_mut_ptr().cast::<u8>(), seats.len() * size_of::<Seat>()) };
        object.read_exact_at(seat_bytes, seats_offset() as u64).map_err(io)?;
        let mut subscriber_seats: Vec<SubscriberSeat> =
            (0..geometry.fanout.subscribers).map(|_| SubscriberSeat::new()).collect();
        // SAFETY: as for the seats; a `SubscriberSeat` is `repr(C)` atomic integers too.
        let subscriber_bytes = unsafe {
            std::slice::from_raw_parts_mut(
                subscriber_seats.as_mut_ptr().cast::<u8>(),
                subscriber_seats.len() * size_of::<SubscriberSeat>(),
            )
        };
        object.read_exact_at(subscriber_bytes, subscribers_offset(geometry.kind) as u64).map_err(io)?;
        let word = |offset: usize| -> Result<u64, AttachError> {
            let mut bytes = [0; 8];
            object.read_exact_at(&mut bytes, (ring_offset(&geometry) + offset) as u64).map_err(io)?;
            Ok(u64::from_ne_bytes(bytes))
        };
        let (head, tail) = match geometry.kind {
            // Bytes not free for producers, as on the SPSC byte ring (on a broadcast
            // byte ring, not yet passed by every subscriber at the last look).
            RingKind::MpmcBytes | RingKind::BroadcastBytes => {
                (word(bytes_mpmc::reclaim_offset())?, bytes_mpmc::claimed(word(offset_of!(RingControl, tail))?))
            }
            _ => (word(offset_of!(RingControl, head))?, word(offset_of!(RingControl, tail))?),
        };
        Ok(Self { header, seats, subscriber_seats, geometry, head, tail, owner: stat.st_uid })
    }

    /// The header, as read.
    pub(crate) fn header(&self) -> &Header {
        self.header.as_header()
    }

    /// The seats, as read (none for SPSC).
    pub(crate) fn seats(&self) -> &[Seat] {
        &self.seats
    }

    /// The subscriber seats, as read (none for a queue).
    pub(crate) fn subscriber_seats(&self) -> &[SubscriberSeat] {
        &self.subscriber_seats
    }
}
