//! Builds the recommendations API from typed settings and an optional pre-bound listener.

use std::future::Future;
use std::sync::Arc;

use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::Router;
use axum::extract::{FromRef, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::get;
use herald_service::TokenVerifier;
use herald_service::auth::KeySource;
use herald_service::http::{self, ReadinessCheck};
use tokio::net::TcpListener;

use crate::graphql::{self, RecommendationsSchema};
use crate::recommender::Recommender;
use crate::settings::Settings;
use crate::store::{self, RecommendationStore};
use crate::worker::jobs::Jobs;

#[derive(Clone)]
pub struct AppState {
    pub schema: RecommendationsSchema,
    pub recommender: Arc<Recommender>,
    pub verifier: Arc<TokenVerifier>,
}

impl FromRef<AppState> for Arc<TokenVerifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

/// The store, with the catalog file loaded into it, behind the recommender. Both roles start
/// this way, so whichever starts first brings the catalog.
pub async fn open_recommender(settings: &Settings) -> anyhow::Result<Arc<Recommender>> {
    let r = &settings.recommendations;
    let store = store::open(
        &r.database_url,
        r.mongodb_url.as_deref(),
        &r.mongodb_database,
    )
    .await?;
    crate::catalog::load(&r.catalog_path, store.as_ref()).await?;
    Ok(Arc::new(Recommender::new(
        store,
        r.engine.clone(),
        r.publish.clone(),
    )))
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    port: u16,
}

impl Application {
    pub async fn build(settings: Settings, listener: Option<TcpListener>) -> anyhow::Result<Self> {
        let r = &settings.recommendations;
        let recommender = open_recommender(&settings).await?;
        let jobs = crate::worker::connect_jobs(&settings).await?;
        let verifier = Arc::new(TokenVerifier::new(KeySource::from_config(
            &settings.common.jwks_url,
        )));
        let listener = http::listener_or_bind(listener, &r.host, r.port).await?;
        let port = listener.local_addr()?.port();
        let state = AppState {
            schema: graphql::build_schema(recommender.clone(), jobs.clone()),
            recommender: recommender.clone(),
            verifier,
        };
        let app = Router::new()
            .route("/graphql", get(graphiql).post(graphql_post))
            .merge(crate::rest::routes())
            .with_state(state);
        let checks: Vec<Arc<dyn ReadinessCheck>> = vec![
            Arc::new(StoreCheck(recommender.store().clone())),
            Arc::new(QueueCheck(jobs)),
        ];
        let router = http::service_router("recommendations", app, checks);
        Ok(Self {
            listener,
            router,
            port,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(port = self.port, "recommendations service listening");
        Ok(http::serve(self.listener, self.router, shutdown).await?)
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(http::shutdown_signal()).await
    }
}

async fn graphql_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> GraphQLResponse {
    herald_service::graphql::execute(
        &state.schema,
        &state.verifier,
        &headers,
        request.into_inner(),
    )
    .await
    .into()
}

async fn graphiql() -> impl IntoResponse {
    herald_service::graphql::graphiql("Herald recommendations", false)
}

pub struct StoreCheck(pub Arc<dyn RecommendationStore>);

#[async_trait::async_trait]
impl ReadinessCheck for StoreCheck {
    fn name(&self) -> &'static str {
        "store"
    }

    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| e.to_string())
    }
}

/// Redis, through the BullMQ queue purchases enqueue their refresh on.
struct QueueCheck(Jobs);

#[async_trait::async_trait]
impl ReadinessCheck for QueueCheck {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn check(&self) -> Result<(), String> {
        self.0
            .queue
            .get_job_counts()
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
