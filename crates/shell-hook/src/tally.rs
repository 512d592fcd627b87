//! [`Tally`]: a snapshot folded as it is read into a count per kind of item, with the first few
//! names of each kind and their positions.
//!
//! A hook that bills 100 000 Nodes needs only how many there are of each kind (group, annotation,
//! …), what it folds per kind (sums of quantities) and a few names for its log lines and errors,
//! so it keeps no per-item memory: its collector for the snapshot (an [`Extend`]) maps each item
//! to its kind and name and calls [`Tally::add`], then folds the item into what `add` returns.
//! Positions are the order the items were added in (snapshot order), so what a hook reports from
//! the tally (the first names over several kinds, the first failing item) is what reading the
//! items one by one would have reported.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::Hash;

/// Items counted per kind `K`, with the names `N` of the first `NAMES` items of each kind and their
/// positions, and whatever the hook folds per kind, `A`. Kinds are hashed with foldhash: one lookup
/// per item (std's SipHash costs 3-4× as much per lookup on 100 000 Nodes).
#[derive(Debug)]
pub struct Tally<K, N, const NAMES: usize, A = ()> {
    /// Items taken so far: the position of the next one.
    seen: usize,
    kinds: HashMap<K, Members<N, A>, foldhash::fast::RandomState>,
}

/// The items of one kind in a [`Tally`]: how many, the first names with their positions, and what
/// the hook folded.
#[derive(Debug)]
pub struct Members<N, A = ()> {
    count: usize,
    folded: A,
    /// The first item, inline: where every item is a kind of its own (every Node reports its own
    /// memory figure, `16351048Ki`, `16351040Ki`, …) a kind costs no allocation of its own.
    first: (usize, N),
    /// The next items' names, up to the tally's limit.
    more: Vec<(usize, N)>,
}

impl<K, N, const NAMES: usize, A> Default for Tally<K, N, NAMES, A> {
    fn default() -> Self {
        Self { seen: 0, kinds: HashMap::default() }
    }
}

impl<K: Eq + Hash, N, const NAMES: usize, A: Default> Tally<K, N, NAMES, A> {
    /// Counts the next item: of kind `kind`, named `name` (kept if among the first `NAMES` of
    /// its kind). Returns the item's position and its kind's folded value, for the caller to
    /// fold the item into.
    pub fn add(&mut self, kind: K, name: N) -> (usize, &mut A) {
        let position = self.seen;
        self.seen += 1;
        let members = match self.kinds.entry(kind) {
            Entry::Occupied(e) => {
                let members = e.into_mut();
                members.count += 1;
                if members.more.len() + 1 < NAMES {
                    members.more.push((position, name));
                }
                members
            }
            Entry::Vacant(e) => {
                e.insert(Members { count: 1, folded: A::default(), first: (position, name), more: Vec::new() })
            }
        };
        (position, &mut members.folded)
    }
}

impl<K: Eq + Hash, N, const NAMES: usize, A> Tally<K, N, NAMES, A> {
    /// Each kind with its members, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &Members<N, A>)> {
        self.kinds.iter()
    }

    /// Each kind with its members, in the order of each kind's first item.
    #[must_use]
    pub fn in_order(&self) -> Vec<(&K, &Members<N, A>)> {
        let mut kinds: Vec<_> = self.kinds.iter().collect();
        kinds.sort_unstable_by_key(|(_, m)| m.first.0);
        kinds
    }

    /// The first `NAMES` names over the items of several kinds, in the order the items were added
    /// (a kind given twice counts once; one not in this tally has no items).
    pub fn first_names<'k>(&self, kinds: impl IntoIterator<Item = &'k K>) -> Vec<&N>
    where
        K: 'k,
    {
        let mut kinds: Vec<&Members<N, A>> = kinds.into_iter().filter_map(|k| self.kinds.get(k)).collect();
        kinds.sort_unstable_by_key(|m| m.first.0);
        kinds.dedup_by_key(|m| m.first.0);
        let mut names: Vec<&(usize, N)> = kinds.into_iter().flat_map(Members::names).collect();
        names.sort_unstable_by_key(|(position, _)| *position);
        names.into_iter().take(NAMES).map(|(_, name)| name).collect()
    }
}

impl<N, A> Members<N, A> {
    /// How many items are of this kind.
    #[must_use]
    pub fn count(&self) -> usize {
        self.count
    }

    /// What the hook folded of this kind's items.
    #[must_use]
    pub fn folded(&self) -> &A {
        &self.folded
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
        t.first_names(kinds).into_iter().map(String::as_str).collect()
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
    fn add_gives_the_position_and_the_kinds_folded_value() {
        let mut t = Tally::<char, usize, 1, Vec<usize>>::default();
        for (i, k) in "abba".chars().enumerate() {
            let (position, folded) = t.add(k, i);
            assert_eq!(position, i);
            folded.push(position * 10);
        }
        let folded: Vec<(char, &[usize])> = t.in_order().into_iter().map(|(k, m)| (*k, &m.folded()[..])).collect();
        assert_eq!(folded, [('a', &[0, 30][..]), ('b', &[10, 20][..])]);
    }

    #[test]
    fn first_names_over_kinds_are_in_item_order() {
        let t = tally("c b c a b b c a");
        assert_eq!(names(&t, &['a', 'b']), ["b1", "a3", "b4"]);
        assert_eq!(names(&t, &['a', 'c']), ["c0", "c2", "a3"]);
        assert_eq!(names(&t, &['a', 'b', 'c']), ["c0", "b1", "c2"]);
        assert!(names(&t, &[]).is_empty());
        assert_eq!(names(&t, &['a', 'z', 'a']), ["a3", "a7"], "a kind twice counts once, one not added has none");
        assert!(Letters::default().in_order().is_empty());
    }
}
