//! The metrics catalog: every metric a Herald service exports is named here, once, after the
//! OpenTelemetry semantic conventions for HTTP and GraphQL servers, in Prometheus form.

use std::sync::{Arc, LazyLock, Mutex};
use std::time::Instant;

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery,
};
use async_graphql::parser::types::{ExecutableDocument, OperationType};
use async_graphql::{Response, ServerResult, Variables};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry, TextEncoder,
};

/// Latency buckets in seconds, from a cache hit to a slow cross-service call.
const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The process-wide registry. One per process is what Prometheus expects; labels, not
/// registries, tell services apart (each runs in its own process in production).
pub fn registry() -> &'static Registry {
    static REGISTRY: LazyLock<Registry> = LazyLock::new(|| {
        let registry = Registry::new();
        #[cfg(target_os = "linux")]
        {
            let process = prometheus::process_collector::ProcessCollector::for_self();
            // Registration only fails on a duplicate, which cannot happen in this initialiser.
            let _ = registry.register(Box::new(process));
        }
        registry
    });
    &REGISTRY
}

/// Registers a collector in the process registry; a second registration of the same metric
/// (several apps in one test process) keeps the first.
pub fn register<C: prometheus::core::Collector + Clone + 'static>(collector: C) -> C {
    match registry().register(Box::new(collector.clone())) {
        Ok(()) | Err(prometheus::Error::AlreadyReg) => collector,
        Err(e) => panic!("metric definition is invalid: {e}"),
    }
}

pub fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    // The catalog below is static, so a bad definition is a programming error caught by tests.
    #[allow(clippy::expect_used)]
    let counter = IntCounterVec::new(Opts::new(name, help), labels).expect("valid counter");
    register(counter)
}

pub fn histogram_vec(name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    #[allow(clippy::expect_used)]
    let histogram = HistogramVec::new(
        HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()),
        labels,
    )
    .expect("valid histogram");
    register(histogram)
}

pub fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> prometheus::IntGaugeVec {
    #[allow(clippy::expect_used)]
    let gauge = prometheus::IntGaugeVec::new(Opts::new(name, help), labels).expect("valid gauge");
    register(gauge)
}

pub struct HttpMetrics {
    pub requests: IntCounterVec,
    pub duration: HistogramVec,
}

pub static HTTP: LazyLock<HttpMetrics> = LazyLock::new(|| HttpMetrics {
    requests: counter_vec(
        "http_server_requests_total",
        "HTTP requests served, by method, matched route and status code.",
        &["service", "method", "route", "status"],
    ),
    duration: histogram_vec(
        "http_server_request_duration_seconds",
        "HTTP request latency, by method, matched route and status code.",
        &["service", "method", "route", "status"],
    ),
});

pub struct GraphqlMetrics {
    pub operations: IntCounterVec,
    pub duration: HistogramVec,
    pub errors: IntCounterVec,
}

pub static GRAPHQL: LazyLock<GraphqlMetrics> = LazyLock::new(|| GraphqlMetrics {
    operations: counter_vec(
        "graphql_server_operations_total",
        "GraphQL operations executed, by operation name and type, and whether they had errors.",
        &["service", "operation_name", "operation_type", "outcome"],
    ),
    duration: histogram_vec(
        "graphql_server_operation_duration_seconds",
        "GraphQL operation execution latency, by operation name and type.",
        &["service", "operation_name", "operation_type"],
    ),
    errors: counter_vec(
        "graphql_server_errors_total",
        "GraphQL errors returned to clients, by extensions.code.",
        &["service", "code"],
    ),
});

pub struct EventMetrics {
    pub published: IntCounterVec,
    /// Shared by every consumer (notifications, recommendations), told apart by `service`.
    pub consumed: IntCounterVec,
    pub outbox_pending: prometheus::IntGaugeVec,
}

pub static EVENTS: LazyLock<EventMetrics> = LazyLock::new(|| EventMetrics {
    published: counter_vec(
        "herald_events_published_total",
        "Events published to the herald.events exchange, by routing key and outcome.",
        &["service", "routing_key", "outcome"],
    ),
    consumed: counter_vec(
        "herald_events_consumed_total",
        "Events consumed from RabbitMQ, by routing key and outcome (enqueued, profile, dead_lettered, requeued).",
        &["service", "routing_key", "outcome"],
    ),
    outbox_pending: gauge_vec(
        "herald_outbox_pending_events",
        "Events written to the transactional outbox and not yet confirmed by RabbitMQ.",
        &["service"],
    ),
});

/// The recommendations engine's part of the catalog.
pub struct RecommendationMetrics {
    pub query_duration: prometheus::Histogram,
    pub rebuild_duration: prometheus::Histogram,
    pub recompute_duration: prometheus::Histogram,
    pub users_scored: prometheus::IntCounter,
    pub published: prometheus::IntCounter,
    pub model_products: prometheus::IntGauge,
}

/// Seconds, for jobs that may take minutes on a large shop.
const JOB_BUCKETS: &[f64] = &[
    0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 900.0,
];

