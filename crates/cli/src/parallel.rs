//! Work over a long slice on every core, results in input order.

/// `f` over `items` as consecutive slices, one per core (at most 8), when there are at least
/// `min` items and a second core; otherwise one call on this thread. The results are in input
/// order (so the first error in it is the one a single pass would have met); a thread's panic
/// is resumed here.
pub(crate) fn map_chunks<I: Sync, R: Send>(items: &[I], min: usize, f: impl Fn(&[I]) -> R + Sync) -> Vec<R> {
    let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get).min(8);
    if threads < 2 || items.len() < min {
        return vec![f(items)];
    }
    let f = &f;
    std::thread::scope(|s| {
        let handles: Vec<_> =
            items.chunks(items.len().div_ceil(threads)).map(|part| s.spawn(move || f(part))).collect();
        handles.into_iter().map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))).collect()
    })
}
