//! Verifying Herald access tokens. The users service is the only issuer; every other service
//! trusts the public keys it publishes as a JWKS. Verification is strict: the algorithm is
//! pinned by the key (never taken on the token's word), symmetric and `none` algorithms are
//! refused outright, and `exp`, `nbf`, `iss` and `aud` are checked with a small leeway.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{FromRef, FromRequestParts};
use axum::http::HeaderMap;
use axum::http::request::Parts;
use jsonwebtoken::jwk::{AlgorithmParameters, JwkSet, KeyAlgorithm};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use tokio::sync::RwLock;

use crate::errors::ApiError;

pub const ISSUER: &str = "herald-users";
pub const AUDIENCE: &str = "herald";
/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 30;
/// The only signature algorithms Herald accepts.
pub const ALLOWED_ALGORITHMS: [Algorithm; 2] = [Algorithm::EdDSA, Algorithm::RS256];

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    PartialOrd,
    Ord,
    async_graphql::Enum,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A shopper.
    User,
    /// An operator of the shop.
    Admin,
    /// The shop's backend: sends notifications, upserts products.
    Service,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::User => "user",
            Role::Admin => "admin",
            Role::Service => "service",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "user" => Some(Role::User),
            "admin" => Some(Role::Admin),
            "service" => Some(Role::Service),
            _ => None,
        }
    }
}

/// The claims of a Herald access token (`shared/DESIGN.md`, Identity).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub exp: i64,
    pub iat: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub jti: String,
    pub roles: Vec<Role>,
}

/// Who is calling, once their token has been verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The user id (or, for a service token, the service's name).
    pub subject: String,
    pub roles: Vec<Role>,
    pub token_id: String,
}

impl Caller {
    pub fn has_role(&self, role: Role) -> bool {
        self.roles.contains(&role)
    }

    pub fn is_admin(&self) -> bool {
        self.has_role(Role::Admin)
    }

    /// A shopper may act on their own data; an admin on anyone's.
    pub fn can_access_user(&self, user_id: &str) -> bool {
        self.subject == user_id || self.is_admin()
    }

    /// Returns `FORBIDDEN` unless the caller may act on `user_id`'s data.
    pub fn ensure_can_access_user(&self, user_id: &str) -> Result<(), ApiError> {
        if self.can_access_user(user_id) {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }

    /// Returns `FORBIDDEN` unless the caller holds one of `roles`.
    pub fn ensure_any_role(&self, roles: &[Role]) -> Result<(), ApiError> {
        if roles.iter().any(|r| self.has_role(*r)) {
            Ok(())
        } else {
            Err(ApiError::forbidden())
        }
    }
}

impl From<Claims> for Caller {
    fn from(claims: Claims) -> Self {
        Caller {
            subject: claims.sub,
            roles: claims.roles,
            token_id: claims.jti,
        }
    }
}

/// Why a token was refused. Only logged; clients always get the same `UNAUTHENTICATED`.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("malformed token: {0}")]
    Malformed(String),
    #[error("algorithm {0:?} is not allowed")]
    AlgorithmNotAllowed(Algorithm),
    #[error("token has no kid")]
    MissingKid,
    #[error("no key with kid {0}")]
    UnknownKid(String),
    #[error("token algorithm {token:?} does not match key algorithm {key:?}")]
    AlgorithmMismatch { token: Algorithm, key: Algorithm },
    #[error("signature or claims rejected: {0}")]
    Rejected(String),
    #[error("could not load the verification keys: {0}")]
    KeysUnavailable(String),
}

impl From<TokenError> for ApiError {
    fn from(err: TokenError) -> Self {
        match err {
            TokenError::KeysUnavailable(cause) => {
                tracing::error!(%cause, "token verification keys unavailable");
                ApiError::unavailable()
            }
            other => {
                tracing::debug!(reason = %other, "token rejected");
                ApiError::new(
                    crate::errors::ErrorCode::Unauthenticated,
                    "invalid or expired access token",
                )
            }
        }
    }
}

