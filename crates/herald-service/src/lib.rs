//! Plumbing shared by every Herald service: layered configuration, logging, client-safe errors,
//! the metrics catalog, JWT verification against a JWKS, the HTTP bootstrap (health, readiness,
//! metrics, graceful shutdown) and the RabbitMQ event envelope and publisher.

pub mod auth;
pub mod config;
pub mod consumer;
pub mod errors;
pub mod events;
pub mod graphql;
pub mod http;
pub mod metrics;
pub mod preferences;
pub mod sql;
pub mod telemetry;
#[cfg(feature = "testing")]
#[allow(clippy::expect_used, clippy::unwrap_used)]
pub mod testing;

pub use auth::{Caller, Role, TokenVerifier};
pub use errors::{ApiError, ErrorCode};
