//! hydrant-null: the ceiling for `hydrant serve --store none`. An HTTP/1.1
//! server on the same runtime as hydrant (pinned glommio executors,
//! SO_REUSEPORT listeners, httparse) that reads each request's head and
//! body and answers 204 without looking at the body at all.
//!
//!   hydrant-null [--bind 127.0.0.1:8087] [--cores 1]

use std::net::SocketAddr;

use clap::Parser;
use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::net::TcpStream;
use glommio::{LocalExecutorBuilder, Placement};

#[derive(Parser)]
#[command(
    name = "hydrant-null",
    about = "A do-nothing HTTP responder: every request gets 204"
)]
struct Args {
    #[arg(long, default_value = "127.0.0.1:8087")]
    bind: SocketAddr,
    /// CPUs to run on, as `hydrant serve --cores` takes them.
    #[arg(long, default_value = "all")]
    cores: String,
}

const ANSWER: &[u8] = b"HTTP/1.1 204 No Content\r\nX-Influxdb-Version: null\r\n\r\n";

fn main() {
    let args = Args::parse();
    let cores = match hydrant::config::parse_cores(&args.cores) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("hydrant-null: {e}");
            std::process::exit(2);
        }
    };
    let io_memory = hydrant::config::default_io_memory(cores.len());
    let mut handles = Vec::new();
    for cpu in cores.clone() {
        let bind = args.bind;
        let handle = LocalExecutorBuilder::new(Placement::Fixed(cpu))
            .io_memory(io_memory)
            .spawn(move || async move {
                // hydrant's own listener: SO_REUSEPORT and the same backlog.
                let listener = hydrant::runtime::listen(bind)
                    .expect("cannot listen")
                    .socket;
                loop {
                    match listener.accept().await {
                        Ok(stream) => {
                            glommio::spawn_local(serve(stream)).detach();
                        }
                        Err(_) => glommio::timer::sleep(std::time::Duration::from_millis(10)).await,
                    }
                }
            })
            .expect("cannot start an executor");
        handles.push(handle);
    }
    eprintln!(
        "hydrant-null listening on http://{} (cores {cores:?})",
        args.bind
    );
    for h in handles {
        let _ = h.join();
    }
}

/// Reads requests (head, then Content-Length bytes of body) and answers
/// each with 204 until the client closes or sends something unframed.
async fn serve(mut stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let mut buf = vec![0u8; 256 << 10];
    let (mut start, mut end) = (0usize, 0usize);
    loop {
        // Parse a head from what is buffered, reading more until it is complete.
        let (head_len, body_len) = loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut req = httparse::Request::new(&mut headers);
            match req.parse(&buf[start..end]) {
                Ok(httparse::Status::Complete(n)) => {
                    let length = req
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                        .and_then(|h| std::str::from_utf8(h.value).ok()?.trim().parse().ok());
                    break (n, length.unwrap_or(0usize));
                }
                Ok(httparse::Status::Partial) => {
                    if start > 0 {
                        buf.copy_within(start..end, 0);
                        end -= start;
                        start = 0;
                    }
                    if end == buf.len() {
                        return;
                    }
                    match stream.read(&mut buf[end..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => end += n,
                    }
                }
                Err(_) => return,
            }
        };
        start += head_len;
        // Skip the body: what is buffered, then whatever is still to come.
        let mut left = body_len;
        let buffered = left.min(end - start);
        start += buffered;
        left -= buffered;
        while left > 0 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) if n <= left => left -= n,
                Ok(n) => {
                    start = left;
                    end = n;
                    left = 0;
                }
            }
        }
        if start == end {
            (start, end) = (0, 0);
        }
        if stream.write_all(ANSWER).await.is_err() || stream.flush().await.is_err() {
            return;
        }
    }
}
