//! Schema migrations, applied in order at start-up. Never edit one that has shipped; add one.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![Box::new(CreateUsersAndOutbox)]
    }
}

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Email,
    EmailNormalized,
    Name,
    PasswordHash,
    Roles,
    Preferences,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum OutboxEvents {
    Table,
    Id,
    RoutingKey,
    Payload,
    CreatedAt,
    PublishedAt,
    Attempts,
    LastError,
}

struct CreateUsersAndOutbox;

impl MigrationName for CreateUsersAndOutbox {
    fn name(&self) -> &str {
        "m0001_create_users_and_outbox"
    }
}

#[async_trait::async_trait]
impl MigrationTrait for CreateUsersAndOutbox {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Users::Table)
                    .if_not_exists()
                    .col(string_len(Users::Id, 36).primary_key())
                    .col(string_len(Users::Email, 254))
                    .col(string_len_uniq(Users::EmailNormalized, 254))
                    .col(string_len(Users::Name, 100))
                    .col(text(Users::PasswordHash))
                    .col(string_len(Users::Roles, 64))
                    .col(text(Users::Preferences))
                    .col(timestamp_with_time_zone(Users::CreatedAt))
                    .col(timestamp_with_time_zone(Users::UpdatedAt))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(OutboxEvents::Table)
                    .if_not_exists()
                    .col(string_len(OutboxEvents::Id, 36).primary_key())
                    .col(string_len(OutboxEvents::RoutingKey, 128))
                    .col(text(OutboxEvents::Payload))
                    .col(timestamp_with_time_zone(OutboxEvents::CreatedAt))
                    .col(timestamp_with_time_zone_null(OutboxEvents::PublishedAt))
                    .col(integer(OutboxEvents::Attempts).default(0))
                    .col(text_null(OutboxEvents::LastError))
                    .to_owned(),
            )
            .await?;
        // The relay's scan: unpublished events, oldest first.
        manager
            .create_index(
                Index::create()
                    .name("idx_outbox_events_pending")
                    .table(OutboxEvents::Table)
                    .col(OutboxEvents::PublishedAt)
                    .col(OutboxEvents::CreatedAt)
                    .if_not_exists()
                    .to_owned(),
            )
            .await
    }
}
