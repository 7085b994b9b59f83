//! Users: validation of new and changed accounts, creation, changes that revoke sessions, the bulk
//! CSV import of the post office's staff list, and the first ministry account.

use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbErr,
    EntityTrait, PaginatorTrait, QueryFilter, TransactionTrait, sea_query::Expr,
};
use serde::Deserialize;
use serde_json::json;
use time::OffsetDateTime;

use crate::{
    audit::{self, Actor, event},
    auth::{
        Role,
        password::{self, Passwords},
    },
    entities::{refresh_token, user},
    error::{ApiError, FieldError},
    settings::Settings,
    text,
};

/// Default geography for scopes given without one: the geography in force.
pub const DEFAULT_GEOGRAPHY: &str = ::geography::VN_2025;

/// Why a user operation failed.
#[derive(Debug, thiserror::Error)]
pub enum UserError {
    /// Input was wrong; every problem is listed.
    #[error("invalid user: {0:?}")]
    Invalid(Vec<FieldError>),
    /// The username exists already.
    #[error("username taken")]
    UsernameTaken,
    /// No such user.
    #[error("user not found")]
    NotFound,
    /// Hashing failed.
    #[error(transparent)]
    Hash(#[from] password::HashError),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbErr),
}

impl From<UserError> for ApiError {
    fn from(e: UserError) -> Self {
        use axum::http::StatusCode;
        match e {
            UserError::Invalid(errors) => ApiError::validation(errors),
            UserError::UsernameTaken => ApiError::new(
                StatusCode::CONFLICT,
                "username_taken",
                "Tên đăng nhập đã tồn tại.",
                "This username is already taken.",
            ),
            UserError::NotFound => ApiError::not_found("người dùng", "User"),
            UserError::Hash(e) => ApiError::internal(e),
            UserError::Db(e) => ApiError::internal(e),
        }
    }
}

/// A user to create.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct NewUser {
    /// Login name (3–64 of a-z 0-9 . _ -; stored lowercase).
    pub username: String,
    /// Full name.
    pub full_name: String,
    /// Role name.
    pub role: String,
    /// Geography of the scope unit (default `vn-2025`).
    #[serde(default)]
    pub geography: Option<String>,
    /// Scope unit code (required for every role but the ministry).
    #[serde(default)]
    pub unit_code: Option<String>,
    /// Field team (required for supervisors and enumerators).
    #[serde(default)]
    pub team: Option<String>,
    /// Initial password (must pass the policy).
    pub password: String,
}

/// Normalises a username (trim, lowercase).
pub fn normalize_username(s: &str) -> String {
    s.trim().to_lowercase()
}

fn check_username(username: &str, errors: &mut Vec<FieldError>) {
    let ok = (3..=text::max::USERNAME).contains(&username.len())
        && username
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-'))
        && username.starts_with(|c: char| c.is_ascii_alphanumeric());
    if !ok {
        errors.push(FieldError::new(
            "username",
            "invalid_username",
            "Tên đăng nhập gồm 3–64 ký tự a-z, 0-9, '.', '_' hoặc '-', bắt đầu bằng chữ hoặc số.",
            "A username has 3–64 characters a-z, 0-9, '.', '_' or '-', starting with a letter or digit.",
        ));
    }
}

/// A full name: given, at most [`text::max::FULL_NAME`] characters, no control characters.
fn check_full_name(name: &str, errors: &mut Vec<FieldError>) {
    if name.trim().is_empty() {
        errors.push(FieldError::new(
            "full_name",
            "required",
            "Cần họ và tên.",
            "The full name is required.",
        ));
    } else {
        text::check_field("full_name", name.trim(), text::max::FULL_NAME, errors);
    }
}

/// The validated role and scope of an account.
#[derive(Debug, Clone, PartialEq)]
pub struct RoleScope {
    /// Role.
    pub role: Role,
    /// Geography (none for the ministry).
    pub geography: Option<String>,
    /// Unit (none for the ministry).
    pub unit_code: Option<String>,
    /// Team.
    pub team: Option<String>,
}

