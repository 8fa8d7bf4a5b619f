//! InfluxQL tokens, scanned on demand from a byte offset.
//!
//! The parser drives the scanner (it alone knows when a `/` starts a regex),
//! so the scanner is a pure function of (input, offset): "unscanning" is just
//! going back to an offset. Lexical rules follow InfluxDB 1.x's scanner,
//! including its quirks (a number followed by letters is one duration token,
//! a bare `.5` is a number, `--` and `/* */` are comments).

use std::fmt;

/// Keywords, reserved as in InfluxDB 1.x (matched case-insensitively).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Keyword {
    All,
    Alter,
    Analyze,
    And,
    Any,
    As,
    Asc,
    Begin,
    By,
    Cardinality,
    Create,
    Continuous,
    Database,
    Databases,
    Default,
    Delete,
    Desc,
    Destinations,
    Diagnostics,
    Distinct,
    Drop,
    Duration,
    End,
    Every,
    Exact,
    Explain,
    False,
    Field,
    For,
    From,
    Grant,
    Grants,
    Group,
    Groups,
    In,
    Inf,
    Insert,
    Into,
    Key,
    Keys,
    Kill,
    Limit,
    Measurement,
    Measurements,
    Name,
    Offset,
    On,
    Or,
    Order,
    Password,
    Policy,
    Policies,
    Privileges,
    Queries,
    Query,
    Read,
    Replication,
    Resample,
    Retention,
    Revoke,
    Select,
    Series,
    Set,
    Show,
    Shard,
    Shards,
    Slimit,
    Soffset,
    Stats,
    Subscription,
    Subscriptions,
    Tag,
    To,
    True,
    User,
    Users,
    Values,
    Verbose,
    Where,
    With,
    Write,
}

const KEYWORDS: &[(&str, Keyword)] = &[
    ("ALL", Keyword::All),
    ("ALTER", Keyword::Alter),
    ("ANALYZE", Keyword::Analyze),
    ("AND", Keyword::And),
    ("ANY", Keyword::Any),
    ("AS", Keyword::As),
    ("ASC", Keyword::Asc),
    ("BEGIN", Keyword::Begin),
    ("BY", Keyword::By),
    ("CARDINALITY", Keyword::Cardinality),
    ("CREATE", Keyword::Create),
    ("CONTINUOUS", Keyword::Continuous),
    ("DATABASE", Keyword::Database),
    ("DATABASES", Keyword::Databases),
    ("DEFAULT", Keyword::Default),
    ("DELETE", Keyword::Delete),
    ("DESC", Keyword::Desc),
    ("DESTINATIONS", Keyword::Destinations),
    ("DIAGNOSTICS", Keyword::Diagnostics),
    ("DISTINCT", Keyword::Distinct),
    ("DROP", Keyword::Drop),
    ("DURATION", Keyword::Duration),
    ("END", Keyword::End),
    ("EVERY", Keyword::Every),
    ("EXACT", Keyword::Exact),
    ("EXPLAIN", Keyword::Explain),
    ("FALSE", Keyword::False),
    ("FIELD", Keyword::Field),
    ("FOR", Keyword::For),
    ("FROM", Keyword::From),
    ("GRANT", Keyword::Grant),
    ("GRANTS", Keyword::Grants),
    ("GROUP", Keyword::Group),
    ("GROUPS", Keyword::Groups),
    ("IN", Keyword::In),
    ("INF", Keyword::Inf),
    ("INSERT", Keyword::Insert),
    ("INTO", Keyword::Into),
    ("KEY", Keyword::Key),
    ("KEYS", Keyword::Keys),
    ("KILL", Keyword::Kill),
    ("LIMIT", Keyword::Limit),
    ("MEASUREMENT", Keyword::Measurement),
    ("MEASUREMENTS", Keyword::Measurements),
    ("NAME", Keyword::Name),
    ("OFFSET", Keyword::Offset),
    ("ON", Keyword::On),
    ("OR", Keyword::Or),
    ("ORDER", Keyword::Order),
    ("PASSWORD", Keyword::Password),
    ("POLICY", Keyword::Policy),
    ("POLICIES", Keyword::Policies),
    ("PRIVILEGES", Keyword::Privileges),
    ("QUERIES", Keyword::Queries),
    ("QUERY", Keyword::Query),
    ("READ", Keyword::Read),
    ("REPLICATION", Keyword::Replication),
    ("RESAMPLE", Keyword::Resample),
    ("RETENTION", Keyword::Retention),
    ("REVOKE", Keyword::Revoke),
    ("SELECT", Keyword::Select),
    ("SERIES", Keyword::Series),
    ("SET", Keyword::Set),
    ("SHOW", Keyword::Show),
    ("SHARD", Keyword::Shard),
    ("SHARDS", Keyword::Shards),
    ("SLIMIT", Keyword::Slimit),
    ("SOFFSET", Keyword::Soffset),
    ("STATS", Keyword::Stats),
    ("SUBSCRIPTION", Keyword::Subscription),
    ("SUBSCRIPTIONS", Keyword::Subscriptions),
    ("TAG", Keyword::Tag),
    ("TO", Keyword::To),
    ("TRUE", Keyword::True),
    ("USER", Keyword::User),
    ("USERS", Keyword::Users),
    ("VALUES", Keyword::Values),
    ("VERBOSE", Keyword::Verbose),
    ("WHERE", Keyword::Where),
    ("WITH", Keyword::With),
    ("WRITE", Keyword::Write),
];

