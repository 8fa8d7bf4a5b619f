//! Expression evaluation over one point (row) of a table: arithmetic with
//! InfluxQL's typing, WHERE conditions with InfluxDB's tag/field rules,
//! and the row-level math functions.

use std::sync::Arc;

use super::influxql::{BinaryOp, Expr, VarType};
use super::table::TableData;
use super::value::Value;

/// One point: a row of a table and its series.
#[derive(Clone, Copy)]
pub struct Row<'a> {
    pub table: &'a TableData,
    pub row: usize,
}

impl Row<'_> {
    pub fn time(&self) -> i64 {
        self.table.row_time[self.row]
    }

    fn series(&self) -> usize {
        self.table.row_series[self.row] as usize
    }

    pub fn field(&self, name: &str) -> Option<&Value> {
        self.table.field(name).map(|f| &f.values[self.row])
    }

    pub fn tag(&self, name: &str) -> Option<Option<&Arc<str>>> {
        let k = self.table.tag_index(name)?;
        Some(self.table.tag(self.series(), k))
    }

    /// A variable as a projection sees it: field, else tag, else null.
    pub fn var(&self, name: &str, cast: Option<VarType>) -> Value {
        if name == "time" {
            return Value::Integer(self.time());
        }
        if cast != Some(VarType::Tag) {
            if let Some(v) = self.field(name) {
                return cast_value(v.clone(), cast);
            }
        }
        if matches!(cast, None | Some(VarType::Tag)) {
            if let Some(Some(v)) = self.tag(name) {
                return Value::String(v.clone());
            }
        }
        Value::Null
    }
}

/// `::integer` and friends: InfluxDB casts numbers between each other and
/// drops values of other types.
pub fn cast_value(v: Value, cast: Option<VarType>) -> Value {
    match (cast, v) {
        (None | Some(VarType::Field), v) => v,
        (Some(VarType::Float), Value::Float(x)) => Value::Float(x),
        (Some(VarType::Float), Value::Integer(x)) => Value::Float(x as f64),
        (Some(VarType::Float), Value::Unsigned(x)) => Value::Float(x as f64),
        (Some(VarType::Integer), Value::Integer(x)) => Value::Integer(x),
        (Some(VarType::Integer), Value::Float(x)) => Value::Integer(x as i64),
        (Some(VarType::Integer), Value::Unsigned(x)) => Value::Integer(x as i64),
        (Some(VarType::Unsigned), Value::Unsigned(x)) => Value::Unsigned(x),
        (Some(VarType::Unsigned), Value::Integer(x)) => Value::Unsigned(x as u64),
        (Some(VarType::Unsigned), Value::Float(x)) => Value::Unsigned(x as u64),
        (Some(VarType::String), v @ Value::String(_)) => v,
        (Some(VarType::Boolean), v @ Value::Boolean(_)) => v,
        _ => Value::Null,
    }
}

/// Evaluates a row-level expression (no aggregates) to a value.
pub fn eval(expr: &Expr, row: &Row<'_>) -> Value {
    match expr {
        Expr::VarRef { name, cast } => row.var(name, *cast),
        Expr::Paren(inner) => eval(inner, row),
        Expr::Integer(v) => Value::Integer(*v),
        Expr::Unsigned(v) => Value::Unsigned(*v),
        Expr::Number(v) => Value::Float(*v),
        Expr::String(s) => Value::String(Arc::from(s.as_str())),
        Expr::Boolean(b) => Value::Boolean(*b),
        Expr::Duration(d) => Value::Integer(*d),
        Expr::Binary { op, lhs, rhs } => arithmetic(*op, &eval(lhs, row), &eval(rhs, row)),
        Expr::Call { name, args } => {
            let values: Vec<Value> = args.iter().map(|a| eval(a, row)).collect();
            math(name, &values)
        }
        _ => Value::Null,
    }
}

