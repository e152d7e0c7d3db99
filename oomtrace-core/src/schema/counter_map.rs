//! Counters by their kernel enum name, in enum order (the index is the
//! position), with the names shared between maps that have the same ones.
//!
//! A session's events come from one kernel, so every event's node counters
//! have the same names in the same order, and so have its zones'. A map
//! read from JSON whose names are those of a map read before shares that
//! map's names (one `Arc`) and keeps only its values: reading it costs a
//! comparison per name, where building an index cost an inline string and a
//! hash per name (a third of the time a report took to read an event).

use compact_str::CompactString;
use indexmap::IndexSet;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Arc;

/// Names in order, with an index of where each is.
type Names = IndexSet<CompactString, foldhash::fast::RandomState>;

#[derive(Clone, Default)]
pub struct CounterMap {
    names: Arc<Names>,
    values: Vec<i64>,
}

impl CounterMap {
    pub fn new() -> Self {
        Self::default()
    }

    /// Which set of names this map has: the same for maps that share
    /// them, while one of them lives (a cache key, not an identity).
    pub fn names_id(&self) -> usize {
        Arc::as_ptr(&self.names) as usize
    }

    pub fn len(&self) -> usize {
        self.values.len()
    }

    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Sets `name` to `value`, in place if it is there, else at the end.
    pub fn insert(&mut self, name: CompactString, value: i64) -> Option<i64> {
        if let Some(i) = self.names.get_index_of(name.as_str()) {
            return Some(std::mem::replace(&mut self.values[i], value));
        }
        Arc::make_mut(&mut self.names).insert(name);
        self.values.push(value);
        None
    }

    pub fn get(&self, name: &str) -> Option<&i64> {
        self.values.get(self.names.get_index_of(name)?)
    }

    /// Where `name` is, and its value.
    pub fn get_full(&self, name: &str) -> Option<(usize, &CompactString, &i64)> {
        let (i, k) = self.names.get_full(name)?;
        Some((i, k, &self.values[i]))
    }

    pub fn get_index(&self, index: usize) -> Option<(&CompactString, &i64)> {
        Some((self.names.get_index(index)?, self.values.get(index)?))
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.names.contains(name)
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&CompactString, &i64)> + Clone {
        self.names.iter().zip(self.values.iter())
    }

    pub fn keys(&self) -> indexmap::set::Iter<'_, CompactString> {
        self.names.iter()
    }

    pub fn values(&self) -> impl ExactSizeIterator<Item = &i64> + Clone {
        self.values.iter()
    }
}

/// `m["NAME"]`: the value, or a panic naming the missing counter.
impl std::ops::Index<&str> for CounterMap {
    type Output = i64;
    fn index(&self, name: &str) -> &i64 {
        self.get(name)
            .unwrap_or_else(|| panic!("no counter {name} in this map"))
    }
}

impl<'a> IntoIterator for &'a CounterMap {
    type Item = (&'a CompactString, &'a i64);
    type IntoIter =
        std::iter::Zip<indexmap::set::Iter<'a, CompactString>, std::slice::Iter<'a, i64>>;
    fn into_iter(self) -> Self::IntoIter {
        self.names.iter().zip(self.values.iter())
    }
}

impl FromIterator<(CompactString, i64)> for CounterMap {
    fn from_iter<I: IntoIterator<Item = (CompactString, i64)>>(iter: I) -> Self {
        let mut m = CounterMap::new();
        m.extend(iter);
        m
    }
}

impl Extend<(CompactString, i64)> for CounterMap {
    fn extend<I: IntoIterator<Item = (CompactString, i64)>>(&mut self, iter: I) {
        for (k, v) in iter {
            self.insert(k, v);
        }
    }
}

/// As `IndexMap`'s: the same names with the same values, in any order.
impl PartialEq for CounterMap {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && (Arc::ptr_eq(&self.names, &other.names) && self.values == other.values
                || self.iter().all(|(k, v)| other.get(k) == Some(v)))
    }
}

impl std::fmt::Debug for CounterMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl Serialize for CounterMap {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.len()))?;
        for (k, v) in self {
            m.serialize_entry(k.as_str(), v)?;
        }
        m.end()
    }
}

/// The name sets read last on this thread, newest last: a session has a
/// few (the node counters, the zone counters, a retry tracepoint's fields).
const RECENT: usize = 8;

thread_local! {
    static RECENT_NAMES: RefCell<Vec<Arc<Names>>> = const { RefCell::new(Vec::new()) };
}

/// A set of names read anew: kept among the recent ones for the next maps.
fn remember(names: Names) -> Arc<Names> {
    let names = Arc::new(names);
    RECENT_NAMES.with_borrow_mut(|r| {
        if r.len() == RECENT {
            r.remove(0);
        }
        r.push(names.clone());
    });
    names
}

/// A map key as JSON holds it: borrowed from the line where it has no escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a counter name")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(v)))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