/// Verification keys by `kid`, each pinned to one algorithm.
#[derive(Clone, Default)]
pub struct KeySet {
    keys: HashMap<String, (Algorithm, DecodingKey)>,
}

impl KeySet {
    /// Takes the asymmetric keys of a JWKS that Herald allows, and ignores the rest (keys
    /// without a `kid`, symmetric keys, other algorithms): they can never verify a token.
    pub fn from_jwks(jwks: &JwkSet) -> Self {
        let mut keys = HashMap::new();
        for jwk in &jwks.keys {
            let Some(kid) = jwk.common.key_id.clone() else {
                continue;
            };
            let alg = match (&jwk.algorithm, jwk.common.key_algorithm) {
                (AlgorithmParameters::OctetKeyPair(_), None | Some(KeyAlgorithm::EdDSA)) => {
                    Algorithm::EdDSA
                }
                (AlgorithmParameters::RSA(_), None | Some(KeyAlgorithm::RS256)) => Algorithm::RS256,
                _ => continue,
            };
            if let Ok(key) = DecodingKey::from_jwk(jwk) {
                keys.insert(kid, (alg, key));
            }
        }
        Self { keys }
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    fn verify(&self, token: &str, header: &jsonwebtoken::Header) -> Result<Claims, TokenError> {
        let kid = header.kid.as_deref().ok_or(TokenError::MissingKid)?;
        let (alg, key) = self
            .keys
            .get(kid)
            .ok_or_else(|| TokenError::UnknownKid(kid.into()))?;
        if header.alg != *alg {
            return Err(TokenError::AlgorithmMismatch {
                token: header.alg,
                key: *alg,
            });
        }
        let mut validation = Validation::new(*alg);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map(|data| data.claims)
            .map_err(|e| TokenError::Rejected(e.to_string()))
    }
}

/// Where the verification keys come from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    /// A JWKS served over HTTP (the users service's `/.well-known/jwks.json`), cached and
    /// refreshed when a token names a key the cache does not have (key rotation).
    Url(String),
    /// A JWKS file on disk, read once.
    File(PathBuf),
}

struct CachedKeys {
    keys: Arc<KeySet>,
    fetched_at: Instant,
}

impl KeySource {
    /// `jwks_url` as configured: an `http(s)://` URL, or a file (`file://` or a plain path).
    pub fn from_config(value: &str) -> Self {
        if value.starts_with("http://") || value.starts_with("https://") {
            KeySource::Url(value.to_owned())
        } else {
            KeySource::File(PathBuf::from(
                value.strip_prefix("file://").unwrap_or(value),
            ))
        }
    }
}

/// Verifies access tokens against a JWKS.
pub struct TokenVerifier {
    source: Option<KeySource>,
    client: reqwest::Client,
    cache: RwLock<Option<CachedKeys>>,
    /// How long fetched keys are used before they are fetched again.
    ttl: Duration,
    /// The shortest time between two fetches triggered by unknown `kid`s, so that a stream of
    /// forged tokens cannot turn into a stream of requests to the users service.
    refresh_floor: Duration,
}