impl Keyword {
    pub fn lookup(word: &str) -> Option<Keyword> {
        if word.len() > 13 {
            return None;
        }
        KEYWORDS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(word))
            .map(|&(_, k)| k)
    }

    pub fn as_str(self) -> &'static str {
        KEYWORDS
            .iter()
            .find(|&&(_, k)| k == self)
            .map(|&(name, _)| name)
            .unwrap_or("?")
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum Token {
    Eof,
    Ws,
    Illegal(String),
    Ident(String),
    BoundParam(String),
    Number(String),
    Integer(String),
    Duration(String),
    Str(String),
    BadString(String),
    BadEscape(String),
    Regex(String),
    BadRegex(String),
    Keyword(Keyword),
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    BitAnd,
    BitOr,
    BitXor,
    Eq,
    Neq,
    EqRegex,
    NeqRegex,
    Lt,
    Lte,
    Gt,
    Gte,
    LParen,
    RParen,
    Comma,
    Colon,
    DoubleColon,
    Semicolon,
    Dot,
}

impl Token {
    pub fn is(&self, k: Keyword) -> bool {
        matches!(self, Token::Keyword(x) if *x == k)
    }

    /// The text InfluxDB's "found X" shows for this token.
    pub fn found(&self) -> String {
        match self {
            Token::Eof => "EOF".into(),
            Token::Ws => "WS".into(),
            Token::Illegal(s)
            | Token::Ident(s)
            | Token::BoundParam(s)
            | Token::Number(s)
            | Token::Integer(s)
            | Token::Duration(s)
            | Token::Str(s)
            | Token::BadString(s)
            | Token::BadEscape(s)
            | Token::Regex(s)
            | Token::BadRegex(s)
                if !s.is_empty() =>
            {
                s.clone()
            }
            Token::Illegal(_) => "ILLEGAL".into(),
            Token::Ident(_) => "IDENT".into(),
            Token::Str(_) => "STRING".into(),
            Token::BadString(_) => "BADSTRING".into(),
            other => other.to_string(),
        }
    }

