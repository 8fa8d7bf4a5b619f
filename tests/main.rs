//! The one integration test binary: every test starts the real `hydrant`
//! binary on a free loopback port with its own data directory, talks HTTP to
//! it over plain sockets (so framing details are under the test's control),
//! and stops it at the end.

mod server;
