//! `--seed-demo`: two shoppers with some history, through the same doors a shop would use —
//! the router's GraphQL for accounts and activity, RabbitMQ for the shop's order events.
//! Safe to repeat: existing demo users log in, activity carries idempotency keys, and each
//! event's envelope id is derived from what it describes, so consumers drop a replay.

use std::time::{Duration, Instant};

use anyhow::Context;
use herald_service::events::{Envelope, Publisher, routing};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub struct DemoUser {
    pub name: &'static str,
    pub email: &'static str,
    pub password: &'static str,
    /// Catalog product ids (the committed sample catalog): viewed, carted, bought.
    pub viewed: &'static [&'static str],
    pub carted: &'static [&'static str],
    pub bought: &'static [&'static str],
}

pub const DEMO_USERS: [DemoUser; 2] = [
    DemoUser {
        name: "Ada Lovelace",
        email: "ada@demo.herald.test",
        password: "demo password ada",
        viewed: &["p-0001", "p-0005", "p-0007"],
        carted: &["p-0002"],
        bought: &["p-0001", "p-0003"],
    },
    DemoUser {
        name: "Grace Hopper",
        email: "grace@demo.herald.test",
        password: "demo password grace",
        viewed: &["p-0003", "p-0004"],
        carted: &["p-0005"],
        bought: &["p-0003", "p-0004", "p-0005"],
    },
];

pub struct Seeded {
    pub email: &'static str,
    pub password: &'static str,
    pub user_id: String,
}

struct Router {
    http: reqwest::Client,
    endpoint: String,
}

impl Router {
    async fn graphql(
        &self,
        query: &str,
        variables: Value,
        token: Option<&str>,
    ) -> anyhow::Result<Value> {
        let mut request = self
            .http
            .post(&self.endpoint)
            .json(&json!({ "query": query, "variables": variables }));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let body: Value = request
            .send()
            .await
            .context("calling the router")?
            .json()
            .await
            .context("reading the router's answer")?;
        Ok(body)
    }
}

fn error_code(body: &Value) -> Option<&str> {
    body["errors"][0]["extensions"]["code"].as_str()
}

const LOGIN: &str = "mutation($email: String!, $password: String!) { \
    login(email: $email, password: $password) { accessToken user { id } } }";
const REGISTER: &str = "mutation($input: RegisterInput!) { register(input: $input) { id } }";
const RECORD: &str =
    "mutation($input: RecordActivityInput!) { recordActivity(input: $input) { recorded } }";

async fn login(router: &Router, user: &DemoUser) -> anyhow::Result<Option<(String, String)>> {
    let body = router
        .graphql(
            LOGIN,
            json!({ "email": user.email, "password": user.password }),
            None,
        )
        .await?;
    let login = &body["data"]["login"];
    match (login["accessToken"].as_str(), login["user"]["id"].as_str()) {
        (Some(token), Some(id)) => Ok(Some((id.to_owned(), token.to_owned()))),
        _ if error_code(&body) == Some("UNAUTHENTICATED") => Ok(None),
        _ => anyhow::bail!("logging in {} failed: {body}", user.email),
    }
}

async fn sign_in(router: &Router, user: &DemoUser) -> anyhow::Result<(String, String)> {
    if let Some(session) = login(router, user).await? {
        return Ok(session);
    }
    let body = router
        .graphql(
            REGISTER,
            json!({ "input": { "name": user.name, "email": user.email, "password": user.password } }),
            None,
        )
        .await?;
    if body["data"]["register"]["id"].as_str().is_none() && error_code(&body) != Some("CONFLICT") {
        anyhow::bail!("registering {} failed: {body}", user.email);
    }
    login(router, user)
        .await?
        .with_context(|| format!("{} was registered but cannot log in", user.email))
}

async fn record(router: &Router, token: &str, user: &DemoUser) -> anyhow::Result<()> {
    let activity = user
        .viewed
        .iter()
        .map(|p| (p, "VIEWED"))
        .chain(user.carted.iter().map(|p| (p, "ADDED_TO_CART")))
        .chain(user.bought.iter().map(|p| (p, "PURCHASED")));
    for (product, kind) in activity {
        let key = format!("demo-seed:{}:{kind}:{product}", user.email);
        let body = router
            .graphql(
                RECORD,
                json!({ "input": { "productId": product, "kind": kind, "idempotencyKey": key } }),
                Some(token),
            )
            .await?;
        if body["data"]["recordActivity"].is_null() {
            anyhow::bail!(
                "recording {kind} {product} for {} failed: {body}",
                user.email
            );
        }
    }
    Ok(())
}

