//! Account operations, shared by the GraphQL API, the seed REST routes and the operator CLI:
//! validation, registration, login, profile and preference changes. Every change that other
//! services must hear about writes its event to the outbox in the same transaction.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use herald_service::auth::Role;
use herald_service::events::{Envelope, routing};
use herald_service::preferences::{Category, Channel, Preferences};
use herald_service::{ApiError, ErrorCode, sql};
use sea_orm::sea_query::LockType;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, QueryFilter, QuerySelect, Set, SqlErr,
};
use serde::Serialize;

use crate::db::entities::user;
use crate::outbox::{self, Relay};
use crate::passwords;
use crate::signing::SigningKeys;

pub const NAME_MAX: usize = 100;
pub const EMAIL_MAX: usize = 254;

/// A user as the rest of the service sees it (never with the password hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: String,
    pub name: String,
    pub email: String,
    pub roles: Vec<Role>,
    pub preferences: Preferences,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Account {
    fn from_model(model: &user::Model) -> Result<Self, ApiError> {
        let preferences = serde_json::from_str(&model.preferences).map_err(ApiError::internal)?;
        Ok(Self {
            id: model.id.clone(),
            name: model.name.clone(),
            email: model.email.clone(),
            roles: parse_roles(&model.roles),
            preferences,
            created_at: model.created_at,
            updated_at: model.updated_at,
        })
    }
}

fn parse_roles(text: &str) -> Vec<Role> {
    text.split(',')
        .filter_map(|r| Role::parse(r.trim()))
        .collect()
}

fn format_roles(roles: &[Role]) -> String {
    let mut roles = roles.to_vec();
    roles.sort();
    roles.dedup();
    roles
        .iter()
        .map(|r| r.as_str())
        .collect::<Vec<_>>()
        .join(",")
}

pub struct NewAccount {
    pub name: String,
    pub email: String,
    pub password: String,
    pub preferences: Preferences,
    pub roles: Vec<Role>,
}

/// How preferences change: replaced whole (the seed API's list) or switch by switch.
#[derive(Debug, Clone)]
pub enum PreferencesChange {
    Replace(Preferences),
    Set(Vec<(Category, Channel, bool)>),
}

impl PreferencesChange {
    /// Applies the change, refusing to turn off in-app account notices.
    pub fn apply(&self, current: Preferences) -> Result<Preferences, ApiError> {
        let mut next = match self {
            PreferencesChange::Replace(prefs) => *prefs,
            PreferencesChange::Set(switches) => {
                let mut prefs = current;
                for (category, channel, on) in switches {
                    prefs.category_mut(*category).set(*channel, *on);
                }
                prefs
            }
        };
        if !next.account.in_app {
            if matches!(self, PreferencesChange::Set(_)) {
                return Err(ApiError::bad_input(
                    "preferences.account.inApp",
                    "account notifications cannot be turned off in-app",
                ));
            }
            next.account.in_app = true;
        }
        Ok(next)
    }
}

#[derive(Default)]
pub struct AccountChanges {
    pub name: Option<String>,
    pub email: Option<String>,
    pub current_password: Option<String>,
    pub new_password: Option<String>,
    pub preferences: Option<PreferencesChange>,
}

pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: i64,
    pub account: Account,
}

#[derive(Serialize)]
struct RegisteredEvent<'a> {
    user_id: &'a str,
    email: &'a str,
    name: &'a str,
    preferences: &'a Preferences,
}

#[derive(Serialize)]
struct PreferencesUpdatedEvent<'a> {
    user_id: &'a str,
    preferences: &'a Preferences,
    /// Where EMAIL notifications go; carried so that replicas follow address changes too.
    email: &'a str,
}

pub struct Accounts {
    db: DatabaseConnection,
    keys: Arc<SigningKeys>,
    relay: Relay,
    token_ttl_secs: i64,
    login_limiter: DefaultKeyedRateLimiter<String>,
}

