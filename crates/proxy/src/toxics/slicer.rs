//! `slicer`: data is cut into pieces of `average_size` ± `size_variation` bytes, each
//! `delay` µs after the previous one.

use super::{Emit, Stage, Timed, parse, us};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::Instant;

#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Attributes {
    pub average_size: i64,
    pub size_variation: i64,
    pub delay: i64,
}

pub struct State {
    a: Attributes,
    q: Timed,
    pieces: u64,
}

impl State {
    pub fn new(a: Attributes, _now: Instant) -> State {
        State {
            a,
            q: Timed::default(),
            pieces: 0,
        }
    }

    /// Piece lengths for `n` bytes: halve recursively around the middle, varied by up to
    /// `size_variation`, until a piece is within the variation of the average size.
    fn cut(&self, n: usize, out: &mut Vec<usize>) {
        let avg = self.a.average_size.max(1) as usize;
        let var = self.a.size_variation.max(0) as usize;
        if n <= avg + var || n < 2 {
            out.push(n);
            return;
        }
        let mid = n / 2;
        let mid = if var > 0 {
            let v = fastrand::usize(0..2 * var) as isize - var as isize;
            (mid as isize + v).clamp(1, n as isize - 1) as usize
        } else {
            mid
        };
        self.cut(mid, out);
        self.cut(n - mid, out);
    }
}

impl Stage for State {
    fn data(&mut self, now: Instant, data: Vec<u8>, out: &mut Vec<Emit>) {
        let mut lens = Vec::new();
        self.cut(data.len(), &mut lens);
        let step = us(self.a.delay);
        let mut at = self.q.last().unwrap_or(now).max(now);
        let mut off = 0;
        for (i, len) in lens.into_iter().enumerate() {
            if i > 0 {
                at += step;
            }
            self.q.push(at, Some(data[off..off + len].to_vec()));
            off += len;
            self.pieces += 1;
        }
        self.q.release(now, out);
    }
    fn eof(&mut self, now: Instant, out: &mut Vec<Emit>) {
        self.q.push(self.q.last().unwrap_or(now), None);
        self.q.release(now, out);
    }
    fn poll(&mut self, now: Instant, out: &mut Vec<Emit>) {
        self.q.release(now, out);
    }
    fn deadline(&self) -> Option<Instant> {
        self.q.next()
    }
    fn held(&self) -> usize {
        self.q.held()
    }
    fn update(&mut self, v: &Value) -> Result<(), String> {
        self.a = parse(v)?;
        Ok(())
    }
    fn remove(&mut self, out: &mut Vec<Emit>) {
        self.q.flush(out);
    }
    fn acted(&self) -> Option<String> {
        (self.pieces > 0).then(|| format!("sliced data into {} pieces", self.pieces))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn pieces_keep_every_byte_in_order(len in 0usize..5000, avg in 1i64..200, var in 0i64..50) {
            let t0 = Instant::now();
            let mut s = State::new(Attributes { average_size: avg, size_variation: var, delay: 0 }, t0);
            let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
            let mut out = Vec::new();
            s.data(t0, data.clone(), &mut out);
            let mut joined = Vec::new();
            for e in out {
                if let Emit::Data(d) = e {
                    prop_assert!(d.len() as i64 <= avg + var || d.len() < 2);
                    joined.extend(d);
                }
            }
            prop_assert_eq!(joined, data);
        }
    }
}
