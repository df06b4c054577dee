//! Command-line configuration shared by every service. Each flag also reads an `LMA_*`
//! environment variable, which is what Kubernetes ConfigMaps and Secrets feed.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

/// work_mem of the services' connections unless configured (`LMA_DATABASE_WORK_MEM_KB`).
pub const DEFAULT_WORK_MEM_KB: u64 = 32 * 1024;

/// PostgreSQL truncates identifiers beyond NAMEDATALEN - 1 bytes.
const MAX_ROLE_NAME_LEN: usize = 63;

/// Where the database is and how connections to it behave.
#[derive(clap::Args, Clone)]
pub struct DatabaseArgs {
    /// PostgreSQL connection string: a URL (postgres://user:pass@host/db) or libpq key=value pairs.
    // The value usually carries a password: keep it out of `--help` output.
    #[arg(
        long = "database-url",
        env = "LMA_DATABASE_URL",
        hide_env_values = true
    )]
    pub database_url: String,

    /// Role assumed on every connection (e.g. lma_ingest, lma_refresh, lma_search).
    #[arg(long = "database-role", env = "LMA_DATABASE_ROLE", value_parser = parse_role_name)]
    pub database_role: Option<String>,

    /// Maximum number of pooled database connections.
    #[arg(
        long = "database-pool-size",
        env = "LMA_DATABASE_POOL_SIZE",
        default_value_t = 16,
        value_parser = parse_positive_usize
    )]
    pub pool_size: usize,

    /// PostgreSQL statement_timeout for every statement, in milliseconds (0 disables it).
    #[arg(
        long = "statement-timeout-ms",
        env = "LMA_STATEMENT_TIMEOUT_MS",
        default_value_t = 30_000
    )]
    pub statement_timeout_ms: u64,

    /// PostgreSQL work_mem of every connection, in kB: the memory one sort, hash or bitmap of a
    /// query may use before it spills to disk or, for a bitmap, turns lossy and rechecks whole
    /// pages. PostgreSQL's 4 MB default makes a text search over a common word recheck ~300,000
    /// rows. A query can use it several times over, per connection of the pool.
    #[arg(
        long = "database-work-mem-kb",
        env = "LMA_DATABASE_WORK_MEM_KB",
        default_value_t = DEFAULT_WORK_MEM_KB,
        value_parser = clap::value_parser!(u64).range(64..=2_097_151)
    )]
    pub work_mem_kb: u64,

    /// Timeout for establishing a connection and for waiting on a pooled one, in milliseconds.
    #[arg(
        long = "database-connect-timeout-ms",
        env = "LMA_DATABASE_CONNECT_TIMEOUT_MS",
        default_value_t = 5_000,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub connect_timeout_ms: u64,
}

// Hand-written so that logging the configuration never prints the database password.
impl fmt::Debug for DatabaseArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DatabaseArgs")
            .field("database_url", &RedactedUrl(&self.database_url))
            .field("database_role", &self.database_role)
            .field("pool_size", &self.pool_size)
            .field("statement_timeout_ms", &self.statement_timeout_ms)
            .field("work_mem_kb", &self.work_mem_kb)
            .field("connect_timeout_ms", &self.connect_timeout_ms)
            .finish()
    }
}

/// Shows where a connection string points (host, port, user, database) and nothing else, so
/// neither a password nor other secrets in the options can leak.
struct RedactedUrl<'a>(&'a str);

impl fmt::Debug for RedactedUrl<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match tokio_postgres::Config::from_str(self.0) {
            Ok(config) => {
                let host = config.get_hosts().first().map(|host| match host {
                    tokio_postgres::config::Host::Tcp(name) => name.clone(),
                    tokio_postgres::config::Host::Unix(path) => path.display().to_string(),
                });
                f.debug_struct("DatabaseUrl")
                    .field("host", &host)
                    .field("port", &config.get_ports().first())
                    .field("user", &config.get_user())
                    .field("dbname", &config.get_dbname())
                    .finish_non_exhaustive()
            }
            Err(_) => f.write_str("<unparseable database URL>"),
        }
    }
}

