//! The users subgraph's GraphQL API. It owns the federated `User` entity.

use std::collections::HashMap;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use async_graphql::{Context, EmptySubscription, ID, InputObject, Object, Schema, SimpleObject};
use chrono::{DateTime, Utc};
use herald_service::ApiError;
use herald_service::auth::Role;
use herald_service::graphql::caller;
use herald_service::metrics::GraphqlMetricsExtension;
use herald_service::preferences::{Category, Channel, ChannelSet, Preferences};

use crate::accounts::{Account, AccountChanges, Accounts, NewAccount, PreferencesChange};

pub type UsersSchema = Schema<Query, Mutation, EmptySubscription>;

/// The client address login rate limiting keys on, put in each request's data by the handler.
#[derive(Debug, Clone)]
pub struct ClientAddress(pub String);

pub fn build_schema(accounts: Arc<Accounts>) -> UsersSchema {
    Schema::build(Query, Mutation, EmptySubscription)
        .enable_federation()
        .extension(GraphqlMetricsExtension::new("users"))
        .data(DataLoader::new(
            UserLoader {
                accounts: accounts.clone(),
            },
            tokio::spawn,
        ))
        .data(accounts)
        .limit_depth(12)
        .limit_complexity(500)
        .finish()
}

/// A shopper (or operator) account.
pub struct User(Account);

