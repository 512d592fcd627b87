//! [`Tally`]: a snapshot folded as it is read into a count per kind of item, with the first few
//! names of each kind and their positions.
//!
//! A hook that bills 100 000 Nodes needs only how many there are of each kind (group, annotation,
//! quantities, …) and a few names for its log lines and errors, so it keeps no per-item memory:
//! its [`Collect`](crate::Collect) for the snapshot maps each item to its kind and name and calls
//! [`Tally::add`]. Positions are the order the items were added in (snapshot order), so what a
//! hook reports from the tally (the first names over several kinds, the first failing item) is
//! what reading the items one by one would have reported.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::Hash;

/// Items counted per kind `K`, with the names `N` of the first `NAMES` items of each kind and their
/// positions. Kinds are hashed with foldhash: one lookup per item (std's SipHash costs 3-4× as much
/// per lookup on 100 000 Nodes).
#[derive(Debug)]
pub struct Tally<K, N, const NAMES: usize> {
    /// Items taken so far: the position of the next one.
    seen: usize,
    kinds: HashMap<K, Members<N>, foldhash::fast::RandomState>,
}

/// The items of one kind in a [`Tally`]: how many, and the first names with their positions.
#[derive(Debug)]
pub struct Members<N> {
    count: usize,
    /// The first item, inline: where every item is a kind of its own (every Node reports its own
    /// memory figure, `16351048Ki`, `16351040Ki`, …) a kind costs no allocation of its own.
    first: (usize, N),
    /// The next items' names, up to the tally's limit.
    more: Vec<(usize, N)>,
}

impl<K, N, const NAMES: usize> Default for Tally<K, N, NAMES> {
    fn default() -> Self {
        Self { seen: 0, kinds: HashMap::default() }
    }
}

impl<K: Eq + Hash, N, const NAMES: usize> Tally<K, N, NAMES> {
    /// Counts the next item: of kind `kind`, named `name` (kept if among the first `NAMES` of
    /// its kind).
    pub fn add(&mut self, kind: K, name: N) {
        let position = self.seen;
        self.seen += 1;
        match self.kinds.entry(kind) {
            Entry::Occupied(mut e) => {
                let members = e.get_mut();
                members.count += 1;
                if members.more.len() + 1 < NAMES {
                    members.more.push((position, name));
                }
            }
            Entry::Vacant(e) => {
                e.insert(Members { count: 1, first: (position, name), more: Vec::new() });
            }
        }
    }

    /// Each kind with its members, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &Members<N>)> {
        self.kinds.iter()
    }

    /// Each kind with its members, in the order of each kind's first item.
    #[must_use]
    pub fn in_order(&self) -> Vec<(&K, &Members<N>)> {
        let mut kinds: Vec<_> = self.kinds.iter().collect();
        kinds.sort_unstable_by_key(|(_, m)| m.first.0);
        kinds
    }

    /// The first `NAMES` names over the items of several kinds (of this tally), in the order the
    /// items were added.
    pub fn first_names<'t>(kinds: impl IntoIterator<Item = &'t Members<N>>) -> Vec<&'t N>
    where
        N: 't,
    {
        let mut names: Vec<&(usize, N)> = kinds.into_iter().flat_map(Members::names).collect();
        names.sort_unstable_by_key(|(position, _)| *position);
        names.into_iter().take(NAMES).map(|(_, name)| name).collect()
    }
}

impl<N> Members<N> {
    /// How many items are of this kind.
    #[must_use]
    pub fn count(&self) -> usize {
        self.count
    }

    /// The name of this kind's first item.
    #[must_use]
    pub fn first(&self) -> &N {
        &self.first.1
    }

    /// The names kept (the first items of this kind) with their positions, in order.
    fn names(&self) -> impl Iterator<Item = &(usize, N)> {
        std::iter::once(&self.first).chain(&self.more)
    }
}

#[cfg(test)]
mod tests {
    use super::Tally;

    type Letters = Tally<char, String, 3>;

    /// `a b a c a a b a`: kind and name of each item in turn (names `a0`, `b1`, …).
    fn tally(kinds: &str) -> Letters {
        let mut t = Letters::default();
        for (i, k) in kinds.chars().filter(|c| !c.is_whitespace()).enumerate() {
            t.add(k, format!("{k}{i}"));
        }
        t
    }

    fn names<'t>(t: &'t Letters, kinds: &[char]) -> Vec<&'t str> {
        let members = t.iter().filter(|(k, _)| kinds.contains(k)).map(|(_, m)| m);
        Letters::first_names(members).into_iter().map(String::as_str).collect()
    }

    #[test]
    fn counts_every_item_and_keeps_the_first_names_of_each_kind() {
        let t = tally("a b a c a a b a");
        let counts: Vec<(char, usize, &str)> =
            t.in_order().into_iter().map(|(k, m)| (*k, m.count(), m.first().as_str())).collect();
        assert_eq!(counts, [('a', 5, "a0"), ('b', 2, "b1"), ('c', 1, "c3")], "in the order of first items");
        assert_eq!(names(&t, &['a']), ["a0", "a2", "a4"], "the first three of five");
        assert_eq!(names(&t, &['b']), ["b1", "b6"]);
    }

    #[test]
    fn first_names_over_kinds_are_in_item_order() {
        let t = tally("c b c a b b c a");
        assert_eq!(names(&t, &['a', 'b']), ["b1", "a3", "b4"]);
        assert_eq!(names(&t, &['a', 'c']), ["c0", "c2", "a3"]);
        assert_eq!(names(&t, &['a', 'b', 'c']), ["c0", "b1", "c2"]);
        assert!(names(&t, &[]).is_empty());
        assert!(Letters::default().in_order().is_empty());
    }
}
