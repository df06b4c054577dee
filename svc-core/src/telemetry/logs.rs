//! The log lines the services print: compact text or one JSON object per line.

use tracing_subscriber::Layer as _;
use tracing_subscriber::fmt::MakeWriter;

#[cfg(feature = "test-support")]
use super::TelemetryError;
use crate::config::LogFormat;
#[cfg(feature = "test-support")]
use crate::config::TelemetryArgs;
#[cfg(feature = "test-support")]
use std::sync::{Arc, Mutex, PoisonError};
#[cfg(feature = "test-support")]
use tracing_subscriber::{filter::EnvFilter, layer::SubscriberExt as _};

/// The log lines: compact text for [`LogFormat::Pretty`], one JSON object per line for
/// [`LogFormat::Json`], written to `writer`.
pub(super) fn log_layer<S, W>(
    format: LogFormat,
    writer: W,
    ansi: bool,
) -> Box<dyn tracing_subscriber::Layer<S> + Send + Sync>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    match format {
        LogFormat::Pretty => tracing_subscriber::fmt::layer()
            .compact()
            .with_ansi(ansi)
            .with_writer(writer)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(writer)
            .boxed(),
    }
}

/// Log output kept in memory, for checking what reaches the logs.
#[cfg(feature = "test-support")]
#[derive(Clone, Debug, Default)]
pub struct LogSink(Arc<Mutex<Vec<u8>>>);

#[cfg(feature = "test-support")]
impl LogSink {
    /// Everything written so far.
    pub fn contents(&self) -> String {
        let bytes = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

#[cfg(feature = "test-support")]
impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(feature = "test-support")]
impl<'w> MakeWriter<'w> for LogSink {
    type Writer = LogSink;

    fn make_writer(&'w self) -> Self::Writer {
        self.clone()
    }
}

/// Writes the services' log lines, exactly as [`init`](super::init) formats them, to `sink` for the current
/// thread only, until the guard is dropped. For checking what reaches the logs (a test on a
/// current-thread runtime sees every task's lines); export is not involved.
#[cfg(feature = "test-support")]
pub fn log_to_sink_on_this_thread(
    args: &TelemetryArgs,
    sink: &LogSink,
) -> Result<tracing::subscriber::DefaultGuard, TelemetryError> {
    let filter = EnvFilter::try_new(&args.log_filter)?;
    let subscriber = tracing_subscriber::registry()
        .with(log_layer(args.log_format, sink.clone(), false).with_filter(filter));
    Ok(tracing::subscriber::set_default(subscriber))
}
