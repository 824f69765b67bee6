//! The platform's token issuer: the active Ed25519 signing key, the JWKS that publishes it (and
//! any retired keys still inside their tokens' lifetime), and minting access tokens.

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use ed25519_dalek::pkcs8::spki::der::pem::LineEnding;
use ed25519_dalek::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePrivateKey};
use ed25519_dalek::{SigningKey, VerifyingKey};
use herald_service::auth::{AUDIENCE, Claims, ISSUER, KeySet, Role};
use herald_service::config::Environment;
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, EllipticCurve, Jwk, JwkSet, KeyAlgorithm,
    OctetKeyPairParameters, OctetKeyPairType, PublicKeyUse, ThumbprintHash,
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};

use crate::settings::UsersSettings;

const DEV_KEY_FILE: &str = "users-signing-key.pem";

/// The keys this service signs with and publishes.
pub struct SigningKeys {
    kid: String,
    encoding: EncodingKey,
    jwks: JwkSet,
}

impl std::fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.debug_struct("SigningKeys")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKeys {
    /// Loads the configured key; in dev, generates one under `data_dir` on first start.
    pub fn load(settings: &UsersSettings, env: Environment) -> anyhow::Result<Self> {
        let pem = if let Some(pem) = &settings.signing_key {
            pem.clone()
        } else if let Some(path) = &settings.signing_key_file {
            std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?
        } else if env == Environment::Dev {
            dev_key(&settings.data_dir)?
        } else {
            anyhow::bail!("no signing key configured (users.signing_key_file)");
        };
        let signing = SigningKey::from_pkcs8_pem(pem.trim())
            .map_err(|_| anyhow::anyhow!("the signing key is not an Ed25519 PKCS#8 PEM key"))?;
        let mut previous = Vec::new();
        for entry in &settings.previous_public_keys {
            let text = if entry.trim_start().starts_with("-----BEGIN") {
                entry.clone()
            } else {
                std::fs::read_to_string(entry)
                    .map_err(|e| anyhow::anyhow!("cannot read previous public key {entry}: {e}"))?
            };
            let key = VerifyingKey::from_public_key_pem(text.trim()).map_err(|_| {
                anyhow::anyhow!("a previous public key is not an Ed25519 SPKI PEM key")
            })?;
            previous.push(key);
        }
        Self::from_keys(&signing, &previous)
    }

    pub fn from_keys(signing: &SigningKey, previous: &[VerifyingKey]) -> anyhow::Result<Self> {
        let active = public_jwk(&signing.verifying_key())?;
        let kid = active.common.key_id.clone().unwrap_or_default();
        let mut keys = vec![active];
        for key in previous {
            let jwk = public_jwk(key)?;
            if jwk.common.key_id.as_deref() != Some(kid.as_str()) {
                keys.push(jwk);
            }
        }
        let der = signing
            .to_pkcs8_der()
            .map_err(|e| anyhow::anyhow!("encoding key: {e}"))?;
        Ok(Self {
            kid,
            encoding: EncodingKey::from_ed_der(der.as_bytes()),
            jwks: JwkSet { keys },
        })
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The public JWKS served at `/.well-known/jwks.json`.
    pub fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// The same keys, for verifying this service's own tokens without an HTTP round trip.
    pub fn key_set(&self) -> KeySet {
        KeySet::from_jwks(&self.jwks)
    }

    /// Signs an access token for `subject` with `roles`, valid for `ttl_secs`.
    pub fn issue(&self, subject: &str, roles: &[Role], ttl_secs: i64) -> anyhow::Result<String> {
        let now = Utc::now().timestamp();
        let claims = Claims {
            sub: subject.to_owned(),
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            exp: now + ttl_secs,
            iat: now,
            nbf: Some(now),
            jti: uuid::Uuid::new_v4().to_string(),
            roles: roles.to_vec(),
        };
        let mut header = Header::new(Algorithm::EdDSA);
        header.kid = Some(self.kid.clone());
        header.typ = Some("JWT".into());
        Ok(jsonwebtoken::encode(&header, &claims, &self.encoding)?)
    }
}

/// A public key as a JWK, with its RFC 7638 thumbprint as `kid`.
fn public_jwk(key: &VerifyingKey) -> anyhow::Result<Jwk> {
    let mut jwk = Jwk {
        common: CommonParameters {
            public_key_use: Some(PublicKeyUse::Signature),
            key_algorithm: Some(KeyAlgorithm::EdDSA),
            ..Default::default()
        },
        algorithm: AlgorithmParameters::OctetKeyPair(OctetKeyPairParameters {
            key_type: OctetKeyPairType::OctetKeyPair,
            curve: EllipticCurve::Ed25519,
            x: URL_SAFE_NO_PAD.encode(key.as_bytes()),
        }),
    };
    jwk.common.key_id = Some(jwk.thumbprint(ThumbprintHash::SHA256)?);
    Ok(jwk)
}

/// Reads the dev key, generating and saving one (owner-only permissions) on first start.
fn dev_key(data_dir: &Path) -> anyhow::Result<String> {
    let path = data_dir.join(DEV_KEY_FILE);
    if let Ok(pem) = std::fs::read_to_string(&path) {
        return Ok(pem);
    }
    std::fs::create_dir_all(data_dir)?;
    let pem = generate_pem()?;
    write_private(&path, &pem)?;
    tracing::info!(path = %path.display(), "generated a dev signing key");
    Ok(pem)
}

/// A new Ed25519 private key as PKCS#8 PEM.
pub fn generate_pem() -> anyhow::Result<String> {
    let key = SigningKey::generate(&mut rand::rngs::OsRng);
    Ok(key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("encoding the new key: {e}"))?
        .to_string())
}

