//! The questionnaire registry: publishing immutable questionnaire versions and reading them back.

use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr, EntityTrait,
    QueryFilter, QueryOrder, TransactionTrait,
};
use serde::Serialize;
use time::OffsetDateTime;

use crate::{
    entities::questionnaire_version::{self, Entity as QuestionnaireVersions},
    error::ApiError,
};

/// Status of a version that accepts forms.
pub const STATUS_OPEN: &str = "open";
/// Status of a version closed to new forms.
pub const STATUS_CLOSED: &str = "closed";

/// A version as listed by the API (without its full definition).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct VersionSummary {
    /// Questionnaire code.
    pub code: String,
    /// Version number.
    pub version: i32,
    /// Title in Vietnamese.
    pub title_vi: String,
    /// Title in English.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title_en: Option<String>,
    /// `open` or `closed`.
    pub status: String,
    /// SHA-256 of the canonical definition (hex).
    pub content_hash: String,
    /// When it was published (RFC 3339).
    #[serde(with = "time::serde::rfc3339")]
    pub published_at: OffsetDateTime,
}

impl From<&questionnaire_version::Model> for VersionSummary {
    fn from(m: &questionnaire_version::Model) -> Self {
        VersionSummary {
            code: m.code.clone(),
            version: m.version,
            title_vi: m.title_vi.clone(),
            title_en: m.title_en.clone(),
            status: m.status.clone(),
            content_hash: m.content_hash.clone(),
            published_at: m.published_at,
        }
    }
}

/// What publishing did.
#[derive(Debug, Clone, PartialEq)]
pub enum PublishOutcome {
    /// A new version was stored.
    Created(VersionSummary),
    /// The identical version was already published; nothing changed.
    Unchanged(VersionSummary),
}

/// Why a version could not be published.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The definition is not a consistent questionnaire.
    #[error("invalid questionnaire: {0}")]
    Invalid(String),
    /// The same code and version is already published with other content.
    #[error("version {code} v{version} is already published with different content")]
    VersionConflict {
        /// Questionnaire code.
        code: String,
        /// Version number.
        version: u32,
        /// Hash of what is published.
        published_hash: String,
    },
    /// A higher version of this questionnaire exists already.
    #[error("version {version} of {code} is not above the latest published version {latest}")]
    NotIncreasing {
        /// Questionnaire code.
        code: String,
        /// Version number.
        version: u32,
        /// Latest published version.
        latest: i32,
    },
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl From<PublishError> for ApiError {
    fn from(e: PublishError) -> Self {
        use axum::http::StatusCode;
        match e {
            PublishError::Invalid(msg) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_questionnaire",
                format!("Bảng hỏi không hợp lệ: {msg}"),
                format!("Invalid questionnaire: {msg}"),
            ),
            PublishError::VersionConflict {
                code,
                version,
                published_hash,
            } => ApiError::new(
                StatusCode::CONFLICT,
                "questionnaire_version_conflict",
                format!(
                    "Phiên bản {version} của bảng hỏi {code} đã được công bố với nội dung khác (mã băm {published_hash}). Hãy công bố một phiên bản mới."
                ),
                format!(
                    "Version {version} of questionnaire {code} is already published with different content (hash {published_hash}). Publish a new version instead."
                ),
            ),
            PublishError::NotIncreasing {
                code,
                version,
                latest,
            } => ApiError::new(
                StatusCode::CONFLICT,
                "questionnaire_version_not_increasing",
                format!(
                    "Phiên bản {version} không lớn hơn phiên bản mới nhất ({latest}) của bảng hỏi {code}."
                ),
                format!(
                    "Version {version} is not above the latest published version ({latest}) of questionnaire {code}."
                ),
            ),
            PublishError::Db(e) => ApiError::internal(e),
        }
    }
}

