//! The seed system's REST routes, kept working as a thin layer over the same account code.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use herald_service::ApiError;
use herald_service::auth::{Authenticated, Role};
use herald_service::http::JsonBody;
use herald_service::preferences::Preferences;
use serde::{Deserialize, Serialize};

use crate::accounts::{Account, AccountChanges, NewAccount, PreferencesChange};
use crate::startup::{AppState, client_address};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/users", post(register))
        .route("/users/login", post(login))
        .route("/users/{id}", get(get_user).put(update_user))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RegisterBody {
    name: String,
    email: String,
    password: String,
    /// Category names (`promotions`, `order_updates`, `recommendations`); absent = defaults.
    preferences: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginBody {
    email: String,
    password: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    name: Option<String>,
    email: Option<String>,
    password: Option<String>,
    current_password: Option<String>,
    preferences: Option<Vec<String>>,
}

#[derive(Serialize)]
struct UserBody {
    id: String,
    name: String,
    email: String,
    roles: Vec<Role>,
    /// The seed API's list form: categories with any channel on.
    preferences: Vec<&'static str>,
    /// The full category × channel matrix.
    notification_preferences: Preferences,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl From<Account> for UserBody {
    fn from(account: Account) -> Self {
        Self {
            preferences: account.preferences.to_seed_list(),
            notification_preferences: account.preferences,
            id: account.id,
            name: account.name,
            email: account.email,
            roles: account.roles,
            created_at: account.created_at,
            updated_at: account.updated_at,
        }
    }
}

#[derive(Serialize)]
struct TokenBody {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
}

fn seed_preferences(names: &[String]) -> Result<Preferences, ApiError> {
    Preferences::from_seed_list(names)
        .map_err(|message| ApiError::bad_input("preferences", message))
}

async fn register(
    State(state): State<AppState>,
    JsonBody(body): JsonBody<RegisterBody>,
) -> Result<impl IntoResponse, ApiError> {
    let preferences = match body.preferences.as_deref() {
        Some(names) => seed_preferences(names)?,
        None => Preferences::default(),
    };
    let account = state
        .accounts
        .register(NewAccount {
            name: body.name,
            email: body.email,
            password: body.password,
            preferences,
            roles: vec![Role::User],
        })
        .await?;
    Ok((StatusCode::CREATED, Json(UserBody::from(account))))
}

async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<LoginBody>,
) -> Result<Json<TokenBody>, ApiError> {
    let client = client_address(&headers, peer, state.trust_forwarded_for);
    let issued = state
        .accounts
        .login(&body.email, &body.password, &client)
        .await?;
    Ok(Json(TokenBody {
        access_token: issued.access_token,
        token_type: "bearer",
        expires_in: issued.expires_in,
    }))
}

async fn get_user(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
) -> Result<Json<UserBody>, ApiError> {
    // The notifications pipeline reads preferences it has no replica of yet.
    if !caller.has_role(Role::Service) {
        caller.ensure_can_access_user(&id)?;
    }
    let account = state
        .accounts
        .get(&id)
        .await?
        .ok_or_else(|| ApiError::not_found("user"))?;
    Ok(Json(account.into()))
}

async fn update_user(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    Path(id): Path<String>,
    JsonBody(body): JsonBody<UpdateBody>,
) -> Result<Json<UserBody>, ApiError> {
    caller.ensure_can_access_user(&id)?;
    let preferences = body
        .preferences
        .as_deref()
        .map(seed_preferences)
        .transpose()?
        .map(PreferencesChange::Replace);
    let account = state
        .accounts
        .update(
            &id,
            AccountChanges {
                name: body.name,
                email: body.email,
                current_password: body.current_password,
                new_password: body.password,
                preferences,
            },
        )
        .await?;
    Ok(Json(account.into()))
}
