//! The built-in data tables' format: tab-separated rows, `#` comments and blank lines skipped.

/// The rows of `data` with their 1-based line numbers, each split at tabs.
pub(crate) fn rows(data: &'static str) -> impl Iterator<Item = (usize, Vec<&'static str>)> {
    data.lines()
        .enumerate()
        .filter(|(_, line)| !line.starts_with('#') && !line.trim().is_empty())
        .map(|(n, line)| (n + 1, line.split('\t').collect()))
}
