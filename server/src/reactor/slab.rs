//! A slab of connections addressed by generation-tagged tokens.
//!
//! A [`Key`] is a slot index plus the slot's generation when the value was
//! inserted. Removing a value bumps the generation, so a key (or an event
//! token built from it) that outlives its value never reaches the slot's next
//! occupant: the stale-event rule of DESIGN.md §6.

/// A slot index plus generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    index: u32,
    generation: u32,
}

/// Bits of a token used for the slot index; the generation takes the rest
/// (minus one bit, so connection tokens never reach the reserved top range).
const INDEX_BITS: u32 = usize::BITS / 2;
const INDEX_MASK: usize = (1 << INDEX_BITS) - 1;
const GENERATION_MASK: u32 = ((1u64 << (usize::BITS - INDEX_BITS - 1)) - 1) as u32;

impl Key {
    /// Encodes the key as a poller token value.
    pub fn to_usize(self) -> usize {
        (self.generation as usize) << INDEX_BITS | self.index as usize
    }

    /// Decodes a token value made by [`Key::to_usize`].
    pub fn from_usize(v: usize) -> Key {
        Key { index: (v & INDEX_MASK) as u32, generation: (v >> INDEX_BITS) as u32 }
    }

    /// Largest token value a key can encode to.
    pub const MAX_TOKEN: usize = (GENERATION_MASK as usize) << INDEX_BITS | INDEX_MASK;
}

#[derive(Debug)]
struct Slot<T> {
    generation: u32,
    value: Option<T>,
}

/// Values in reusable slots with a free list.
#[derive(Debug)]
pub struct Slab<T> {
    slots: Vec<Slot<T>>,
    free: Vec<u32>,
    len: usize,
}

impl<T> Default for Slab<T> {
    fn default() -> Self {
        Slab { slots: Vec::new(), free: Vec::new(), len: 0 }
    }
}

impl<T> Slab<T> {
    /// Number of values held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the slab holds no value.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The key the next [`Slab::insert`] will return, or `None` when full.
    pub fn vacant_key(&self) -> Option<Key> {
        match self.free.last() {
            Some(&index) => {
                let generation = self.slots.get(index as usize)?.generation;
                Some(Key { index, generation })
            }
            None if self.slots.len() <= INDEX_MASK => {
                Some(Key { index: self.slots.len() as u32, generation: 0 })
            }
            None => None,
        }
    }

    /// Stores `value`; returns its key, or gives the value back when full.
    pub fn insert(&mut self, value: T) -> Result<Key, T> {
        let Some(key) = self.vacant_key() else { return Err(value) };
        if self.free.last() == Some(&key.index) {
            self.free.pop();
            if let Some(slot) = self.slots.get_mut(key.index as usize) {
                slot.value = Some(value);
            }
        } else {
            self.slots.push(Slot { generation: 0, value: Some(value) });
        }
        self.len += 1;
        Ok(key)
    }

    /// The value under `key`, unless it was removed since.
    pub fn get_mut(&mut self, key: Key) -> Option<&mut T> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        slot.value.as_mut()
    }

    /// The value under `key`, unless it was removed since.
    pub fn get(&self, key: Key) -> Option<&T> {
        let slot = self.slots.get(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        slot.value.as_ref()
    }

    /// Removes and returns the value under `key`; the slot's generation moves on.
    pub fn remove(&mut self, key: Key) -> Option<T> {
        let slot = self.slots.get_mut(key.index as usize)?;
        if slot.generation != key.generation {
            return None;
        }
        let value = slot.value.take()?;
        slot.generation = (slot.generation + 1) & GENERATION_MASK;
        self.free.push(key.index);
        self.len -= 1;
        Some(value)
    }

    /// Keys of every value held.
    pub fn keys(&self) -> Vec<Key> {
        self.slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.value.is_some())
            .map(|(i, s)| Key { index: i as u32, generation: s.generation })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_get_remove() {
        let mut slab = Slab::default();
        let a = slab.insert("a").unwrap_or_else(|_| unreachable!());
        let b = slab.insert("b").unwrap_or_else(|_| unreachable!());
        assert_eq!(slab.len(), 2);
        assert_eq!(slab.get(a), Some(&"a"));
        assert_eq!(slab.remove(a), Some("a"));
        assert_eq!(slab.get(a), None);
        assert_eq!(slab.remove(a), None);
        // The slot is reused with a new generation: the old key stays dead.
        let c = slab.insert("c").unwrap_or_else(|_| unreachable!());
        assert_ne!(a, c);
        assert_eq!(slab.get(a), None);
        assert_eq!(slab.get(c), Some(&"c"));
        assert_eq!(slab.get(b), Some(&"b"));
        assert_eq!(slab.keys().len(), 2);
    }

    #[test]
    fn tokens_round_trip_and_stay_below_reserved() {
        let mut slab = Slab::default();
        for _ in 0..5 {
            let k = slab.insert(()).unwrap_or_else(|_| unreachable!());
            assert_eq!(Key::from_usize(k.to_usize()), k);
            slab.remove(k);
        }
        let k = Key { index: INDEX_MASK as u32, generation: GENERATION_MASK };
        assert_eq!(k.to_usize(), Key::MAX_TOKEN);
        const { assert!(Key::MAX_TOKEN < usize::MAX / 2 + 1) };
    }

    #[test]
    fn generation_wraps_within_mask() {
        let mut slab = Slab::default();
        let mut k = slab.insert(()).unwrap_or_else(|_| unreachable!());
        slab.slots[0].generation = GENERATION_MASK;
        k.generation = GENERATION_MASK;
        slab.remove(k);
        assert_eq!(slab.slots[0].generation, 0);
    }
}
