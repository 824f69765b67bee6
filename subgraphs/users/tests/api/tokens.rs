use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use herald_service::TokenVerifier;
use herald_service::auth::KeySource;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{Store, TestApp, error_code, spawn_app};

const ME: &str = "{ me { id } }";

async fn kid(app: &TestApp) -> String {
    let jwks: Value = app
        .client
        .get(format!("{}/.well-known/jwks.json", app.address))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("jwks json");
    jwks["keys"][0]["kid"].as_str().expect("kid").to_owned()
}

fn claims(sub: &str) -> Value {
    let now = Utc::now().timestamp();
    json!({"sub": sub, "iss": "herald-users", "aud": "herald", "exp": now + 600, "iat": now,
           "jti": uuid::Uuid::new_v4().to_string(), "roles": ["user"]})
}

fn sign(pem: &str, kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    let key = EncodingKey::from_ed_pem(pem.as_bytes()).expect("ed key");
    jsonwebtoken::encode(&header, claims, &key).expect("sign")
}

async fn assert_rejected(app: &TestApp, token: &str, what: &str) {
    let body = app.graphql(ME, json!({}), Some(token)).await;
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{what}: {body}");
    assert!(body["data"].is_null(), "{what} must not execute: {body}");
}

#[tokio::test]
async fn forged_expired_and_misaddressed_tokens_are_rejected() {
    let app = spawn_app(Store::Sqlite).await;
    let (id, good) = app.shopper("eve").await;
    assert_eq!(
        app.graphql(ME, json!({}), Some(&good)).await["data"]["me"]["id"],
        id.as_str()
    );

    let kid = kid(&app).await;
    let pem = app.signing_key_pem();

    // Sanity: the helper's own signature is accepted, so the rejections below are meaningful.
    let control = sign(&pem, &kid, &claims(&id));
    assert_eq!(
        app.graphql(ME, json!({}), Some(&control)).await["data"]["me"]["id"],
        id.as_str()
    );

    let header =
        URL_SAFE_NO_PAD.encode(json!({"alg": "none", "typ": "JWT", "kid": kid}).to_string());
    let payload = URL_SAFE_NO_PAD.encode(claims(&id).to_string());
    assert_rejected(&app, &format!("{header}.{payload}."), "alg none").await;

    let other_key = herald_users::signing::generate_pem().expect("key");
    assert_rejected(
        &app,
        &sign(&other_key, &kid, &claims(&id)),
        "signed with another key",
    )
    .await;

    let mut expired = claims(&id);
    expired["exp"] = json!(Utc::now().timestamp() - 120);
    expired["iat"] = json!(Utc::now().timestamp() - 720);
    assert_rejected(&app, &sign(&pem, &kid, &expired), "expired").await;

    let mut other_aud = claims(&id);
    other_aud["aud"] = json!("another-platform");
    assert_rejected(&app, &sign(&pem, &kid, &other_aud), "another audience").await;

    let mut other_iss = claims(&id);
    other_iss["iss"] = json!("someone-else");
    assert_rejected(&app, &sign(&pem, &kid, &other_iss), "another issuer").await;

    let mut not_yet = claims(&id);
    not_yet["nbf"] = json!(Utc::now().timestamp() + 600);
    assert_rejected(&app, &sign(&pem, &kid, &not_yet), "not yet valid").await;

    // HS256 keyed with the public key: the classic algorithm-confusion forgery.
    let jwks: Value = app
        .client
        .get(format!("{}/.well-known/jwks.json", app.address))
        .send()
        .await
        .expect("jwks")
        .json()
        .await
        .expect("json");
    let public = URL_SAFE_NO_PAD
        .decode(jwks["keys"][0]["x"].as_str().expect("x"))
        .expect("b64");
    let mut hs_header = Header::new(Algorithm::HS256);
    hs_header.kid = Some(kid.clone());
    let confused =
        jsonwebtoken::encode(&hs_header, &claims(&id), &EncodingKey::from_secret(&public))
            .expect("hs");
    assert_rejected(&app, &confused, "HS256 with the public key").await;

    assert_rejected(&app, "not.a.jwt", "garbage").await;
    let raw = app
        .client
        .post(format!("{}/graphql", app.address))
        .header("authorization", format!("Basic {good}"))
        .json(&json!({"query": ME}))
        .send()
        .await
        .expect("request");
    let body: Value = raw.json().await.expect("json");
    assert_eq!(error_code(&body), "UNAUTHENTICATED", "{body}");
}

#[tokio::test]
async fn the_jwks_endpoint_serves_a_key_that_verifies_a_fresh_token() {
    let app = spawn_app(Store::Sqlite).await;
    let (id, token) = app.shopper("jwks").await;
    let verifier = TokenVerifier::new(KeySource::Url(format!(
        "{}/.well-known/jwks.json",
        app.address
    )));
    let claims = verifier
        .verify(&token)
        .await
        .expect("token verifies against the served JWKS");
    assert_eq!(claims.sub, id);
    assert_eq!(claims.iss, "herald-users");
    assert_eq!(claims.aud, "herald");
    assert!(claims.exp > Utc::now().timestamp());
    assert!(!claims.jti.is_empty());

    // A verifier for another deployment's keys refuses it.
    let other = spawn_app(Store::Sqlite).await;
    let stranger = TokenVerifier::new(KeySource::Url(format!(
        "{}/.well-known/jwks.json",
        other.address
    )));
    assert!(stranger.verify(&token).await.is_err());
}
