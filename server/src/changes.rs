//! The change log devices pull from. Writers serialise on the table (PostgreSQL) so sequence order
//! equals commit order and a pulling device never skips a change committed late.

use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DatabaseBackend, DatabaseTransaction, DbErr, EntityTrait,
    TransactionTrait,
};
use time::OffsetDateTime;

use crate::entities::sync_change;

/// Appends a change in its own transaction.
pub async fn record<C: TransactionTrait<Transaction = DatabaseTransaction>>(
    db: &C,
    kind: sync_protocol::ChangeKind,
    round: Option<&str>,
    user_id: Option<i64>,
    payload: serde_json::Value,
) -> Result<(), DbErr> {
    let txn = db.begin().await?;
    record_in(&txn, kind, round, user_id, payload).await?;
    txn.commit().await
}

/// Appends a change inside `txn`, so that it is pulled only if what it reports commits (a review,
/// an assignment). On PostgreSQL it locks the change log until `txn` ends: keep `txn` short.
pub async fn record_in(
    txn: &DatabaseTransaction,
    kind: sync_protocol::ChangeKind,
    round: Option<&str>,
    user_id: Option<i64>,
    payload: serde_json::Value,
) -> Result<(), DbErr> {
    let kind = serde_json::to_value(kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_else(|| "unknown".into());
    if txn.get_database_backend() == DatabaseBackend::Postgres {
        // Without this a change with a lower seq could commit after a device pulled a higher one.
        txn.execute_unprepared("LOCK TABLE sync_changes IN EXCLUSIVE MODE")
            .await?;
    }
    sync_change::Entity::insert(sync_change::ActiveModel {
        kind: Set(kind),
        round_code: Set(round.map(str::to_owned)),
        user_id: Set(user_id),
        payload: Set(payload.to_string()),
        at: Set(OffsetDateTime::now_utc()),
        ..Default::default()
    })
    .exec(txn)
    .await?;
    Ok(())
}
