//! Rejects, at the router, a request that presents a token the router could not verify.
//!
//! Hive Router's JWT plugin (configured in `router.yaml`) verifies tokens against the users
//! service's JWKS. It has two modes: require a valid token on every request, or treat a
//! request whose token fails verification like one without a token. Herald needs a third:
//! `register` and `login` must work without a token, yet a forged or expired token must be
//! refused here rather than be passed on to the subgraphs to be refused there. This plugin
//! runs after the JWT plugin and refuses exactly those requests: an `Authorization` header
//! present, but no verified token.

use hive_router::GraphQLError;
use hive_router::async_trait;
use hive_router::http::StatusCode;
use hive_router::plugins::hooks::on_execute::{
    OnExecuteStartHookPayload, OnExecuteStartHookResult,
};
use hive_router::plugins::hooks::on_plugin_init::{OnPluginInitPayload, OnPluginInitResult};
use hive_router::plugins::plugin_trait::{RouterPlugin, StartHookPayload};
use serde::Deserialize;

pub struct RejectUnverifiedTokens;

#[derive(Deserialize)]
pub struct Config {}

#[async_trait]
impl RouterPlugin for RejectUnverifiedTokens {
    type Config = Config;

    fn plugin_name() -> &'static str {
        "herald_reject_unverified_tokens"
    }

    fn on_plugin_init(_payload: OnPluginInitPayload<Self>) -> OnPluginInitResult<Self> {
        Ok(Some(Self))
    }

    async fn on_execute<'exec>(
        &'exec self,
        payload: OnExecuteStartHookPayload<'exec>,
    ) -> OnExecuteStartHookResult<'exec> {
        let presented = payload
            .router_http_request
            .headers
            .contains_key("authorization");
        let verified = payload
            .request_context
            .read()
            .ok()
            .and_then(|context| context.authentication().jwt_status().copied())
            .unwrap_or(false);
        if presented && !verified {
            return payload.end_with_graphql_error(
                GraphQLError::from_message_and_code(
                    "the access token is invalid or expired",
                    "UNAUTHENTICATED",
                ),
                StatusCode::UNAUTHORIZED,
            );
        }
        payload.proceed()
    }
}
