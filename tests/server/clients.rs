//! Client libraries, unchanged but for URL and token, against a live server
//! (the scripts in tests/clients/ read back and check what they write).

use super::harness::Server;

fn run_python(script: &str, server: &Server) {
    let python = std::env::var("HYDRANT_TEST_PYTHON").expect(
        "HYDRANT_TEST_PYTHON must name a python with influxdb and influxdb-client (tools/test installs one)",
    );
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    let out = std::process::Command::new(python)
        .arg(path)
        .arg(server.addr.ip().to_string())
        .arg(server.addr.port().to_string())
        .arg(&server.token)
        .output()
        .expect("run python");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "{script} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn run_node(script: &str, server: &Server) {
    let modules = std::env::var("HYDRANT_TEST_NODE_PATH").expect(
        "HYDRANT_TEST_NODE_PATH must name a node_modules with influx and @influxdata/influxdb-client (tools/test installs them)",
    );
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    let out = std::process::Command::new("node")
        .env("NODE_PATH", modules)
        .arg(path)
        .arg(server.addr.ip().to_string())
        .arg(server.addr.port().to_string())
        .arg(&server.token)
        .output()
        .expect("run node");
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "ok",
        "{script} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn node_influx_and_influxdb_client_js_read_back_what_they_write() {
    let server = Server::start(&[]);
    run_node("node_clients.js", &server);
}

#[test]
fn influxdb_python_and_influxdb_client_read_back_what_they_write() {
    let server = Server::start(&[]);
    run_python("python_clients.py", &server);
}
