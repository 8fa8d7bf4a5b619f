//! Client libraries, unchanged but for URL and token, against a live server
//! (the scripts in tests/clients/ read back and check what they write).

use std::process::Command;

use super::harness::{stdout_of, Server};

/// Runs tests/clients/<script> with `program` as HOST PORT TOKEN; it must print "ok".
fn run_client(mut program: Command, script: &str, server: &Server) {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    program
        .arg(path)
        .arg(server.addr.ip().to_string())
        .arg(server.addr.port().to_string())
        .arg(&server.token);
    let out = stdout_of(program, script);
    assert_eq!(String::from_utf8_lossy(&out).trim(), "ok", "{script}");
}

#[test]
fn node_influx_and_influxdb_client_js_read_back_what_they_write() {
    let modules = std::env::var("HYDRANT_TEST_NODE_PATH").expect(
        "HYDRANT_TEST_NODE_PATH must name a node_modules with influx and @influxdata/influxdb-client (tools/test installs them)",
    );
    let mut node = Command::new("node");
    node.env("NODE_PATH", modules);
    run_client(node, "node_clients.js", &Server::start(&[]));
}

#[test]
fn influxdb_python_and_influxdb_client_read_back_what_they_write() {
    let python = std::env::var("HYDRANT_TEST_PYTHON").expect(
        "HYDRANT_TEST_PYTHON must name a python with influxdb and influxdb-client (tools/test installs one)",
    );
    run_client(
        Command::new(python),
        "python_clients.py",
        &Server::start(&[]),
    );
}
