//! Test support: a throwaway Ed25519 token issuer whose JWKS is written to a file (point a
//! service under test at it with `jwks_url = <path>`), and a fresh PostgreSQL database per test.

use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use ed25519_dalek::SigningKey;
use ed25519_dalek::pkcs8::EncodePrivateKey;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, ThumbprintHash,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use crate::auth::{AUDIENCE, Claims, ISSUER, Role};

pub struct TestIssuer {
    kid: String,
    key: EncodingKey,
    jwks_path: PathBuf,
}

impl TestIssuer {
    /// A new key, its JWKS written to `dir/jwks.json`.
    pub fn new(dir: &Path) -> Self {
        let signing = SigningKey::generate(&mut rand::rngs::OsRng);
        let mut jwk = Jwk {
            common: CommonParameters {
                key_algorithm: Some(KeyAlgorithm::EdDSA),
                ..Default::default()
            },
            algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
                key_type: OctetKeyPairType::OctetKeyPair,
                curve: EllipticCurve::Ed25519,
                x: URL_SAFE_NO_PAD.encode(signing.verifying_key().as_bytes()),
            }),
        };
        let kid = jwk.thumbprint(ThumbprintHash::SHA256).expect("thumbprint");
        jwk.common.key_id = Some(kid.clone());
        std::fs::create_dir_all(dir).expect("jwks dir");
        let jwks_path = dir.join("jwks.json");
        let jwks = JwkSet { keys: vec![jwk] };
        std::fs::write(&jwks_path, serde_json::to_vec(&jwks).expect("json")).expect("write jwks");
        let der = signing.to_pkcs8_der().expect("pkcs8");
        Self {
            kid,
            key: EncodingKey::from_ed_der(der.as_bytes()),
            jwks_path,
        }
    }

    pub fn jwks_path(&self) -> &Path {
        &self.jwks_path
    }

    pub fn token(&self, subject: &str, roles: &[Role]) -> String {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: subject.into(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            exp: now + 600,
            iat: now,
            nbf: None,
            jti: uuid::Uuid::new_v4().to_string(),
            roles: roles.to_vec(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, &claims, &self.key).expect("sign")
    }

    pub fn user_token(&self, user_id: &str) -> String {
        self.token(user_id, &[Role::User])
    }
}

/// The PostgreSQL server tests use: `HERALD_TEST_POSTGRES_URL`, or the local one.
pub fn postgres_base() -> String {
    std::env::var("HERALD_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// Creates an empty database for one test and returns its URL. `.ci/run` drops the
/// `herald_test_*` databases earlier runs left behind.
pub async fn fresh_postgres_database() -> String {
    use sea_orm::ConnectionTrait;
    let name = format!("herald_test_{}", uuid::Uuid::new_v4().simple());
    let admin = sea_orm::Database::connect(format!("{}/postgres", postgres_base()))
        .await
        .expect("PostgreSQL must be running for these tests");
    admin
        .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
        .await
        .expect("create the test database");
    admin.close().await.ok();
    format!("{}/{name}", postgres_base())
}