    /// Binding strength of a binary operator (0: not one).
    pub fn precedence(&self) -> u8 {
        match self {
            Token::Keyword(Keyword::Or) => 1,
            Token::Keyword(Keyword::And) => 2,
            Token::Eq
            | Token::Neq
            | Token::EqRegex
            | Token::NeqRegex
            | Token::Lt
            | Token::Lte
            | Token::Gt
            | Token::Gte => 4,
            Token::Add | Token::Sub | Token::BitOr | Token::BitXor => 5,
            Token::Mul | Token::Div | Token::Mod | Token::BitAnd => 6,
            _ => 0,
        }
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Token::Eof => "EOF",
            Token::Ws => "WS",
            Token::Illegal(_) => "ILLEGAL",
            Token::Ident(_) => "IDENT",
            Token::BoundParam(_) => "BOUNDPARAM",
            Token::Number(_) => "NUMBER",
            Token::Integer(_) => "INTEGER",
            Token::Duration(_) => "DURATIONVAL",
            Token::Str(_) => "STRING",
            Token::BadString(_) => "BADSTRING",
            Token::BadEscape(_) => "BADESCAPE",
            Token::Regex(_) => "REGEX",
            Token::BadRegex(_) => "BADREGEX",
            Token::Keyword(k) => k.as_str(),
            Token::Add => "+",
            Token::Sub => "-",
            Token::Mul => "*",
            Token::Div => "/",
            Token::Mod => "%",
            Token::BitAnd => "&",
            Token::BitOr => "|",
            Token::BitXor => "^",
            Token::Eq => "=",
            Token::Neq => "!=",
            Token::EqRegex => "=~",
            Token::NeqRegex => "!~",
            Token::Lt => "<",
            Token::Lte => "<=",
            Token::Gt => ">",
            Token::Gte => ">=",
            Token::LParen => "(",
            Token::RParen => ")",
            Token::Comma => ",",
            Token::Colon => ":",
            Token::DoubleColon => "::",
            Token::Semicolon => ";",
            Token::Dot => ".",
        };
        f.write_str(s)
    }
}