impl TokenVerifier {
    pub fn new(source: KeySource) -> Self {
        Self {
            source: Some(source),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(5))
                .build()
                .unwrap_or_default(),
            cache: RwLock::new(None),
            ttl: Duration::from_secs(300),
            refresh_floor: Duration::from_secs(10),
        }
    }

    /// A verifier over a fixed key set (the users service verifies its own tokens this way).
    pub fn from_key_set(keys: KeySet) -> Self {
        Self {
            source: None,
            client: reqwest::Client::new(),
            cache: RwLock::new(Some(CachedKeys {
                keys: Arc::new(keys),
                fetched_at: Instant::now(),
            })),
            ttl: Duration::MAX,
            refresh_floor: Duration::MAX,
        }
    }

    /// Verifies `token` and returns its claims.
    pub async fn verify(&self, token: &str) -> Result<Claims, TokenError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| TokenError::Malformed(e.to_string()))?;
        if !ALLOWED_ALGORITHMS.contains(&header.alg) {
            return Err(TokenError::AlgorithmNotAllowed(header.alg));
        }
        let keys = self.keys(false).await?;
        match keys.verify(token, &header) {
            Err(TokenError::UnknownKid(_)) if self.source.is_some() => {
                let keys = self.keys(true).await?;
                keys.verify(token, &header)
            }
            other => other,
        }
    }

    /// Resolves the `Authorization` header: no header is an anonymous caller; a header that is
    /// not a valid bearer token is an error (a client that sends a bad token should know).
    pub async fn authenticate(&self, headers: &HeaderMap) -> Result<Option<Caller>, ApiError> {
        let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else {
            return Ok(None);
        };
        let value = value.to_str().map_err(|_| ApiError::unauthenticated())?;
        let token = value
            .strip_prefix("Bearer ")
            .or_else(|| value.strip_prefix("bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    crate::errors::ErrorCode::Unauthenticated,
                    "the Authorization header must be 'Bearer <token>'",
                )
            })?;
        let claims = self.verify(token).await?;
        Ok(Some(Caller::from(claims)))
    }

    async fn keys(&self, force_refresh: bool) -> Result<Arc<KeySet>, TokenError> {
        {
            let cache = self.cache.read().await;
            if let Some(cached) = cache.as_ref() {
                let age = cached.fetched_at.elapsed();
                let fresh = age < self.ttl && !force_refresh;
                let too_soon = force_refresh && age < self.refresh_floor;
                if fresh || too_soon || self.source.is_none() {
                    return Ok(cached.keys.clone());
                }
            }
        }
        let mut cache = self.cache.write().await;
        // Another task may have refreshed while this one waited for the lock.
        if let Some(cached) = cache.as_ref()
            && cached.fetched_at.elapsed() < self.refresh_floor
        {
            return Ok(cached.keys.clone());
        }
        match self.load().await {
            Ok(keys) => {
                let keys = Arc::new(keys);
                *cache = Some(CachedKeys {
                    keys: keys.clone(),
                    fetched_at: Instant::now(),
                });
                Ok(keys)
            }
            // Keep verifying with the keys we have when the issuer is briefly unreachable.
            Err(e) => match cache.as_ref() {
                Some(cached) => {
                    tracing::warn!(error = %e, "JWKS refresh failed; keeping the cached keys");
                    Ok(cached.keys.clone())
                }
                None => Err(e),
            },
        }
    }

    async fn load(&self) -> Result<KeySet, TokenError> {
        let jwks: JwkSet = match &self.source {
            Some(KeySource::Url(url)) => {
                let response = self
                    .client
                    .get(url)
                    .send()
                    .await
                    .and_then(|r| r.error_for_status())
                    .map_err(|e| TokenError::KeysUnavailable(e.to_string()))?;
                response
                    .json()
                    .await
                    .map_err(|e| TokenError::KeysUnavailable(e.to_string()))?
            }
            Some(KeySource::File(path)) => {
                let text = tokio::fs::read_to_string(path)
                    .await
                    .map_err(|e| TokenError::KeysUnavailable(format!("{}: {e}", path.display())))?;
                serde_json::from_str(&text)
                    .map_err(|e| TokenError::KeysUnavailable(format!("{}: {e}", path.display())))?
            }
            None => return Ok(KeySet::default()),
        };
        let keys = KeySet::from_jwks(&jwks);
        if keys.is_empty() {
            return Err(TokenError::KeysUnavailable(
                "the JWKS holds no usable key".into(),
            ));
        }
        Ok(keys)
    }
}

/// Axum extractor for REST routes that require a verified bearer token.
pub struct Authenticated(pub Caller);

impl<S> FromRequestParts<S> for Authenticated
where
    S: Send + Sync,
    Arc<TokenVerifier>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let verifier = Arc::<TokenVerifier>::from_ref(state);
        match verifier.authenticate(&parts.headers).await? {
            Some(caller) => Ok(Authenticated(caller)),
            None => Err(ApiError::unauthenticated()),
        }
    }
}