fn job_histogram(name: &str, help: &str) -> prometheus::Histogram {
    #[allow(clippy::expect_used)]
    let histogram = prometheus::Histogram::with_opts(
        HistogramOpts::new(name, help).buckets(JOB_BUCKETS.to_vec()),
    )
    .expect("valid histogram");
    register(histogram)
}

pub static RECOMMENDATIONS: LazyLock<RecommendationMetrics> =
    LazyLock::new(|| RecommendationMetrics {
        query_duration: histogram_vec(
            "herald_recommendation_query_duration_seconds",
            "Time to score one shopper's recommendations (store reads included).",
            &[],
        )
        .with_label_values(&[] as &[&str]),
        rebuild_duration: job_histogram(
            "herald_recommendation_model_rebuild_seconds",
            "Time to rebuild every product's neighbour list from the activity log.",
        ),
        recompute_duration: job_histogram(
            "herald_recommendation_recompute_seconds",
            "Time of a full recompute: the model rebuild and rescoring every active shopper.",
        ),
        users_scored: register(
            #[allow(clippy::expect_used)]
            prometheus::IntCounter::new(
                "herald_recommendation_users_scored_total",
                "Shoppers rescored by recompute jobs (scheduled or after a purchase).",
            )
            .expect("valid counter"),
        ),
        published: register(
            #[allow(clippy::expect_used)]
            prometheus::IntCounter::new(
                "herald_recommendations_published_total",
                "recommendation.generated events confirmed by RabbitMQ.",
            )
            .expect("valid counter"),
        ),
        model_products: register(
            #[allow(clippy::expect_used)]
            prometheus::IntGauge::new(
                "herald_recommendation_model_products",
                "Products in the current recommendation model.",
            )
            .expect("valid gauge"),
        ),
    });

/// The Prometheus text exposition of everything registered.
pub fn render() -> String {
    let mut buffer = Vec::new();
    let encoder = TextEncoder::new();
    if let Err(e) = encoder.encode(&registry().gather(), &mut buffer) {
        tracing::error!(error = %e, "could not encode metrics");
    }
    String::from_utf8(buffer).unwrap_or_default()
}

/// Keeps label values bounded: operation names are client-chosen, so anything that is not a
/// plain GraphQL name of sensible length is folded into one bucket.
pub fn operation_label(name: Option<&str>) -> String {
    match name {
        None => "anonymous".into(),
        Some(n)
            if n.len() <= 64
                && n.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') =>
        {
            n.to_string()
        }
        Some(_) => "invalid".into(),
    }
}

/// async-graphql extension that feeds the GraphQL part of the catalog.
pub struct GraphqlMetricsExtension {
    service: &'static str,
}

impl GraphqlMetricsExtension {
    pub fn new(service: &'static str) -> Self {
        Self { service }
    }
}

impl ExtensionFactory for GraphqlMetricsExtension {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(GraphqlMetricsRecorder {
            service: self.service,
            kind: Mutex::new(None),
        })
    }
}

struct GraphqlMetricsRecorder {
    service: &'static str,
    kind: Mutex<Option<OperationType>>,
}

#[async_trait::async_trait]
impl Extension for GraphqlMetricsRecorder {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let kind = document.operations.iter().next().map(|(_, op)| op.node.ty);
        if let Ok(mut slot) = self.kind.lock() {
            *slot = kind;
        }
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> Response {
        let started = Instant::now();
        let response = next.run(ctx, operation_name).await;
        let kind = match self.kind.lock().ok().and_then(|k| *k) {
            Some(OperationType::Query) => "query",
            Some(OperationType::Mutation) => "mutation",
            Some(OperationType::Subscription) => "subscription",
            None => "unknown",
        };
        let name = operation_label(operation_name);
        let outcome = if response.errors.is_empty() {
            "ok"
        } else {
            "error"
        };
        GRAPHQL
            .operations
            .with_label_values(&[self.service, &name, kind, outcome])
            .inc();
        GRAPHQL
            .duration
            .with_label_values(&[self.service, &name, kind])
            .observe(started.elapsed().as_secs_f64());
        for error in &response.errors {
            let code = error
                .extensions
                .as_ref()
                .and_then(|e| e.get("code"))
                .and_then(|v| match v {
                    async_graphql::Value::String(s) => Some(s.as_str()),
                    _ => None,
                })
                .unwrap_or("BAD_USER_INPUT");
            GRAPHQL
                .errors
                .with_label_values(&[self.service, code])
                .inc();
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operation_labels_stay_bounded() {
        assert_eq!(operation_label(Some("Me")), "Me");
        assert_eq!(operation_label(None), "anonymous");
        assert_eq!(operation_label(Some("drop table; --")), "invalid");
        assert_eq!(operation_label(Some(&"a".repeat(65))), "invalid");
    }

    #[test]
    fn catalog_renders_in_prometheus_text() {
        HTTP.requests
            .with_label_values(&["t", "GET", "/health", "200"])
            .inc();
        let text = render();
        assert!(text.contains("http_server_requests_total{"), "{text}");
    }
}