/// Checks that a role and its scope fit together: the ministry has no scope; a province reviewer
/// is scoped to a province; supervisors and enumerators to a unit (province or below) and a team.
pub fn check_role_scope(
    role: &str,
    geography: Option<&str>,
    unit_code: Option<&str>,
    team: Option<&str>,
    errors: &mut Vec<FieldError>,
) -> Option<RoleScope> {
    let Some(role) = Role::parse(role) else {
        errors.push(FieldError::new(
            "role",
            "invalid_role",
            "Vai trò phải là ministry, province_reviewer, supervisor hoặc enumerator.",
            "The role must be ministry, province_reviewer, supervisor or enumerator.",
        ));
        return None;
    };
    let team = team
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_owned);
    if let Some(t) = &team {
        text::check_field("team", t, text::max::TEAM, errors);
    }
    if role == Role::Ministry {
        return Some(RoleScope {
            role,
            geography: None,
            unit_code: None,
            team,
        });
    }
    let geo_code = geography
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .unwrap_or(DEFAULT_GEOGRAPHY);
    let Some(geo) = ::geography::by_code(geo_code) else {
        errors.push(FieldError::new(
            "geography",
            "unknown_geography",
            format!("Không có bộ danh mục địa giới '{geo_code}'."),
            format!("Unknown geography '{geo_code}'."),
        ));
        return None;
    };
    let Some(code) = unit_code.map(str::trim).filter(|c| !c.is_empty()) else {
        errors.push(FieldError::new(
            "unit_code",
            "required",
            "Cần mã đơn vị hành chính phụ trách.",
            "A unit code is required for this role.",
        ));
        return None;
    };
    let Some(unit) = geo.unit(code) else {
        errors.push(FieldError::new(
            "unit_code",
            "unknown_unit",
            format!("Mã đơn vị '{code}' không có trong {geo_code}."),
            format!("Unit code '{code}' does not exist in {geo_code}."),
        ));
        return None;
    };
    if role == Role::ProvinceReviewer && unit.level != ::geography::Level::Province {
        errors.push(FieldError::new(
            "unit_code",
            "province_required",
            "Người xem cấp tỉnh phải được gán một tỉnh.",
            "A province reviewer must be scoped to a province.",
        ));
    }
    if matches!(role, Role::Supervisor | Role::Enumerator) && team.is_none() {
        errors.push(FieldError::new(
            "team",
            "required",
            "Giám sát viên và điều tra viên phải thuộc một nhóm.",
            "Supervisors and enumerators must belong to a team.",
        ));
    }
    Some(RoleScope {
        role,
        geography: Some(geo_code.to_owned()),
        unit_code: Some(code.to_owned()),
        team,
    })
}

/// Validates a new user without touching the database.
pub fn validate_new(new: &NewUser) -> Result<(String, RoleScope), Vec<FieldError>> {
    let mut errors = Vec::new();
    let username = normalize_username(&new.username);
    check_username(&username, &mut errors);
    check_full_name(&new.full_name, &mut errors);
    let rs = check_role_scope(
        &new.role,
        new.geography.as_deref(),
        new.unit_code.as_deref(),
        new.team.as_deref(),
        &mut errors,
    );
    if let Err(mut e) = password::check_policy(&new.password, &username) {
        errors.append(&mut e);
    }
    match rs {
        Some(rs) if errors.is_empty() => Ok((username, rs)),
        _ => Err(errors),
    }
}

