//! What every subgraph's GraphQL endpoint shares: authenticating the caller before execution,
//! a code on every error, and the per-subgraph GraphiQL page.

use async_graphql::{Context, ObjectType, Schema, SubscriptionType};
use axum::http::HeaderMap;
use axum::response::{Html, IntoResponse};

use crate::auth::{Caller, TokenVerifier};
use crate::errors::{self, ApiError};

/// Executes `request` for the caller its `Authorization` header names. A present but invalid
/// token fails the whole request with `UNAUTHENTICATED`; it is never downgraded to anonymous.
pub async fn execute<Q, M, S>(
    schema: &Schema<Q, M, S>,
    verifier: &TokenVerifier,
    headers: &HeaderMap,
    mut request: async_graphql::Request,
) -> async_graphql::Response
where
    Q: ObjectType + 'static,
    M: ObjectType + 'static,
    S: SubscriptionType + 'static,
{
    match verifier.authenticate(headers).await {
        Ok(Some(caller)) => request = request.data(caller),
        Ok(None) => {}
        Err(err) => {
            let error: async_graphql::Error = err.into();
            return async_graphql::Response::from_errors(vec![
                error.into_server_error(async_graphql::Pos::default()),
            ]);
        }
    }
    let mut response = schema.execute(request).await;
    errors::ensure_error_codes(&mut response);
    response
}

/// The authenticated caller, or `UNAUTHENTICATED`.
pub fn caller<'a>(ctx: &Context<'a>) -> Result<&'a Caller, ApiError> {
    ctx.data_opt::<Caller>()
        .ok_or_else(ApiError::unauthenticated)
}

/// The subgraph's own GraphiQL playground, served at `GET /graphql`.
pub fn graphiql(title: &str, subscriptions: bool) -> impl IntoResponse + use<> {
    let mut source = async_graphql::http::GraphiQLSource::build()
        .endpoint("/graphql")
        .title(title);
    if subscriptions {
        source = source.subscription_endpoint("/graphql/ws");
    }
    Html(source.finish())
}