fn is_whitespace(c: char) -> bool {
    c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

fn is_letter(c: char) -> bool {
    c.is_ascii_alphabetic()
}

fn is_ident_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Scans one token of `input` starting at byte `at`: (token, start, end).
pub fn scan(input: &str, at: usize) -> (Token, usize, usize) {
    let rest = &input[at..];
    let mut chars = rest.char_indices();
    let Some((_, c)) = chars.next() else {
        return (Token::Eof, at, at);
    };
    let next = rest[c.len_utf8()..].chars().next();
    let one = |t: Token| (t, at, at + 1);
    let two = |t: Token| (t, at, at + 2);
    if is_whitespace(c) {
        let len = rest.find(|ch| !is_whitespace(ch)).unwrap_or(rest.len());
        return (Token::Ws, at, at + len);
    }
    if is_letter(c) || c == '_' || c == '"' {
        return scan_ident(input, at, true);
    }
    if c.is_ascii_digit() || (c == '.' && next.is_some_and(|n| n.is_ascii_digit())) {
        return scan_number(input, at);
    }
    match c {
        '\'' => scan_string(input, at),
        '.' => one(Token::Dot),
        '$' => {
            let (token, _, end) = scan_ident(input, at + 1, false);
            match token {
                Token::Ident(name) => (Token::BoundParam(format!("${name}")), at, end),
                other => (other, at, end),
            }
        }
        '+' => one(Token::Add),
        '-' if next == Some('-') => {
            let end = rest.find('\n').map(|i| at + i + 1).unwrap_or(input.len());
            scan(input, end)
        }
        '-' => one(Token::Sub),
        '*' => one(Token::Mul),
        '/' if next == Some('*') => match rest[2..].find("*/") {
            Some(i) => scan(input, at + 2 + i + 2),
            None => (Token::Illegal(String::new()), at, input.len()),
        },
        '/' => one(Token::Div),
        '%' => one(Token::Mod),
        '&' => one(Token::BitAnd),
        '|' => one(Token::BitOr),
        '^' => one(Token::BitXor),
        '=' if next == Some('~') => two(Token::EqRegex),
        '=' => one(Token::Eq),
        '!' if next == Some('=') => two(Token::Neq),
        '!' if next == Some('~') => two(Token::NeqRegex),
        '>' if next == Some('=') => two(Token::Gte),
        '>' => one(Token::Gt),
        '<' if next == Some('=') => two(Token::Lte),
        '<' if next == Some('>') => two(Token::Neq),
        '<' => one(Token::Lt),
        '(' => one(Token::LParen),
        ')' => one(Token::RParen),
        ',' => one(Token::Comma),
        ';' => one(Token::Semicolon),
        ':' if next == Some(':') => two(Token::DoubleColon),
        ':' => one(Token::Colon),
        other => (Token::Illegal(other.to_string()), at, at + other.len_utf8()),
    }
}

/// An identifier: bare words and double-quoted segments run together
/// (`"a"b` is one identifier), keywords recognised when `lookup`.
fn scan_ident(input: &str, at: usize, lookup: bool) -> (Token, usize, usize) {
    let mut out = String::new();
    let mut pos = at;
    while let Some(c) = input[pos..].chars().next() {
        if c == '"' {
            return match scan_quoted(input, pos, '"') {
                Ok((text, end)) => (Token::Ident(text), at, end),
                Err(bad) => bad,
            };
        } else if is_ident_char(c) {
            let len = input[pos..]
                .find(|ch: char| !is_ident_char(ch))
                .unwrap_or(input.len() - pos);
            out.push_str(&input[pos..pos + len]);
            pos += len;
        } else {
            break;
        }
    }
    if lookup {
        if let Some(k) = Keyword::lookup(&out) {
            return (Token::Keyword(k), at, pos);
        }
    }
    (Token::Ident(out), at, pos)
}

fn scan_string(input: &str, at: usize) -> (Token, usize, usize) {
    match scan_quoted(input, at, '\'') {
        Ok((text, end)) => (Token::Str(text), at, end),
        Err(bad) => bad,
    }
}

/// A quoted string or identifier with InfluxQL's escapes (`\n \\ \" \'`).
#[allow(clippy::result_large_err)]
fn scan_quoted(
    input: &str,
    at: usize,
    quote: char,
) -> Result<(String, usize), (Token, usize, usize)> {
    let mut out = String::new();
    let mut chars = input[at + 1..].char_indices();
    while let Some((i, c)) = chars.next() {
        let pos = at + 1 + i;
        if c == quote {
            return Ok((out, pos + 1));
        } else if c == '\n' {
            return Err((Token::BadString(out), at, pos));
        } else if c == '\\' {
            match chars.next() {
                Some((_, 'n')) => out.push('\n'),
                Some((_, '\\')) => out.push('\\'),
                Some((_, '"')) => out.push('"'),
                Some((_, '\'')) => out.push('\''),
                Some((_, other)) => {
                    return Err((Token::BadEscape(format!("\\{other}")), pos, pos + 2))
                }
                None => return Err((Token::BadString(out), at, input.len())),
            }
        } else {
            out.push(c);
        }
    }
    Err((Token::BadString(out), at, input.len()))
}

fn scan_number(input: &str, at: usize) -> (Token, usize, usize) {
    let bytes = input.as_bytes();
    let digits = |from: usize| {
        bytes[from..]
            .iter()
            .position(|b| !b.is_ascii_digit())
            .map_or(bytes.len(), |n| from + n)
    };
    let mut pos = digits(at);
    let mut decimal = false;
    if bytes.get(pos) == Some(&b'.') {
        decimal = true;
        if bytes.get(pos + 1).is_some_and(u8::is_ascii_digit) {
            pos = digits(pos + 1);
        } else {
            // InfluxDB consumes the dot even when no digit follows.
            pos += 1;
            let text = input[at..pos - 1].to_string();
            return (Token::Number(text), at, pos);
        }
    }
    if decimal {
        return (Token::Number(input[at..pos].to_string()), at, pos);
    }
    let is_unit = |c: char| is_letter(c) || c == 'µ';
    match input[pos..].chars().next() {
        Some(c) if is_unit(c) => {
            let mut end = pos;
            for c in input[pos..].chars() {
                if is_unit(c) || c.is_ascii_digit() {
                    end += c.len_utf8();
                } else {
                    break;
                }
            }
            (Token::Duration(input[at..end].to_string()), at, end)
        }
        _ => (Token::Integer(input[at..pos].to_string()), at, pos),
    }
}

/// A regex literal `/…/` at `at` (`\/` stands for `/`).
pub fn scan_regex(input: &str, at: usize) -> (Token, usize, usize) {
    let mut out = String::new();
    let mut chars = input[at + 1..].char_indices();
    while let Some((i, c)) = chars.next() {
        let pos = at + 1 + i;
        match c {
            '/' => return (Token::Regex(out), at, pos + 1),
            '\\' => match chars.next() {
                Some((_, '/')) => out.push('/'),
                Some((_, other)) => {
                    out.push('\\');
                    out.push(other);
                }
                None => return (Token::BadRegex(out), at, input.len()),
            },
            other => out.push(other),
        }
    }
    (Token::BadRegex(out), at, input.len())
}

/// InfluxQL durations: `10s`, `1h30m`, `100ms`, `5u`/`5µ`, `1ns`, `2d`, `1w`.
pub fn parse_duration(text: &str) -> Option<i64> {
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text),
    };
    if text.len() < 2 {
        return None;
    }
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 || digits == rest.len() {
            return None;
        }
        let n: i64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let (unit, len) = if rest.starts_with("ns") {
            (1, 2)
        } else if rest.starts_with("ms") {
            (1_000_000, 2)
        } else if rest.starts_with('u') {
            (1_000, 1)
        } else if rest.starts_with('µ') {
            (1_000, 'µ'.len_utf8())
        } else if rest.starts_with('m') {
            (60_000_000_000, 1)
        } else if rest.starts_with('s') {
            (1_000_000_000, 1)
        } else if rest.starts_with('h') {
            (3_600_000_000_000, 1)
        } else if rest.starts_with('d') {
            (86_400_000_000_000, 1)
        } else if rest.starts_with('w') {
            (604_800_000_000_000, 1)
        } else {
            return None;
        };
        // Go's durations wrap silently; a checked sum reports it instead.
        total = total.checked_add(n.checked_mul(unit)?)?;
        rest = &rest[len..];
    }
    Some(if negative { -total } else { total })
}