/// The SPKI PEM public key of a PKCS#8 PEM private key (for `previous_public_keys`).
pub fn public_pem(private_pem: &str) -> anyhow::Result<String> {
    use ed25519_dalek::pkcs8::EncodePublicKey;
    let key = SigningKey::from_pkcs8_pem(private_pem.trim())
        .map_err(|_| anyhow::anyhow!("not an Ed25519 PKCS#8 PEM key"))?;
    key.verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .map_err(|e| anyhow::anyhow!("encoding the public key: {e}"))
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use herald_service::TokenVerifier;

    use super::*;

    fn keys() -> (SigningKey, SigningKeys) {
        let signing = SigningKey::generate(&mut rand::rngs::OsRng);
        let keys = SigningKeys::from_keys(&signing, &[]).expect("keys");
        (signing, keys)
    }

    #[tokio::test]
    async fn issued_tokens_verify_against_the_published_jwks() {
        let (_, keys) = keys();
        let token = keys.issue("user-1", &[Role::User], 60).expect("token");
        let verifier = TokenVerifier::from_key_set(keys.key_set());
        let claims = verifier.verify(&token).await.expect("valid");
        assert_eq!(claims.sub, "user-1");
        assert_eq!(claims.iss, "herald-users");
        assert_eq!(claims.aud, "herald");
        assert_eq!(claims.roles, vec![Role::User]);
    }

    #[tokio::test]
    async fn rotation_publishes_both_keys_and_old_tokens_still_verify() {
        let (old_signing, old_keys) = keys();
        let old_token = old_keys.issue("user-1", &[Role::User], 60).expect("token");
        let new_signing = SigningKey::generate(&mut rand::rngs::OsRng);
        let rotated =
            SigningKeys::from_keys(&new_signing, &[old_signing.verifying_key()]).expect("rotated");
        assert_eq!(rotated.jwks().keys.len(), 2);
        assert_ne!(rotated.kid(), old_keys.kid());
        let verifier = TokenVerifier::from_key_set(rotated.key_set());
        assert!(verifier.verify(&old_token).await.is_ok());
        let new_token = rotated.issue("user-1", &[Role::User], 60).expect("token");
        assert!(verifier.verify(&new_token).await.is_ok());
    }

    #[test]
    fn generated_pem_round_trips() {
        let pem = generate_pem().expect("pem");
        let public = public_pem(&pem).expect("public");
        assert!(public.starts_with("-----BEGIN PUBLIC KEY-----"));
        let signing = SigningKey::from_pkcs8_pem(&pem).expect("parse");
        let verifying = VerifyingKey::from_public_key_pem(&public).expect("parse");
        assert_eq!(signing.verifying_key(), verifying);
    }
}
