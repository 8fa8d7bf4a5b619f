//! Request heads: what httparse found, reduced to what hydrant acts on.

use base64::Engine;

/// Largest request head accepted (request line plus headers).
pub const MAX_HEAD: usize = 64 * 1024;
/// Most headers accepted in one request.
pub const MAX_HEADERS: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
    Post,
    Options,
    Other,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BodyKind {
    None,
    Length(u64),
    Chunked,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub method: Method,
    pub path: String,
    pub query: String,
    /// HTTP/1.x minor version.
    pub minor_version: u8,
    pub body: BodyKind,
    pub expect_continue: bool,
    pub keep_alive: bool,
    pub content_encoding: Option<String>,
    pub content_type: Option<String>,
    pub authorization: Option<String>,
    pub accept: Option<String>,
}

impl Head {
    /// The path a route matches: without one trailing slash, since
    /// InfluxDB's documented URLs include `/write/?…` and `/query/?…`.
    pub fn route(&self) -> &str {
        match self.path.strip_suffix('/') {
            Some(p) if !p.is_empty() => p,
            _ => &self.path,
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum HeadError {
    /// More bytes are needed.
    Partial,
    /// Head or header count over the limits (431).
    TooLarge,
    /// Not HTTP/1.x (400).
    Malformed(String),
    /// A framing we cannot honour safely, e.g. two Content-Lengths (400).
    BadFraming(String),
    /// `Transfer-Encoding` other than chunked (501).
    UnsupportedTransferEncoding(String),
}

/// Parses a request head from the start of `buf`; returns it and its length.
pub fn parse_head(buf: &[u8]) -> Result<(Head, usize), HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            return Err(if buf.len() > MAX_HEAD {
                HeadError::TooLarge
            } else {
                HeadError::Partial
            })
        }
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(e) => return Err(HeadError::Malformed(e.to_string())),
    };
    if len > MAX_HEAD {
        return Err(HeadError::TooLarge);
    }
    let method = match req.method.unwrap_or("") {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "POST" => Method::Post,
        "OPTIONS" => Method::Options,
        _ => Method::Other,
    };
    let target = req.path.unwrap_or("/");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let minor_version = req.version.unwrap_or(1);
    let mut head = Head {
        method,
        path: path.to_owned(),
        query: query.to_owned(),
        minor_version,
        body: BodyKind::None,
        expect_continue: false,
        keep_alive: minor_version >= 1,
        content_encoding: None,
        content_type: None,
        authorization: None,
        accept: None,
    };
    let mut content_length: Option<u64> = None;
    let mut chunked = false;
    for h in req.headers.iter() {
        let value = std::str::from_utf8(h.value)
            .map_err(|_| HeadError::Malformed(format!("header {} is not UTF-8", h.name)))?
            .trim();
        let name = h.name;
        if name.eq_ignore_ascii_case("content-length") {
            let n: u64 = value
                .parse()
                .map_err(|_| HeadError::BadFraming(format!("invalid Content-Length {value:?}")))?;
            if content_length.is_some_and(|m| m != n) {
                return Err(HeadError::BadFraming(
                    "conflicting Content-Length headers".into(),
                ));
            }
            content_length = Some(n);
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            for coding in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                if coding.eq_ignore_ascii_case("chunked") {
                    chunked = true;
                } else if !coding.eq_ignore_ascii_case("identity") {
                    return Err(HeadError::UnsupportedTransferEncoding(coding.to_owned()));
                }
            }
        } else if name.eq_ignore_ascii_case("connection") {
            for token in value.split(',').map(str::trim) {
                if token.eq_ignore_ascii_case("close") {
                    head.keep_alive = false;
                } else if token.eq_ignore_ascii_case("keep-alive") {
                    head.keep_alive = true;
                }
            }
        } else if name.eq_ignore_ascii_case("expect") {
            head.expect_continue = value.eq_ignore_ascii_case("100-continue");
        } else if name.eq_ignore_ascii_case("content-encoding") {
            head.content_encoding = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("content-type") {
            head.content_type = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("authorization") {
            head.authorization = Some(value.to_owned());
        } else if name.eq_ignore_ascii_case("accept") {
            head.accept = Some(value.to_owned());
        }
    }
    head.body = match (chunked, content_length) {
        // RFC 9112 §6.1: both present is a smuggling vector; refuse it.
        (true, Some(_)) => {
            return Err(HeadError::BadFraming(
                "both Transfer-Encoding and Content-Length".into(),
            ))
        }
        (true, None) => BodyKind::Chunked,
        (false, Some(0)) | (false, None) => BodyKind::None,
        (false, Some(n)) => BodyKind::Length(n),
    };
    Ok((head, len))
}

/// Query-string (or form body) parameters, decoded.
#[derive(Clone, Debug, Default)]
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(query: &str) -> Params {
        Params(
            form_urlencoded::parse(query.as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    /// Adds the parameters of a urlencoded body (they come after the URL's).
    pub fn extend_form(&mut self, body: &[u8]) {
        self.0
            .extend(form_urlencoded::parse(body).map(|(k, v)| (k.into_owned(), v.into_owned())));
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// How a request presented its token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Credentials {
    None,
    /// `Basic` or `u`/`p`: the password is the token.
    Password(String),
    /// `Token` or `Bearer`.
    Token(String),
    /// An `Authorization` header we could not read.
    Malformed,
}

/// Finds the token a request carries: the `Authorization` header first, then
/// the `p` query parameter.
pub fn credentials(head: &Head, params: &Params) -> Credentials {
    if let Some(value) = head.authorization.as_deref() {
        let (scheme, rest) = value.split_once(' ').unwrap_or((value, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("basic") {
            let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(rest) else {
                return Credentials::Malformed;
            };
            let Ok(decoded) = String::from_utf8(decoded) else {
                return Credentials::Malformed;
            };
            let password = decoded.split_once(':').map_or(decoded.as_str(), |(_, p)| p);
            return Credentials::Password(password.to_owned());
        }
        if scheme.eq_ignore_ascii_case("token") || scheme.eq_ignore_ascii_case("bearer") {
            // InfluxDB 1.8 clients send `Token user:password`.
            let token = rest.split_once(':').map_or(rest, |(_, p)| p);
            return Credentials::Token(token.to_owned());
        }
        return Credentials::Malformed;
    }
    match params.get("p") {
        Some(p) if !p.is_empty() => Credentials::Password(p.to_owned()),
        _ => Credentials::None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head(raw: &str) -> Result<(Head, usize), HeadError> {
        parse_head(raw.as_bytes())
    }

    #[test]
    fn routes_drop_one_trailing_slash() {
        let table = [
            ("/write", "/write"),
            ("/write/", "/write"),
            ("/query/?q=x", "/query"),
            ("/", "/"),
            ("/a//", "/a/"),
        ];
        for (target, want) in table {
            let (h, _) = head(&format!("GET {target} HTTP/1.1\r\n\r\n")).unwrap();
            assert_eq!(h.route(), want, "{target}");
        }
    }

    #[test]
    fn heads() {
        let (h, n) = head("POST /write?db=x&precision=s HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\nhello").unwrap();
        assert_eq!(n, 91);
        assert_eq!(h.method, Method::Post);
        assert_eq!(
            (h.path.as_str(), h.query.as_str()),
            ("/write", "db=x&precision=s")
        );
        assert_eq!(h.body, BodyKind::Length(5));
        assert!(h.expect_continue && h.keep_alive);
        let (h, _) = head("GET /ping HTTP/1.0\r\n\r\n").unwrap();
        assert!(!h.keep_alive);
        let (h, _) =
            head("POST /write HTTP/1.1\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n")
                .unwrap();
        assert_eq!(h.body, BodyKind::Chunked);
        assert!(!h.keep_alive);
        assert_eq!(
            head("GET /ping HTTP/1.1\r\nHost: a\r\n").map(|_| ()),
            Err(HeadError::Partial)
        );
        assert!(matches!(
            head("garbage\r\n\r\n"),
            Err(HeadError::Malformed(_))
        ));
        assert!(matches!(
            head("POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n"),
            Err(HeadError::BadFraming(_))
        ));
        assert!(matches!(
            head("POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n"),
            Err(HeadError::BadFraming(_))
        ));
        assert!(matches!(
            head("POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n"),
            Err(HeadError::UnsupportedTransferEncoding(_))
        ));
        let many: String = (0..200).map(|i| format!("X-{i}: y\r\n")).collect();
        assert_eq!(
            head(&format!("GET / HTTP/1.1\r\n{many}\r\n")).map(|_| ()),
            Err(HeadError::TooLarge)
        );
        let huge = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(MAX_HEAD));
        assert_eq!(head(&huge).map(|_| ()), Err(HeadError::TooLarge));
    }

    #[test]
    fn credential_schemes() {
        let with = |auth: Option<&str>, query: &str| {
            let mut h = head("GET / HTTP/1.1\r\n\r\n").unwrap().0;
            h.authorization = auth.map(str::to_owned);
            credentials(&h, &Params::parse(query))
        };
        let basic = base64::engine::general_purpose::STANDARD.encode("anyone:secret");
        assert_eq!(
            with(Some(&format!("Basic {basic}")), ""),
            Credentials::Password("secret".into())
        );
        assert_eq!(
            with(Some("Token secret"), ""),
            Credentials::Token("secret".into())
        );
        assert_eq!(
            with(Some("Token user:secret"), ""),
            Credentials::Token("secret".into())
        );
        assert_eq!(
            with(Some("Bearer secret"), "p=other"),
            Credentials::Token("secret".into())
        );
        assert_eq!(
            with(None, "u=x&p=secret"),
            Credentials::Password("secret".into())
        );
        assert_eq!(with(None, "u=x"), Credentials::None);
        assert_eq!(with(Some("Basic !!!"), ""), Credentials::Malformed);
        assert_eq!(with(Some("Digest abc"), ""), Credentials::Malformed);
    }

    #[test]
    fn params_decode_like_browsers() {
        let p = Params::parse("db=my%20db&q=SELECT+*+FROM+%22m%22&empty=");
        assert_eq!(p.get("db"), Some("my db"));
        assert_eq!(p.get("q"), Some("SELECT * FROM \"m\""));
        assert_eq!(p.get("empty"), Some(""));
        assert_eq!(p.get("missing"), None);
    }
}