fn active_model(
    username: String,
    full_name: &str,
    rs: RoleScope,
    hash: String,
) -> user::ActiveModel {
    let now = OffsetDateTime::now_utc();
    user::ActiveModel {
        username: Set(username),
        full_name: Set(full_name.trim().to_owned()),
        role: Set(rs.role.as_str().to_owned()),
        geography_code: Set(rs.geography),
        unit_code: Set(rs.unit_code),
        team: Set(rs.team),
        password_hash: Set(hash),
        token_generation: Set(0),
        active: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
}

async fn username_exists(db: &impl ConnectionTrait, username: &str) -> Result<bool, DbErr> {
    Ok(user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .count(db)
        .await?
        > 0)
}

/// Creates one user and records it in the audit log.
pub async fn create(
    db: &DatabaseConnection,
    passwords: &Passwords,
    new: NewUser,
    actor: &Actor,
) -> Result<user::Model, UserError> {
    let (username, rs) = validate_new(&new).map_err(UserError::Invalid)?;
    if username_exists(db, &username).await? {
        return Err(UserError::UsernameTaken);
    }
    let hash = passwords.hash(new.password.clone()).await?;
    let txn = db.begin().await?;
    let model = match active_model(username, &new.full_name, rs, hash)
        .insert(&txn)
        .await
    {
        Ok(m) => m,
        Err(e) => {
            drop(txn);
            // A concurrent creation of the same username loses on the unique index.
            return Err(
                if username_exists(db, &normalize_username(&new.username)).await? {
                    UserError::UsernameTaken
                } else {
                    e.into()
                },
            );
        }
    };
    audit::record(
        &txn,
        event::USER_CREATED,
        actor,
        Some(format!("user:{}", model.id)),
        json!({ "username": model.username, "role": model.role, "geography": model.geography_code, "unit_code": model.unit_code, "team": model.team }),
    )
    .await?;
    txn.commit().await?;
    Ok(model)
}

/// Changes to a user; absent fields stay as they are.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
pub struct UserChanges {
    /// New full name.
    pub full_name: Option<String>,
    /// New role (with `unit_code`/`geography`/`team` as the role needs).
    pub role: Option<String>,
    /// New scope geography.
    pub geography: Option<String>,
    /// New scope unit.
    pub unit_code: Option<String>,
    /// New team.
    pub team: Option<String>,
    /// Activate or deactivate. Deactivation revokes every session at once.
    pub active: Option<bool>,
    /// New password. Revokes every session at once.
    pub password: Option<String>,
}

/// Applies changes. Deactivation, a password change or a role/scope change bumps the token
/// generation (so access tokens issued before are refused) and revokes all refresh tokens.
pub async fn update(
    db: &DatabaseConnection,
    passwords: &Passwords,
    id: i64,
    changes: UserChanges,
    actor: &Actor,
) -> Result<user::Model, UserError> {
    let current = user::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or(UserError::NotFound)?;
    let mut errors = Vec::new();
    let scope_changed = changes.role.is_some()
        || changes.geography.is_some()
        || changes.unit_code.is_some()
        || changes.team.is_some();
    let rs = if scope_changed {
        check_role_scope(
            changes.role.as_deref().unwrap_or(&current.role),
            changes
                .geography
                .as_deref()
                .or(current.geography_code.as_deref()),
            changes
                .unit_code
                .as_deref()
                .or(current.unit_code.as_deref()),
            changes.team.as_deref().or(current.team.as_deref()),
            &mut errors,
        )
    } else {
        None
    };
    if let Some(name) = &changes.full_name {
        check_full_name(name, &mut errors);
    }
    if let Some(pw) = &changes.password
        && let Err(mut e) = password::check_policy(pw, &current.username)
    {
        errors.append(&mut e);
    }
    if !errors.is_empty() {
        return Err(UserError::Invalid(errors));
    }
    let new_hash = match &changes.password {
        Some(pw) => Some(passwords.hash(pw.clone()).await?),
        None => None,
    };
    let deactivating = changes.active == Some(false) && current.active;
    let revoke = deactivating || new_hash.is_some() || rs.is_some();
    let mut m: user::ActiveModel = current.clone().into();
    if let Some(name) = &changes.full_name {
        m.full_name = Set(name.trim().to_owned());
    }
    if let Some(rs) = rs {
        m.role = Set(rs.role.as_str().to_owned());
        m.geography_code = Set(rs.geography);
        m.unit_code = Set(rs.unit_code);
        m.team = Set(rs.team);
    }
    if let Some(active) = changes.active {
        m.active = Set(active);
    }
    if let Some(h) = new_hash {
        m.password_hash = Set(h);
    }
    if revoke {
        m.token_generation = Set(current.token_generation + 1);
    }
    m.updated_at = Set(OffsetDateTime::now_utc());
    let txn = db.begin().await?;
    let updated = m.update(&txn).await?;
    if revoke {
        revoke_all_refresh_tokens(&txn, id).await?;
    }
    let target = Some(format!("user:{id}"));
    let ev = if deactivating {
        event::USER_DEACTIVATED
    } else if changes.password.is_some() && !scope_changed && changes.full_name.is_none() {
        event::PASSWORD_CHANGED
    } else {
        event::USER_CHANGED
    };
    audit::record(
        &txn,
        ev,
        actor,
        target,
        json!({
            "username": updated.username,
            "fields": changed_fields(&changes),
            "sessions_revoked": revoke,
        }),
    )
    .await?;
    txn.commit().await?;
    Ok(updated)
}

fn changed_fields(c: &UserChanges) -> Vec<&'static str> {
    let mut f = Vec::new();
    let pairs: [(&'static str, bool); 7] = [
        ("full_name", c.full_name.is_some()),
        ("role", c.role.is_some()),
        ("geography", c.geography.is_some()),
        ("unit_code", c.unit_code.is_some()),
        ("team", c.team.is_some()),
        ("active", c.active.is_some()),
        ("password", c.password.is_some()),
    ];
    for (name, set) in pairs {
        if set {
            f.push(name);
        }
    }
    f
}

/// Revokes every live refresh token of a user.
pub async fn revoke_all_refresh_tokens(
    db: &impl ConnectionTrait,
    user_id: i64,
) -> Result<(), DbErr> {
    refresh_token::Entity::update_many()
        .col_expr(
            refresh_token::Column::RevokedAt,
            Expr::value(OffsetDateTime::now_utc()),
        )
        .filter(refresh_token::Column::UserId.eq(user_id))
        .filter(refresh_token::Column::RevokedAt.is_null())
        .exec(db)
        .await?;
    Ok(())
}

/// The user with this login name (normalised as at login).
pub async fn find_by_username(
    db: &DatabaseConnection,
    username: &str,
) -> Result<Option<user::Model>, sea_orm::DbErr> {
    let username = normalize_username(username);
    if username.chars().count() > crate::text::max::USERNAME || crate::text::has_control(&username)
    {
        return Ok(None);
    }
    user::Entity::find()
        .filter(user::Column::Username.eq(username))
        .one(db)
        .await
}

/// What start-up must say about `SIPAS_ADMIN_USERNAME` / `SIPAS_ADMIN_PASSWORD` on a database
/// that already has users, where they change nothing: they only create the first account.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminNotice {
    /// Nothing to say: no password was given, or it is the account's.
    Quiet,
    /// The settings name an account that does not exist.
    NoSuchAccount,
    /// The password given is not the account's: it is ignored.
    PasswordIgnored,
}