/// 1-based (line, char) of byte offset `at`, as InfluxDB reports positions.
pub fn line_and_char(input: &str, at: usize) -> (usize, usize) {
    let before = &input[..at.min(input.len())];
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[start..].chars().count() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(input: &str) -> Vec<Token> {
        let mut at = 0;
        let mut out = Vec::new();
        loop {
            let (t, _, end) = scan(input, at);
            if t == Token::Eof {
                return out;
            }
            if t != Token::Ws {
                out.push(t);
            }
            at = end;
        }
    }

    #[test]
    fn scans_influxql() {
        use Token::*;
        let cases: &[(&str, Vec<Token>)] = &[
            (
                "SELECT \"a b\"::field FROM m",
                vec![
                    Keyword(super::Keyword::Select),
                    Ident("a b".into()),
                    DoubleColon,
                    Keyword(super::Keyword::Field),
                    Keyword(super::Keyword::From),
                    Ident("m".into()),
                ],
            ),
            (
                "1 1.5 .5 10s 1700000000000ms 1h30m 5µ",
                vec![
                    Integer("1".into()),
                    Number("1.5".into()),
                    Number(".5".into()),
                    Duration("10s".into()),
                    Duration("1700000000000ms".into()),
                    Duration("1h30m".into()),
                    Duration("5µ".into()),
                ],
            ),
            (
                "a<>b!=c<=d>=e=~f!~g",
                vec![
                    Ident("a".into()),
                    Neq,
                    Ident("b".into()),
                    Neq,
                    Ident("c".into()),
                    Lte,
                    Ident("d".into()),
                    Gte,
                    Ident("e".into()),
                    EqRegex,
                    Ident("f".into()),
                    NeqRegex,
                    Ident("g".into()),
                ],
            ),
            (
                "'it\\'s' -- comment\n$x",
                vec![Str("it's".into()), BoundParam("$x".into())],
            ),
            ("/* c */ x", vec![Ident("x".into())]),
            ("'open", vec![BadString("open".into())]),
        ];
        for (input, want) in cases {
            assert_eq!(&tokens(input), want, "{input}");
        }
    }

    #[test]
    fn durations() {
        let cases: &[(&str, Option<i64>)] = &[
            ("1ns", Some(1)),
            ("1u", Some(1_000)),
            ("1µ", Some(1_000)),
            ("100ms", Some(100_000_000)),
            ("1s", Some(1_000_000_000)),
            ("5m", Some(300_000_000_000)),
            ("1h30m", Some(5_400_000_000_000)),
            ("1d", Some(86_400_000_000_000)),
            ("1w", Some(604_800_000_000_000)),
            ("1x", None),
            ("1", None),
            ("1n", None),
        ];
        for &(text, want) in cases {
            assert_eq!(parse_duration(text), want, "{text}");
        }
    }

    #[test]
    fn regexes_unescape_only_slashes() {
        assert_eq!(scan_regex("/a\\/b\\d/", 0).0, Token::Regex("a/b\\d".into()));
        assert!(matches!(scan_regex("/open", 0).0, Token::BadRegex(_)));
    }
}