#[Object]
impl User {
    async fn id(&self) -> ID {
        ID(self.0.id.clone())
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn email(&self) -> &str {
        &self.0.email
    }

    async fn roles(&self) -> &[Role] {
        &self.0.roles
    }

    /// Which notifications this user accepts, per category and channel.
    async fn preferences(&self) -> NotificationPreferences {
        NotificationPreferences(self.0.preferences)
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
}

/// Opt-ins for one category of notification.
#[derive(SimpleObject)]
pub struct ChannelPreferences {
    in_app: bool,
    email: bool,
    webhook: bool,
}

impl From<ChannelSet> for ChannelPreferences {
    fn from(set: ChannelSet) -> Self {
        Self {
            in_app: set.in_app,
            email: set.email,
            webhook: set.webhook,
        }
    }
}

/// The category × channel opt-in matrix. ACCOUNT notices are always delivered in-app.
pub struct NotificationPreferences(Preferences);

#[Object]
impl NotificationPreferences {
    async fn promotions(&self) -> ChannelPreferences {
        self.0.promotions.into()
    }

    async fn order_updates(&self) -> ChannelPreferences {
        self.0.order_updates.into()
    }

    async fn recommendations(&self) -> ChannelPreferences {
        self.0.recommendations.into()
    }

    async fn account(&self) -> ChannelPreferences {
        self.0.account.into()
    }

    /// Whether a notification of `category` may be delivered on `channel`.
    async fn allows(&self, category: Category, channel: Channel) -> bool {
        self.0.allows(category, channel)
    }
}

/// Switches for one category; omitted switches keep their value.
#[derive(InputObject, Default)]
pub struct ChannelPreferencesInput {
    in_app: Option<bool>,
    email: Option<bool>,
    webhook: Option<bool>,
}

/// Changes to the opt-in matrix; omitted categories keep their values.
#[derive(InputObject, Default)]
pub struct NotificationPreferencesInput {
    promotions: Option<ChannelPreferencesInput>,
    order_updates: Option<ChannelPreferencesInput>,
    recommendations: Option<ChannelPreferencesInput>,
    account: Option<ChannelPreferencesInput>,
}

impl NotificationPreferencesInput {
    fn into_change(self) -> PreferencesChange {
        let mut switches = Vec::new();
        let categories = [
            (Category::Promotions, self.promotions),
            (Category::OrderUpdates, self.order_updates),
            (Category::Recommendations, self.recommendations),
            (Category::Account, self.account),
        ];
        for (category, input) in categories {
            let Some(input) = input else { continue };
            let channels = [
                (Channel::InApp, input.in_app),
                (Channel::Email, input.email),
                (Channel::Webhook, input.webhook),
            ];
            for (channel, on) in channels {
                if let Some(on) = on {
                    switches.push((category, channel, on));
                }
            }
        }
        PreferencesChange::Set(switches)
    }
}

#[derive(InputObject)]
pub struct RegisterInput {
    name: String,
    email: String,
    #[graphql(secret)]
    password: String,
    /// Starts from the defaults; only the switches given here differ.
    preferences: Option<NotificationPreferencesInput>,
}

#[derive(InputObject, Default)]
pub struct UpdateMeInput {
    name: Option<String>,
    /// Needs `currentPassword`.
    email: Option<String>,
    #[graphql(secret)]
    current_password: Option<String>,
    /// Needs `currentPassword`.
    #[graphql(secret)]
    new_password: Option<String>,
    preferences: Option<NotificationPreferencesInput>,
}

#[derive(SimpleObject)]
pub struct AuthPayload {
    access_token: String,
    /// Always `Bearer`.
    token_type: String,
    /// Seconds until the access token expires.
    expires_in: i64,
    user: User,
}

pub struct Query;

#[Object(name = "Query")]
impl Query {
    /// The authenticated user.
    async fn me(&self, ctx: &Context<'_>) -> Result<User, ApiError> {
        let caller = caller(ctx)?;
        load_user(ctx, &caller.subject)
            .await?
            .ok_or_else(|| ApiError::not_found("user"))
    }

    /// A user by id: only that user themself, or an admin.
    async fn user(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>, ApiError> {
        let caller = caller(ctx)?;
        caller.ensure_can_access_user(&id)?;
        load_user(ctx, &id).await
    }

    #[graphql(entity)]
    async fn find_user_by_id(&self, ctx: &Context<'_>, id: ID) -> Result<Option<User>, ApiError> {
        let caller = caller(ctx)?;
        caller.ensure_can_access_user(&id)?;
        load_user(ctx, &id).await
    }
}

async fn load_user(ctx: &Context<'_>, id: &str) -> Result<Option<User>, ApiError> {
    let loader = ctx.data_unchecked::<DataLoader<UserLoader>>();
    Ok(loader.load_one(id.to_owned()).await?.map(User))
}

pub struct Mutation;

#[Object(name = "Mutation")]
impl Mutation {
    /// Creates a shopper account. Needs no token.
    async fn register(&self, ctx: &Context<'_>, input: RegisterInput) -> Result<User, ApiError> {
        let accounts = ctx.data_unchecked::<Arc<Accounts>>();
        let preferences = match input.preferences {
            Some(prefs) => prefs.into_change().apply(Preferences::default())?,
            None => Preferences::default(),
        };
        let account = accounts
            .register(NewAccount {
                name: input.name,
                email: input.email,
                password: input.password,
                preferences,
                roles: vec![Role::User],
            })
            .await?;
        Ok(User(account))
    }

    /// Exchanges credentials for an access token. Needs no token.
    async fn login(
        &self,
        ctx: &Context<'_>,
        email: String,
        #[graphql(secret)] password: String,
    ) -> Result<AuthPayload, ApiError> {
        let accounts = ctx.data_unchecked::<Arc<Accounts>>();
        let client = ctx
            .data_opt::<ClientAddress>()
            .map(|c| c.0.as_str())
            .unwrap_or("unknown");
        let issued = accounts.login(&email, &password, client).await?;
        Ok(AuthPayload {
            access_token: issued.access_token,
            token_type: "Bearer".into(),
            expires_in: issued.expires_in,
            user: User(issued.account),
        })
    }

    /// Changes the authenticated user's profile, password or preferences.
    async fn update_me(&self, ctx: &Context<'_>, input: UpdateMeInput) -> Result<User, ApiError> {
        let caller = caller(ctx)?;
        let accounts = ctx.data_unchecked::<Arc<Accounts>>();
        let account = accounts
            .update(
                &caller.subject,
                AccountChanges {
                    name: input.name,
                    email: input.email,
                    current_password: input.current_password,
                    new_password: input.new_password,
                    preferences: input
                        .preferences
                        .map(NotificationPreferencesInput::into_change),
                },
            )
            .await?;
        Ok(User(account))
    }
}

/// Batches the user look-ups of one `_entities` call into one query.
pub struct UserLoader {
    accounts: Arc<Accounts>,
}

impl Loader<String> for UserLoader {
    type Value = Account;
    type Error = ApiError;

    async fn load(&self, keys: &[String]) -> Result<HashMap<String, Account>, ApiError> {
        self.accounts.get_many(keys).await
    }
}