impl Accounts {
    pub fn new(
        db: DatabaseConnection,
        keys: Arc<SigningKeys>,
        relay: Relay,
        token_ttl_secs: i64,
        login_attempts_per_minute: u32,
    ) -> Self {
        let per_minute = NonZeroU32::new(login_attempts_per_minute).unwrap_or(NonZeroU32::MIN);
        Self {
            db,
            keys,
            relay,
            token_ttl_secs,
            login_limiter: RateLimiter::keyed(Quota::per_minute(per_minute)),
        }
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Drops rate-limiter state for keys that have been quiet for a full period.
    pub fn forget_idle_login_attempts(&self) {
        self.login_limiter.retain_recent();
        self.login_limiter.shrink_to_fit();
    }

    pub async fn register(&self, new: NewAccount) -> Result<Account, ApiError> {
        let name = validate_name(&new.name)?;
        let (email, email_normalized) = validate_email(&new.email)?;
        passwords::validate(&new.password)?;
        let password_hash = passwords::hash(new.password).await?;
        let mut preferences = new.preferences;
        preferences.account.in_app = true;
        let roles = if new.roles.is_empty() {
            vec![Role::User]
        } else {
            new.roles
        };
        let now = Utc::now();
        let model = user::Model {
            id: uuid::Uuid::new_v4().to_string(),
            email,
            email_normalized,
            name,
            password_hash,
            roles: format_roles(&roles),
            preferences: serde_json::to_string(&preferences).map_err(ApiError::internal)?,
            created_at: now,
            updated_at: now,
        };
        let account = Account::from_model(&model)?;
        let event = Envelope::new(
            routing::USER_REGISTERED,
            RegisteredEvent {
                user_id: &account.id,
                email: &account.email,
                name: &account.name,
                preferences: &account.preferences,
            },
        );
        let txn = sql::begin_write(&self.db)
            .await
            .map_err(ApiError::internal)?;
        let active: user::ActiveModel = model.into();
        active.insert(&txn).await.map_err(email_taken_or_internal)?;
        outbox::enqueue(&txn, &event)
            .await
            .map_err(ApiError::internal)?;
        txn.commit().await.map_err(email_taken_or_internal)?;
        self.relay.wake();
        tracing::info!(user_id = %account.id, "user registered");
        Ok(account)
    }

    /// Checks the credentials and issues an access token. Unknown emails and wrong passwords
    /// get the same error after the same amount of work.
    pub async fn login(
        &self,
        email: &str,
        password: &str,
        client: &str,
    ) -> Result<IssuedToken, ApiError> {
        let normalized = normalize_email(email);
        if self
            .login_limiter
            .check_key(&format!("{normalized}|{client}"))
            .is_err()
        {
            return Err(ApiError::rate_limited());
        }
        let found = user::Entity::find()
            .filter(user::Column::EmailNormalized.eq(normalized))
            .one(&self.db)
            .await
            .map_err(ApiError::internal)?;
        let stored = found.as_ref().map(|m| m.password_hash.clone());
        let valid = passwords::verify(password.to_owned(), stored).await?;
        let model = match found {
            Some(model) if valid => model,
            _ => {
                return Err(ApiError::new(
                    ErrorCode::Unauthenticated,
                    "invalid email or password",
                ));
            }
        };
        let account = Account::from_model(&model)?;
        let access_token = self
            .keys
            .issue(&account.id, &account.roles, self.token_ttl_secs)
            .map_err(ApiError::internal)?;
        Ok(IssuedToken {
            access_token,
            expires_in: self.token_ttl_secs,
            account,
        })
    }

    pub async fn get(&self, id: &str) -> Result<Option<Account>, ApiError> {
        let model = user::Entity::find_by_id(id.to_owned())
            .one(&self.db)
            .await
            .map_err(ApiError::internal)?;
        model.as_ref().map(Account::from_model).transpose()
    }

    pub async fn get_many(&self, ids: &[String]) -> Result<HashMap<String, Account>, ApiError> {
        let models = user::Entity::find()
            .filter(user::Column::Id.is_in(ids.iter().cloned()))
            .all(&self.db)
            .await
            .map_err(ApiError::internal)?;
        models
            .iter()
            .map(|m| Account::from_model(m).map(|a| (a.id.clone(), a)))
            .collect()
    }

    pub async fn find_by_email(&self, email: &str) -> Result<Option<Account>, ApiError> {
        let model = user::Entity::find()
            .filter(user::Column::EmailNormalized.eq(normalize_email(email)))
            .one(&self.db)
            .await
            .map_err(ApiError::internal)?;
        model.as_ref().map(Account::from_model).transpose()
    }

    pub async fn update(&self, id: &str, changes: AccountChanges) -> Result<Account, ApiError> {
        let name = changes.name.as_deref().map(validate_name).transpose()?;
        let email = changes.email.as_deref().map(validate_email).transpose()?;
        if let Some(password) = &changes.new_password {
            passwords::validate(password)?;
        }
        let txn = sql::begin_write(&self.db)
            .await
            .map_err(ApiError::internal)?;
        let mut find = user::Entity::find_by_id(id.to_owned());
        // Two concurrent updates must not both start from the same row and lose one change;
        // SQLite already serialises them through `begin_write`.
        if txn.get_database_backend() == DbBackend::Postgres {
            find = find.lock(LockType::Update);
        }
        let model = find
            .one(&txn)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::not_found("user"))?;
        let email_changes = email
            .as_ref()
            .is_some_and(|(_, normalized)| *normalized != model.email_normalized);
        // Taking over an account must need more than a stolen access token.
        if changes.new_password.is_some() || email_changes {
            let current = changes.current_password.clone().ok_or_else(|| {
                ApiError::bad_input(
                    "currentPassword",
                    "changing the email or password requires the current password",
                )
            })?;
            if !passwords::verify(current, Some(model.password_hash.clone())).await? {
                return Err(ApiError::bad_input(
                    "currentPassword",
                    "the current password is incorrect",
                ));
            }
        }
        let before = Account::from_model(&model)?;
        let preferences = match &changes.preferences {
            Some(change) => change.apply(before.preferences)?,
            None => before.preferences,
        };
        let mut active: user::ActiveModel = model.into();
        if let Some(name) = name {
            active.name = Set(name);
        }
        if let Some((email, normalized)) = email {
            active.email = Set(email);
            active.email_normalized = Set(normalized);
        }
        if let Some(password) = changes.new_password {
            active.password_hash = Set(passwords::hash(password).await?);
        }
        active.preferences = Set(serde_json::to_string(&preferences).map_err(ApiError::internal)?);
        active.updated_at = Set(Utc::now());
        let updated = active.update(&txn).await.map_err(email_taken_or_internal)?;
        let account = Account::from_model(&updated)?;
        let notify = account.preferences != before.preferences || account.email != before.email;
        if notify {
            let event = Envelope::new(
                routing::USER_PREFERENCES_UPDATED,
                PreferencesUpdatedEvent {
                    user_id: &account.id,
                    preferences: &account.preferences,
                    email: &account.email,
                },
            );
            outbox::enqueue(&txn, &event)
                .await
                .map_err(ApiError::internal)?;
        }
        txn.commit().await.map_err(email_taken_or_internal)?;
        if notify {
            self.relay.wake();
        }
        Ok(account)
    }

