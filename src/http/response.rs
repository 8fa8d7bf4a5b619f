//! Responses, and the one place where errors become status codes.
//!
//! Status codes decide what clients do with a batch (Telegraf drops on 4xx,
//! retries 5xx, backs off on 429/503, halves on 413), so each error names its
//! status here and nowhere else. Error bodies are JSON: v1 endpoints get
//! `{"error": …}` (what v1 clients and Telegraf read) plus `code`/`message`;
//! the v2 endpoint gets `{"code": …, "message": …}`.

use std::fmt::Write as _;

use serde_json::{json, Value};

/// The InfluxDB version clients see; they feature-detect on it.
pub const INFLUXDB_VERSION: &str = "1.8.10";
/// Longest `X-Influxdb-Error` value sent.
const MAX_ERROR_HEADER: usize = 1024;
pub const SERVER: &str = concat!("hydrant/", env!("CARGO_PKG_VERSION"));

/// Which API shape an error body takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Api {
    V1,
    V2,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ApiError {
    BadRequest(String),
    /// No or unreadable credentials, or a token that matches nothing.
    Unauthorized(String),
    Forbidden(String),
    NotFound,
    MethodNotAllowed {
        allow: &'static str,
    },
    PayloadTooLarge(String),
    HeadersTooLarge,
    UnsupportedEncoding(String),
    Timeout,
    NotImplemented(String),
    Internal(String),
    /// The disk is full: nothing of the request was acknowledged (507).
    InsufficientStorage(String),
    /// Overloaded for now (503 with Retry-After; Telegraf retries).
    Unavailable(String),
    /// A partial write: some lines stored, these rejected (400).
    PartialWrite {
        message: String,
        /// (line number, line text, reason) for each rejected line, capped.
        lines: Vec<(usize, String, String)>,
    },
}

impl From<crate::wal::Failure> for ApiError {
    fn from(f: crate::wal::Failure) -> Self {
        if f.storage_full {
            ApiError::InsufficientStorage(f.message)
        } else {
            ApiError::Internal(f.message)
        }
    }
}

impl ApiError {
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) | ApiError::PartialWrite { .. } => 400,
            ApiError::Unauthorized(_) => 401,
            ApiError::Forbidden(_) => 403,
            ApiError::NotFound => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::Timeout => 408,
            ApiError::PayloadTooLarge(_) => 413,
            ApiError::UnsupportedEncoding(_) => 415,
            ApiError::HeadersTooLarge => 431,
            ApiError::Internal(_) => 500,
            ApiError::NotImplemented(_) => 501,
            ApiError::InsufficientStorage(_) => 507,
            ApiError::Unavailable(_) => 503,
        }
    }

    /// InfluxDB 2's error code vocabulary.
    fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) | ApiError::PartialWrite { .. } => "invalid",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound => "not found",
            ApiError::MethodNotAllowed { .. } => "method not allowed",
            ApiError::Timeout => "request timeout",
            ApiError::PayloadTooLarge(_) => "request too large",
            ApiError::UnsupportedEncoding(_) => "unsupported media type",
            ApiError::HeadersTooLarge => "request header fields too large",
            ApiError::Internal(_) | ApiError::InsufficientStorage(_) => "internal error",
            ApiError::Unavailable(_) => "unavailable",
            ApiError::NotImplemented(_) => "not implemented",
        }
    }

    pub fn message(&self) -> String {
        match self {
            ApiError::BadRequest(m)
            | ApiError::Unauthorized(m)
            | ApiError::Forbidden(m)
            | ApiError::PayloadTooLarge(m)
            | ApiError::UnsupportedEncoding(m)
            | ApiError::NotImplemented(m)
            | ApiError::InsufficientStorage(m)
            | ApiError::Unavailable(m)
            | ApiError::Internal(m) => m.clone(),
            ApiError::PartialWrite { message, .. } => message.clone(),
            ApiError::NotFound => "404 page not found".into(),
            ApiError::MethodNotAllowed { allow } => {
                format!("method not allowed (allowed: {allow})")
            }
            ApiError::Timeout => "timed out reading the request".into(),
            ApiError::HeadersTooLarge => "request header fields too large".into(),
        }
    }

    pub fn into_response(self, api: Api) -> Response {
        let message = self.message();
        let mut body = match api {
            Api::V1 => json!({ "error": message, "code": self.code(), "message": message }),
            Api::V2 => json!({ "code": self.code(), "message": message }),
        };
        if let ApiError::PartialWrite { lines, .. } = &self {
            // InfluxDB 3's shape for per-line detail.
            body["data"] = Value::Array(
                lines
                    .iter()
                    .map(|(line, text, reason)| {
                        json!({ "line_number": line, "original_line": text, "error_message": reason })
                    })
                    .collect(),
            );
        }
        let mut response = Response::json(self.status(), &body);
        // Header values cannot hold newlines, and long ones upset proxies:
        // one line, cut short (the body has it all).
        let one_line = message.replace(['\r', '\n'], " | ");
        response.header(
            "X-Influxdb-Error",
            crate::metrics::cut(&one_line, MAX_ERROR_HEADER),
        );
        match self {
            ApiError::Unauthorized(_) => {
                response.header("WWW-Authenticate", "Basic realm=\"hydrant\"".into())
            }
            ApiError::MethodNotAllowed { allow } => response.header("Allow", allow.into()),
            ApiError::Unavailable(_) => response.header("Retry-After", "1".into()),
            _ => {}
        }
        response
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
    /// Close the connection after this response.
    pub close: bool,
}

