//! The bench's fake platform: a token and a message route on 127.0.0.1,
//! counting what it answered and the connections it took.

use super::*;

/// Counts what the in-process server received.
#[derive(Default)]
pub(crate) struct Counts {
    pub(crate) connections: AtomicU64,
    pub(crate) token: AtomicU64,
    pub(crate) typing: AtomicU64,
    pub(crate) messages: AtomicU64,
    pub(crate) webhooks: AtomicU64,
}

/// A keep-alive HTTP/1.1 server answering like the platform: one thread per
/// connection, each connection serving requests until the client closes it.
/// (tiny_http was tried first: its task pool can leave a new connection
/// queued behind busy keep-alive connections, stalling a client until its
/// timeout.)
pub(crate) fn start_server(counts: Arc<Counts>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
    let port = listener.local_addr().expect("local address").port();
    std::thread::Builder::new()
        .name("bench-server".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                counts.connections.fetch_add(1, Relaxed);
                let counts = counts.clone();
                let _ = std::thread::Builder::new()
                    .name("bench-server".into())
                    .spawn(move || serve(stream, &counts));
            }
        })
        .expect("spawn server thread");
    format!("http://127.0.0.1:{port}")
}

pub(crate) fn serve(stream: TcpStream, counts: &Counts) {
    let _ = stream.set_nodelay(true);
    let mut writer = match stream.try_clone() {
        Ok(w) => w,
        Err(_) => return,
    };
    let mut reader = BufReader::new(stream);
    let message = format!(
        r#"{{"id":"9f3c6a52-51f1-4d6e-a2b3-6c1d2e3f4a5b","status":"queued","conversationId":"{CONV}","direction":"outbound","messengerType":"webmessaging"}}"#
    );
    let (mut line, mut body) = (String::new(), Vec::new());
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        let path = line
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_owned();
        let mut length = 0;
        loop {
            line.clear();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            if line == "\r\n" {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                if name.eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        body.resize(length, 0);
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        let (status, answer) = if path == "/oauth/token" {
            counts.token.fetch_add(1, Relaxed);
            (
                "200 OK",
                r#"{"access_token":"bench-token","token_type":"bearer","expires_in":86399}"#,
            )
        } else if path.ends_with("/typing") {
            counts.typing.fetch_add(1, Relaxed);
            ("204 No Content", "")
        } else if path.ends_with("/messages") {
            counts.messages.fetch_add(1, Relaxed);
            ("200 OK", message.as_str())
        } else if path == "/webhook" {
            counts.webhooks.fetch_add(1, Relaxed);
            ("200 OK", "")
        } else {
            ("404 Not Found", "")
        };
        let head = if status.starts_with("204") {
            format!("HTTP/1.1 {status}\r\n\r\n")
        } else {
            format!("HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{answer}", answer.len())
        };
        if writer.write_all(head.as_bytes()).is_err() {
            return;
        }
    }
}
