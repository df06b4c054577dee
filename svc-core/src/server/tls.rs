//! TLS for the gRPC port (rustls with ring, through tonic): a server certificate from PEM
//! files, and optionally a CA that client certificates must chain to (mutual TLS).
//!
//! Certificates are read once at startup; rotating them means restarting the process (in
//! Kubernetes, a rolling restart after the Secret changes).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tonic::transport::server::ServerTlsConfig;
use tonic::transport::{Certificate, Identity};

use crate::config::TlsArgs;

/// A client that connects but never finishes the handshake must not hold a connection forever.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A certificate, key or CA file could not be read.
    #[error("cannot read the TLS {what} {}: {source}", path.display())]
    Read {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file was read but holds no PEM block of the expected kind.
    #[error("the TLS {what} {} holds no PEM \"{label}\" block", path.display())]
    NotPem {
        what: &'static str,
        path: PathBuf,
        label: &'static str,
    },
    /// rustls refused the certificate, key or CA (mismatched key, unsupported algorithm, ...).
    #[error("invalid TLS configuration: {0}")]
    Config(#[source] tonic::transport::Error),
}

/// The server's TLS configuration, or `None` when no certificate is configured (plaintext).
/// clap guarantees the certificate and key come together.
pub(crate) fn server_config(args: &TlsArgs) -> Result<Option<ServerTlsConfig>, TlsError> {
    let (Some(cert_path), Some(key_path)) = (&args.tls_cert, &args.tls_key) else {
        return Ok(None);
    };
    let cert = read_pem("certificate", cert_path, &["CERTIFICATE"])?;
    let key = read_pem(
        "key",
        key_path,
        &["PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY"],
    )?;
    let mut config = ServerTlsConfig::new()
        .identity(Identity::from_pem(cert, key))
        .timeout(HANDSHAKE_TIMEOUT);
    if let Some(ca_path) = &args.tls_client_ca {
        let ca = read_pem("client CA", ca_path, &["CERTIFICATE"])?;
        config = config.client_ca_root(Certificate::from_pem(ca));
    }
    // Build the acceptor once now, so a key that does not match its certificate fails the
    // start rather than every handshake.
    tonic::transport::Server::builder()
        .tls_config(config.clone())
        .map_err(TlsError::Config)?;
    Ok(Some(config))
}

/// Reads a PEM file and checks it holds at least one block with one of `labels`, so a
/// misplaced file (a key where the certificate belongs) is reported by name.
fn read_pem(what: &'static str, path: &Path, labels: &[&'static str]) -> Result<Vec<u8>, TlsError> {
    let contents = std::fs::read(path).map_err(|source| TlsError::Read {
        what,
        path: path.to_owned(),
        source,
    })?;
    let text = String::from_utf8_lossy(&contents);
    if labels
        .iter()
        .any(|label| text.contains(&format!("-----BEGIN {label}-----")))
    {
        Ok(contents)
    } else {
        Err(TlsError::NotPem {
            what,
            path: path.to_owned(),
            label: labels[0],
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write as _;

    fn file(contents: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().expect("temp file");
        file.write_all(contents.as_bytes()).expect("write");
        file
    }

    #[test]
    fn no_certificate_means_plaintext() {
        assert!(matches!(server_config(&TlsArgs::default()), Ok(None)));
    }

    #[test]
    fn unreadable_and_misplaced_files_are_named() {
        let args = TlsArgs {
            tls_cert: Some("/nonexistent/server.pem".into()),
            tls_key: Some("/nonexistent/server.key".into()),
            tls_client_ca: None,
        };
        let error = server_config(&args).expect_err("missing file");
        assert!(
            error.to_string().contains("/nonexistent/server.pem"),
            "{error}"
        );

        let key = file("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
        let args = TlsArgs {
            tls_cert: Some(key.path().to_owned()),
            tls_key: Some(key.path().to_owned()),
            tls_client_ca: None,
        };
        let error = server_config(&args).expect_err("a key is not a certificate");
        assert!(
            matches!(
                error,
                TlsError::NotPem {
                    what: "certificate",
                    ..
                }
            ),
            "{error}"
        );
    }

    #[test]
    fn garbage_pem_is_refused_at_startup() {
        let cert = file("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
        let key = file("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n");
        let args = TlsArgs {
            tls_cert: Some(cert.path().to_owned()),
            tls_key: Some(key.path().to_owned()),
            tls_client_ca: None,
        };
        assert!(matches!(server_config(&args), Err(TlsError::Config(_))));
    }
}