impl AdminNotice {
    /// Decides from whether a password was given and, for an existing account of that name,
    /// whether the password given is its password (`None`: no such account).
    pub fn decide(password_given: bool, account_password_matches: Option<bool>) -> AdminNotice {
        match (password_given, account_password_matches) {
            (false, _) | (true, Some(true)) => AdminNotice::Quiet,
            (true, None) => AdminNotice::NoSuchAccount,
            (true, Some(false)) => AdminNotice::PasswordIgnored,
        }
    }
}

/// Creates the first ministry account when there is no user at all: from `admin_username` and
/// `admin_password`, or with a generated password printed once to the log. On a database with
/// users it changes nothing, and warns when the settings suggest the operator expects otherwise.
pub async fn bootstrap_admin(
    db: &DatabaseConnection,
    passwords: &Passwords,
    settings: &Settings,
) -> Result<(), UserError> {
    if user::Entity::find().count(db).await? > 0 {
        let account = find_by_username(db, &settings.admin_username).await?;
        let matches = match (&settings.admin_password, &account) {
            (Some(p), Some(u)) => Some(
                passwords
                    .verify(p.expose().clone(), Some(u.password_hash.clone()))
                    .await,
            ),
            _ => None,
        };
        let username = &settings.admin_username;
        match AdminNotice::decide(settings.admin_password.is_some(), matches) {
            AdminNotice::Quiet => {}
            AdminNotice::NoSuchAccount => tracing::warn!(
                %username,
                "SIPAS_ADMIN_USERNAME / SIPAS_ADMIN_PASSWORD are IGNORED: they only create the first account of an empty database, and this one has users but no '{username}'. Create it with `sipas user create --role ministry`, or set a password with `sipas user set-password`"
            ),
            AdminNotice::PasswordIgnored => tracing::warn!(
                %username,
                "SIPAS_ADMIN_PASSWORD is IGNORED: it is not the password of the existing account '{username}' and only sets the password on the first start. To change it: `sipas user set-password --username {username}`"
            ),
        }
        return Ok(());
    }
    let (password, generated) = match &settings.admin_password {
        Some(p) => (p.expose().clone(), false),
        None => (password::generate_password(), true),
    };
    let new = NewUser {
        username: settings.admin_username.clone(),
        full_name: "Quản trị Bộ Nội vụ (Ministry administrator)".into(),
        role: Role::Ministry.as_str().into(),
        geography: None,
        unit_code: None,
        team: None,
        password: password.clone(),
    };
    let created = create(db, passwords, new, &Actor::system("bootstrap")).await?;
    if generated {
        tracing::warn!(
            username = %created.username,
            password = %password,
            "created the first ministry account with a GENERATED password, shown only this once: log in and change it, or set SIPAS_ADMIN_PASSWORD before the first start"
        );
    } else {
        tracing::info!(username = %created.username, "created the first ministry account from SIPAS_ADMIN_USERNAME / SIPAS_ADMIN_PASSWORD");
    }
    Ok(())
}

