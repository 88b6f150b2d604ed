//! Connection deadlines: a binary heap of `(deadline, key)` with lazy deletion.
//!
//! The owner of a deadline (a connection) keeps its current deadline in a
//! [`TimerSlot`]; the heap only holds *reminders*. [`Timers::schedule`] pushes
//! a reminder only when the new deadline is earlier than the one already
//! queued for that owner, so the common case (a deadline moving later, e.g.
//! keep-alive after each response) costs nothing. When a reminder falls due,
//! [`Timers::fire`] tells whether the owner's deadline really passed, and
//! re-queues the reminder at the new deadline when it moved later. Nothing
//! ever scans all connections.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

use super::slab::Key;

/// The deadline heap.
#[derive(Debug, Default)]
pub struct Timers {
    heap: BinaryHeap<Reverse<(Instant, usize)>>,
}

/// Per-owner bookkeeping kept beside the owner's state.
#[derive(Debug, Default, Clone, Copy)]
pub struct TimerSlot {
    deadline: Option<Instant>,
    /// The earliest reminder in the heap for this owner.
    queued: Option<Instant>,
}

impl TimerSlot {
    /// Whether the reminder queued for this owner is the one at `at`.
    pub fn is_queued_at(&self, at: Instant) -> bool {
        self.queued == Some(at)
    }
}

impl Timers {
    /// Sets `slot`'s deadline to `at` (or clears it), queueing a reminder only
    /// when none as early is queued already.
    pub fn schedule(&mut self, key: Key, slot: &mut TimerSlot, at: Option<Instant>) {
        slot.deadline = at;
        if let Some(at) = at {
            let earlier = match slot.queued {
                Some(q) => at < q,
                None => true,
            };
            if earlier {
                self.heap.push(Reverse((at, key.to_usize())));
                slot.queued = Some(at);
            }
        }
    }

    /// The earliest queued reminder; the poll timeout is derived from it.
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((at, _))| *at)
    }

    /// Removes and returns the next reminder due at `now`, if any. The caller
    /// passes it with the owner's slot to [`Timers::fire`] (or drops it when
    /// the owner is gone).
    pub fn pop_due(&mut self, now: Instant) -> Option<(Instant, Key)> {
        match self.heap.peek() {
            Some(Reverse((at, _))) if *at <= now => {
                self.heap.pop().map(|Reverse((at, key))| (at, Key::from_usize(key)))
            }
            _ => None,
        }
    }

    /// Handles a reminder popped by [`Timers::pop_due`] for the owner of
    /// `slot`: returns `true` when its deadline has passed (the deadline is
    /// then cleared); re-queues a reminder when the deadline moved later.
    pub fn fire(&mut self, reminder: (Instant, Key), slot: &mut TimerSlot, now: Instant) -> bool {
        let (at, key) = reminder;
        if slot.queued != Some(at) {
            // An earlier reminder replaced this one; it was handled already.
            return false;
        }
        slot.queued = None;
        match slot.deadline {
            Some(d) if d <= now => {
                slot.deadline = None;
                true
            }
            Some(d) => {
                self.heap.push(Reverse((d, key.to_usize())));
                slot.queued = Some(d);
                false
            }
            None => false,
        }
    }

    /// Drops every reminder for which `live(key, at)` is false (stale ones),
    /// bounding the heap when deadlines keep moving earlier.
    pub fn retain(&mut self, mut live: impl FnMut(Key, Instant) -> bool) {
        self.heap.retain(|Reverse((at, key))| live(Key::from_usize(*key), *at));
    }

    /// Number of reminders queued (stale ones included).
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no reminder is queued.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::super::slab::Slab;
    use super::*;
    use std::time::Duration;

    fn fire_all(timers: &mut Timers, slots: &mut Slab<TimerSlot>, now: Instant) -> Vec<Key> {
        let mut fired = Vec::new();
        while let Some(r) = timers.pop_due(now) {
            if let Some(slot) = slots.get_mut(r.1) {
                if timers.fire(r, slot, now) {
                    fired.push(r.1);
                }
            }
        }
        fired
    }

    #[test]
    fn fires_in_order_and_only_when_due() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut timers = Timers::default();
        let mut slots: Slab<TimerSlot> = Slab::default();
        let a = slots.insert(TimerSlot::default()).unwrap_or_else(|_| unreachable!());
        let b = slots.insert(TimerSlot::default()).unwrap_or_else(|_| unreachable!());
        for (k, at) in [(a, t0 + 2 * s), (b, t0 + s)] {
            let slot = slots.get_mut(k).unwrap_or_else(|| unreachable!());
            timers.schedule(k, slot, Some(at));
        }
        assert_eq!(timers.next(), Some(t0 + s));
        assert!(fire_all(&mut timers, &mut slots, t0).is_empty());
        assert_eq!(fire_all(&mut timers, &mut slots, t0 + s), vec![b]);
        assert_eq!(fire_all(&mut timers, &mut slots, t0 + 3 * s), vec![a]);
        assert!(timers.is_empty());
    }

    #[test]
    fn later_deadline_pushes_nothing_and_requeues_on_fire() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut timers = Timers::default();
        let mut slots: Slab<TimerSlot> = Slab::default();
        let a = slots.insert(TimerSlot::default()).unwrap_or_else(|_| unreachable!());
        let slot = slots.get_mut(a).unwrap_or_else(|| unreachable!());
        timers.schedule(a, slot, Some(t0 + s));
        for i in 2..100 {
            timers.schedule(a, slot, Some(t0 + i * s));
        }
        assert_eq!(timers.len(), 1);
        assert!(fire_all(&mut timers, &mut slots, t0 + s).is_empty());
        assert_eq!(timers.next(), Some(t0 + 99 * s));
        assert_eq!(fire_all(&mut timers, &mut slots, t0 + 99 * s), vec![a]);
    }

    #[test]
    fn earlier_deadline_and_cleared_and_removed_owner() {
        let t0 = Instant::now();
        let s = Duration::from_secs(1);
        let mut timers = Timers::default();
        let mut slots: Slab<TimerSlot> = Slab::default();
        let a = slots.insert(TimerSlot::default()).unwrap_or_else(|_| unreachable!());
        let b = slots.insert(TimerSlot::default()).unwrap_or_else(|_| unreachable!());
        let c = slots.insert(TimerSlot::default()).unwrap_or_else(|_| unreachable!());
        {
            let slot = slots.get_mut(a).unwrap_or_else(|| unreachable!());
            timers.schedule(a, slot, Some(t0 + 10 * s));
            timers.schedule(a, slot, Some(t0 + s));
        }
        {
            let slot = slots.get_mut(b).unwrap_or_else(|| unreachable!());
            timers.schedule(b, slot, Some(t0 + s));
            timers.schedule(b, slot, None);
        }
        {
            let slot = slots.get_mut(c).unwrap_or_else(|| unreachable!());
            timers.schedule(c, slot, Some(t0 + s));
        }
        slots.remove(c);
        assert_eq!(fire_all(&mut timers, &mut slots, t0 + s), vec![a]);
        // Compaction keeps only the reminders their owners still wait for.
        assert_eq!(timers.len(), 1);
        timers.retain(|k, at| slots.get(k).is_some_and(|s| s.is_queued_at(at)));
        assert!(timers.is_empty());
        // The stale 10 s reminder for `a` does not fire again.
        assert!(fire_all(&mut timers, &mut slots, t0 + 20 * s).is_empty());
        assert!(timers.is_empty());
    }
}
