//! A tiny HTTP/1.1 server on 127.0.0.1 for what mockito cannot do: stall,
//! reset a connection, answer slowly, keep connections alive and count them.
//! Each connection serves one request, unless started with
//! [`RawServer::start_keep_alive`].
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server does with one request.
pub enum Action {
    /// Answer after `delay`.
    Respond {
        status: u16,
        headers: Vec<(String, String)>,
        body: String,
        delay: Duration,
    },
    /// Read the request, then answer nothing for this long, then close.
    Stall(Duration),
    /// Read the request, then close the connection with a TCP reset.
    Reset,
}

impl Action {
    pub fn ok(body: &str) -> Action {
        Action::Respond {
            status: 200,
            headers: vec![],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    pub fn status(status: u16, body: &str) -> Action {
        Action::Respond {
            status,
            headers: vec![],
            body: body.into(),
            delay: Duration::ZERO,
        }
    }

    /// This answer with one more header.
    pub fn header(mut self, name: &str, value: &str) -> Action {
        if let Action::Respond { headers, .. } = &mut self {
            headers.push((name.into(), value.into()));
        }
        self
    }

    /// This answer, sent after `delay`.
    pub fn after(mut self, wait: Duration) -> Action {
        if let Action::Respond { delay, .. } = &mut self {
            *delay = wait;
        }
        self
    }
}

/// One received request.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub version: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

pub struct RawServer {
    pub port: u16,
    stop: Arc<AtomicBool>,
    connections: Arc<AtomicUsize>,
    received: Arc<Mutex<Vec<Received>>>,
    heads: Arc<Mutex<Vec<Received>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

type Handler = dyn Fn(&Received) -> Action + Send + Sync;

/// How the server treats a connection after its first answer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    OneRequest,
    KeepAlive,
}
type HeadHook = dyn Fn(&Received) -> bool + Send + Sync;

impl RawServer {
    /// Starts a server whose `handler` decides each answer.
    pub fn start(handler: impl Fn(&Received) -> Action + Send + Sync + 'static) -> RawServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        Self::run(
            listener,
            Mode::OneRequest,
            Arc::new(|_: &Received| false),
            Arc::new(handler),
        )
    }

    /// Like [`start`](Self::start), but each connection serves requests until
    /// the client closes it, as a real HTTP/1.1 server does.
    pub fn start_keep_alive(
        handler: impl Fn(&Received) -> Action + Send + Sync + 'static,
    ) -> RawServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        Self::run(
            listener,
            Mode::KeepAlive,
            Arc::new(|_: &Received| false),
            Arc::new(handler),
        )
    }

    /// Like [`start`](Self::start), but `reset_unread` sees each request's
    /// head (its body empty) first, and when it says so the connection is
    /// reset before any of the body is read. The receive buffer is small,
    /// so that a large body cannot all be written before that reset.
    pub fn start_resetting_unread(
        reset_unread: impl Fn(&Received) -> bool + Send + Sync + 'static,
        handler: impl Fn(&Received) -> Action + Send + Sync + 'static,
    ) -> RawServer {
        use socket2::{Domain, Socket, Type};
        let socket = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        // Set before listen(), so that accepted connections inherit it and
        // the advertised window stays small.
        socket.set_recv_buffer_size(4096).unwrap();
        socket
            .bind(
                &"127.0.0.1:0"
                    .parse::<std::net::SocketAddr>()
                    .unwrap()
                    .into(),
            )
            .unwrap();
        socket.listen(64).unwrap();
        Self::run(
            socket.into(),
            Mode::OneRequest,
            Arc::new(reset_unread),
            Arc::new(handler),
        )
    }

