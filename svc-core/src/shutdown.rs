//! Process shutdown signals.

/// Resolves when the process receives SIGTERM (what Kubernetes sends) or SIGINT (ctrl-c),
/// logging which one arrived.
///
/// If a handler cannot be installed, that signal is logged and ignored rather than treated as
/// a shutdown request, so the process does not stop on its own.
pub async fn signal() {
    let interrupt = async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => "SIGINT",
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGINT");
                std::future::pending().await
            }
        }
    };

    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
                "SIGTERM"
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending().await
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<&'static str>();

    let received = tokio::select! {
        name = interrupt => name,
        name = terminate => name,
    };
    tracing::info!(signal = received, "shutdown signal received");
}
