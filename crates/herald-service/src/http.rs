//! The HTTP side every service shares: `/health`, `/ready`, `/metrics`, request metrics and
//! tracing, and serving with graceful shutdown.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use tokio::net::TcpListener;
use tower_http::trace::TraceLayer;

use crate::errors::ApiError;
use crate::metrics;

/// One dependency that `/ready` checks (a database, a broker).
#[async_trait::async_trait]
pub trait ReadinessCheck: Send + Sync {
    fn name(&self) -> &'static str;
    async fn check(&self) -> Result<(), String>;
    /// Whether the service is unready without this dependency. A service that can keep
    /// working through an outage (the users service buffers events in its outbox while
    /// RabbitMQ is down) reports the dependency's state without leaving the load balancer.
    fn required(&self) -> bool {
        true
    }
}

#[derive(Clone)]
struct Probes {
    service: &'static str,
    checks: Arc<Vec<Arc<dyn ReadinessCheck>>>,
}

#[derive(Serialize)]
struct ReadyBody {
    status: &'static str,
    checks: Vec<CheckBody>,
}

#[derive(Serialize)]
struct CheckBody {
    name: &'static str,
    required: bool,
    ok: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

async fn health(State(probes): State<Probes>) -> impl IntoResponse {
    axum::Json(serde_json::json!({"status": "ok", "service": probes.service}))
}

async fn ready(State(probes): State<Probes>) -> Response {
    let checks = futures::future::join_all(probes.checks.iter().map(|check| async move {
        // A dependency that hangs is as unready as one that refuses.
        let result = tokio::time::timeout(Duration::from_secs(3), check.check())
            .await
            .unwrap_or_else(|_| Err("timed out".into()));
        if let Err(error) = &result {
            tracing::warn!(check = check.name(), %error, "readiness check failed");
        }
        CheckBody {
            name: check.name(),
            required: check.required(),
            ok: result.is_ok(),
            // The reason stays in the logs: it may name hosts and users.
            error: result.err().map(|_| "unavailable".to_string()),
        }
    }))
    .await;
    let all_ok = checks.iter().all(|c| c.ok || !c.required);
    let status = if all_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = ReadyBody {
        status: if all_ok { "ready" } else { "unavailable" },
        checks,
    };
    (status, axum::Json(body)).into_response()
}

async fn metrics_text() -> impl IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        metrics::render(),
    )
}

async fn record_http_metrics(
    State(service): State<&'static str>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    let labels = [service, method.as_str(), route.as_str(), status.as_str()];
    metrics::HTTP.requests.with_label_values(&labels).inc();
    metrics::HTTP
        .duration
        .with_label_values(&labels)
        .observe(started.elapsed().as_secs_f64());
    response
}

/// Adds the shared endpoints and layers to a service's own routes.
pub fn service_router(
    service: &'static str,
    app: Router,
    checks: Vec<Arc<dyn ReadinessCheck>>,
) -> Router {
    let probes = Probes {
        service,
        checks: Arc::new(checks),
    };
    let shared = Router::new()
        .route("/health", get(health))
        .route("/ready", get(ready))
        .route("/metrics", get(metrics_text))
        .with_state(probes);
    app.merge(shared)
        .route_layer(middleware::from_fn_with_state(service, record_http_metrics))
        .layer(TraceLayer::new_for_http())
}

/// The given listener (tests pre-bind port 0), or a new one on `host:port`.
pub async fn listener_or_bind(
    listener: Option<TcpListener>,
    host: &str,
    port: u16,
) -> anyhow::Result<TcpListener> {
    match listener {
        Some(listener) => Ok(listener),
        None => {
            let address = format!("{host}:{port}");
            TcpListener::bind(&address)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {address}: {e}"))
        }
    }
}

/// Serves until `shutdown` resolves, then stops accepting and lets in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
    tracing::info!("shutdown signal received, draining");
}

/// The `healthcheck` subcommand: exits 0 when the service at `url` answers `/health` with 200.
/// Container health checks call the binary itself, so images need no curl.
pub async fn healthcheck(url: &str) -> bool {
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(3))
        .build()
    {
        Ok(client) => client,
        Err(_) => return false,
    };
    matches!(client.get(url).send().await, Ok(r) if r.status().is_success())
}

/// A JSON request body whose rejections are `BAD_USER_INPUT` errors in Herald's error shape,
/// not axum's plain-text ones.
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(JsonBody(value)),
            Err(rejection) => Err(ApiError::new(
                crate::errors::ErrorCode::BadUserInput,
                rejection.body_text(),
            )),
        }
    }
}