    fn run(
        listener: TcpListener,
        mode: Mode,
        head: Arc<HeadHook>,
        handler: Arc<Handler>,
    ) -> RawServer {
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let connections = Arc::new(AtomicUsize::new(0));
        let accepted = connections.clone();
        let received = Arc::new(Mutex::new(Vec::new()));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let (stop2, received2, heads2) = (stop.clone(), received.clone(), heads.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                accepted.fetch_add(1, Ordering::SeqCst);
                let (head, handler) = (head.clone(), handler.clone());
                let (received, heads) = (received2.clone(), heads2.clone());
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut reader = BufReader::new(stream.try_clone().unwrap());
                    loop {
                        match serve(
                            &stream,
                            &mut reader,
                            &*head,
                            &*handler,
                            mode,
                            &heads,
                            &received,
                        ) {
                            Next::Serve if mode == Mode::KeepAlive => continue,
                            Next::Reset => {
                                // The last descriptor must go for close() to reset.
                                drop(reader);
                                reset(stream);
                            }
                            Next::Serve | Next::Close => {}
                        }
                        return;
                    }
                });
            }
        });
        RawServer {
            port,
            stop,
            connections,
            received,
            heads,
            thread: Some(thread),
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }

    /// Requests read whole (head and body).
    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }

    /// Request heads read, including those reset before their body.
    pub fn heads(&self) -> Vec<Received> {
        self.heads.lock().unwrap().clone()
    }
}

impl Drop for RawServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn reset(stream: TcpStream) {
    // SO_LINGER 0 makes close() send RST instead of FIN.
    let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    drop(stream);
}

/// Reads a request line and headers (names lower-cased); the body is left
/// unread and empty. `None` when the peer sent nothing.
fn read_head(reader: &mut BufReader<TcpStream>) -> Option<Received> {
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_owned();
    let path = parts.next().unwrap_or_default().to_owned();
    let version = parts.next().unwrap_or_default().to_owned();
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.trim_end().split_once(':') {
            headers.push((k.to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    Some(Received {
        method,
        path,
        version,
        headers,
        body: String::new(),
    })
}

/// What to do with a connection after one request.
enum Next {
    /// Serve another request on it (in keep-alive mode).
    Serve,
    Close,
    Reset,
}

/// Serves one request.
fn serve(
    stream: &TcpStream,
    reader: &mut BufReader<TcpStream>,
    reset_unread: &HeadHook,
    handler: &Handler,
    mode: Mode,
    heads: &Mutex<Vec<Received>>,
    received: &Mutex<Vec<Received>>,
) -> Next {
    let Some(mut request) = read_head(reader) else {
        return Next::Close;
    };
    let length = request
        .headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    heads.lock().unwrap().push(request.clone());
    if reset_unread(&request) {
        return Next::Reset;
    }
    let mut body = vec![0; length];
    let _ = reader.read_exact(&mut body);
    request.body = String::from_utf8_lossy(&body).into_owned();
    received.lock().unwrap().push(request.clone());
    let mut stream = stream;
    match handler(&request) {
        Action::Respond {
            status,
            headers,
            body,
            delay,
        } => {
            std::thread::sleep(delay);
            let close = if mode == Mode::KeepAlive {
                ""
            } else {
                "connection: close\r\n"
            };
            let mut head = format!(
                "HTTP/1.1 {status} X\r\ncontent-length: {}\r\n{close}",
                body.len()
            );
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            if stream.write_all(head.as_bytes()).is_ok()
                && stream.write_all(body.as_bytes()).is_ok()
            {
                Next::Serve
            } else {
                Next::Close
            }
        }
        Action::Stall(d) => {
            std::thread::sleep(d);
            Next::Close
        }
        Action::Reset => Next::Reset,
    }
}

/// A raw platform: token and typing answered normally, the message route (and
/// anything else) by `message`.
pub fn platform(message: impl Fn(&Received) -> Action + Send + Sync + 'static) -> RawServer {
    RawServer::start(platform_handler(message))
}

/// The handler of [`platform`]: token and typing answered normally, the rest
/// by `message`.
pub fn platform_handler(
    message: impl Fn(&Received) -> Action + Send + Sync + 'static,
) -> impl Fn(&Received) -> Action + Send + Sync + 'static {
    move |req| {
        if req.path == "/oauth/token" {
            Action::ok(&format!(
                r#"{{"access_token":"{}","expires_in":86399}}"#,
                super::TOKEN
            ))
        } else if req.path.ends_with("/typing") {
            // With the Date every answer of the platform carries.
            with_date(Action::status(204, ""))
        } else {
            message(req)
        }
    }
}

/// The answer with the platform's `Date` header, as Genesys sends it.
pub fn with_date(action: Action) -> Action {
    action.header(
        "date",
        &httpdate::fmt_http_date(std::time::SystemTime::now()),
    )
}

impl RawServer {
    /// Requests received on paths ending with `suffix`.
    pub fn count(&self, suffix: &str) -> usize {
        ending_with(&self.received(), suffix)
    }

    /// Request heads read on paths ending with `suffix`, reset ones included.
    pub fn heads_count(&self, suffix: &str) -> usize {
        ending_with(&self.heads(), suffix)
    }
}

fn ending_with(requests: &[Received], suffix: &str) -> usize {
    requests.iter().filter(|r| r.path.ends_with(suffix)).count()
}

/// An HTTP CONNECT proxy on 127.0.0.1: records each request head's first
/// line (`CONNECT host:port HTTP/1.1`), then pipes bytes both ways.
pub struct ConnectProxy {
    pub port: u16,
    pub connects: Arc<Mutex<Vec<String>>>,
}

impl ConnectProxy {
    pub fn start() -> ConnectProxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let connects = Arc::new(Mutex::new(Vec::new()));
        let seen = connects.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let seen = seen.clone();
                std::thread::spawn(move || tunnel(client, &seen));
            }
        });
        ConnectProxy { port, connects }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

