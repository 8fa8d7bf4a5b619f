//! HTTP/1.1: the connection loop ([`conn`]), request heads and parameters
//! ([`request`]), routing and handlers ([`routes`]), the status page
//! ([`status`]), and responses, the one place errors become status codes
//! ([`response`]).

pub mod conn;
pub mod request;
pub mod response;
pub mod routes;
pub mod status;
