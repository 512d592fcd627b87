//! A small deterministic generator (64-bit LCG) the benches use to vary synthetic clusters
//! reproducibly: the same seed gives the same cluster on every machine.

/// Knuth's MMIX linear congruential generator; the high bits are returned.
#[derive(Debug, Clone)]
pub struct Lcg(pub u64);

impl Lcg {
    /// The next 31-bit value (never exhausted, so not an `Iterator`).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    /// One of `items`, chosen by the next value.
    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[usize::try_from(self.next()).unwrap_or(0) % items.len()]
    }
}
