//! A segment shared by the handles that use it ([`Shared`]), and a hold on it that does
//! not keep it alive ([`Tether`]), for a thread that works on segments it does not own:
//! the liveness watcher (`liveness::watcher`).
//!
//! Were that thread to hold a segment like a handle does (an `Arc`), the segment's drop,
//! and with it the removal of a name its creator made, would happen on whichever thread
//! let go last: a user who drops a channel and creates it again at once could find the
//! name still taken, because the watcher, woken by a peer's death, held it a moment
//! longer. A tether instead upgrades to the segment only under a lock that the handles
//! take to let go of it: the watcher's use runs to its end before the last handle's drop
//! goes on (so that drop, not the watcher's, is the last), or the tether finds the
//! segment gone.

#[cfg(not(ferry_loom))]
use std::sync::{Mutex, MutexGuard, PoisonError, Weak};
use std::{mem::ManuallyDrop, ops::Deref, sync::Arc};

use super::Segment;

/// A segment and the handles' share of it: what every end of a channel holds.
#[derive(Clone)]
pub(crate) struct Shared {
    segment: ManuallyDrop<Arc<Segment>>,
    /// Held while a tether uses the segment, and while a handle lets go of it.
    #[cfg(not(ferry_loom))]
    letting_go: Arc<Mutex<()>>,
}

impl Shared {
    pub(crate) fn new(segment: Segment) -> Self {
        Self {
            segment: ManuallyDrop::new(Arc::new(segment)),
            #[cfg(not(ferry_loom))]
            letting_go: Arc::default(),
        }
    }

    /// A hold on this segment that does not keep it alive.
    #[cfg(not(ferry_loom))]
    pub(crate) fn tether(&self) -> Tether {
        Tether { segment: Arc::downgrade(&self.segment), letting_go: Arc::clone(&self.letting_go) }
    }
}

impl Deref for Shared {
    type Target = Segment;

    fn deref(&self) -> &Segment {
        &self.segment
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        // A forked child has no other thread, so no tether to wait for, and a lock some
        // thread of the parent held at the fork would stay held here for ever.
        #[cfg(not(ferry_loom))]
        let _held = (!self.segment.is_forked_copy()).then(|| lock(&self.letting_go));
        // SAFETY: dropped once, here, and never used again. (With the lock held: a tether
        // that upgraded has let go again, so this is the last drop if no handle is left.)
        unsafe { ManuallyDrop::drop(&mut self.segment) };
    }
}

/// A hold on a segment that lets a thread use it while its handles have not let go of it.
#[cfg(not(ferry_loom))]
#[derive(Debug, Clone)]
pub(crate) struct Tether {
    segment: Weak<Segment>,
    letting_go: Arc<Mutex<()>>,
}

#[cfg(not(ferry_loom))]
impl Tether {
    /// Runs `f` on the segment if a handle still holds it; the handles' drops wait for
    /// `f` to return, and this never drops the segment itself.
    pub(crate) fn with<R>(&self, f: impl FnOnce(&Segment) -> R) -> Option<R> {
        let _held = lock(&self.letting_go);
        let segment = self.segment.upgrade()?;
        let result = f(&segment);
        // Under the lock, no handle's drop has gone past taking it: another share of the
        // segment outlives this one.
        drop(segment);
        Some(result)
    }

    /// Whether every handle has let go of the segment.
    pub(crate) fn is_cut(&self) -> bool {
        self.segment.strong_count() == 0
    }

    /// Whether this is a tether to `shared`'s segment.
    pub(crate) fn holds(&self, shared: &Shared) -> bool {
        std::ptr::eq(self.segment.as_ptr(), Arc::as_ptr(&shared.segment))
    }
}

#[cfg(not(ferry_loom))]
fn lock(mutex: &Mutex<()>) -> MutexGuard<'_, ()> {
    // The lock guards no data: a panic under it left nothing half done.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(all(test, not(ferry_loom)))]
mod tests {
    use std::{sync::mpsc, thread, time::Duration};

    use super::*;
    use crate::config::Config;

    fn shared() -> Shared {
        Shared::new(Segment::heap(Config::new().capacity(8).slot_size(8).geometry(), 1).expect("a heap segment"))
    }

    #[test]
    fn a_tether_reaches_the_segment_while_a_handle_holds_it() {
        let first = shared();
        let second = first.clone();
        let tether = first.tether();
        assert!(tether.holds(&second));
        assert!(!tether.holds(&shared()));
        assert_eq!(tether.with(|segment| segment.geometry().capacity), Some(8));
        drop(first);
        assert!(!tether.is_cut());
        assert!(tether.with(|_| ()).is_some());
        drop(second);
        assert!(tether.is_cut());
        assert_eq!(tether.with(|_| ()), None);
    }

    #[test]
    fn the_last_handle_lets_go_only_after_a_use_through_a_tether() {
        let handle = shared();
        let tether = handle.tether();
        let (entered, inside) = mpsc::channel();
        let (release, released) = mpsc::channel::<()>();
        let user = thread::spawn(move || {
            tether.with(|_| {
                entered.send(()).expect("the test waits");
                released.recv().expect("the test releases");
            })
        });
        inside.recv().expect("the use has begun");
        let later = handle.tether();
        let dropper = thread::spawn(move || drop(handle));
        thread::sleep(Duration::from_millis(50));
        assert!(!dropper.is_finished(), "the handle let go while the tether used the segment");
        assert!(!later.is_cut());
        release.send(()).expect("the use waits");
        assert_eq!(user.join().expect("the use"), Some(()));
        dropper.join().expect("the drop");
        // The handle's drop, not the tether's, was the last: the segment is gone now.
        assert!(later.is_cut());
    }
}
