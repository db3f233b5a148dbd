//! HTTPS served by hookd itself (`--tls-cert`, `--tls-key`): certificates made at test time,
//! swapped on disk while the server runs, and the limits that plain connections have holding
//! for TLS ones too. Each test runs the hookd binary, so that its start-up refusals, its
//! signals and its log are the ones an operator sees.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::first_run::{HookdProcess, hookd_command};
use crate::harness::TOKEN;

/// A self-signed certificate for `localhost` and 127.0.0.1, and its key.
struct TestCertificate {
    cert_pem: String,
    key_pem: String,
    der: CertificateDer<'static>,
}

impl TestCertificate {
    /// A new key and certificate; `common_name` tells the certificates of one test apart.
    fn generate(common_name: &str) -> TestCertificate {
        let key = rcgen::KeyPair::generate().unwrap();
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()])
                .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        let cert = params.self_signed(&key).unwrap();
        TestCertificate {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }
}

/// The two files hookd is pointed at, in a temporary directory.
struct CertificateFiles {
    dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
}

impl CertificateFiles {
    fn new(first: &TestCertificate) -> CertificateFiles {
        let dir = tempfile::tempdir().unwrap();
        let files = CertificateFiles {
            cert: dir.path().join("cert.pem"),
            key: dir.path().join("key.pem"),
            dir,
        };
        files.replace(&first.cert_pem, &first.key_pem);
        files
    }

    /// Puts a new pair in place the way certificate managers do: written beside, then renamed.
    fn replace(&self, cert_pem: &str, key_pem: &str) {
        for (path, text) in [(&self.cert, cert_pem), (&self.key, key_pem)] {
            let written = self.dir.path().join("incoming.pem");
            std::fs::write(&written, text).unwrap();
            std::fs::rename(&written, path).unwrap();
        }
    }
}

/// `hookd serve` over HTTPS with `files`, its data in `data_dir`, and `extra` flags.
fn start_https(files: &CertificateFiles, data_dir: &Path, extra: &[&str]) -> (HookdProcess, u16) {
    let mut args = vec![
        "--data-dir".to_owned(),
        data_dir.display().to_string(),
        "--tls-cert".to_owned(),
        files.cert.display().to_string(),
        "--tls-key".to_owned(),
        files.key.display().to_string(),
    ];
    args.extend(extra.iter().map(|flag| (*flag).to_owned()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let hookd = HookdProcess::start(&args, &[("HOOKD_ADMIN_TOKEN", TOKEN), ("RUST_LOG", "info")]);
    let port = hookd
        .base_url
        .strip_prefix("https://127.0.0.1:")
        .unwrap_or_else(|| panic!("not an HTTPS address: {}", hookd.base_url))
        .parse()
        .unwrap();
    (hookd, port)
}

/// A TLS client that trusts exactly `trusted`.
fn connector(trusted: &[&TestCertificate]) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in trusted {
        roots.add(certificate.der.clone()).unwrap();
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// A new TLS connection to hookd.
async fn open(port: u16, connector: &TlsConnector) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .expect("the TLS handshake succeeds")
}

/// The certificate the server presented on `stream`.
fn served_certificate(stream: &TlsStream<TcpStream>) -> CertificateDer<'static> {
    stream.get_ref().1.peer_certificates().unwrap()[0].clone()
}

/// `GET /api/v1/health` on an open connection, kept open; returns the status code.
async fn get_health(stream: &mut TlsStream<TcpStream>) -> u16 {
    stream
        .write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    let head_end = loop {
        let read = stream.read(&mut buffer).await.unwrap();
        assert!(read > 0, "closed before answering");
        received.extend_from_slice(&buffer[..read]);
        if let Some(at) = received.windows(4).position(|window| window == b"\r\n\r\n") {
            break at + 4;
        }
    };
    let head = String::from_utf8_lossy(&received[..head_end]).into_owned();
    let content_length: usize = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().unwrap())
        })
        .expect("a content-length");
    while received.len() < head_end + content_length {
        let read = stream.read(&mut buffer).await.unwrap();
        assert!(read > 0, "closed in the middle of the body");
        received.extend_from_slice(&buffer[..read]);
    }
    head[9..12].parse().unwrap()
}

