//! Builds the users service from typed settings and an optional pre-bound listener, so tests
//! run the real application on port 0 against a database of their own.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use async_graphql_axum::{GraphQLRequest, GraphQLResponse};
use axum::extract::{ConnectInfo, FromRef, State};
use axum::http::{HeaderMap, header};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::{Json, Router};
use herald_service::TokenVerifier;
use herald_service::events::Publisher;
use herald_service::http::{self, ReadinessCheck};
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::accounts::Accounts;
use crate::db;
use crate::graphql::{self, ClientAddress, UsersSchema};
use crate::outbox::Relay;
use crate::settings::Settings;
use crate::signing::SigningKeys;

#[derive(Clone)]
pub struct AppState {
    pub schema: UsersSchema,
    pub accounts: Arc<Accounts>,
    pub verifier: Arc<TokenVerifier>,
    pub keys: Arc<SigningKeys>,
    pub trust_forwarded_for: bool,
}

impl FromRef<AppState> for Arc<TokenVerifier> {
    fn from_ref(state: &AppState) -> Self {
        state.verifier.clone()
    }
}

/// The parts of the service that the CLI needs without serving HTTP.
pub struct Core {
    pub db: DatabaseConnection,
    pub keys: Arc<SigningKeys>,
    pub accounts: Arc<Accounts>,
    pub relay: Relay,
    pub publisher: Arc<Publisher>,
}

impl Core {
    pub async fn build(settings: &Settings) -> anyhow::Result<Self> {
        let keys = Arc::new(SigningKeys::load(&settings.users, settings.common.env)?);
        let db = db::connect(&settings.users.database_url).await?;
        let publisher = Arc::new(Publisher::new(settings.common.amqp_url.clone(), "users"));
        let relay = Relay::new(
            db.clone(),
            publisher.clone(),
            Duration::from_millis(settings.users.outbox_poll_ms.max(10)),
        );
        let ttl = i64::try_from(settings.users.access_token_ttl_secs).unwrap_or(3600);
        let accounts = Arc::new(Accounts::new(
            db.clone(),
            keys.clone(),
            relay.clone(),
            ttl,
            settings.users.login_attempts_per_minute,
        ));
        Ok(Self {
            db,
            keys,
            accounts,
            relay,
            publisher,
        })
    }
}

pub struct Application {
    listener: TcpListener,
    router: Router,
    core: Core,
    port: u16,
}

impl Application {
    /// Connects, migrates and wires everything; binds `settings.users.port` unless a listener
    /// is given.
    pub async fn build(settings: Settings, listener: Option<TcpListener>) -> anyhow::Result<Self> {
        let core = Core::build(&settings).await?;
        let listener =
            http::listener_or_bind(listener, &settings.users.host, settings.users.port).await?;
        let port = listener.local_addr()?.port();
        crate::passwords::warm_up();
        let verifier = Arc::new(TokenVerifier::from_key_set(core.keys.key_set()));
        let state = AppState {
            schema: graphql::build_schema(core.accounts.clone()),
            accounts: core.accounts.clone(),
            verifier,
            keys: core.keys.clone(),
            trust_forwarded_for: settings.users.trust_forwarded_for,
        };
        let app = Router::new()
            .route("/graphql", get(graphiql).post(graphql_handler))
            .route("/.well-known/jwks.json", get(jwks))
            .merge(crate::rest::routes())
            .with_state(state);
        let checks: Vec<Arc<dyn ReadinessCheck>> = vec![
            Arc::new(DatabaseCheck(core.db.clone())),
            Arc::new(BrokerCheck(core.publisher.clone())),
        ];
        let router = http::service_router("users", app, checks);
        Ok(Self {
            listener,
            router,
            core,
            port,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Serves until `shutdown` resolves, with the outbox relay running beside the server.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let stop = CancellationToken::new();
        let relay = tokio::spawn(self.core.relay.clone().run(stop.clone()));
        let accounts = self.core.accounts.clone();
        let janitor_stop = stop.clone();
        let janitor = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tokio::select! {
                    _ = janitor_stop.cancelled() => break,
                    _ = tick.tick() => accounts.forget_idle_login_attempts(),
                }
            }
        });
        tracing::info!(port = self.port, "users service listening");
        let served = http::serve(self.listener, self.router, shutdown).await;
        stop.cancel();
        let _ = tokio::join!(relay, janitor);
        // One last pass so that events committed just before shutdown go out now if they can.
        if let Err(e) = self.core.relay.relay_once().await {
            tracing::warn!(error = %e, "events left in the outbox for the next start");
        }
        self.core.db.close().await.ok();
        Ok(served?)
    }

    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(http::shutdown_signal()).await
    }
}

async fn graphql_handler(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    request: GraphQLRequest,
) -> GraphQLResponse {
    let client = client_address(&headers, peer, state.trust_forwarded_for);
    let request = request.into_inner().data(ClientAddress(client));
    herald_service::graphql::execute(&state.schema, &state.verifier, &headers, request)
        .await
        .into()
}

async fn graphiql() -> impl IntoResponse {
    herald_service::graphql::graphiql("Herald users", false)
}

async fn jwks(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CACHE_CONTROL, "public, max-age=300")],
        Json(state.keys.jwks().clone()),
    )
}

/// The client's address: the peer, or the first `X-Forwarded-For` hop behind a trusted proxy.
pub fn client_address(headers: &HeaderMap, peer: SocketAddr, trust_forwarded_for: bool) -> String {
    if trust_forwarded_for
        && let Some(forwarded) = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok())
        && let Some(first) = forwarded
            .split(',')
            .next()
            .map(str::trim)
            .filter(|s| !s.is_empty())
    {
        return first.to_owned();
    }
    peer.ip().to_string()
}

struct DatabaseCheck(DatabaseConnection);

#[async_trait::async_trait]
impl ReadinessCheck for DatabaseCheck {
    fn name(&self) -> &'static str {
        "database"
    }

    async fn check(&self) -> Result<(), String> {
        self.0.ping().await.map_err(|e| e.to_string())
    }
}

struct BrokerCheck(Arc<Publisher>);

#[async_trait::async_trait]
impl ReadinessCheck for BrokerCheck {
    fn name(&self) -> &'static str {
        "rabbitmq"
    }

    async fn check(&self) -> Result<(), String> {
        self.0.check().await
    }

    // Registrations keep working while RabbitMQ is down: their events wait in the outbox.
    fn required(&self) -> bool {
        false
    }
}
