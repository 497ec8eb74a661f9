//! The doorbells of a broadcast channel's handles (`signal::seat_doorbell` for the
//! protocol, `signal::seat_bell` for the descriptors): where a channel's bells are found,
//! and what a publisher and a subscriber hold of them.
//!
//! A subscriber sleeps on its seat's bell, which publishers ring once per arming; a
//! publisher (block mode) sleeps on the channel's `.s` bell, which subscribers ring when
//! they free room, with the queue's one-flag protocol on the `not_full` signal (any
//! publisher may proceed once woken, and re-checks).

use std::{
    os::fd::BorrowedFd,
    sync::{Arc, Mutex},
};

use crate::{
    error::AttachError,
    segment::Segment,
    signal::{
        bell::{BellFds, BellFiles, BellSide},
        doorbell::{self, Armed, Drained},
        seat_bell::{SeatBells, SeatRingers, SubscriberFds},
        seat_doorbell,
    },
    sync::Ordering::Relaxed,
};

/// Where a broadcast channel's bells are found, shared by its handles in this process.
#[derive(Debug)]
pub(crate) struct Bells {
    seats: SeatBells,
    /// How a handle gets the channel's two bells.
    channel: ChannelBells,
    /// The mode for the seat bells a subscriber makes.
    mode: u32,
}

#[derive(Debug)]
enum ChannelBells {
    /// FIFOs beside the named segment, whose inodes the creator recorded; with the
    /// creator's hold on them (and, through [`Bells`]' drop, on the seat bells).
    #[cfg(not(ferry_loom))]
    Named { name: String, owners: crate::owner::Owners, files: Option<Arc<BellFiles>> },
    /// Pipes inside this process: the publishers' descriptors and the subscribers', to
    /// duplicate for each new handle.
    Pipes { publisher: Mutex<BellFds>, subscriber: Mutex<BellFds> },
}

impl Bells {
    /// The bells of a channel inside this process, of `seats` subscriber seats.
    pub(crate) fn pipes(seats: usize) -> Result<Self, AttachError> {
        let (publisher, subscriber) = BellFds::pipes().map_err(|source| AttachError::Io {
            op: "make the doorbell pipes of",
            name: String::from("(in memory)"),
            source,
        })?;
        let channel = ChannelBells::Pipes { publisher: Mutex::new(publisher), subscriber: Mutex::new(subscriber) };
        Ok(Self { seats: SeatBells::pipes(seats), channel, mode: 0o600 })
    }

    /// The bells of the named channel `name` whose segment this process has just
    /// created with `mode`: makes the channel's two FIFOs (recording them in the header)
    /// and removes seat bells a dead creator left.
    #[cfg(not(ferry_loom))]
    pub(crate) fn create(segment: &Segment, name: &str, mode: u32) -> Result<Self, AttachError> {
        crate::signal::seat_bell::remove_seat_files(name);
        let files = crate::signal::bell::create_files(name, mode)?;
        segment.header().record_bells(files.inodes());
        let owners = crate::owner::Owners::default();
        let channel =
            ChannelBells::Named { name: name.to_owned(), owners: owners.clone(), files: Some(Arc::new(files)) };
        Ok(Self { seats: SeatBells::Named { name: name.to_owned(), owners }, channel, mode })
    }

    /// The bells of the named channel `name`, opened by this process, whose FIFOs must
    /// belong to `owners`.
    #[cfg(not(ferry_loom))]
    pub(crate) fn open(name: &str, owners: &crate::owner::Owners) -> Self {
        let channel = ChannelBells::Named { name: name.to_owned(), owners: owners.clone(), files: None };
        Self { seats: SeatBells::Named { name: name.to_owned(), owners: owners.clone() }, channel, mode: 0o600 }
    }

    /// The channel's two bells as a handle on `side` holds them.
    fn channel_fds(&self, segment: &Segment, side: BellSide) -> Result<BellFds, AttachError> {
        let _ = segment;
        match &self.channel {
            #[cfg(not(ferry_loom))]
            ChannelBells::Named { name, owners, .. } => {
                let recorded = crate::transport::open::recorded_bells(segment, name)?;
                crate::signal::bell::open_files(name, side, owners, recorded)
            }
            ChannelBells::Pipes { publisher, subscriber } => {
                let template = match side {
                    BellSide::Sender => publisher,
                    BellSide::Receiver => subscriber,
                };
                let template = template.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
                template.try_clone().map_err(|source| AttachError::Io {
                    op: "duplicate the doorbell of",
                    name: String::from("(in memory)"),
                    source,
                })
            }
        }
    }
}

#[cfg(not(ferry_loom))]
impl Drop for Bells {
    fn drop(&mut self) {
        // The creator's last handle in this process: the seat bells go with the segment
        // (the channel's two go with `files`).
        if let ChannelBells::Named { name, files: Some(files), .. } = &self.channel {
            if !files.is_forked_copy() {
                crate::signal::seat_bell::remove_seat_files(name);
            }
        }
    }
}

/// A publisher's doorbell: its fd (the publishers' bell), whether it is armed on
/// `not_full`, and the seat bells it has rung.
#[derive(Debug)]
pub(crate) struct PublisherBell {
    fds: BellFds,
    armed: Armed,
    ringers: SeatRingers,
    bells: Arc<Bells>,
}

