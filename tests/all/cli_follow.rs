//! `events --follow` through a connection that breaks: a proxy between the CLI
//! and the host hands the event stream on three bytes at a time (so characters
//! are split between reads) and cuts every connection on demand; the CLI
//! resumes with `Last-Event-ID` and prints every event once, intact.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::harness::TestEnv;

/// A TCP proxy on loopback to `upstream` that can cut its connections and
/// hold new ones until told to go on.
struct Proxy {
    addr: std::net::SocketAddr,
    /// Bumped to cut every open connection.
    generation: watch::Sender<u64>,
    /// While false, accepted connections wait before reaching the host.
    open: watch::Sender<bool>,
}

impl Proxy {
    async fn start(upstream: std::net::SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (generation, _) = watch::channel(0u64);
        let (open, _) = watch::channel(true);
        let (g, o) = (generation.clone(), open.clone());
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let (mut gen_rx, mut open_rx) = (g.subscribe(), o.subscribe());
                tokio::spawn(async move {
                    let _ = open_rx.wait_for(|open| *open).await;
                    let born = *gen_rx.borrow_and_update();
                    let Ok(host) = TcpStream::connect(upstream).await else { return };
                    tokio::select! {
                        _ = pump(client, host) => {}
                        _ = gen_rx.wait_for(|g| *g != born) => {}
                    }
                });
            }
        });
        Proxy { addr, generation, open }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Drops every open connection, and holds new ones until [`Proxy::resume`].
    fn cut(&self) {
        self.open.send_replace(false);
        self.generation.send_modify(|g| *g += 1);
    }

    fn resume(&self) {
        self.open.send_replace(true);
    }
}

/// Copies both ways; the host's bytes go on three at a time, each flushed.
async fn pump(client: TcpStream, host: TcpStream) {
    client.set_nodelay(true).unwrap();
    let (mut client_rd, mut client_wr) = client.into_split();
    let (mut host_rd, mut host_wr) = host.into_split();
    let up = async { tokio::io::copy(&mut client_rd, &mut host_wr).await };
    let down = async {
        let mut buf = [0u8; 1024];
        loop {
            let n = host_rd.read(&mut buf).await?;
            if n == 0 {
                return Ok::<_, std::io::Error>(());
            }
            for piece in buf[..n].chunks(3) {
                client_wr.write_all(piece).await?;
                client_wr.flush().await?;
                tokio::task::yield_now().await;
            }
        }
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
    }
}

/// The next line the follower prints, as JSON (10 s at most).
async fn next_event(lines: &mut mpsc::UnboundedReceiver<String>) -> Value {
    let line = tokio::time::timeout(Duration::from_secs(10), lines.recv())
        .await
        .expect("the follower printed nothing within 10 s")
        .expect("the follower exited");
    serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
}

#[tokio::test]
async fn follow_survives_a_cut_connection_and_keeps_split_characters_whole() {
    let env = TestEnv::start().await;
    let proxy = Proxy::start(env.host.addr()).await;
    // A mission that waits an hour: the log lines appended to it are the events.
    let later = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    let id = env.api.submit(json!({ "type": "echo", "payload": 1, "run_at": later })).await;

    let mut follower = tokio::process::Command::new(env!("CARGO_BIN_EXE_mission-runner"))
        .args(["events", "--follow", "--after", "0", "--type", "mission.log_appended", "--json"])
        .args(["--url", &proxy.url()])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let (tx, mut lines) = mpsc::unbounded_channel();
    let mut stdout = tokio::io::BufReader::new(follower.stdout.take().unwrap()).lines();
    tokio::spawn(async move {
        while let Ok(Some(line)) = stdout.next_line().await {
            let _ = tx.send(line);
        }
    });

    let message = |n: usize| format!("line {n}: café ✓ 日本語 🚀 {}", "é".repeat(n));
    let append = |n: usize| {
        let (api, path, text) = (env.api.clone(), format!("/api/missions/{id}/log"), message(n));
        async move {
            let (status, body) = api.post(&path, json!({ "message": text })).await;
            assert!(status.is_success(), "{status} {body}");
        }
    };
    for n in 0..3 {
        append(n).await;
    }
    for n in 0..3 {
        assert_eq!(next_event(&mut lines).await["payload"]["message"], message(n).as_str());
    }

    // The connection breaks; events happen while the follower is away.
    proxy.cut();
    for n in 3..6 {
        append(n).await;
    }
    proxy.resume();
    for n in 3..6 {
        let e = next_event(&mut lines).await;
        assert_eq!(e["payload"]["message"], message(n).as_str(), "lost, repeated or corrupted: {e}");
    }
    // Nothing was repeated after the resumed ones either.
    append(6).await;
    assert_eq!(next_event(&mut lines).await["payload"]["message"], message(6).as_str());

    follower.start_kill().unwrap();
    let out = follower.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("reconnecting"), "the stream was never interrupted: {stderr}");
}