    /// Adds roles to an existing account (the operator CLI's way to make an admin).
    pub async fn grant_roles(&self, id: &str, roles: &[Role]) -> Result<Account, ApiError> {
        let model = user::Entity::find_by_id(id.to_owned())
            .one(&self.db)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::not_found("user"))?;
        let mut all = parse_roles(&model.roles);
        all.extend_from_slice(roles);
        let mut active: user::ActiveModel = model.into();
        active.roles = Set(format_roles(&all));
        active.updated_at = Set(Utc::now());
        let updated = active.update(&self.db).await.map_err(ApiError::internal)?;
        Account::from_model(&updated)
    }
}

fn email_taken_or_internal(err: DbErr) -> ApiError {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => ApiError::new(
            ErrorCode::Conflict,
            "an account with this email already exists",
        ),
        _ => ApiError::internal(err),
    }
}

pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Returns the email as given (trimmed) and its normalized form.
pub fn validate_email(email: &str) -> Result<(String, String), ApiError> {
    let email = email.trim();
    if email.is_empty() {
        return Err(ApiError::bad_input(
            "email",
            "the email address is required",
        ));
    }
    if email.len() > EMAIL_MAX || !email_address::EmailAddress::is_valid(email) {
        return Err(ApiError::bad_input(
            "email",
            "the email address is not valid",
        ));
    }
    // The parser accepts display forms and quoted locals that no shop sends mail to.
    if email.contains(['<', '>', ' ', '"'])
        || !email.rsplit('@').next().is_some_and(|d| d.contains('.'))
    {
        return Err(ApiError::bad_input(
            "email",
            "the email address is not valid",
        ));
    }
    Ok((email.to_owned(), normalize_email(email)))
}

pub fn validate_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(ApiError::bad_input("name", "the name is required"));
    }
    if name.chars().count() > NAME_MAX {
        return Err(ApiError::bad_input(
            "name",
            format!("the name must be at most {NAME_MAX} characters long"),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(ApiError::bad_input(
            "name",
            "the name must not contain control characters",
        ));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_validated_and_normalized() {
        let (email, normalized) = validate_email("  Ada.Lovelace@Example.COM ").expect("valid");
        assert_eq!(email, "Ada.Lovelace@Example.COM");
        assert_eq!(normalized, "ada.lovelace@example.com");
        for bad in [
            "",
            "no-at-sign",
            "a@b",
            "Ada <ada@example.com>",
            "a b@example.com",
        ] {
            assert!(validate_email(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn names_are_trimmed_and_bounded() {
        assert_eq!(validate_name("  Ada ").expect("valid"), "Ada");
        assert!(validate_name("   ").is_err());
        assert!(validate_name(&"x".repeat(101)).is_err());
        assert!(validate_name("bell\u{7}").is_err());
    }

    #[test]
    fn account_in_app_cannot_be_switched_off() {
        let change = PreferencesChange::Set(vec![(Category::Account, Channel::InApp, false)]);
        let err = change.apply(Preferences::default()).expect_err("refused");
        assert_eq!(err.code, ErrorCode::BadUserInput);
        let change = PreferencesChange::Set(vec![(Category::Promotions, Channel::Email, true)]);
        let prefs = change.apply(Preferences::default()).expect("applied");
        assert!(prefs.promotions.email);
    }

    #[test]
    fn roles_round_trip_sorted_and_unique() {
        let text = format_roles(&[Role::Admin, Role::User, Role::Admin]);
        assert_eq!(text, "user,admin");
        assert_eq!(parse_roles(&text), vec![Role::User, Role::Admin]);
    }
}