/// InfluxQL arithmetic: integers stay integers except for `/`; any null
/// operand gives null.
pub fn arithmetic(op: BinaryOp, a: &Value, b: &Value) -> Value {
    use Value::*;
    match (a, b) {
        (Integer(x), Integer(y)) => {
            let (x, y) = (*x, *y);
            match op {
                BinaryOp::Add => Integer(x.wrapping_add(y)),
                BinaryOp::Sub => Integer(x.wrapping_sub(y)),
                BinaryOp::Mul => Integer(x.wrapping_mul(y)),
                BinaryOp::Div => {
                    if y == 0 {
                        Float(0.0)
                    } else {
                        Float(x as f64 / y as f64)
                    }
                }
                BinaryOp::Mod => {
                    if y == 0 {
                        Integer(0)
                    } else {
                        Integer(x.wrapping_rem(y))
                    }
                }
                BinaryOp::BitAnd => Integer(x & y),
                BinaryOp::BitOr => Integer(x | y),
                BinaryOp::BitXor => Integer(x ^ y),
                _ => Null,
            }
        }
        (Unsigned(x), Unsigned(y)) => {
            let (x, y) = (*x, *y);
            match op {
                BinaryOp::Add => Unsigned(x.wrapping_add(y)),
                BinaryOp::Sub => Unsigned(x.wrapping_sub(y)),
                BinaryOp::Mul => Unsigned(x.wrapping_mul(y)),
                BinaryOp::Div if y == 0 => Float(0.0),
                BinaryOp::Div => Float(x as f64 / y as f64),
                BinaryOp::Mod if y == 0 => Unsigned(0),
                BinaryOp::Mod => Unsigned(x % y),
                BinaryOp::BitAnd => Unsigned(x & y),
                BinaryOp::BitOr => Unsigned(x | y),
                BinaryOp::BitXor => Unsigned(x ^ y),
                _ => Null,
            }
        }
        (Boolean(x), Boolean(y)) => match op {
            BinaryOp::BitAnd => Boolean(x & y),
            BinaryOp::BitOr => Boolean(x | y),
            BinaryOp::BitXor => Boolean(x ^ y),
            _ => Null,
        },
        (x, y) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => match op {
                BinaryOp::Add => Float(x + y),
                BinaryOp::Sub => Float(x - y),
                BinaryOp::Mul => Float(x * y),
                BinaryOp::Div => Float(if y == 0.0 { 0.0 } else { x / y }),
                BinaryOp::Mod => Float(x % y),
                _ => Null,
            },
            _ => Null,
        },
    }
}

/// The row-level math functions InfluxDB 1.x has.
pub fn math(name: &str, args: &[Value]) -> Value {
    let Some(x) = args.first() else {
        return Value::Null;
    };
    if x.is_null() {
        return Value::Null;
    }
    // Integer-preserving ones first.
    match (name, x) {
        ("abs", Value::Integer(v)) => return Value::Integer(v.wrapping_abs()),
        ("abs", Value::Unsigned(v)) => return Value::Unsigned(*v),
        ("floor" | "ceil" | "round", Value::Integer(_) | Value::Unsigned(_)) => return x.clone(),
        _ => {}
    }
    let Some(f) = x.as_f64() else {
        return Value::Null;
    };
    let second = args.get(1).and_then(Value::as_f64);
    let out = match name {
        "abs" => f.abs(),
        "sin" => f.sin(),
        "cos" => f.cos(),
        "tan" => f.tan(),
        "asin" => f.asin(),
        "acos" => f.acos(),
        "atan" => f.atan(),
        "atan2" => match second {
            Some(y) => f.atan2(y),
            None => return Value::Null,
        },
        "exp" => f.exp(),
        "ln" => f.ln(),
        "log" => match second {
            Some(base) => f.ln() / base.ln(),
            None => return Value::Null,
        },
        "log2" => f.log2(),
        "log10" => f.log10(),
        "sqrt" => f.sqrt(),
        "pow" => match second {
            Some(e) => f.powf(e),
            None => return Value::Null,
        },
        "floor" => f.floor(),
        "ceil" => f.ceil(),
        "round" => f.round(),
        _ => return Value::Null,
    };
    Value::Float(out)
}

