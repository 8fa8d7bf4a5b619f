//! What statements produce: series of rows, in InfluxDB 1.x's result shape.

use super::value::Value;

/// A series' rows, stored flat: one allocation for all of them, since
/// answers run to millions of rows. The storage is shared, so a slice of
/// rows (a chunk, a LIMIT, an index's rows) is a view, not a copy; writing
/// to shared rows copies them first.
#[derive(Clone, Debug, Default)]
pub struct Rows {
    width: usize,
    data: std::sync::Arc<Vec<Value>>,
    /// The view: rows `first .. first + count` of `data`.
    first: usize,
    count: usize,
}

impl PartialEq for Rows {
    fn eq(&self, other: &Rows) -> bool {
        self.width == other.width && self.values() == other.values()
    }
}

impl Rows {
    pub fn new(width: usize) -> Rows {
        Rows {
            width,
            ..Rows::default()
        }
    }

    pub fn with_capacity(width: usize, rows: usize) -> Rows {
        Rows {
            width,
            data: std::sync::Arc::new(Vec::with_capacity(width * rows)),
            first: 0,
            count: 0,
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
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn values(&self) -> &[Value] {
        &self.data[self.first * self.width..(self.first + self.count) * self.width]
    }

    /// The rows as a Vec of our own, copied out of shared storage if need be.
    fn owned(&mut self) -> &mut Vec<Value> {
        let whole = self.first == 0 && self.count * self.width == self.data.len();
        if !whole {
            let copy = self.values().to_vec();
            self.data = std::sync::Arc::new(copy);
            self.first = 0;
        }
        std::sync::Arc::make_mut(&mut self.data)
    }

    pub fn push(&mut self, row: impl IntoIterator<Item = Value>) {
        let width = self.width;
        let data = self.owned();
        let before = data.len();
        data.extend(row);
        debug_assert_eq!(data.len() - before, width, "row width");
        self.count += 1;
    }

    pub fn iter(&self) -> std::slice::ChunksExact<'_, Value> {
        self.values().chunks_exact(self.width.max(1))
    }

    pub fn row(&self, i: usize) -> &[Value] {
        &self.values()[i * self.width..(i + 1) * self.width]
    }

    pub fn row_mut(&mut self, i: usize) -> &mut [Value] {
        let width = self.width;
        &mut self.owned()[i * width..(i + 1) * width]
    }

    /// Rows `range` as their own `Rows` (a view: no copy).
    pub fn slice(&self, range: std::ops::Range<usize>) -> Rows {
        let end = range.end.min(self.count);
        let start = range.start.min(end);
        Rows {
            width: self.width,
            data: self.data.clone(),
            first: self.first + start,
            count: end - start,
        }
    }

    pub fn reverse(&mut self) {
        let (n, width) = (self.count, self.width);
        let data = self.owned();
        for i in 0..n / 2 {
            let (a, b) = (i * width, (n - 1 - i) * width);
            for c in 0..width {
                data.swap(a + c, b + c);
            }
        }
    }

    /// Keeps the rows `keep` accepts, in order.
    pub fn retain(&mut self, mut keep: impl FnMut(&[Value]) -> bool) {
        let width = self.width;
        let mut out = Vec::with_capacity(self.count * width);
        for row in self.iter() {
            if keep(row) {
                out.extend_from_slice(row);
            }
        }
        self.count = out.len().checked_div(width).unwrap_or(0);
        self.data = std::sync::Arc::new(out);
        self.first = 0;
    }

    /// OFFSET then LIMIT (0: no limit), as a view.
    pub fn limit(self, offset: usize, limit: usize) -> Rows {
        let end = if limit > 0 {
            offset.saturating_add(limit)
        } else {
            usize::MAX
        };
        self.slice(offset..end)
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
        // A view shares storage; writing to it copies.
        let mut all = Rows::new(1);
        for i in 0..4 {
            all.push([Value::Integer(i)]);
        }
        let mut tail = all.slice(2..4);
        assert_eq!(tail.row(0), &[Value::Integer(2)]);
        tail.row_mut(0)[0] = Value::Integer(9);
        assert_eq!(
            all.row(2),
            &[Value::Integer(2)],
            "the original is untouched"
        );
        tail.push([Value::Integer(5)]);
        assert_eq!(tail.len(), 3);
    }
}
