//! The builder of a tag column: each row's key into the distinct values
//! seen so far, sealed into an Arrow `DictionaryArray<Int32>`.
//!
//! Arrow's `StringDictionaryBuilder` hashes every appended value and
//! compares it with `memcmp`; tag values repeat from line to line (a
//! Telegraf batch is one host's), so this one first compares with the
//! previous row's value, and otherwise hashes with hashbrown's fast hasher
//! and compares short values inline.

use std::hash::BuildHasher;
use std::sync::Arc;

use arrow_array::builder::{ArrayBuilder, Int32Builder, StringBuilder};
use arrow_array::types::Int32Type;
use arrow_array::{Array, DictionaryArray, StringArray};
use hashbrown::{DefaultHashBuilder, HashTable};

pub struct TagBuilder {
    keys: Int32Builder,
    values: StringBuilder,
    /// Ids of the distinct values, by the hash of their bytes.
    ids: HashTable<u32>,
    hasher: DefaultHashBuilder,
    /// The id of the last value appended.
    last: Option<u32>,
}

impl TagBuilder {
    pub fn with_capacity(rows: usize) -> TagBuilder {
        TagBuilder {
            keys: Int32Builder::with_capacity(rows),
            // Distinct values are far fewer than rows, and a column of a
            // small table should stay small.
            values: StringBuilder::with_capacity(rows.min(256), rows.min(256) * 16),
            ids: HashTable::with_capacity(rows.min(256)),
            hasher: DefaultHashBuilder::default(),
            last: None,
        }
    }

    #[inline]
    pub fn append_value(&mut self, value: &str) {
        let bytes = value.as_bytes();
        let id = match self.last {
            Some(id) if short_eq(stored(&self.values, id), bytes) => id,
            _ => self.intern(bytes, value),
        };
        self.last = Some(id);
        self.keys.append_value(id as i32);
    }

    fn intern(&mut self, bytes: &[u8], value: &str) -> u32 {
        let hash = self.hasher.hash_one(bytes);
        let TagBuilder {
            values,
            ids,
            hasher,
            ..
        } = self;
        if let Some(&id) = ids.find(hash, |&id| short_eq(stored(values, id), bytes)) {
            return id;
        }
        let id = values.len() as u32;
        values.append_value(value);
        ids.insert_unique(hash, id, |&id| hasher.hash_one(stored(values, id)));
        id
    }

    pub fn append_nulls(&mut self, n: usize) {
        self.keys.append_nulls(n);
    }

    /// The distinct values so far (each at least one row's).
    pub fn distinct(&self) -> impl Iterator<Item = &str> {
        (0..self.values.len() as u32).map(|id| {
            // SAFETY: every stored value was appended from a `&str`.
            unsafe { std::str::from_utf8_unchecked(stored(&self.values, id)) }
        })
    }

    /// The rows as a dictionary array; the builder starts over empty.
    pub fn finish(&mut self) -> DictionaryArray<Int32Type> {
        let keys = self.keys.finish();
        let values: StringArray = self.values.finish();
        self.ids.clear();
        self.last = None;
        dictionary(keys, values)
    }

    /// The rows so far as a dictionary array, the builder unchanged.
    pub fn finish_cloned(&self) -> DictionaryArray<Int32Type> {
        dictionary(self.keys.finish_cloned(), self.values.finish_cloned())
    }
}

/// The `id`th distinct value in `values`.
#[inline]
fn stored(values: &StringBuilder, id: u32) -> &[u8] {
    let offsets = values.offsets_slice();
    let (from, to) = (offsets[id as usize], offsets[id as usize + 1]);
    &values.values_slice()[from as usize..to as usize]
}

fn dictionary(keys: arrow_array::Int32Array, values: StringArray) -> DictionaryArray<Int32Type> {
    debug_assert!(keys.iter().flatten().all(|k| (k as usize) < values.len()));
    // SAFETY: every key is the id of a value appended before it, so each
    // indexes `values`; `values` has no nulls.
    unsafe { DictionaryArray::new_unchecked(keys, Arc::new(values)) }
}

