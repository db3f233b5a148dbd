//! HTTPS: the certificate chain and key that `--tls-cert` and `--tls-key` name, loaded at start
//! and again whenever the files change, without a restart.
//!
//! rustls asks `CurrentCertificate` for the pair at every handshake, so a reload affects only the
//! connections that begin after it; open ones keep the session they negotiated. The files are
//! checked every `reload_interval` (modification time, size and inode: a certificate manager that
//! renames a new file into place changes all three) and at once on SIGHUP. A new pair that does
//! not load (unreadable, not PEM, a key that does not belong to the certificate, or a file caught
//! half-written) is logged with its cause and the pair in use is kept. At start, the same failure
//! refuses to start, naming the file and the reason.
//!
//! This module knows certificates and keys only; how long a handshake may take and what a
//! connection does afterwards are `mod.rs`'s. The crypto provider is ring, which rustls and the
//! delivery client already use, so hookd carries one crypto stack.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{InconsistentKeys, ServerConfig};
use sha2::{Digest, Sha256};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::telemetry::ErrorChain;

/// Where the certificate and key are, and how often to look whether they changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM certificate chain, the server's own certificate first.
    pub cert_path: PathBuf,
    /// PEM private key of that certificate: PKCS#8, PKCS#1 (RSA) or SEC1 (EC).
    pub key_path: PathBuf,
    /// Time between two looks at the files' modification time, size and inode.
    pub reload_interval: Duration,
}

/// Why a certificate and key could not be used. Each names the file and the reason.
#[derive(Debug, thiserror::Error)]
pub enum TlsFileError {
    #[error("cannot read {}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is not a PEM certificate chain", path.display())]
    CertificateNotPem {
        path: PathBuf,
        #[source]
        source: pem::Error,
    },
    #[error("{} holds no certificate (no -----BEGIN CERTIFICATE----- section)", path.display())]
    NoCertificate { path: PathBuf },
    #[error("the certificate in {} cannot be used", path.display())]
    BadCertificate {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error(
        "{} holds no private key (expected a PEM PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY section)",
        path.display()
    )]
    NoKey { path: PathBuf },
    #[error("{} is not a PEM private key", path.display())]
    KeyNotPem {
        path: PathBuf,
        #[source]
        source: pem::Error,
    },
    #[error("the private key in {} cannot be used for TLS", path.display())]
    UnusableKey {
        path: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error(
        "the private key in {} does not belong to the certificate in {}",
        key_path.display(),
        cert_path.display()
    )]
    KeyMismatch {
        cert_path: PathBuf,
        key_path: PathBuf,
    },
    #[error("the TLS library refused its own default settings")]
    Settings(#[source] rustls::Error),
}

/// The loaded pair, the acceptor that serves it, and what is needed to reload it.
pub struct Tls {
    files: TlsFiles,
    provider: Arc<CryptoProvider>,
    certificate: Arc<CurrentCertificate>,
    acceptor: TlsAcceptor,
    /// The files as they were when the pair in use (or the last failed attempt) was read.
    loaded_stamps: PairStamps,
}

impl Tls {
    /// Loads the pair that `files` names, or says which file is wrong and why.
    pub fn load(files: TlsFiles) -> Result<Tls, TlsFileError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        // Stamped before reading, so that a change made while reading is seen at the next look.
        let loaded_stamps = PairStamps::of(&files);
        let certified_key = load_certified_key(&files, &provider)?;
        tracing::info!(
            cert = %files.cert_path.display(),
            certificate_sha256 = %end_entity_sha256(&certified_key),
            "serving HTTPS"
        );
        let certificate = Arc::new(CurrentCertificate {
            current: RwLock::new(Arc::new(certified_key)),
        });
        let mut config = ServerConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(TlsFileError::Settings)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&certificate) as Arc<dyn ResolvesServerCert>);
        // The server speaks HTTP/1.1 only; saying so lets clients skip offering h2.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Tls {
            files,
            provider,
            certificate,
            acceptor: TlsAcceptor::from(Arc::new(config)),
            loaded_stamps,
        })
    }

    /// The handshake for new connections, always with the pair loaded last.
    pub fn acceptor(&self) -> TlsAcceptor {
        self.acceptor.clone()
    }

    /// Reloads the pair when its files change and on SIGHUP, until `shutdown`.
    pub async fn watch_files(mut self, shutdown: CancellationToken) {
        let mut hangup = Hangup::install();
        let mut ticker = tokio::time::interval(self.files.reload_interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticker.tick().await;
        loop {
            let asked = tokio::select! {
                () = shutdown.cancelled() => return,
                _ = ticker.tick() => false,
                () = hangup.next() => true,
            };
            let stamps = PairStamps::of(&self.files);
            if !asked && stamps == self.loaded_stamps {
                continue;
            }
            // A failed attempt is remembered too: the same broken files are reported once, and
            // tried again when they change (a certificate written before its key, for one).
            self.loaded_stamps = stamps;
            self.reload(if asked { "SIGHUP" } else { "files changed" })
                .await;
        }
    }

    async fn reload(&self, trigger: &'static str) {
        let files = self.files.clone();
        let provider = Arc::clone(&self.provider);
        let loaded =
            tokio::task::spawn_blocking(move || load_certified_key(&files, &provider)).await;
        match loaded {
            Ok(Ok(certified_key)) => {
                tracing::info!(
                    trigger,
                    cert = %self.files.cert_path.display(),
                    certificate_sha256 = %end_entity_sha256(&certified_key),
                    "TLS certificate reloaded; new connections use it"
                );
                self.certificate.replace(certified_key);
            }
            Ok(Err(error)) => tracing::warn!(
                trigger,
                error = %ErrorChain(&error),
                "the new TLS certificate and key were not loaded; still serving the previous ones"
            ),
            Err(panicked) => tracing::error!(
                error = %ErrorChain(&panicked),
                "loading the TLS certificate panicked; still serving the previous one"
            ),
        }
    }
}

