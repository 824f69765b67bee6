//! SQL schema for the inbox. Never edit a shipped migration; add one.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(CreateNotifications),
            Box::new(CreateProfilesAndWebhooks),
        ]
    }
}

#[derive(DeriveIden)]
enum Notifications {
    Table,
    Id,
    RecipientId,
    Category,
    Title,
    Body,
    Data,
    IdempotencyKey,
    CreatedAt,
    ReadAt,
    ArchivedAt,
}

struct CreateNotifications;

impl MigrationName for CreateNotifications {
    fn name(&self) -> &str {
        "m0001_create_notifications"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateNotifications {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Notifications::Table)
                    .if_not_exists()
                    .col(string_len(Notifications::Id, 36).primary_key())
                    .col(string_len(Notifications::RecipientId, 128))
                    .col(string_len(Notifications::Category, 32))
                    .col(string_len(Notifications::Title, 200))
                    .col(text(Notifications::Body))
                    .col(text(Notifications::Data))
                    .col(string_len(Notifications::IdempotencyKey, 200))
                    .col(timestamp_with_time_zone(Notifications::CreatedAt))
                    .col(timestamp_with_time_zone_null(Notifications::ReadAt))
                    .col(timestamp_with_time_zone_null(Notifications::ArchivedAt))
                    .to_owned(),
            )
            .await?;
        // A repeated create can never make a second row.
        manager
            .create_index(
                Index::create()
                    .name("ux_notifications_recipient_idempotency")
                    .table(Notifications::Table)
                    .col(Notifications::RecipientId)
                    .col(Notifications::IdempotencyKey)
                    .unique()
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        // The listing: one recipient, newest first, with the id as tie-breaker.
        manager
            .create_index(
                Index::create()
                    .name("ix_notifications_inbox")
                    .table(Notifications::Table)
                    .col(Notifications::RecipientId)
                    .col((Notifications::CreatedAt, IndexOrder::Desc))
                    .col((Notifications::Id, IndexOrder::Desc))
                    .if_not_exists()
                    .to_owned(),
            )
            .await?;
        // Unread counts.
        manager
            .create_index(
                Index::create()
                    .name("ix_notifications_unread")
                    .table(Notifications::Table)
                    .col(Notifications::RecipientId)
                    .col(Notifications::ReadAt)
                    .col(Notifications::ArchivedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum RecipientProfiles {
    Table,
    UserId,
    Preferences,
    Email,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum WebhookEndpoints {
    Table,
    Id,
    Url,
    Categories,
    Secret,
    CreatedAt,
}

struct CreateProfilesAndWebhooks;

impl MigrationName for CreateProfilesAndWebhooks {
    fn name(&self) -> &str {
        "m0002_create_profiles_and_webhooks"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateProfilesAndWebhooks {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(RecipientProfiles::Table)
                    .if_not_exists()
                    .col(string_len(RecipientProfiles::UserId, 128).primary_key())
                    .col(text(RecipientProfiles::Preferences))
                    .col(string_len_null(RecipientProfiles::Email, 254))
                    .col(timestamp_with_time_zone(RecipientProfiles::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(WebhookEndpoints::Table)
                    .if_not_exists()
                    .col(string_len(WebhookEndpoints::Id, 36).primary_key())
                    .col(text(WebhookEndpoints::Url))
                    .col(text(WebhookEndpoints::Categories))
                    .col(text(WebhookEndpoints::Secret))
                    .col(timestamp_with_time_zone(WebhookEndpoints::CreatedAt))
                    .to_owned(),
            )
            .await
    }
}