impl PublisherBell {
    /// A new publisher's doorbell on the channel of `bells`.
    pub(crate) fn attach(segment: &Segment, bells: Arc<Bells>) -> Result<Self, AttachError> {
        let fds = bells.channel_fds(segment, BellSide::Sender)?;
        Ok(Self { fds, armed: Armed::new(), ringers: SeatRingers::default(), bells })
    }

    /// The channel's bells, for another handle on it.
    pub(crate) fn bells(&self) -> &Arc<Bells> {
        &self.bells
    }

    /// The pollable fd, arming the doorbell on `segment`'s `not_full` the first time.
    pub(crate) fn fd(&self, segment: &Segment) -> BorrowedFd<'_> {
        if !self.armed.is_armed() {
            let _ = self.armed.arm(&segment.ring().control().not_full, &self.fds);
        }
        self.fds.fd()
    }

    /// If the publisher sleeps on its fd, drains and re-arms the doorbell; says what the
    /// drain found (`None` if it never asked for its fd).
    pub(crate) fn rearm(&self, segment: &Segment) -> Option<Drained> {
        self.armed.is_armed().then(|| self.armed.arm(&segment.ring().control().not_full, &self.fds))
    }

    /// After a publication: wakes parked subscribers and rings every armed seat's bell.
    pub(crate) fn notify(&mut self, segment: &Segment) {
        let how = segment.geometry().signaling;
        if segment.ring().control().not_empty.notify_parked(how) {
            self.ring_armed_seats(segment);
        }
    }

    /// Rings the bell of every seat whose flag is raised, once per arming.
    pub(crate) fn ring_armed_seats(&mut self, segment: &Segment) {
        let (bells, ringers) = (&*self.bells, &mut self.ringers);
        let seats = segment.subscriber_seats();
        seat_doorbell::ring_armed(seats.iter().map(|seat| &seat.armed).enumerate(), |i| {
            bells.seats.ring(ringers, i, &seats[i].bell);
        });
    }

    /// Stops counting the publisher as armed (it is going away).
    pub(crate) fn disarm(&self, segment: &Segment) {
        self.armed.disarm(&segment.ring().control().not_full);
    }
}

/// A subscriber's doorbell: its seat's bell and the channel's, and whether it is armed.
#[derive(Debug)]
pub(crate) struct SubscriberBell {
    fds: SubscriberFds,
    armed: Armed,
    seat: usize,
    _bells: Arc<Bells>,
}

impl SubscriberBell {
    /// The doorbell of the subscriber that has just taken seat `seat` of `segment`: its
    /// seat's bell, emptied of what an earlier subscriber left, and its flag lowered.
    pub(crate) fn attach(segment: &Segment, bells: Arc<Bells>, seat: usize) -> Result<Self, AttachError> {
        let channel = bells.channel_fds(segment, BellSide::Receiver)?;
        let mode = match &bells.channel {
            #[cfg(not(ferry_loom))]
            ChannelBells::Named { files: None, .. } => channel.mode().unwrap_or(bells.mode),
            _ => bells.mode,
        };
        let words = &segment.subscriber_seats()[seat];
        // SYNC: Relaxed; a flag a departed (or dead) subscriber of the seat left raised
        // would only cost a spurious ring: this subscriber is not armed yet.
        words.armed.store(0, Relaxed);
        let own = bells.seats.take(seat, &words.bell, mode)?;
        let fds = SubscriberFds::new(own, channel).map_err(|source| AttachError::Io {
            op: "make the subscriber's pollable fd for",
            name: segment.name().to_owned(),
            source,
        })?;
        Ok(Self { fds, armed: Armed::new(), seat, _bells: bells })
    }

    /// The pollable fd, arming the doorbell the first time.
    pub(crate) fn fd(&self, segment: &Segment) -> BorrowedFd<'_> {
        if !self.armed.is_armed() {
            let _ = self.arm(segment);
        }
        self.fds.fd()
    }

    fn arm(&self, segment: &Segment) -> Drained {
        let drained = self.fds.drain();
        self.armed.arm_flag(&segment.ring().control().not_empty, &segment.subscriber_seats()[self.seat].armed);
        drained
    }

    /// If the subscriber sleeps on its fd, drains and re-arms the doorbell; says what the
    /// drain found (`None` if it never asked for its fd).
    pub(crate) fn rearm(&self, segment: &Segment) -> Option<Drained> {
        self.armed.is_armed().then(|| self.arm(segment))
    }

    /// After freeing room (block mode): wakes parked publishers and rings theirs.
    pub(crate) fn notify_publishers(&self, segment: &Segment) {
        let ring = segment.ring().control().not_full.notify(segment.geometry().signaling);
        if ring == doorbell::Ring::Bell {
            self.fds.ring_publishers();
        }
    }

    /// Stops counting the subscriber as armed and lowers its seat's flag (it is going
    /// away).
    pub(crate) fn disarm(&self, segment: &Segment) {
        self.armed.disarm_seat(&segment.ring().control().not_empty, &segment.subscriber_seats()[self.seat].armed);
    }
}