/// How the gRPC server listens and protects itself.
#[derive(clap::Args, Clone, Debug)]
pub struct ServerArgs {
    /// Address the gRPC server listens on (port 0 picks a free port).
    #[arg(
        long = "listen-addr",
        env = "LMA_LISTEN_ADDR",
        default_value = "0.0.0.0:50051"
    )]
    pub listen_addr: SocketAddr,

    /// Largest gRPC message accepted or sent, in bytes.
    #[arg(
        long = "max-message-bytes",
        env = "LMA_MAX_MESSAGE_BYTES",
        default_value_t = 16 * 1024 * 1024,
        value_parser = parse_positive_usize
    )]
    pub max_message_bytes: usize,

    /// Maximum number of RPCs in flight in this process; more are refused with RESOURCE_EXHAUSTED.
    #[arg(
        long = "concurrency-limit",
        env = "LMA_CONCURRENCY_LIMIT",
        default_value_t = 256,
        value_parser = parse_positive_usize
    )]
    pub concurrency_limit: usize,

    /// Maximum number of RPCs one API key may have in flight in this process; more are refused
    /// with RESOURCE_EXHAUSTED, so one tenant cannot take every slot. Default: a quarter of
    /// --concurrency-limit.
    #[arg(
        long = "key-concurrency-limit",
        env = "LMA_KEY_CONCURRENCY_LIMIT",
        value_parser = parse_positive_usize
    )]
    pub key_concurrency_limit: Option<usize>,

    /// Seconds in-flight calls get to finish after a shutdown signal.
    #[arg(
        long = "shutdown-grace-secs",
        env = "LMA_SHUTDOWN_GRACE_SECS",
        default_value_t = 20
    )]
    pub shutdown_grace_secs: u64,

    /// Seconds an API-key lookup is cached (0 disables the cache).
    #[arg(
        long = "auth-cache-ttl-secs",
        env = "LMA_AUTH_CACHE_TTL_SECS",
        default_value_t = 10
    )]
    pub auth_cache_ttl_secs: u64,

    /// Requests per second each API key may make (a token bucket); beyond it calls get
    /// RESOURCE_EXHAUSTED with a retry delay. 0 turns the rate limit off.
    #[arg(
        long = "rate-limit-rps",
        env = "LMA_RATE_LIMIT_RPS",
        default_value_t = 0
    )]
    pub rate_limit_rps: u32,

    /// Requests an API key may make at once after being idle (the bucket size); 0 means one
    /// second's worth, the value of --rate-limit-rps.
    #[arg(
        long = "rate-limit-burst",
        env = "LMA_RATE_LIMIT_BURST",
        default_value_t = 0
    )]
    pub rate_limit_burst: u32,

    /// Also serve grpc.health.v1 (only) in plaintext on this address, for probes that cannot
    /// speak TLS, such as the kubelet's gRPC probes. Unset: health is on the main port only.
    #[arg(long = "health-listen-addr", env = "LMA_HEALTH_LISTEN_ADDR")]
    pub health_listen_addr: Option<SocketAddr>,

    #[command(flatten)]
    pub tls: TlsArgs,
}

/// TLS for the gRPC port. Without a certificate the server speaks plaintext HTTP/2 (for a
/// service mesh or a trusted network); with one, only TLS.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct TlsArgs {
    /// PEM file with the server certificate chain (leaf first). Enables TLS; needs --tls-key.
    #[arg(long = "tls-cert", env = "LMA_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM file with the private key of --tls-cert.
    #[arg(long = "tls-key", env = "LMA_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// PEM file with the CA certificates that sign client certificates. Set, every client must
    /// present a certificate signed by one of them (mutual TLS).
    #[arg(
        long = "tls-client-ca",
        env = "LMA_TLS_CLIENT_CA",
        requires = "tls_cert"
    )]
    pub tls_client_ca: Option<PathBuf>,
}

/// How logs are written.
#[derive(clap::Args, Clone, Debug)]
pub struct TelemetryArgs {
    /// Log format: readable lines for people, or one JSON object per line for collectors.
    #[arg(
        long = "log-format",
        env = "LMA_LOG_FORMAT",
        value_enum,
        default_value_t = LogFormat::Pretty
    )]
    pub log_format: LogFormat,

    /// Log filter in tracing EnvFilter syntax, e.g. "info,svc_core=debug".
    #[arg(long = "log-filter", env = "LMA_LOG_FILTER", default_value = "info")]
    pub log_filter: String,
}

/// Output format of the log lines.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable single lines, coloured on a terminal.
    Pretty,
    /// One JSON object per line.
    Json,
}

/// Flattened into every service's Config.
#[derive(clap::Args, Clone, Debug)]
pub struct CommonArgs {
    #[command(flatten)]
    pub database: DatabaseArgs,
    #[command(flatten)]
    pub server: ServerArgs,
    #[command(flatten)]
    pub telemetry: TelemetryArgs,
}

