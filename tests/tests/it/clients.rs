//! docs/CLIENTS.md's Python client, as a user would run it: stubs generated with grpcio-tools by
//! the documented command, then the documented example against the real services. The code is
//! taken from the document (the blocks marked `<!-- tested: ... -->`), so a change that breaks
//! the example fails here. The Python comes from `.ci/ensure-python-grpc` (`LMA_PYTHON_GRPC`).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use lma_proto::v1::ProspectFilter;
use lma_tests::tools::{self, tested_block};
use lma_tests::{Service, spawn_app};
use tokio::net::{TcpListener, TcpStream};

/// Upper bound on generating the stubs and on one run of the example.
const RUN_TIMEOUT: Duration = Duration::from_secs(120);

/// The example's records: their `external_source`, also the tag it pages by.
const SOURCE: &str = "clients-example";

/// Forwards TCP connections to `target`, except the first, which it closes as soon as it is
/// accepted, as a restarting service or a draining load balancer would: the client's first
/// call fails with UNAVAILABLE and must be retried. Counts the connections it accepted.
async fn proxy_dropping_first_connection(target: SocketAddr) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding the proxy");
    let addr = listener.local_addr().expect("the proxy's address");
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&accepted);
    // Ends with the test's runtime.
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            if counter.fetch_add(1, Ordering::SeqCst) == 0 {
                drop(inbound);
                continue;
            }
            tokio::spawn(async move {
                if let Ok(mut outbound) = TcpStream::connect(target).await {
                    // Either side closing ends the forwarding; errors are the client's to see.
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                }
            });
        }
    });
    (addr, accepted)
}