/// One bad line of an import.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct LineError {
    /// Line number in the file (the header is line 1).
    pub line: u64,
    /// What is wrong.
    pub errors: Vec<FieldError>,
}

/// Result of a successful import: each created user with its generated initial password.
#[derive(Debug, Clone)]
pub struct Imported {
    /// `(username, full name, initial password)` per created user.
    pub users: Vec<(String, String, String)>,
}

/// Why an import created nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The file is not a CSV with the expected header.
    #[error("{0}")]
    Format(String),
    /// Some lines are wrong; nothing was imported.
    #[error("{} bad line(s); nothing imported", .0.len())]
    BadLines(Vec<LineError>),
    /// A user operation failed.
    #[error(transparent)]
    User(#[from] UserError),
    /// The database failed.
    #[error(transparent)]
    Db(#[from] DbErr),
}

/// The columns the post office's staff list must have (any order; extra columns are ignored).
pub const IMPORT_COLUMNS: [&str; 5] = ["username", "full_name", "role", "unit_code", "team"];

/// Imports enumerators and supervisors from CSV, all or nothing: every bad line is reported by line
/// number and nothing is imported if any line is bad. Units are codes of `geography`. Each new user
/// gets a generated password, returned for distribution. The hashing waits for its turn among
/// the logins (see [`Passwords`]) rather than failing in a login storm.
pub async fn import_csv(
    db: &DatabaseConnection,
    passwords: &Passwords,
    geography: &str,
    csv_text: &str,
    actor: &Actor,
) -> Result<Imported, ImportError> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .flexible(true)
        .from_reader(csv_text.trim_start_matches('\u{feff}').as_bytes());
    let headers = reader
        .headers()
        .map_err(|e| ImportError::Format(format!("cannot read the header line: {e}")))?
        .clone();
    let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
    let missing: Vec<&str> = IMPORT_COLUMNS
        .iter()
        .copied()
        .filter(|c| col(c).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(ImportError::Format(format!(
            "thiếu cột / missing column(s): {} (expected: {})",
            missing.join(", "),
            IMPORT_COLUMNS.join(",")
        )));
    }
    let idx: Vec<usize> = IMPORT_COLUMNS.iter().filter_map(|c| col(c)).collect();
    let mut bad = Vec::new();
    let mut good: Vec<(String, String, RoleScope)> = Vec::new();
    let mut seen = std::collections::HashMap::new();
    for (i, rec) in reader.records().enumerate() {
        let line = rec
            .as_ref()
            .ok()
            .and_then(|r| r.position().map(|p| p.line()))
            .unwrap_or(i as u64 + 2);
        let rec = match rec {
            Ok(r) => r,
            Err(e) => {
                bad.push(LineError {
                    line,
                    errors: vec![FieldError::new(
                        "line",
                        "unreadable",
                        "Dòng không đọc được.",
                        e.to_string(),
                    )],
                });
                continue;
            }
        };
        if rec.iter().all(str::is_empty) {
            continue;
        }
        let get = |k: usize| rec.get(idx[k]).unwrap_or("").to_owned();
        let (username, full_name, role, unit, team) =
            (normalize_username(&get(0)), get(1), get(2), get(3), get(4));
        let mut errors = Vec::new();
        check_username(&username, &mut errors);
        if full_name.is_empty() {
            errors.push(FieldError::new(
                "full_name",
                "required",
                "Cần họ và tên.",
                "The full name is required.",
            ));
        }
        if !matches!(role.as_str(), "enumerator" | "supervisor") {
            errors.push(FieldError::new(
                "role",
                "invalid_role",
                "Chỉ nhập được điều tra viên (enumerator) và giám sát viên (supervisor).",
                "Only enumerators and supervisors can be imported.",
            ));
        }
        let rs = check_role_scope(
            &role,
            Some(geography),
            Some(&unit),
            Some(&team),
            &mut errors,
        );
        if let Some(first) = seen.insert(username.clone(), line) {
            errors.push(FieldError::new(
                "username",
                "duplicate_username",
                format!("Tên đăng nhập trùng với dòng {first}."),
                format!("Same username as line {first}."),
            ));
        } else if !username.is_empty() && username_exists(db, &username).await? {
            errors.push(FieldError::new(
                "username",
                "username_taken",
                "Tên đăng nhập đã tồn tại.",
                "This username is already taken.",
            ));
        }
        match rs {
            Some(rs) if errors.is_empty() => good.push((username, full_name, rs)),
            _ => bad.push(LineError { line, errors }),
        }
    }
    if !bad.is_empty() {
        return Err(ImportError::BadLines(bad));
    }
    // As many lines at once as there are hashers, each waiting for its turn among the logins
    // rather than being turned away: in a login storm the import takes longer but does not fail,
    // and it never takes more than `hashers` places of the queue from the logins.
    let mut hashed = Vec::with_capacity(good.len());
    for chunk in good.chunks(passwords.bound().hashers) {
        let mut pending = Vec::with_capacity(chunk.len());
        for _ in chunk {
            let pw = password::generate_password();
            let p = passwords.clone();
            let pw2 = pw.clone();
            pending.push((pw, tokio::spawn(async move { p.hash(pw2).await })));
        }
        for (pw, h) in pending {
            let hash = h
                .await
                .map_err(password::HashError::from_join)
                .and_then(|r| r)
                .map_err(UserError::Hash)?;
            hashed.push((pw, hash));
        }
    }
    let txn = db.begin().await?;
    let mut out = Vec::with_capacity(good.len());
    for ((username, full_name, rs), (pw, hash)) in good.into_iter().zip(hashed) {
        active_model(username.clone(), &full_name, rs, hash)
            .insert(&txn)
            .await?;
        out.push((username, full_name, pw));
    }
    audit::record(
        &txn,
        event::USERS_IMPORTED,
        actor,
        None,
        json!({ "count": out.len(), "geography": geography, "usernames": out.iter().map(|u| &u.0).collect::<Vec<_>>() }),
    )
    .await?;
    txn.commit().await?;
    Ok(Imported { users: out })
}

#[cfg(test)]
mod admin_notice_tests {
    use super::AdminNotice;

    #[test]
    fn the_admin_settings_are_questioned_only_when_they_would_be_ignored() {
        assert_eq!(AdminNotice::decide(false, None), AdminNotice::Quiet);
        assert_eq!(AdminNotice::decide(false, Some(false)), AdminNotice::Quiet);
        assert_eq!(AdminNotice::decide(true, Some(true)), AdminNotice::Quiet);
        assert_eq!(AdminNotice::decide(true, None), AdminNotice::NoSuchAccount);
        assert_eq!(
            AdminNotice::decide(true, Some(false)),
            AdminNotice::PasswordIgnored
        );
    }
}