fn tunnel(client: TcpStream, seen: &Mutex<Vec<String>>) {
    // The client sends nothing more until it has the answer, so the reader
    // holds no bytes past the head.
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let Some(head) = read_head(&mut reader) else {
        return;
    };
    seen.lock()
        .unwrap()
        .push(format!("{} {} {}", head.method, head.path, head.version));
    // For CONNECT, the request target is the authority `host:port`.
    let target = head.path.as_str();
    let Ok(upstream) = TcpStream::connect(target) else {
        let _ = (&client).write_all(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n");
        return;
    };
    let _ = (&client).write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
    let (mut c_read, mut u_write) = (client.try_clone().unwrap(), upstream.try_clone().unwrap());
    let up = std::thread::spawn(move || {
        let _ = std::io::copy(&mut c_read, &mut u_write);
        let _ = u_write.shutdown(std::net::Shutdown::Write);
    });
    let (mut u_read, mut c_write) = (upstream, client);
    let _ = std::io::copy(&mut u_read, &mut c_write);
    let _ = c_write.shutdown(std::net::Shutdown::Write);
    let _ = up.join();
}

/// A platform whose token call refuses any secret but the right one, and
/// that refuses the message text "refused" with a 400.
pub fn strict_platform() -> RawServer {
    RawServer::start(|req| {
        if req.path == "/oauth/token" {
            let right = req
                .headers
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case("authorization") && v == super::BASIC);
            if right {
                Action::ok(&format!(
                    r#"{{"access_token":"{}","expires_in":86399}}"#,
                    super::TOKEN
                ))
            } else {
                Action::status(
                    401,
                    r#"{"error":"invalid_client","error_description":"Invalid client credentials"}"#,
                )
            }
        } else if req.path == super::message_path() && req.body.contains("refused") {
            Action::status(400, &super::genesys_error(400, "bad.request", "no"))
        } else if req.path == super::message_path() {
            Action::ok(&super::message_ok("m"))
        } else if req.path.ends_with("/typing") {
            Action::status(204, "")
        } else {
            Action::status(404, "")
        }
    })
}