/// Byte equality tuned for short values (tag values, keys): one or two
/// loads per side up to 32 bytes instead of a call into `memcmp`.
#[inline(always)]
pub(crate) fn short_eq(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let u32_at = |s: &[u8], at: usize| u32::from_le_bytes(s[at..at + 4].try_into().expect("4"));
    let u64_at = |s: &[u8], at: usize| u64::from_le_bytes(s[at..at + 8].try_into().expect("8"));
    let u128_at = |s: &[u8], at: usize| u128::from_le_bytes(s[at..at + 16].try_into().expect("16"));
    match n {
        0 => true,
        // The first, middle and last byte are every byte.
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        // Two overlapping words cover the value.
        4..=7 => u32_at(a, 0) == u32_at(b, 0) && u32_at(a, n - 4) == u32_at(b, n - 4),
        8..=16 => u64_at(a, 0) == u64_at(b, 0) && u64_at(a, n - 8) == u64_at(b, n - 8),
        // Telegraf's longer field keys (`available_percent`,
        // `kernel_context_switches`) stay out of `memcmp` too.
        17..=32 => u128_at(a, 0) == u128_at(b, 0) && u128_at(a, n - 16) == u128_at(b, n - 16),
        _ => a == b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow_array::cast::AsArray;

    /// The rows of a dictionary array, decoded.
    fn rows(array: &DictionaryArray<Int32Type>) -> Vec<Option<String>> {
        let values = array.values().as_string::<i32>();
        array
            .keys()
            .iter()
            .map(|k| k.map(|k| values.value(k as usize).to_string()))
            .collect()
    }

    #[test]
    fn matches_arrows_dictionary_builder() {
        // Repeats, runs, nulls, empty strings, 8..16-byte values that share
        // a head or a tail, long values, and enough distinct ones to rehash.
        let mut input: Vec<Option<String>> = Vec::new();
        for i in 0..3000u32 {
            input.push(match i % 11 {
                0 => None,
                1 => Some(String::new()),
                2 | 3 => Some(format!("server-{:04}", i % 37)),
                4 => Some(format!("{:04}-server", i % 37)),
                5 => Some(format!("a-rather-long-tag-value-{}", i % 500)),
                6 => Some("x".repeat((i % 17) as usize)),
                _ => Some(format!("v{}", i % 700)),
            });
        }
        let mut ours = TagBuilder::with_capacity(16);
        let mut arrow = arrow_array::builder::StringDictionaryBuilder::<Int32Type>::new();
        for v in &input {
            match v {
                Some(v) => {
                    ours.append_value(v);
                    arrow.append_value(v);
                }
                None => {
                    ours.append_nulls(1);
                    arrow.append_null();
                }
            }
        }
        let cloned = ours.finish_cloned();
        assert_eq!(cloned.len(), input.len());
        let mut distinct: Vec<&str> = ours.distinct().collect();
        distinct.sort_unstable();
        let mut expected: Vec<&str> = input.iter().flatten().map(|s| s.as_str()).collect();
        expected.sort_unstable();
        expected.dedup();
        assert_eq!(distinct, expected);
        let finished = ours.finish();
        assert_eq!(rows(&finished), input);
        assert_eq!(rows(&cloned), input);
        assert_eq!(rows(&arrow.finish()), input);
        // Distinct values are stored once.
        assert_eq!(finished.values().len(), expected.len());
        // Equality at every short length, differing at every byte.
        for n in 0..40usize {
            let a: Vec<u8> = (0..n as u8).collect();
            assert!(short_eq(&a, &a.clone()), "{n}");
            for k in 0..n {
                let mut b = a.clone();
                b[k] ^= 0x20;
                assert!(!short_eq(&a, &b), "{n} {k}");
            }
            assert!(!short_eq(&a, &a[..n.saturating_sub(1)]) || n == 0);
        }
        // Finishing starts over.
        assert!(ours.finish_cloned().is_empty());
        ours.append_value("again");
        assert_eq!(rows(&ours.finish()), vec![Some("again".to_string())]);
    }
}