/// Publishes `q`. Identical content under an existing version is a no-op; different content is a
/// conflict; a version below the latest is refused. Safe against concurrent publishers: the primary
/// key decides, and the loser re-reads.
pub async fn publish(
    db: &DatabaseConnection,
    q: &schema::Questionnaire,
    published_by: &str,
) -> Result<PublishOutcome, PublishError> {
    q.check()
        .map_err(|e| PublishError::Invalid(e.to_string()))?;
    let hash = q.content_hash();
    let version = i32::try_from(q.version)
        .map_err(|_| PublishError::Invalid("version is too large".into()))?;
    if let Some(existing) = find(db, &q.code, version).await? {
        return compare(existing, q, &hash);
    }
    let latest = QuestionnaireVersions::find()
        .filter(questionnaire_version::Column::Code.eq(&q.code))
        .order_by_desc(questionnaire_version::Column::Version)
        .one(db)
        .await?;
    if let Some(latest) = latest
        && latest.version > version
    {
        return Err(PublishError::NotIncreasing {
            code: q.code.clone(),
            version: q.version,
            latest: latest.version,
        });
    }
    let row = questionnaire_version::ActiveModel {
        code: Set(q.code.clone()),
        version: Set(version),
        title_vi: Set(q.title.vi.clone()),
        title_en: Set(q.title.en.clone()),
        status: Set(STATUS_OPEN.to_owned()),
        content_hash: Set(hash.clone()),
        definition: Set(q.canonical_json()),
        published_at: Set(OffsetDateTime::now_utc()),
        published_by: Set(Some(published_by.to_owned())),
    };
    let txn = db.begin().await?;
    match QuestionnaireVersions::insert(row).exec(&txn).await {
        Ok(_) => {
            txn.commit().await?;
            let stored = find(db, &q.code, version)
                .await?
                .ok_or_else(|| DbErr::RecordNotFound("just published".into()))?;
            crate::changes::record(
                db,
                sync_protocol::ChangeKind::QuestionnairePublished,
                None,
                None,
                serde_json::json!({
                    "code": stored.code,
                    "version": stored.version,
                    "content_hash": stored.content_hash,
                    "status": stored.status,
                }),
            )
            .await?;
            Ok(PublishOutcome::Created(VersionSummary::from(&stored)))
        }
        Err(insert_err) => {
            drop(txn);
            // A concurrent publisher won the race: answer as if we had come second.
            match find(db, &q.code, version).await? {
                Some(existing) => compare(existing, q, &hash),
                None => Err(insert_err.into()),
            }
        }
    }
}

fn compare(
    existing: questionnaire_version::Model,
    q: &schema::Questionnaire,
    hash: &str,
) -> Result<PublishOutcome, PublishError> {
    if existing.content_hash == hash {
        Ok(PublishOutcome::Unchanged(VersionSummary::from(&existing)))
    } else {
        Err(PublishError::VersionConflict {
            code: q.code.clone(),
            version: q.version,
            published_hash: existing.content_hash,
        })
    }
}

/// One stored version, if published.
pub async fn find(
    db: &impl ConnectionTrait,
    code: &str,
    version: i32,
) -> Result<Option<questionnaire_version::Model>, DbErr> {
    QuestionnaireVersions::find_by_id((code.to_owned(), version))
        .one(db)
        .await
}

/// Every stored version, ordered by code then version.
pub async fn list(db: &DatabaseConnection) -> Result<Vec<questionnaire_version::Model>, DbErr> {
    QuestionnaireVersions::find()
        .order_by_asc(questionnaire_version::Column::Code)
        .order_by_asc(questionnaire_version::Column::Version)
        .all(db)
        .await
}

/// Closes a version to new forms (forms already stored stay counted). Idempotent. Returns the
/// version, or `None` if it does not exist.
pub async fn close(
    db: &DatabaseConnection,
    code: &str,
    version: i32,
) -> Result<Option<VersionSummary>, DbErr> {
    let Some(row) = find(db, code, version).await? else {
        return Ok(None);
    };
    if row.status != STATUS_CLOSED {
        QuestionnaireVersions::update_many()
            .col_expr(
                questionnaire_version::Column::Status,
                sea_orm::sea_query::Expr::value(STATUS_CLOSED),
            )
            .filter(questionnaire_version::Column::Code.eq(code))
            .filter(questionnaire_version::Column::Version.eq(version))
            .exec(db)
            .await?;
        crate::changes::record(
            db,
            sync_protocol::ChangeKind::QuestionnaireClosed,
            None,
            None,
            serde_json::json!({
                "code": row.code,
                "version": row.version,
                "content_hash": row.content_hash,
                "status": STATUS_CLOSED,
            }),
        )
        .await?;
    }
    Ok(find(db, code, version)
        .await?
        .as_ref()
        .map(VersionSummary::from))
}
