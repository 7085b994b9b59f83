//! The Sơn La plan for SIPAS 2023 (`shared/reference/son-la-sipas-2023-plan.txt`) as a fixture:
//! its target ("phấn đấu Chỉ số SIPAS của tỉnh Sơn La năm 2023 đạt từ 90% trở lên") and a few
//! tasks of its annex, re-typed with their lead and cooperating agencies and deadlines. The
//! criteria each task is linked to are ours (the plan names none): the groups its wording
//! concerns.

use serde_json::{Value, json};

/// Sơn La's province code (both geographies).
pub const SON_LA: &str = "14";

/// The plan's title.
pub const SON_LA_PLAN_TITLE: &str = "Kế hoạch nâng cao Chỉ số hài lòng của người dân đối với sự phục vụ của cơ quan hành chính nhà nước (SIPAS) năm 2023";

/// The plan's target: SIPAS 2023 ≥ 90%.
pub fn son_la_target() -> Value {
    json!({
        "province": SON_LA,
        "key": "overall/sipas",
        "value": 90.0,
        "note": "Phấn đấu Chỉ số SIPAS của tỉnh Sơn La năm 2023 đạt từ 90% trở lên.",
    })
}

/// Tasks 1, 3, 4 and 5 of the plan's annex, as the API takes them.
pub fn son_la_tasks() -> Vec<Value> {
    vec![
        json!({
            "content": "Nâng cao chất lượng công tác tuyên truyền, phổ biến, giáo dục pháp luật, nhất là các cơ chế, chính sách, văn bản quy phạm pháp luật cho đội ngũ cán bộ, công chức, viên chức, người dân, doanh nghiệp trên địa bàn tỉnh",
            "lead_agency": "Các sở, ban, ngành; UBND cấp huyện; UBND cấp xã",
            "cooperating_agencies": ["Các sở, ban, ngành", "UBND cấp huyện", "UBND cấp xã"],
            "deadline": "Thường xuyên",
            "criteria": ["group/p1", "group/p2"],
        }),
        json!({
            "content": "Theo dõi, đôn đốc phối hợp với các sở, ngành, địa phương tăng cường công tác tuyên truyền, giáo dục, phổ biến pháp luật, tổ chức lấy ý kiến nhân dân đối với các quy định pháp luật, cơ chế, chính sách của trung ương và của tỉnh đảm bảo theo quy định",
            "lead_agency": "Sở Tư pháp",
            "cooperating_agencies": ["Các sở, ban, ngành", "UBND cấp huyện"],
            "deadline": "Năm 2023",
            "criteria": ["group/p2"],
        }),
        json!({
            "content": "Tăng cường công tác thanh tra, kiểm tra, nhất là kiểm tra công vụ. Hoàn thành Kế hoạch kiểm tra công tác CCHC. Kết quả kiểm tra, các vấn đề phát hiện phải được xử lý hoặc kiến nghị xử lý 100%.",
            "lead_agency": "Sở Nội vụ",
            "cooperating_agencies": ["Các sở, ban, ngành", "UBND cấp huyện", "UBND cấp xã"],
            "deadline": "Quý III/2023",
            "criteria": ["group/s4", "overall/sipas"],
        }),
        json!({
            "content": "Tổ chức kiểm tra, đánh giá chất lượng hoạt động, việc duy trì, cung cấp thông tin trên các Cổng/Trang thông tin điện tử của các sở, ngành, UBND cấp huyện, UBND cấp xã trên địa bàn tỉnh đảm bảo theo quy định của Luật Tiếp cận thông tin, Luật Dân chủ ở cơ sở và các quy định của pháp luật.",
            "lead_agency": "Sở Thông tin và Truyền thông",
            "cooperating_agencies": ["Các sở, ban, ngành, UBND các huyện, thành phố"],
            "deadline": "Quý III/2023",
            "criteria": ["group/p1"],
        }),
    ]
}