/// A WHERE condition (time terms already removed) on one point.
///
/// InfluxDB's rules: a tag the series lacks compares as the empty string;
/// a field the point lacks makes every comparison false.
pub fn condition(expr: &Expr, row: &Row<'_>) -> bool {
    match expr.unparen() {
        Expr::Binary {
            op: BinaryOp::And,
            lhs,
            rhs,
        } => condition(lhs, row) && condition(rhs, row),
        Expr::Binary {
            op: BinaryOp::Or,
            lhs,
            rhs,
        } => condition(lhs, row) || condition(rhs, row),
        Expr::Binary { op, lhs, rhs } if op.is_comparison() => compare(*op, lhs, rhs, row),
        Expr::Boolean(b) => *b,
        // A bare field reference (`WHERE flag`) or anything else: truthy booleans only.
        other => matches!(eval(other, row), Value::Boolean(true)),
    }
}

fn operand(expr: &Expr, row: &Row<'_>) -> Value {
    match expr.unparen() {
        Expr::VarRef { name, cast } => {
            if *cast != Some(VarType::Tag) {
                if let Some(v) = row.field(name) {
                    return cast_value(v.clone(), *cast);
                }
                if matches!(cast, Some(VarType::Field)) {
                    return Value::Null;
                }
            }
            match row.tag(name) {
                Some(Some(v)) => Value::String(v.clone()),
                // A tag the series lacks, or a name the table has not
                // got at all, reads as the empty string.
                _ if row.table.field(name).is_none() => Value::String(Arc::from("")),
                _ => Value::Null,
            }
        }
        other => eval(other, row),
    }
}

fn compare(op: BinaryOp, lhs: &Expr, rhs: &Expr, row: &Row<'_>) -> bool {
    if let Expr::Regex(re) = rhs.unparen() {
        let value = operand(lhs, row);
        let Value::String(s) = value else {
            return false;
        };
        let matched = re.regex.is_match(&s);
        return if op == BinaryOp::EqRegex {
            matched
        } else {
            !matched
        };
    }
    let (a, b) = (operand(lhs, row), operand(rhs, row));
    compare_values(op, &a, &b)
}

pub fn compare_values(op: BinaryOp, a: &Value, b: &Value) -> bool {
    use std::cmp::Ordering;
    let ordering = match (a, b) {
        (Value::Null, _) | (_, Value::Null) => return false,
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Boolean(x), Value::Boolean(y)) => match op {
            BinaryOp::Eq => return x == y,
            BinaryOp::Neq => return x != y,
            _ => return false,
        },
        (Value::Integer(x), Value::Integer(y)) => x.cmp(y),
        (Value::Unsigned(x), Value::Unsigned(y)) => x.cmp(y),
        (x, y) => match (x.as_f64(), y.as_f64()) {
            (Some(x), Some(y)) => match x.partial_cmp(&y) {
                Some(o) => o,
                None => return false,
            },
            _ => return false,
        },
    };
    match op {
        BinaryOp::Eq => ordering == Ordering::Equal,
        BinaryOp::Neq => ordering != Ordering::Equal,
        BinaryOp::Lt => ordering == Ordering::Less,
        BinaryOp::Lte => ordering != Ordering::Greater,
        BinaryOp::Gt => ordering == Ordering::Greater,
        BinaryOp::Gte => ordering != Ordering::Less,
        _ => false,
    }
}

/// True when `expr` only looks at tags of `table` (so it can be decided
/// once per series).
pub fn only_tags(expr: &Expr, table: &TableData) -> bool {
    let mut ok = true;
    expr.walk(&mut |e| {
        if let Expr::VarRef { name, cast } = e {
            if table.field(name).is_some() || *cast == Some(VarType::Field) || name == "time" {
                ok = false;
            }
        }
        if matches!(e, Expr::Call { .. }) {
            ok = false;
        }
    });
    ok
}
