//! User-facing texts: Vietnamese first, then English.

use sync_protocol::{FieldProblem, FormState, Outcome, engine::LocalState};

/// What an outcome means for the enumerator.
pub fn outcome(o: Outcome) -> (&'static str, &'static str) {
    match o {
        Outcome::Accepted => ("Máy chủ đã nhận phiếu", "The server accepted the form"),
        Outcome::Duplicate => (
            "Máy chủ đã có phiếu này (gửi lại, không tính hai lần)",
            "The server already had this form (a resend, not counted twice)",
        ),
        Outcome::Updated => (
            "Phiếu đã được cập nhật trên máy chủ",
            "The form replaced its earlier revision on the server",
        ),
        Outcome::Conflict => (
            "Xung đột: máy chủ đã có một phiếu cùng mã với nội dung khác",
            "Conflict: the server holds a form with this id and different content",
        ),
        Outcome::Invalid => (
            "Phiếu không hợp lệ, cần sửa các câu trả lời dưới đây",
            "The form is not valid; fix the answers below",
        ),
        Outcome::Forbidden => (
            "Địa bàn của phiếu nằm ngoài phạm vi được giao",
            "The form's area is outside your assignment",
        ),
        Outcome::UnknownQuestionnaire => (
            "Máy chủ không biết phiên bản bảng hỏi này",
            "The server does not know this questionnaire version",
        ),
        Outcome::QuestionnaireClosed => (
            "Phiên bản bảng hỏi đã đóng, không nhận phiếu mới",
            "This questionnaire version is closed to new forms",
        ),
        Outcome::UnknownRound => (
            "Đợt khảo sát không tồn tại hoặc đã đóng",
            "The survey round is unknown or closed",
        ),
        Outcome::Unknown => (
            "Máy chủ trả lời một kết quả ứng dụng chưa biết; hãy cập nhật ứng dụng",
            "The server gave an outcome this app does not know; update the app",
        ),
    }
}

/// A local state as shown in the outbox.
pub fn local_state(s: LocalState) -> &'static str {
    match s {
        LocalState::Pending => "chờ gửi / pending",
        LocalState::InFlight => "đang gửi / in flight",
        LocalState::Synced => "đã đồng bộ / synced",
        LocalState::Failed => "bị từ chối / failed",
    }
}

/// A server-side state as `status` shows it.
pub fn server_state(s: FormState) -> &'static str {
    match s {
        FormState::Accepted => "đã nhận / accepted",
        FormState::Approved => "đã duyệt / approved",
        FormState::Rejected => "bị loại khi duyệt / rejected in review",
        FormState::Quarantined => "cách ly / quarantined",
        FormState::Missing => "chưa nhận / missing",
        FormState::Unknown => "không rõ / unknown",
    }
}

/// One problem on one line.
pub fn problem(p: &FieldProblem) -> String {
    match &p.message_en {
        Some(en) => format!("{} [{}]: {} / {}", p.field, p.code, p.message, en),
        None => format!("{} [{}]: {}", p.field, p.code, p.message),
    }
}
