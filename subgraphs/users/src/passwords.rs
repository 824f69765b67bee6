//! Password hashing with Argon2id at OWASP's recommended parameters (m=19456 KiB, t=2, p=1).
//! Hashing is CPU-bound for tens of milliseconds, so it runs on the blocking pool.

use std::sync::LazyLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use herald_service::ApiError;

pub const MIN_LENGTH: usize = 8;
pub const MAX_LENGTH: usize = 128;

fn argon2() -> Argon2<'static> {
    // Constant, valid parameters: Params::new only fails on out-of-range values.
    #[allow(clippy::expect_used)]
    let params = Params::new(19_456, 2, 1, None).expect("OWASP Argon2id parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A hash of a random password, verified against when the email is unknown so that a login
/// for a missing account costs the same time as one for an existing account.
static DUMMY_HASH: LazyLock<String> = LazyLock::new(|| {
    let salt = SaltString::generate(&mut rand::rngs::OsRng);
    let secret = uuid::Uuid::new_v4().to_string();
    argon2()
        .hash_password(secret.as_bytes(), &salt)
        .map(|h| h.to_string())
        .unwrap_or_default()
});

pub fn validate(password: &str) -> Result<(), ApiError> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(ApiError::bad_input(
            "password",
            format!("the password must be at least {MIN_LENGTH} characters long"),
        ));
    }
    if length > MAX_LENGTH {
        return Err(ApiError::bad_input(
            "password",
            format!("the password must be at most {MAX_LENGTH} characters long"),
        ));
    }
    Ok(())
}

pub async fn hash(password: String) -> Result<String, ApiError> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut rand::rngs::OsRng);
        argon2()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)
}

/// Verifies `password` against `stored`, or against the dummy hash when there is no account.
pub async fn verify(password: String, stored: Option<String>) -> Result<bool, ApiError> {
    tokio::task::spawn_blocking(move || {
        let exists = stored.is_some();
        let encoded = stored.unwrap_or_else(|| DUMMY_HASH.clone());
        let parsed = PasswordHash::new(&encoded).map_err(|e| e.to_string())?;
        let matches = argon2()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok::<bool, String>(exists && matches)
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)
}

/// Warms the dummy hash so that the first unknown-email login is not the slow one.
pub fn warm_up() {
    LazyLock::force(&DUMMY_HASH);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_with_owasp_parameters() {
        let hashed = hash("correct horse battery".into()).await.expect("hash");
        assert!(
            hashed.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{hashed}"
        );
        assert!(
            verify("correct horse battery".into(), Some(hashed.clone()))
                .await
                .expect("ok")
        );
        assert!(!verify("wrong".into(), Some(hashed)).await.expect("ok"));
        assert!(!verify("anything".into(), None).await.expect("ok"));
    }

    #[test]
    fn length_limits() {
        assert!(validate("short").is_err());
        assert!(validate(&"x".repeat(129)).is_err());
        assert!(validate("long enough").is_ok());
    }
}