/// `PATH` with `dir` first, so the documented commands' `python` is the one with gRPC.
fn path_with(dir: &Path) -> std::ffi::OsString {
    let mut dirs = vec![dir.to_path_buf()];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    std::env::join_paths(dirs).expect("PATH entries join")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_python_example_runs_against_the_services() {
    let Some(python) = tools::from_env("LMA_PYTHON_GRPC", ".ci/ensure-python-grpc") else {
        return;
    };
    let python_dir = python
        .parent()
        .expect("the Python interpreter is in a directory");
    let root = tools::repository_root();
    let document =
        std::fs::read_to_string(root.join("docs/CLIENTS.md")).expect("docs/CLIENTS.md is readable");

    // The documented generation command, from a directory laid out like the repository root.
    let work = tempfile::tempdir().expect("a temporary directory");
    std::os::unix::fs::symlink(root.join("proto"), work.path().join("proto"))
        .expect("linking proto/ into the work directory");
    let mut generate = tokio::process::Command::new("bash");
    generate
        .args(["-euo", "pipefail", "-c"])
        .arg(tested_block(&document, "clients_python_generate"))
        .current_dir(work.path())
        .env("PATH", path_with(python_dir));
    tools::run(generate, RUN_TIMEOUT).await.assert_success();
    for module in ["common_pb2.py", "ingest_pb2_grpc.py", "search_pb2_grpc.py"] {
        let generated = work.path().join("gen/lma/v1").join(module);
        assert!(generated.is_file(), "{} not generated", generated.display());
    }

    let app = spawn_app().await;
    let (ingest_addr, connections) =
        proxy_dropping_first_connection(app.addr(Service::Ingest)).await;
    let example = work.path().join("clients_example.py");
    std::fs::write(&example, tested_block(&document, "clients_example"))
        .expect("writing the example");
    let mut command = tokio::process::Command::new(&python);
    command
        .arg(&example)
        .current_dir(work.path())
        .env("PYTHONPATH", work.path().join("gen"))
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("LMA_API_KEY", &app.tenant.api_key)
        .env("LMA_INGEST_ADDR", ingest_addr.to_string())
        .env("LMA_SEARCH_ADDR", app.addr(Service::Search).to_string());
    let output = tools::run(command, RUN_TIMEOUT).await;
    output.assert_success();
    let stdout = &output.stdout;
    // Shown by `cargo test -- --nocapture`, to compare with the output CLIENTS.md shows.
    println!("{stdout}");
    let context = || format!("the example printed:\n{stdout}\nstderr:\n{}", output.stderr);

    // The first connection was dropped: the first call failed with UNAVAILABLE and was retried.
    assert!(
        stdout.contains("retrying UpsertProspect after UNAVAILABLE (attempt 1)"),
        "{}",
        context()
    );
    assert!(
        connections.load(Ordering::SeqCst) >= 2,
        "the example never reconnected: {}",
        context()
    );
    assert!(
        stdout.contains("upserted prospect ") && stdout.contains("(WRITE_OUTCOME_INSERTED)"),
        "{}",
        context()
    );
    // Read its own write through min_token.
    assert!(
        stdout.contains(&format!(
            "found {SOURCE}/ada: Ada Lovelace, Globex Python, at watermark "
        )),
        "{}",
        context()
    );
    assert!(
        stdout.contains("ingested 5 records: 5 inserted, 0 updated, 0 unchanged, 0 rejected"),
        "{}",
        context()
    );

    // Every prospect exactly once across the pages, two per page.
    let mut paged = Vec::new();
    for line in stdout.lines().filter(|line| line.starts_with("page ")) {
        let (_, ids) = line.split_once(": ").expect("a page line lists its ids");
        let ids: Vec<&str> = ids.split(", ").filter(|id| !id.is_empty()).collect();
        assert!(ids.len() <= 2, "page_size 2 exceeded: {line}");
        paged.extend(ids);
    }
    let expected: BTreeSet<String> = std::iter::once("ada".to_owned())
        .chain((1..=5).map(|n| format!("colleague-{n}")))
        .collect();
    assert_eq!(paged.len(), expected.len(), "{}", context());
    assert_eq!(
        paged
            .iter()
            .map(|id| (*id).to_owned())
            .collect::<BTreeSet<_>>(),
        expected,
        "{}",
        context()
    );
    assert!(
        stdout.contains("paged through 6 prospects in 3 pages"),
        "{}",
        context()
    );

    // The BadRequest detail decoded from grpc-status-details-bin names each invalid field.
    assert!(
        stdout.contains("INVALID_ARGUMENT: invalid request"),
        "{}",
        context()
    );
    for field in ["prospect.email", "prospect.company.revenue"] {
        assert!(
            stdout.contains(&format!("field violation {field}: ")),
            "{field} not among the violations: {}",
            context()
        );
    }

    // What the example wrote is really stored and searchable.
    let page = app
        .search(ProspectFilter {
            tags_any: vec![SOURCE.to_owned()],
            ..Default::default()
        })
        .await;
    assert_eq!(page.hits.len(), expected.len(), "{:?}", page.full_names());
}

/// The compiler settings the TypeScript client is checked with: strict, ES modules as Node.js
/// runs them (CLIENTS.md names them).
const TSCONFIG: &str = r#"{
  "compilerOptions": {
    "target": "es2022", "module": "nodenext", "moduleResolution": "nodenext",
    "strict": true, "skipLibCheck": true, "outDir": "out", "types": ["node"]
  },
  "files": ["clients_example.ts"]
}
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_typescript_client_generates_compiles_and_runs() {
    let Some(packages) = tools::from_env("LMA_TS_CLIENTS", ".ci/ensure-ts-clients") else {
        return;
    };
    let root = tools::repository_root();
    let document =
        std::fs::read_to_string(root.join("docs/CLIENTS.md")).expect("docs/CLIENTS.md is readable");

    // A package laid out as the document assumes: its node_modules, and proto/ at the root.
    let work = tempfile::tempdir().expect("a temporary directory");
    for (link, target) in [
        ("proto", root.join("proto")),
        ("node_modules", packages.join("node_modules")),
    ] {
        std::os::unix::fs::symlink(target, work.path().join(link))
            .unwrap_or_else(|error| panic!("linking {link}: {error}"));
    }
    std::fs::write(
        work.path().join("package.json"),
        "{\"private\": true, \"type\": \"module\"}\n",
    )
    .expect("writing package.json");
    std::fs::write(work.path().join("tsconfig.json"), TSCONFIG).expect("writing tsconfig.json");
    std::fs::write(
        work.path().join("clients_example.ts"),
        tested_block(&document, "clients_ts_example"),
    )
    .expect("writing the client");

    let mut generate = tokio::process::Command::new("bash");
    generate
        .args(["-euo", "pipefail", "-c"])
        .arg(tested_block(&document, "clients_ts_generate"))
        .current_dir(work.path());
    tools::run(generate, RUN_TIMEOUT).await.assert_success();
    for module in ["lma/v1/search_pb.ts", "google/rpc/error_details_pb.ts"] {
        let generated = work.path().join("gen").join(module);
        assert!(generated.is_file(), "{} not generated", generated.display());
    }

    // Type-checked against the generated code, then compiled to JavaScript.
    let mut compile = tokio::process::Command::new(work.path().join("node_modules/.bin/tsc"));
    compile.args(["-p", "."]).current_dir(work.path());
    tools::run(compile, RUN_TIMEOUT).await.assert_success();

    let app = spawn_app().await;
    let mut command = tokio::process::Command::new("node");
    command
        .arg("out/clients_example.js")
        .current_dir(work.path())
        .env("LMA_API_KEY", &app.tenant.api_key)
        .env(
            "LMA_INGEST_URL",
            format!("http://{}", app.addr(Service::Ingest)),
        )
        .env(
            "LMA_SEARCH_URL",
            format!("http://{}", app.addr(Service::Search)),
        );
    let output = tools::run(command, RUN_TIMEOUT).await;
    output.assert_success();
    let stdout = &output.stdout;
    println!("{stdout}");
    for expected in [
        "upserted prospect ",
        "found Grace Hopper",
        "field violation prospect.email: ",
    ] {
        assert!(
            stdout.contains(expected),
            "{expected:?} missing; the client printed:\n{stdout}\nstderr:\n{}",
            output.stderr
        );
    }
}
