//! The `tracing` subscriber `main.rs` installs: diagnostics on stderr with
//! timestamp, level and target, filtered by `SWITCHYARD_LOG` (default
//! `info`); access-log events (target `access`) on the same stream as the
//! bare line, whatever the filter says (the config turns them on or off).
//!
//! The diagnostics filter must be one whose most verbose level is known
//! ([`Subscriber::max_level_hint`]): from it `tracing` derives the global
//! level that every `trace!`/`debug!` call site compares with first. A
//! filter without a hint (a `filter_fn`, or an `and` with one) makes that
//! level TRACE, and each of the h2 crate's trace points then asks the
//! subscriber at run time (~800 instructions per HTTP/2 request).

use tracing::Subscriber;
use tracing_subscriber::Layer;
use tracing_subscriber::filter::{EnvFilter, Targets};
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// The subscriber, writing to `writer` (e.g. `std::io::stderr`, or a
/// closure making writers); `filter` filters diagnostics, not access lines.
/// `ansi` colours the diagnostics (for a terminal).
pub fn subscriber<W>(writer: W, filter: EnvFilter, ansi: bool) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Clone + Send + Sync + 'static,
{
    // Access lines are the other layer's; `access=off` keeps them out of
    // the diagnostics and keeps the filter's level hint.
    let filter = match "access=off".parse() {
        Ok(off) => filter.add_directive(off),
        Err(_) => filter,
    };
    let diagnostics = tracing_subscriber::fmt::layer()
        .with_writer(writer.clone())
        .with_ansi(ansi)
        .with_filter(filter);
    let access = tracing_subscriber::fmt::layer()
        .with_writer(writer)
        .with_ansi(false)
        .without_time()
        .with_level(false)
        .with_target(false)
        .with_filter(Targets::new().with_target("access", tracing::Level::INFO));
    tracing_subscriber::registry()
        .with(diagnostics)
        .with(access)
}

/// [`subscriber`] without colours and with an `EnvFilter` directive such
/// as `"info"` or `"warn"` (an invalid one means `"info"`).
pub fn subscriber_with<W>(writer: W, directive: &str) -> impl Subscriber + Send + Sync
where
    W: for<'w> MakeWriter<'w> + Clone + Send + Sync + 'static,
{
    let filter = EnvFilter::try_new(directive).unwrap_or_else(|_| EnvFilter::new("info"));
    subscriber(writer, filter, false)
}

/// Installs [`subscriber`] on stderr for the whole process.
pub fn init() {
    let filter =
        EnvFilter::try_from_env("SWITCHYARD_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    // try_init also forwards the `log` crate's records (wasmtime uses it).
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let _ = subscriber(std::io::stderr, filter, ansi).try_init();
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::level_filters::LevelFilter;

    /// The global level follows the filter: at `info`, a `trace!` in a
    /// dependency is one compare, not a question to the subscriber.
    #[test]
    fn the_subscriber_tells_its_most_verbose_level() {
        let hint = |d: &str| subscriber_with(std::io::sink, d).max_level_hint();
        assert_eq!(hint("info"), Some(LevelFilter::INFO));
        assert_eq!(hint("warn"), Some(LevelFilter::INFO)); // the access layer's
        assert_eq!(hint("debug"), Some(LevelFilter::DEBUG));
        assert_eq!(hint("switchyard=trace"), Some(LevelFilter::TRACE));
    }
}