impl Response {
    pub fn no_content() -> Response {
        Response {
            status: 204,
            headers: Vec::new(),
            body: Vec::new(),
            close: false,
        }
    }

    pub fn json(status: u16, value: &Value) -> Response {
        let mut body = serde_json::to_vec(value).expect("JSON values serialize");
        body.push(b'\n');
        Response {
            status,
            headers: vec![("Content-Type", "application/json".into())],
            body,
            close: false,
        }
    }

    pub fn header(&mut self, name: &'static str, value: String) {
        self.headers.push((name, value));
    }

    /// Serializes the response into `out` (status line, headers, body).
    pub fn write_to(&self, out: &mut Vec<u8>, request_id: &str, head_only: bool, keep_alive: bool) {
        let reason = reason(self.status);
        let _ = write!(
            StringSink(out),
            "HTTP/1.1 {} {reason}\r\nX-Influxdb-Version: {INFLUXDB_VERSION}\r\nX-Influxdb-Build: OSS\r\nServer: {SERVER}\r\nRequest-Id: {request_id}\r\nX-Request-Id: {request_id}\r\nDate: {}\r\n",
            self.status,
            http_date(std::time::SystemTime::now())
        );
        for (name, value) in &self.headers {
            let _ = write!(StringSink(out), "{name}: {value}\r\n");
        }
        if !(self.status == 204 || self.status == 304 || (100..200).contains(&self.status)) {
            let _ = write!(StringSink(out), "Content-Length: {}\r\n", self.body.len());
        }
        if !keep_alive || self.close {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        if !head_only && self.status != 204 {
            out.extend_from_slice(&self.body);
        }
    }
}

/// An IMF-fixdate (RFC 9110 §5.6.7), e.g. `Sun, 06 Nov 1994 08:49:37 GMT`.
fn http_date(now: std::time::SystemTime) -> String {
    let secs = now
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + (month <= 2) as i64;
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {day:02} {} {year} {:02}:{:02}:{:02} GMT",
        WEEKDAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// `fmt::Write` onto a byte vector.
struct StringSink<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for StringSink<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        413 => "Request Entity Too Large",
        415 => "Unsupported Media Type",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        507 => "Insufficient Storage",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_their_shape_and_headers() {
        let r = ApiError::Unauthorized("authorization failed".into()).into_response(Api::V1);
        assert_eq!(r.status, 401);
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(body["error"], "authorization failed");
        assert_eq!(body["code"], "unauthorized");
        assert!(r
            .headers
            .iter()
            .any(|(n, v)| *n == "WWW-Authenticate" && v.contains("hydrant")));
        assert!(r.headers.iter().any(|(n, _)| *n == "X-Influxdb-Error"));
        let r = ApiError::BadRequest("bucket is required".into()).into_response(Api::V2);
        let body: Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(
            body,
            json!({"code": "invalid", "message": "bucket is required"})
        );
    }

    #[test]
    fn http_dates() {
        use std::time::{Duration, UNIX_EPOCH};
        let at = |s: u64| http_date(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(at(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(at(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(at(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(at(1_795_461_739), "Mon, 23 Nov 2026 19:22:19 GMT");
    }

    #[test]
    fn wire_format() {
        let mut out = Vec::new();
        Response::no_content().write_to(&mut out, "id-1", false, true);
        let text = String::from_utf8(out).unwrap();
        assert!(text.starts_with("HTTP/1.1 204 No Content\r\n"));
        assert!(text.contains("X-Influxdb-Version: "));
        assert!(text.contains("Request-Id: id-1\r\nX-Request-Id: id-1\r\n"));
        assert!(!text.contains("Content-Length"));
        assert!(text.ends_with("\r\n\r\n"));
        let mut out = Vec::new();
        ApiError::NotFound
            .into_response(Api::V1)
            .write_to(&mut out, "x", true, false);
        let text = String::from_utf8(out).unwrap();
        assert!(text.contains("Content-Length: ") && text.contains("Connection: close"));
        assert!(text.ends_with("\r\n\r\n"), "HEAD has no body");
    }
}