fn parse_positive_usize(value: &str) -> Result<usize, String> {
    match value.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".to_owned()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

/// Checks that a role name is a plain lower-case identifier, so it can be written into the
/// connection options without quoting.
pub(crate) fn validate_role_name(role: &str) -> Result<(), String> {
    let mut chars = role.chars();
    let valid_start = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let valid_rest = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if valid_start && valid_rest && role.len() <= MAX_ROLE_NAME_LEN {
        Ok(())
    } else {
        Err(format!(
            "database role {role:?} must match [a-z_][a-z0-9_]* and be at most {MAX_ROLE_NAME_LEN} characters"
        ))
    }
}

fn parse_role_name(value: &str) -> Result<String, String> {
    validate_role_name(value).map(|()| value.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_names_must_be_plain_identifiers() {
        for ok in ["lma_search", "_x", "a1_b2"] {
            assert!(validate_role_name(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "1abc",
            "Lma",
            "lma search",
            "lma;drop",
            "lma-x",
            "\"q\"",
            &"a".repeat(64),
        ] {
            assert!(validate_role_name(bad).is_err(), "{bad:?}");
        }
    }
    use clap::Parser;

    #[derive(Parser, Debug)]
    struct Cli {
        #[command(flatten)]
        common: CommonArgs,
    }

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("svc").chain(args.iter().copied()))
    }

    /// Reads defaults from the clap definition rather than by parsing, so that `LMA_*`
    /// variables set in the test environment (CI sets some) cannot change the outcome.
    fn default_of(long: &str) -> Option<String> {
        use clap::CommandFactory;
        let command = Cli::command();
        let arg = command
            .get_arguments()
            .find(|a| a.get_long() == Some(long))
            .unwrap_or_else(|| panic!("no flag --{long}"));
        arg.get_default_values()
            .first()
            .map(|v| v.to_string_lossy().into_owned())
    }

    #[test]
    fn defaults_match_the_documented_ones() {
        let expected = [
            ("database-pool-size", Some("16")),
            ("statement-timeout-ms", Some("30000")),
            ("database-connect-timeout-ms", Some("5000")),
            ("database-role", None),
            ("listen-addr", Some("0.0.0.0:50051")),
            ("max-message-bytes", Some("16777216")),
            ("concurrency-limit", Some("256")),
            ("shutdown-grace-secs", Some("20")),
            ("auth-cache-ttl-secs", Some("10")),
            ("rate-limit-rps", Some("0")),
            ("rate-limit-burst", Some("0")),
            ("health-listen-addr", None),
            ("tls-cert", None),
            ("tls-key", None),
            ("tls-client-ca", None),
            ("log-format", Some("pretty")),
            ("log-filter", Some("info")),
        ];
        for (long, default) in expected {
            assert_eq!(default_of(long).as_deref(), default, "--{long}");
        }
    }

    #[test]
    fn every_flag_reads_an_lma_environment_variable() {
        use clap::CommandFactory;
        let command = Cli::command();
        for arg in command.get_arguments() {
            let Some(long) = arg.get_long() else { continue };
            if long == "help" {
                continue;
            }
            let env = arg
                .get_env()
                .unwrap_or_else(|| panic!("--{long} has no env var"));
            let env = env.to_string_lossy();
            assert!(env.starts_with("LMA_"), "--{long} reads {env}");
        }
        let url = command
            .get_arguments()
            .find(|a| a.get_long() == Some("database-url"))
            .expect("--database-url exists");
        assert!(url.is_required_set(), "the database URL is required");
    }

    #[test]
    fn flags_are_parsed() {
        let cli = parse(&[
            "--database-url",
            "host=localhost dbname=lma",
            "--database-role",
            "lma_search",
            "--database-pool-size",
            "4",
            "--listen-addr",
            "127.0.0.1:0",
            "--log-format",
            "json",
        ])
        .expect("valid args");
        assert_eq!(
            cli.common.database.database_role.as_deref(),
            Some("lma_search")
        );
        assert_eq!(cli.common.database.pool_size, 4);
        assert_eq!(cli.common.server.listen_addr.port(), 0);
        assert_eq!(cli.common.telemetry.log_format, LogFormat::Json);
    }

    #[test]
    fn invalid_values_are_rejected() {
        let url = ["--database-url", "postgres://localhost/db"];
        let with = |extra: &[&str]| {
            let mut args = url.to_vec();
            args.extend_from_slice(extra);
            parse(&args)
        };
        assert!(with(&["--database-role", "Robert'); DROP"]).is_err());
        assert!(with(&["--database-pool-size", "0"]).is_err());
        assert!(with(&["--concurrency-limit", "0"]).is_err());
        assert!(with(&["--database-connect-timeout-ms", "0"]).is_err());
        // A certificate without its key (or the reverse, or a client CA alone) is a mistake.
        assert!(with(&["--tls-cert", "server.pem"]).is_err());
        assert!(with(&["--tls-key", "server.key"]).is_err());
        assert!(with(&["--tls-client-ca", "ca.pem"]).is_err());
        assert!(with(&["--tls-cert", "server.pem", "--tls-key", "server.key"]).is_ok());
    }

    #[test]
    fn debug_output_hides_the_password() {
        let cli = parse(&[
            "--database-url",
            "postgres://user:hunter2@db.internal:5432/lma",
        ])
        .expect("valid args");
        let shown = format!("{:?}", cli.common);
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("db.internal"), "{shown}");
    }
}
