//! Structured logs through `tracing`: human-readable text in a terminal, one JSON object per
//! line when `HERALD_LOG_FORMAT=json`. `RUST_LOG` filters as usual.

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt;
use tracing_subscriber::prelude::*;

use crate::config::LogFormat;

/// Installs the global subscriber. Safe to call more than once (tests spawn many apps in one
/// process); only the first call takes effect.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn,lapin=warn"));
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Json => registry
            .with(
                fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_current_span(false),
            )
            .try_init(),
        LogFormat::Text => registry.with(fmt::layer().with_target(true)).try_init(),
    };
    // An already-installed subscriber is the only possible error, and it is harmless.
    let _ = result;
}