/// The pair that new handshakes get.
#[derive(Debug)]
struct CurrentCertificate {
    current: RwLock<Arc<CertifiedKey>>,
}

impl CurrentCertificate {
    fn replace(&self, certified_key: CertifiedKey) {
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(certified_key);
    }
}

impl ResolvesServerCert for CurrentCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(
            &self.current.read().unwrap_or_else(PoisonError::into_inner),
        ))
    }
}

/// Reads both files and checks that the key belongs to the certificate.
fn load_certified_key(
    files: &TlsFiles,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, TlsFileError> {
    let chain = read_certificate_chain(&files.cert_path)?;
    let key = read_private_key(&files.key_path)?;
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(|source| TlsFileError::UnusableKey {
            path: files.key_path.clone(),
            source,
        })?;
    let certified_key = CertifiedKey::new(chain, signing_key);
    match certified_key.keys_match() {
        // A key whose public half the provider cannot tell is used as is; the handshake fails
        // visibly if it is wrong.
        Ok(()) | Err(rustls::Error::InconsistentKeys(InconsistentKeys::Unknown)) => {
            Ok(certified_key)
        }
        Err(rustls::Error::InconsistentKeys(_)) => Err(TlsFileError::KeyMismatch {
            cert_path: files.cert_path.clone(),
            key_path: files.key_path.clone(),
        }),
        Err(source) => Err(TlsFileError::BadCertificate {
            path: files.cert_path.clone(),
            source,
        }),
    }
}

fn read_certificate_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsFileError> {
    let text = read(path)?;
    let chain = CertificateDer::pem_slice_iter(&text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsFileError::CertificateNotPem {
            path: path.to_owned(),
            source,
        })?;
    if chain.is_empty() {
        return Err(TlsFileError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(chain)
}

fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsFileError> {
    let text = read(path)?;
    PrivateKeyDer::from_pem_slice(&text).map_err(|source| match source {
        pem::Error::NoItemsFound => TlsFileError::NoKey {
            path: path.to_owned(),
        },
        source => TlsFileError::KeyNotPem {
            path: path.to_owned(),
            source,
        },
    })
}

fn read(path: &Path) -> Result<Vec<u8>, TlsFileError> {
    std::fs::read(path).map_err(|source| TlsFileError::Unreadable {
        path: path.to_owned(),
        source,
    })
}

/// The SHA-256 of the server's own certificate, as `openssl x509 -fingerprint -sha256` shows it
/// (without the colons): what the logs name a certificate by.
fn end_entity_sha256(certified_key: &CertifiedKey) -> String {
    certified_key
        .cert
        .first()
        .map(|certificate| hex::encode(Sha256::digest(certificate.as_ref())))
        .unwrap_or_default()
}

/// What a look at the two files sees.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PairStamps {
    cert: Option<FileStamp>,
    key: Option<FileStamp>,
}

impl PairStamps {
    fn of(files: &TlsFiles) -> Self {
        PairStamps {
            cert: FileStamp::of(&files.cert_path),
            key: FileStamp::of(&files.key_path),
        }
    }
}

/// A file's modification time, size and inode; `None` when it cannot be read (being replaced).
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    modified: Option<SystemTime>,
    len: u64,
    inode: u64,
}

impl FileStamp {
    fn of(path: &Path) -> Option<FileStamp> {
        let metadata = std::fs::metadata(path).ok()?;
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
        #[cfg(not(unix))]
        let inode = 0;
        Some(FileStamp {
            modified: metadata.modified().ok(),
            len: metadata.len(),
            inode,
        })
    }
}

/// SIGHUP, the operator's "reload now"; never fires where signals are not available.
struct Hangup {
    #[cfg(unix)]
    signal: Option<tokio::signal::unix::Signal>,
}

impl Hangup {
    fn install() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let signal = signal(SignalKind::hangup())
                .inspect_err(|error| {
                    tracing::warn!(
                        error = %ErrorChain(error),
                        "SIGHUP cannot reload the TLS certificate; the files are still watched"
                    );
                })
                .ok();
            Hangup { signal }
        }
        #[cfg(not(unix))]
        Hangup {}
    }

    async fn next(&mut self) {
        #[cfg(unix)]
        if let Some(signal) = self.signal.as_mut()
            && signal.recv().await.is_some()
        {
            return;
        }
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    //! Each way a pair can be wrong, as data: the files, and the start of the message that
    //! names the culprit.

    use super::*;

    struct Pair {
        _dir: tempfile::TempDir,
        files: TlsFiles,
    }

    fn pair(cert: &[u8], key: &[u8]) -> Pair {
        let dir = tempfile::tempdir().unwrap();
        let files = TlsFiles {
            cert_path: dir.path().join("cert.pem"),
            key_path: dir.path().join("key.pem"),
            reload_interval: Duration::from_secs(5),
        };
        std::fs::write(&files.cert_path, cert).unwrap();
        std::fs::write(&files.key_path, key).unwrap();
        Pair { _dir: dir, files }
    }

    fn self_signed(name: &str) -> (String, String) {
        let generated = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
        (generated.cert.pem(), generated.signing_key.serialize_pem())
    }

    fn check(cert: &[u8], key: &[u8], expected: &str) {
        let pair = pair(cert, key);
        let message = match Tls::load(pair.files.clone()) {
            Ok(_) => "loaded".to_owned(),
            Err(error) => ErrorChain(&error).to_string(),
        };
        let message = message
            .replace(&pair.files.cert_path.display().to_string(), "CERT")
            .replace(&pair.files.key_path.display().to_string(), "KEY");
        assert!(
            message.starts_with(expected),
            "expected {expected:?}, got {message:?}"
        );
    }

    #[test]
    fn each_broken_pair_names_its_file_and_reason() {
        let (cert, key) = self_signed("localhost");
        let (_, other_key) = self_signed("other");
        let (cert, key, other_key) = (cert.as_bytes(), key.as_bytes(), other_key.as_bytes());
        check(cert, key, "loaded");
        check(b"", key, "CERT holds no certificate");
        check(key, key, "CERT holds no certificate");
        check(
            b"-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n",
            key,
            "CERT is not a PEM certificate chain",
        );
        check(
            b"-----BEGIN CERTIFICATE-----\naGVsbG8=\n-----END CERTIFICATE-----\n",
            key,
            "the certificate in CERT cannot be used",
        );
        check(cert, cert, "KEY holds no private key");
        check(
            cert,
            b"-----BEGIN PRIVATE KEY-----\naGVsbG8=\n-----END PRIVATE KEY-----\n",
            "the private key in KEY cannot be used for TLS",
        );
        check(
            cert,
            other_key,
            "the private key in KEY does not belong to the certificate in CERT",
        );
    }

    #[test]
    fn a_missing_file_is_named() {
        let (cert, key) = self_signed("localhost");
        let pair = pair(cert.as_bytes(), key.as_bytes());
        std::fs::remove_file(&pair.files.key_path).unwrap();
        let message = ErrorChain(&Tls::load(pair.files.clone()).err().unwrap()).to_string();
        assert!(
            message.starts_with(&format!("cannot read {}: ", pair.files.key_path.display())),
            "{message}"
        );
    }
}
