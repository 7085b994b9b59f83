//! `push`: every form of a batch gets an outcome, accepted forms are stored and the rest
//! quarantined in one transaction, and nothing is answered before it committed.
//!
//! One file a job, in the order a push meets them:
//! - this file: the request as a whole (header, batch size, sender), bytes in, results out;
//! - [`body`]: the body split into the forms' texts, each form parsed and prepared (hashed,
//!   validated, encoded); a malformed form becomes a quarantine entry;
//! - [`lookup`]: what the server holds under the forms' ids, and the rounds;
//! - [`verdict`]: the pure rules deciding each form's outcome;
//! - [`store`]: the attempts at storing, tried again when another push stored a form first.
//!
//! Timings: the push is handled in a `push_handling` span, prepared in `push_prepare` and each
//! attempt's transaction is written in `push_store` (all at debug level, so production pays
//! nothing unless it asks for them); the push bench installs a layer that sums them.

mod body;
mod lookup;
mod store;
mod verdict;

use axum::http::{HeaderMap, StatusCode};
use sync_protocol::{FormResult, MAX_BATCH_FORMS};
use tracing::Instrument;

use crate::{
    auth::{AuthUser, policy},
    error::{ApiError, JsonBytes},
    state::AppState,
};

pub use store::PushRaces;

/// Handles one push: every form gets an outcome, and nothing is answered before it is committed.
///
/// The errors that refuse the whole push come in the order a client is told them: a body that
/// is not a push, the protocol header, too many forms, a sender who may not submit forms.
pub async fn push(
    state: &AppState,
    user: &AuthUser,
    headers: &HeaderMap,
    body: &JsonBytes,
) -> Result<Vec<FormResult>, ApiError> {
    // The request's span (`routes::sync`) gets the form count.
    let request = tracing::Span::current();
    async {
        let header = super::check_header(headers);
        let texts = body::split(body)?;
        request.record("forms", texts.len());
        header?;
        if texts.len() > MAX_BATCH_FORMS {
            return Err(ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "batch_too_large",
                format!("Tối đa {MAX_BATCH_FORMS} phiếu mỗi lần gửi."),
                format!("At most {MAX_BATCH_FORMS} forms per push."),
            ));
        }
        policy::can_submit_forms(user)?;
        let forms = body::prepare_all(&state.db, &state.definitions, &texts)
            .instrument(tracing::debug_span!("push_prepare"))
            .await?;
        store::store(state, user, &texts, &forms).await
    }
    .instrument(tracing::debug_span!("push_handling"))
    .await
}