/// The same event gets the same envelope id on every run.
fn stable_id(parts: &[&str]) -> uuid::Uuid {
    let digest = Sha256::digest(parts.join("\u{1f}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

fn shop_events(user_id: &str, order_number: usize) -> [Envelope; 2] {
    let order_id = format!("demo-order-{order_number}-{user_id}");
    let mut placed = Envelope::new(
        routing::ORDER_PLACED,
        json!({
            "order_id": order_id,
            "user_id": user_id,
            "items": [
                { "product_id": "p-0006", "quantity": 1, "unit_price": 49.90 },
                { "product_id": "p-0008", "quantity": 2, "unit_price": 12.50 }
            ],
            "total": 74.90,
            "currency": "EUR"
        }),
    );
    placed.id = stable_id(&[routing::ORDER_PLACED, &order_id]);
    let mut shipped = Envelope::new(
        routing::ORDER_SHIPPED,
        json!({
            "order_id": order_id,
            "user_id": user_id,
            "carrier": "DHL",
            "tracking_number": format!("DEMO{order_number:04}"),
        }),
    );
    shipped.id = stable_id(&[routing::ORDER_SHIPPED, &order_id]);
    [placed, shipped]
}

pub async fn run(
    router_url: &str,
    admin_token: &str,
    amqp_url: &str,
) -> anyhow::Result<Vec<Seeded>> {
    let router = Router {
        http: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?,
        endpoint: format!("{router_url}/graphql"),
    };
    let publisher = Publisher::new(amqp_url.to_owned(), "herald-launcher");
    let mut seeded = Vec::new();
    for user in &DEMO_USERS {
        let (user_id, token) = sign_in_patiently(&router, user).await?;
        record(&router, &token, user).await?;
        seeded.push(Seeded {
            email: user.email,
            password: user.password,
            user_id,
        });
    }
    // The worker builds its model at start-up (empty on a fresh data dir) and then only every
    // few minutes; a recompute now turns the activity above into recommendations at once.
    let body = router
        .graphql(
            "mutation { recomputeRecommendations }",
            json!({}),
            Some(admin_token),
        )
        .await?;
    if body["data"]["recomputeRecommendations"].is_null() {
        anyhow::bail!("asking for a recompute failed: {body}");
    }
    for (number, user) in seeded.iter().enumerate() {
        for event in shop_events(&user.user_id, number + 1) {
            publisher
                .publish(&event)
                .await
                .with_context(|| format!("publishing {} to RabbitMQ", event.kind))?;
        }
    }
    Ok(seeded)
}

/// The router may answer before it has fetched the users service's signing keys; a fresh
/// token is refused until then, so the first calls are retried for a little while.
async fn sign_in_patiently(router: &Router, user: &DemoUser) -> anyhow::Result<(String, String)> {
    let started = Instant::now();
    loop {
        let attempt = async {
            let (id, token) = sign_in(router, user).await?;
            let body = router
                .graphql("{ me { id } }", json!({}), Some(&token))
                .await?;
            if body["data"]["me"]["id"].as_str() == Some(id.as_str()) {
                Ok((id, token))
            } else {
                anyhow::bail!("the router does not accept the fresh token yet: {body}")
            }
        };
        match attempt.await {
            Ok(session) => return Ok(session),
            Err(e) if started.elapsed() > Duration::from_secs(30) => return Err(e),
            Err(_) => tokio::time::sleep(Duration::from_millis(500)).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_ids_are_stable_and_distinct() {
        let [a, b] = shop_events("u1", 1);
        let [a2, _] = shop_events("u1", 1);
        let [c, _] = shop_events("u2", 1);
        assert_eq!(a.id, a2.id);
        assert_ne!(a.id, b.id);
        assert_ne!(a.id, c.id);
        assert_eq!(a.id.get_version_num(), 4);
    }
}