/// Opens new connections until one is served `expected`, or panics after `bound`.
async fn wait_until_served(
    port: u16,
    connector: &TlsConnector,
    expected: &TestCertificate,
    bound: Duration,
) {
    let deadline = Instant::now() + bound;
    loop {
        let stream = open(port, connector).await;
        if served_certificate(&stream) == expected.der {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "new connections never got the new certificate"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn hookd_serves_https_with_its_certificate_and_plain_http_gets_an_error() {
    let first = TestCertificate::generate("hookd first");
    let files = CertificateFiles::new(&first);
    let data_dir = tempfile::tempdir().unwrap();
    let (hookd, port) = start_https(&files, data_dir.path(), &[]);

    // A real client that trusts the certificate, and nothing else.
    let trusting = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(first.cert_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let health = trusting
        .get(format!("https://localhost:{port}/api/v1/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let mut stream = open(port, &connector(&[&first])).await;
    assert!(served_certificate(&stream) == first.der);
    assert_eq!(get_health(&mut stream).await, 200);

    // Plain HTTP to the HTTPS port fails at once rather than waiting for a timeout.
    let started = Instant::now();
    let plain = tokio::time::timeout(
        Duration::from_secs(20),
        reqwest::get(format!("http://127.0.0.1:{port}/api/v1/health")),
    )
    .await
    .expect("plain HTTP got an answer or an error, not a hang");
    assert!(plain.is_err(), "plain HTTP was answered: {plain:?}");
    assert!(started.elapsed() < Duration::from_secs(20));

    let output = hookd.kill();
    assert!(
        output.stdout.contains("tls:         certificate"),
        "{}",
        output.stdout
    );
    // The access log covers HTTPS requests like plain ones.
    assert!(
        output.stderr.contains("request answered"),
        "{}",
        output.stderr
    );
}

#[tokio::test]
async fn a_replaced_certificate_serves_new_connections_while_open_ones_go_on() {
    let first = TestCertificate::generate("hookd first");
    let second = TestCertificate::generate("hookd second");
    let files = CertificateFiles::new(&first);
    let data_dir = tempfile::tempdir().unwrap();
    let (hookd, port) = start_https(&files, data_dir.path(), &["--tls-reload-interval", "200ms"]);
    let connector = connector(&[&first, &second]);

    let mut kept_alive = open(port, &connector).await;
    assert!(served_certificate(&kept_alive) == first.der);
    assert_eq!(get_health(&mut kept_alive).await, 200);

    files.replace(&second.cert_pem, &second.key_pem);
    wait_until_served(port, &connector, &second, Duration::from_secs(30)).await;
    // The connection opened before the swap is still served, on the session it began with.
    assert_eq!(get_health(&mut kept_alive).await, 200);
    assert!(served_certificate(&kept_alive) == first.der);

    let output = hookd.kill();
    assert!(
        output
            .stderr
            .contains("TLS certificate reloaded; new connections use it"),
        "{}",
        output.stderr
    );
}

#[tokio::test]
async fn a_broken_replacement_is_logged_and_the_old_certificate_kept() {
    let first = TestCertificate::generate("hookd first");
    let stranger = TestCertificate::generate("hookd stranger");
    let files = CertificateFiles::new(&first);
    let data_dir = tempfile::tempdir().unwrap();
    let (hookd, port) = start_https(&files, data_dir.path(), &["--tls-reload-interval", "100ms"]);
    let connector = connector(&[&first, &stranger]);

    // A certificate whose key is not beside it, then a file that is not a certificate.
    files.replace(&stranger.cert_pem, &first.key_pem);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let stream = open(port, &connector).await;
    assert!(
        served_certificate(&stream) == first.der,
        "the old pair is kept"
    );
    files.replace("not a certificate", &first.key_pem);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut stream = open(port, &connector).await;
    assert!(
        served_certificate(&stream) == first.der,
        "the old pair is kept"
    );
    assert_eq!(get_health(&mut stream).await, 200);

    let output = hookd.kill();
    let cert = files.cert.display();
    let key = files.key.display();
    for cause in [
        format!("the private key in {key} does not belong to the certificate in {cert}"),
        format!("{cert} holds no certificate"),
    ] {
        assert!(
            output.stderr.contains(&cause),
            "no {cause:?} in\n{}",
            output.stderr
        );
    }
    assert!(
        output.stderr.contains("still serving the previous ones"),
        "{}",
        output.stderr
    );
}

#[tokio::test]
async fn sighup_reloads_the_certificate_at_once() {
    let first = TestCertificate::generate("hookd first");
    let second = TestCertificate::generate("hookd second");
    let files = CertificateFiles::new(&first);
    let data_dir = tempfile::tempdir().unwrap();
    // The files are not looked at again for an hour: only the signal can reload them.
    let (hookd, port) = start_https(&files, data_dir.path(), &["--tls-reload-interval", "1h"]);
    let connector = connector(&[&first, &second]);

    files.replace(&second.cert_pem, &second.key_pem);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let stream = open(port, &connector).await;
    assert!(
        served_certificate(&stream) == first.der,
        "nothing reloads before the signal"
    );
    let signalled = std::process::Command::new("kill")
        .args(["-HUP", &hookd.pid().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    wait_until_served(port, &connector, &second, Duration::from_secs(30)).await;
    let mut stream = open(port, &connector).await;
    assert_eq!(get_health(&mut stream).await, 200, "SIGHUP did not stop it");
    let output = hookd.kill();
    assert!(
        output.stderr.contains("trigger=\"SIGHUP\""),
        "{}",
        output.stderr
    );
}

#[tokio::test]
async fn a_client_that_never_sends_a_client_hello_is_closed_within_the_header_timeout() {
    let first = TestCertificate::generate("hookd first");
    let files = CertificateFiles::new(&first);
    let data_dir = tempfile::tempdir().unwrap();
    // Only the header timeout is short: the idle timeout would take a minute.
    let (hookd, port) = start_https(
        &files,
        data_dir.path(),
        &["--header-read-timeout", "1s", "--idle-timeout", "60s"],
    );
    let opened = Instant::now();
    let mut silent = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let mut buffer = [0u8; 64];
    let closed = tokio::time::timeout(Duration::from_secs(30), silent.read(&mut buffer)).await;
    assert!(
        matches!(closed, Ok(Ok(0) | Err(_))),
        "the silent connection was not closed: {closed:?}"
    );
    assert!(opened.elapsed() >= Duration::from_millis(900));
    assert!(opened.elapsed() < Duration::from_secs(30));
    // And the server still serves.
    let mut stream = open(port, &connector(&[&first])).await;
    assert_eq!(get_health(&mut stream).await, 200);
    drop(hookd);
}

#[tokio::test]
async fn sigterm_closes_idle_and_handshaking_tls_connections_at_once() {
    let first = TestCertificate::generate("hookd first");
    let files = CertificateFiles::new(&first);
    let data_dir = tempfile::tempdir().unwrap();
    // Every timer is long, so only the shutdown itself can close the connections quickly.
    let (mut hookd, port) = start_https(
        &files,
        data_dir.path(),
        &[
            "--header-read-timeout",
            "60s",
            "--idle-timeout",
            "60s",
            "--shutdown-timeout",
            "60s",
        ],
    );
    let mut kept_alive = open(port, &connector(&[&first])).await;
    assert_eq!(get_health(&mut kept_alive).await, 200);
    let _silent = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let signalled = std::process::Command::new("kill")
        .args(["-TERM", &hookd.pid().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    let status = hookd.wait_for_exit(Duration::from_secs(20));
    let output = hookd.kill();
    let status = status.unwrap_or_else(|| panic!("hookd did not exit:\n{}", output.stderr));
    assert!(status.success(), "{status}: {}", output.stderr);
    assert!(
        output.stderr.contains("HTTP connections closed"),
        "{}",
        output.stderr
    );
}

/// Runs `hookd serve` with `args`, which must refuse to start; returns its stderr.
fn refused_start(args: &[&str]) -> String {
    let data_dir = tempfile::tempdir().unwrap();
    let data_dir = data_dir.path().display().to_string();
    let mut all_args = vec!["serve", "--listen", "127.0.0.1:0", "--data-dir", &data_dir];
    all_args.extend_from_slice(args);
    let output = hookd_command(&all_args, &[("HOOKD_ADMIN_TOKEN", TOKEN)])
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(!output.status.success(), "hookd started with {args:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn a_certificate_without_its_key_or_a_bad_file_is_refused_at_start() {
    let first = TestCertificate::generate("hookd first");
    let files = CertificateFiles::new(&first);
    let cert = files.cert.display().to_string();
    let key = files.key.display().to_string();
    let missing = files.dir.path().join("missing.pem").display().to_string();
    let garbage = files.dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a key").unwrap();
    let garbage = garbage.display().to_string();
    let cases: &[(&[&str], String)] = &[
        (&["--tls-cert", &cert], "--tls-key".to_owned()),
        (&["--tls-key", &key], "--tls-cert".to_owned()),
        (
            &["--tls-cert", &missing, "--tls-key", &key],
            format!("cannot read {missing}: No such file or directory"),
        ),
        (
            &["--tls-cert", &cert, "--tls-key", &garbage],
            format!("{garbage} holds no private key"),
        ),
        (
            &["--tls-cert", &key, "--tls-key", &key],
            format!("{key} holds no certificate"),
        ),
    ];
    for (args, expected) in cases {
        let stderr = refused_start(args);
        assert!(stderr.contains(expected.as_str()), "{args:?}: {stderr}");
    }
}
