//! TLS on the gRPC port: a client trusting the CA connects; a plaintext client, a client
//! trusting another CA, and (with mutual TLS) a client without a certificate cannot. The
//! certificates are made here, at test time. Runs without PostgreSQL: health answers anyway.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

mod common;

use common::{SPEC, database_args, server_args};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
use svc_core::config::TlsArgs;
use svc_core::server::GrpcServer;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// A certificate authority that signs server and client certificates.
struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// A certificate and its key, in PEM.
struct Leaf {
    cert: String,
    key: String,
}

impl TestCa {
    fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("CA key");
        TestCa {
            issuer: CertifiedIssuer::self_signed(params, key).expect("CA certificate"),
        }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    fn sign(&self, names: &[&str]) -> Leaf {
        let params = CertificateParams::new(
            names
                .iter()
                .map(|name| (*name).to_owned())
                .collect::<Vec<_>>(),
        )
        .expect("leaf params");
        let key = KeyPair::generate().expect("leaf key");
        let cert = params
            .signed_by(&key, &self.issuer)
            .expect("leaf certificate");
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
        }
    }
}

/// The server's PEM files, in a directory removed when the test ends.
struct ServerFiles {
    _dir: tempfile::TempDir,
    args: TlsArgs,
}

fn server_files(server: &Leaf, client_ca: Option<&TestCa>) -> ServerFiles {
    let dir = tempfile::tempdir().expect("temp dir");
    let write = |name: &str, contents: &str| -> PathBuf {
        let path = dir.path().join(name);
        std::fs::write(&path, contents).expect("write PEM");
        path
    };
    let args = TlsArgs {
        tls_cert: Some(write("server.crt", &server.cert)),
        tls_key: Some(write("server.key", &server.key)),
        tls_client_ca: client_ca.map(|ca| write("client-ca.crt", &ca.pem())),
    };
    ServerFiles { _dir: dir, args }
}

/// Starts the bootstrap with `tls` on 127.0.0.1:0; it stops when the returned sender drops.
async fn start(tls: TlsArgs) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let mut args = server_args();
    args.tls = tls;
    args.health_listen_addr = None;
    let pool = svc_core::db::build_pool(&database_args(), "test-svc").expect("lazy pool");
    let server = GrpcServer::bind(SPEC, &args, pool).await.expect("binds");
    let addr = server.local_addr();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(server.serve(tonic::service::Routes::default(), async {
        let _ = stopped.await;
    }));
    (addr, stop)
}

/// Connects (https when `tls` is given) and runs one health check; the error as text if any
/// step fails.
async fn health_check(addr: SocketAddr, tls: Option<ClientTlsConfig>) -> Result<(), String> {
    let scheme = if tls.is_some() { "https" } else { "http" };
    let mut endpoint = Endpoint::from_shared(format!("{scheme}://{addr}"))
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5));
    if let Some(tls) = tls {
        endpoint = endpoint.tls_config(tls).map_err(|e| e.to_string())?;
    }
    let channel = endpoint
        .connect()
        .await
        .map_err(|e| format!("connect: {e:?}"))?;
    HealthClient::new(channel)
        .check(HealthCheckRequest::default())
        .await
        .map(|_| ())
        .map_err(|status| format!("check: {status}"))
}

fn trusting(ca: &TestCa) -> ClientTlsConfig {
    ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca.pem()))
        .domain_name("localhost")
}

#[tokio::test]
async fn tls_admits_clients_trusting_the_ca_and_refuses_plaintext() {
    let ca = TestCa::new("lma test CA");
    let files = server_files(&ca.sign(&["localhost"]), None);
    let (addr, _stop) = start(files.args.clone()).await;

    health_check(addr, Some(trusting(&ca)))
        .await
        .expect("a client trusting the CA connects");

    let plaintext = health_check(addr, None).await;
    assert!(plaintext.is_err(), "a plaintext client got through");

    let stranger = TestCa::new("another CA");
    let untrusted = health_check(addr, Some(trusting(&stranger))).await;
    assert!(
        untrusted.is_err(),
        "a client trusting another CA got through"
    );

    let wrong_name = health_check(
        addr,
        Some(
            ClientTlsConfig::new()
                .ca_certificate(Certificate::from_pem(ca.pem()))
                .domain_name("search.example.com"),
        ),
    )
    .await;
    assert!(
        wrong_name.is_err(),
        "the certificate's name was not checked"
    );
}

#[tokio::test]
async fn mutual_tls_requires_a_client_certificate_from_the_client_ca() {
    let server_ca = TestCa::new("lma server CA");
    let client_ca = TestCa::new("lma client CA");
    let files = server_files(&server_ca.sign(&["localhost"]), Some(&client_ca));
    let (addr, _stop) = start(files.args.clone()).await;

    let anonymous = health_check(addr, Some(trusting(&server_ca))).await;
    assert!(
        anonymous.is_err(),
        "a client without a certificate got through"
    );

    let outsider = server_ca.sign(&["outsider"]);
    let wrong_issuer = health_check(
        addr,
        Some(trusting(&server_ca).identity(Identity::from_pem(&outsider.cert, &outsider.key))),
    )
    .await;
    assert!(
        wrong_issuer.is_err(),
        "a client certificate from another CA got through"
    );

    let client = client_ca.sign(&["ingest-client"]);
    health_check(
        addr,
        Some(trusting(&server_ca).identity(Identity::from_pem(&client.cert, &client.key))),
    )
    .await
    .expect("a client with a certificate from the client CA connects");
}

#[tokio::test]
async fn a_key_that_does_not_match_the_certificate_fails_at_startup() {
    let ca = TestCa::new("lma test CA");
    let server = ca.sign(&["localhost"]);
    let other = ca.sign(&["localhost"]);
    let files = server_files(
        &Leaf {
            cert: server.cert,
            key: other.key,
        },
        None,
    );
    let pool = svc_core::db::build_pool(&database_args(), "test-svc").expect("lazy pool");
    let mut args = server_args();
    args.tls = files.args.clone();
    let error = GrpcServer::bind(SPEC, &args, pool)
        .await
        .expect_err("a mismatched key is refused");
    assert!(error.to_string().contains("TLS"), "{error}");
}
