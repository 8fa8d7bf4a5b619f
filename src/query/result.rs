//! What statements produce: series of rows, in InfluxDB 1.x's result shape.

use super::value::Value;

/// A series' rows, stored flat: one allocation for all of them, since
/// answers run to millions of rows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rows {
    width: usize,
    data: Vec<Value>,
}

impl Rows {
    pub fn new(width: usize) -> Rows {
        Rows {
            width,
            data: Vec::new(),
        }
    }

    pub fn with_capacity(width: usize, rows: usize) -> Rows {
        Rows {
            width,
            data: Vec::with_capacity(width * rows),
        }
    }

    /// Rows given one by one (all of `width` values).
    pub fn from_rows(width: usize, rows: Vec<Vec<Value>>) -> Rows {
        let mut out = Rows::with_capacity(width, rows.len());
        for row in rows {
            out.push(row);
        }
        out
    }

    pub fn width(&self) -> usize {
        self.width
    }

    pub fn len(&self) -> usize {
        self.data.len().checked_div(self.width).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    pub fn push(&mut self, row: impl IntoIterator<Item = Value>) {
        let before = self.data.len();
        self.data.extend(row);
        debug_assert_eq!(self.data.len() - before, self.width, "row width");
    }

    pub fn iter(&self) -> std::slice::ChunksExact<'_, Value> {
        self.data.chunks_exact(self.width.max(1))
    }

    pub fn row(&self, i: usize) -> &[Value] {
        &self.data[i * self.width..(i + 1) * self.width]
    }

    pub fn row_mut(&mut self, i: usize) -> &mut [Value] {
        &mut self.data[i * self.width..(i + 1) * self.width]
    }

    /// Rows `range` as their own `Rows`.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Rows {
        Rows {
            width: self.width,
            data: self.data[range.start * self.width..range.end * self.width].to_vec(),
        }
    }

    pub fn reverse(&mut self) {
        let n = self.len();
        for i in 0..n / 2 {
            let (a, b) = (i * self.width, (n - 1 - i) * self.width);
            for c in 0..self.width {
                self.data.swap(a + c, b + c);
            }
        }
    }

    /// Keeps the rows `keep` accepts, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&[Value]) -> bool) {
        let width = self.width;
        let mut out = Vec::with_capacity(self.data.len());
        for row in self.data.chunks_exact(width.max(1)) {
            if keep(row) {
                out.extend_from_slice(row);
            }
        }
        self.data = out;
    }

    /// OFFSET then LIMIT (0: no limit).
    pub fn limit(mut self, offset: usize, limit: usize) -> Rows {
        let n = self.len();
        let start = offset.min(n);
        let end = if limit > 0 { (start + limit).min(n) } else { n };
        if start == 0 && end == n {
            return self;
        }
        self.data.truncate(end * self.width);
        self.data.drain(..start * self.width);
        self
    }
}

impl FromIterator<Vec<Value>> for Rows {
    /// Rows of the first row's width.
    fn from_iter<I: IntoIterator<Item = Vec<Value>>>(rows: I) -> Rows {
        let mut rows = rows.into_iter();
        let Some(first) = rows.next() else {
            return Rows::default();
        };
        let mut out = Rows::new(first.len());
        out.push(first);
        for row in rows {
            out.push(row);
        }
        out
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Series {
    pub name: String,
    /// Sorted by key; omitted from output when empty.
    pub tags: Vec<(String, String)>,
    pub columns: Vec<String>,
    pub values: Rows,
    /// Column 0 holds times (nanoseconds, formatted per `epoch` on output).
    pub has_time: bool,
    /// `tz('…')`: times are written in this zone.
    pub tz: Option<chrono_tz::Tz>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct StatementResult {
    pub statement_id: usize,
    pub series: Vec<Series>,
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_rows() {
        let mut r = Rows::new(2);
        for i in 0..5 {
            r.push([Value::Integer(i), Value::Integer(i * 10)]);
        }
        assert_eq!(r.len(), 5);
        r.reverse();
        assert_eq!(r.row(0), &[Value::Integer(4), Value::Integer(40)]);
        let r = r.limit(1, 2);
        assert_eq!(
            r.iter().map(|row| row[0].clone()).collect::<Vec<_>>(),
            vec![Value::Integer(3), Value::Integer(2)]
        );
        let mut r = r;
        r.retain(|row| row[0] == Value::Integer(2));
        assert_eq!(r.len(), 1);
        assert!(Rows::new(3).limit(2, 0).is_empty());
    }
}
