//! The InfluxQL syntax tree: what the parser produces and the planner reads.

use std::fmt;

use regex::Regex;

/// A compiled regex that remembers its source (for display and equality).
#[derive(Clone, Debug)]
pub struct RegexLit {
    pub source: String,
    pub regex: Regex,
}

impl PartialEq for RegexLit {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    BitAnd,
    BitOr,
    BitXor,
    And,
    Or,
    Eq,
    Neq,
    EqRegex,
    NeqRegex,
    Lt,
    Lte,
    Gt,
    Gte,
}

impl BinaryOp {
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Eq
                | BinaryOp::Neq
                | BinaryOp::EqRegex
                | BinaryOp::NeqRegex
                | BinaryOp::Lt
                | BinaryOp::Lte
                | BinaryOp::Gt
                | BinaryOp::Gte
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::BitAnd => "&",
            BinaryOp::BitOr => "|",
            BinaryOp::BitXor => "^",
            BinaryOp::And => "AND",
            BinaryOp::Or => "OR",
            BinaryOp::Eq => "=",
            BinaryOp::Neq => "!=",
            BinaryOp::EqRegex => "=~",
            BinaryOp::NeqRegex => "!~",
            BinaryOp::Lt => "<",
            BinaryOp::Lte => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Gte => ">=",
        }
    }
}

/// What a `::` cast asks a variable to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum VarType {
    Float,
    Integer,
    Unsigned,
    String,
    Boolean,
    /// `::field`
    Field,
    /// `::tag`
    Tag,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    VarRef {
        name: String,
        cast: Option<VarType>,
    },
    Call {
        name: String,
        args: Vec<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    Paren(Box<Expr>),
    Integer(i64),
    Unsigned(u64),
    Number(f64),
    String(String),
    Boolean(bool),
    /// Nanoseconds.
    Duration(i64),
    Regex(RegexLit),
    /// `*`, optionally `*::field` / `*::tag`.
    Wildcard(Option<VarType>),
    /// `DISTINCT x` written without parentheses.
    Distinct(String),
}

impl Expr {
    pub fn binary(op: BinaryOp, lhs: Expr, rhs: Expr) -> Expr {
        Expr::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        }
    }

    /// Strips redundant parentheses.
    pub fn unparen(&self) -> &Expr {
        let mut e = self;
        while let Expr::Paren(inner) = e {
            e = inner;
        }
        e
    }

    /// Visits this expression and every sub-expression, parents first.
    pub fn walk(&self, f: &mut dyn FnMut(&Expr)) {
        f(self);
        match self {
            Expr::Call { args, .. } => args.iter().for_each(|a| a.walk(f)),
            Expr::Binary { lhs, rhs, .. } => {
                lhs.walk(f);
                rhs.walk(f);
            }
            Expr::Paren(inner) => inner.walk(f),
            _ => {}
        }
    }
}

fn quote_ident(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && super::lexer::Keyword::lookup(name).is_none();
    if bare {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::VarRef { name, cast } => {
                write!(f, "{}", quote_ident(name))?;
                if let Some(c) = cast {
                    write!(f, "::{}", format!("{c:?}").to_lowercase())?;
                }
                Ok(())
            }
            Expr::Call { name, args } => {
                write!(f, "{name}(")?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
            Expr::Binary { op, lhs, rhs } => write!(f, "{lhs} {} {rhs}", op.as_str()),
            Expr::Paren(inner) => write!(f, "({inner})"),
            Expr::Integer(v) => write!(f, "{v}"),
            Expr::Unsigned(v) => write!(f, "{v}"),
            Expr::Number(v) => write!(f, "{v:.3}"),
            Expr::String(s) => write!(f, "'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
            Expr::Boolean(b) => write!(f, "{b}"),
            Expr::Duration(ns) => write!(f, "{ns}ns"),
            Expr::Regex(r) => write!(f, "/{}/", r.source.replace('/', "\\/")),
            Expr::Wildcard(None) => f.write_str("*"),
            Expr::Wildcard(Some(t)) => write!(f, "*::{}", format!("{t:?}").to_lowercase()),
            Expr::Distinct(name) => write!(f, "distinct {}", quote_ident(name)),
        }
    }
}

/// A `FROM` entry.
#[derive(Clone, Debug, PartialEq)]
pub enum Source {
    Measurement(MeasurementRef),
    Subquery(Box<Select>),
}

#[derive(Clone, Debug, PartialEq, Default)]
pub struct MeasurementRef {
    pub database: Option<String>,
    pub retention_policy: Option<String>,
    pub name: Option<String>,
    pub regex: Option<RegexLit>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SelectField {
    pub expr: Expr,
    pub alias: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Dimension {
    /// `time(interval[, offset])`; offset may be `now()` (stored as None here
    /// and resolved by the planner) — kept as the raw call arguments.
    Time {
        interval: i64,
        offset: TimeOffset,
    },
    Tag(String),
    Regex(RegexLit),
    Wildcard,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TimeOffset {
    Fixed(i64),
    Now,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Fill {
    Null,
    None,
    Previous,
    Linear,
    Integer(i64),
    Number(f64),
}

#[derive(Clone, Debug, PartialEq)]
pub struct Select {
    pub fields: Vec<SelectField>,
    pub into: bool,
    pub sources: Vec<Source>,
    pub condition: Option<Expr>,
    pub dimensions: Vec<Dimension>,
    pub fill: Fill,
    pub descending: bool,
    pub limit: usize,
    pub offset: usize,
    pub slimit: usize,
    pub soffset: usize,
    pub tz: Option<String>,
}

/// `WITH KEY = k | IN (…) | =~ /re/ | != k | !~ /re/`
#[derive(Clone, Debug, PartialEq)]
pub enum TagKeyMatch {
    Eq(String),
    Neq(String),
    In(Vec<String>),
    Regex(RegexLit),
    NotRegex(RegexLit),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CardinalityOf {
    Measurement,
    Series,
    TagKey,
    TagValues,
    FieldKey,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ShowFilter {
    pub database: Option<String>,
    pub sources: Vec<Source>,
    pub condition: Option<Expr>,
    pub limit: usize,
    pub offset: usize,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Statement {
    Select(Box<Select>),
    ShowDatabases,
    ShowMeasurements {
        filter: ShowFilter,
        /// `WITH MEASUREMENT = name | =~ /re/`
        with: Option<MeasurementRef>,
    },
    ShowTagKeys(ShowFilter),
    ShowTagValues {
        filter: ShowFilter,
        key: TagKeyMatch,
    },
    ShowFieldKeys(ShowFilter),
    ShowSeries(ShowFilter),
    ShowRetentionPolicies {
        database: Option<String>,
    },
    ShowCardinality {
        of: CardinalityOf,
        exact: bool,
        filter: ShowFilter,
        key: Option<TagKeyMatch>,
        with: Option<MeasurementRef>,
    },
    CreateDatabase {
        name: String,
        /// `WITH DURATION <d>`: nanoseconds, 0 for INF.
        duration: Option<i64>,
    },
    /// `ALTER RETENTION POLICY <rp> ON <db> DURATION <d> …` (other options ignored).
    AlterRetention {
        policy: String,
        database: String,
        /// Nanoseconds, 0 for INF; None when the statement sets no duration.
        duration: Option<i64>,
    },
    /// A statement InfluxDB has and hydrant does not run (named by its words).
    Unsupported(String),
}