impl<'de> Deserialize<'de> for CounterMap {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Counters;
        impl<'de> Visitor<'de> for Counters {
            type Value = CounterMap;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a map of counter names to integers")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<CounterMap, A::Error> {
                // A node has about 70 counters on 7.x, a zone about 12.
                let mut values: Vec<i64> = Vec::with_capacity(m.size_hint().unwrap_or(64));
                // The recent name set this map's names have been so far.
                let mut same: Option<Arc<Names>> = None;
                // Its own names, once they are not a recent set's.
                let mut own: Option<Names> = None;
                while let Some(Key(k)) = m.next_key::<Key<'de>>()? {
                    let v: i64 = m.next_value()?;
                    let i = values.len();
                    if own.is_none() {
                        if i == 0 {
                            same = RECENT_NAMES.with_borrow(|r| {
                                r.iter()
                                    .rev()
                                    .find(|n| n.first().is_some_and(|f| *f == *k))
                                    .cloned()
                            });
                        }
                        match &same {
                            Some(names) if names.get_index(i).is_some_and(|n| *n == *k) => {
                                values.push(v);
                                continue;
                            }
                            // From here its own: the set's names so far.
                            _ => {
                                let mut names = Names::with_capacity_and_hasher(
                                    values.capacity().max(i + 1),
                                    Default::default(),
                                );
                                if let Some(s) = same.take() {
                                    names.extend(s.iter().take(i).cloned());
                                }
                                own = Some(names);
                            }
                        }
                    }
                    let names = own.as_mut().expect("set just above");
                    match names.get_index_of(&*k) {
                        // A name given twice: the last value, as a map keeps.
                        Some(at) => values[at] = v,
                        None => {
                            names.insert(CompactString::from(&*k));
                            values.push(v);
                        }
                    }
                }
                let names = match (own, same) {
                    (Some(names), _) => remember(names),
                    (None, Some(names)) if names.len() == values.len() => names,
                    // The first names of a recent set: a set of their own.
                    (None, Some(names)) => {
                        remember(names.iter().take(values.len()).cloned().collect())
                    }
                    (None, None) => Arc::default(),
                };
                Ok(CounterMap { names, values })
            }
        }
        d.deserialize_map(Counters)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(json: &str) -> CounterMap {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn maps_with_the_same_names_share_them_and_keep_their_own_values() {
        let a = read(r#"{"NR_FREE_PAGES":5,"NR_ZONE_ACTIVE_ANON":7}"#);
        let b = read(r#"{"NR_FREE_PAGES":6,"NR_ZONE_ACTIVE_ANON":8}"#);
        assert!(Arc::ptr_eq(&a.names, &b.names));
        assert_eq!(
            (a.get("NR_FREE_PAGES"), b.get("NR_FREE_PAGES")),
            (Some(&5), Some(&6))
        );
        assert_eq!(b.get("NR_ZONE_ACTIVE_ANON"), Some(&8));
        assert_ne!(a, b);
    }

    #[test]
    fn a_map_that_leaves_a_recent_set_has_its_own_names_in_its_order() {
        read(r#"{"A":1,"B":2,"C":3}"#);
        let m = read(r#"{"A":4,"B":5,"D":6,"C":7}"#);
        let names: Vec<&str> = m.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["A", "B", "D", "C"]);
        assert_eq!(m.values().copied().collect::<Vec<_>>(), [4, 5, 6, 7]);
        assert_eq!((m.get("D"), m.get("C")), (Some(&6), Some(&7)));
        // A shorter map: the first names of a set, and no others.
        let short = read(r#"{"A":8}"#);
        assert_eq!((short.len(), short.get("B")), (1, None));
        let again = read(r#"{"A":1,"B":2,"C":3}"#);
        assert_eq!(again.len(), 3);
        assert_eq!(again.get("C"), Some(&3));
    }

    #[test]
    fn a_name_given_twice_keeps_the_last_value_and_escapes_are_read() {
        let m = read(r#"{"A":1,"B":2,"A":3,"x\"y":4}"#);
        assert_eq!(m.len(), 3);
        assert_eq!((m.get("A"), m.get("x\"y")), (Some(&3), Some(&4)));
        let empty = read("{}");
        assert!(empty.is_empty());
    }

    #[test]
    fn written_as_read_in_order_and_equal_in_any_order() {
        let json = r#"{"B":2,"A":1}"#;
        let m = read(json);
        assert_eq!(serde_json::to_string(&m).unwrap(), json);
        let other: CounterMap = [("A".into(), 1), ("B".into(), 2)].into_iter().collect();
        assert_eq!(m, other);
        let mut changed = other.clone();
        assert_eq!(changed.insert("A".into(), 9), Some(1));
        assert_ne!(m, changed);
        assert_eq!(
            other.get("A"),
            Some(&1),
            "a clone's insert leaves the original"
        );
    }
}
