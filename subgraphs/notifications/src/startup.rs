//! Builds the notifications API from typed settings and an optional pre-bound listener.

use std::future::Future;
use std::sync::Arc;

use async_graphql::Data;
use async_graphql::http::ALL_WEBSOCKET_PROTOCOLS;
use async_graphql_axum::{GraphQLProtocol, GraphQLRequest, GraphQLResponse, GraphQLWebSocket};
use axum::Router;
use axum::extract::{FromRef, FromRequestParts, Request, State, WebSocketUpgrade};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use herald_service::TokenVerifier;
use herald_service::auth::KeySource;
use herald_service::http::{self, ReadinessCheck};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::graphql::{self, NotificationsSchema};
use crate::inbox::Inbox;
use crate::live::LiveUpdates;
use crate::settings::Settings;
use crate::store::{self, NotificationStore};

#[derive(Clone)]
pub struct AppState {
    pub schema: NotificationsSchema,
    pub inbox: Arc<Inbox>,
    pub jobs: crate::pipeline::jobs::Jobs,
    pub verifier: Arc<TokenVerifier>,
}

impl FromRef<AppState> for Arc<TokenVerifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    live: Arc<LiveUpdates>,
    port: u16,
}

impl Application {
    pub async fn build(settings: Settings, listener: Option<TcpListener>) -> anyhow::Result<Self> {
        let n = &settings.notifications;
        let store = store::open(
            &n.database_url,
            n.mongodb_url.as_deref(),
            &n.mongodb_database,
        )
        .await?;
        let live = LiveUpdates::new(&settings.common.redis_url)?;
        let inbox = Arc::new(Inbox::new(store.clone(), live.clone()));
        let verifier = Arc::new(TokenVerifier::new(KeySource::from_config(
            &settings.common.jwks_url,
        )));
        let listener = http::listener_or_bind(listener, &n.host, n.port).await?;
        let port = listener.local_addr()?.port();
        let jobs = crate::pipeline::connect_jobs(&settings).await?;
        let state = AppState {
            schema: graphql::build_schema(inbox.clone(), jobs.clone()),
            inbox,
            jobs,
            verifier,
        };
        let app = Router::new()
            .route("/graphql", get(graphql_get).post(graphql_post))
            .route("/graphql/ws", get(graphql_get))
            .merge(crate::rest::routes())
            .with_state(state);
        let checks: Vec<Arc<dyn ReadinessCheck>> = vec![
            Arc::new(StoreCheck(store)),
            Arc::new(RedisCheck(live.clone())),
        ];
        let router = http::service_router("notifications", app, checks);
        Ok(Self {
            listener,
            router,
            live,
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
        let stop = CancellationToken::new();
        let subscriber = tokio::spawn(self.live.clone().run_subscriber(stop.clone()));
        tracing::info!(port = self.port, "notifications service listening");
        let served = http::serve(self.listener, self.router, shutdown).await;
        stop.cancel();
        let _ = subscriber.await;
        Ok(served?)
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

/// `GET /graphql`: the playground, or a graphql-transport-ws (or legacy graphql-ws) upgrade.
async fn graphql_get(State(state): State<AppState>, request: Request) -> Response {
    let is_upgrade = request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !is_upgrade {
        return herald_service::graphql::graphiql("Herald notifications", true).into_response();
    }
    let (mut parts, _) = request.into_parts();
    let protocol = match GraphQLProtocol::from_request_parts(&mut parts, &()).await {
        Ok(protocol) => protocol,
        Err(e) => return e.into_response(),
    };
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(upgrade) => upgrade,
        Err(e) => return e.into_response(),
    };
    let upgrade_headers = parts.headers;
    upgrade
        .protocols(ALL_WEBSOCKET_PROTOCOLS)
        .on_upgrade(move |socket| {
            let verifier = state.verifier.clone();
            GraphQLWebSocket::new(socket, state.schema.clone(), protocol)
                .on_connection_init(move |payload| {
                    authenticate_socket(verifier, upgrade_headers, payload)
                })
                .serve()
        })
}

/// A websocket authenticates with the `Authorization` header of its upgrade request, or (as
/// browsers cannot set headers there) an `Authorization`/`authorization` entry in the
/// `connection_init` payload. A bad token refuses the connection.
async fn authenticate_socket(
    verifier: Arc<TokenVerifier>,
    mut headers: HeaderMap,
    payload: serde_json::Value,
) -> async_graphql::Result<Data> {
    let from_payload = ["Authorization", "authorization"]
        .iter()
        .find_map(|key| {
            payload
                .get(*key)
                .or_else(|| payload.get("headers").and_then(|h| h.get(*key)))
        })
        .and_then(|v| v.as_str())
        .and_then(|v| HeaderValue::from_str(v).ok());
    if let Some(value) = from_payload {
        headers.insert(header::AUTHORIZATION, value);
    }
    let mut data = Data::default();
    match verifier.authenticate(&headers).await {
        Ok(Some(caller)) => data.insert(caller),
        Ok(None) => {}
        Err(e) => return Err(async_graphql::Error::from(e)),
    }
    Ok(data)
}

struct StoreCheck(Arc<dyn NotificationStore>);

#[async_trait::async_trait]
impl ReadinessCheck for StoreCheck {
    fn name(&self) -> &'static str {
        "store"
    }

    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| e.to_string())
    }
}

struct RedisCheck(Arc<LiveUpdates>);

#[async_trait::async_trait]
impl ReadinessCheck for RedisCheck {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn check(&self) -> Result<(), String> {
        self.0.check().await
    }
}
