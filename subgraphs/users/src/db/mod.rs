//! The users database: sea-orm entities, and migrations applied at start-up.

pub mod entities;
pub mod migrations;

use sea_orm::DatabaseConnection;

/// Connects and brings the schema up to date.
pub async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    let db = herald_service::sql::connect(url).await?;
    herald_service::sql::migrate::<migrations::Migrator>(&db, "users").await?;
    Ok(db)
}
