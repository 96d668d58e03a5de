//! A number with its noun: "1 step", "2 steps", "0 steps". `Display`, so a renderer writes it
//! without allocating.

use std::fmt;

/// `n` followed by `one` when n is 1, else by `many`.
#[derive(Debug, Clone, Copy)]
pub struct Count<'a, N> {
    pub n: N,
    pub one: &'a str,
    pub many: &'a str,
}

/// "1 retransmission", "3 retransmissions".
pub fn count<'a, N>(n: N, one: &'a str, many: &'a str) -> Count<'a, N> {
    Count { n, one, many }
}

impl<N: fmt::Display + Copy + TryInto<u64>> fmt::Display for Count<'_, N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let one = self.n.try_into().is_ok_and(|n: u64| n == 1);
        write!(f, "{} {}", self.n, if one { self.one } else { self.many })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_is_singular_everything_else_plural() {
        assert_eq!(count(0u32, "byte", "bytes").to_string(), "0 bytes");
        assert_eq!(count(1u32, "byte", "bytes").to_string(), "1 byte");
        assert_eq!(count(2usize, "step", "steps").to_string(), "2 steps");
        assert_eq!(count(-1i64, "step", "steps").to_string(), "-1 steps");
    }
}
