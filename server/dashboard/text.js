// The dashboard's own words, Vietnamese first with English, and the published number format:
// two decimals, a decimal comma in Vietnamese and a decimal point in English. Questionnaire text
// (groups, items, options) comes from the questionnaire itself (`label.vi` / `label.en`).

const TEXT = {
  vi: {
    title: 'SIPAS · Trang tổng hợp',
    login_title: 'Đăng nhập',
    login_hint: 'Dành cho Sở Nội vụ và Bộ Nội vụ: chỉ số, so sánh năm, xếp hạng, tiến độ điều tra.',
    username: 'Tên đăng nhập',
    password: 'Mật khẩu',
    login: 'Đăng nhập',
    logout: 'Đăng xuất',
    language: 'EN',
    round: 'Đợt khảo sát',
    compare_with: 'So với',
    none: '(không so sánh)',
    unit: 'Đơn vị',
    nation: 'Toàn quốc',
    loading: 'Đang tải…',
    sipas: 'Chỉ số SIPAS',
    forms: 'phiếu',
    n_forms: 'Số phiếu',
    ci: 'Khoảng tin cậy 95%',
    rank: 'Hạng',
    rank_of: 'Hạng {0}/{1}',
    rank_change_up: 'tăng {0} bậc',
    rank_change_down: 'giảm {0} bậc',
    rank_same: 'giữ nguyên hạng',
    change: 'Thay đổi',
    previous: 'Năm trước',
    current: 'Năm nay',
    significant: 'có ý nghĩa thống kê',
    not_significant: 'chưa có ý nghĩa thống kê',
    sig_legend: '▲/▼ thay đổi có ý nghĩa thống kê (khoảng tin cậy 95% của thay đổi không chứa 0); △/▽ chưa có ý nghĩa.',
    indices: 'Các chỉ số',
    indicator: 'Chỉ tiêu',
    value: 'Giá trị',
    items: 'Các tiêu chí thành phần',
    groups_chart: 'Chỉ số theo nhóm tiêu chí',
    yoy: 'So sánh với năm trước',
    league: 'Xếp hạng các tỉnh, thành phố',
    subunits: 'Theo đơn vị cấp dưới',
    progress: 'Tiến độ điều tra',
    received: 'Đã nhận',
    approved: 'Đã duyệt',
    rejected: 'Bị trả lại',
    pending: 'Chờ duyệt',
    quota: 'Cỡ mẫu (hộ được chọn)',
    outstanding_quota: 'Còn thiếu so với mẫu',
    assigned: 'Được giao',
    outstanding: 'Còn lại',
    downloads: 'Tải về',
    report_html: 'Báo cáo (HTML)',
    report_docx: 'Báo cáo (Word)',
    export_csv: 'Dữ liệu phiếu (CSV, zip)',
    export_xlsx: 'Dữ liệu phiếu (Excel)',
    downloading: 'Đang tải về…',
    downloaded: 'Đã tải về {0}.',
    withheld: 'Chưa đủ mẫu để công bố (dưới {0} phiếu): số liệu được ẩn.',
    no_data: 'Chưa có dữ liệu.',
    forbidden: 'Tài khoản này không được xem mục này.',
    error: 'Lỗi: {0}',
    design: 'Thiết kế mẫu: {0}',
    design_recorded: 'theo thiết kế đã ghi nhận',
    design_assumed: 'thiết kế giả định',
    targets: 'Mục tiêu và kế hoạch',
    no_targets: 'Chưa đặt mục tiêu hay kế hoạch cho đợt này.',
    province: 'Tỉnh',
    target: 'Mục tiêu',
    result: 'Kết quả',
    task: 'Nhiệm vụ',
    lead_agency: 'Cơ quan chủ trì / phối hợp',
    deadline: 'Thời hạn',
    status: 'Tình trạng',
    criteria_change: 'Thay đổi của tiêu chí liên quan',
    last_progress: 'Báo cáo gần nhất',
    target_met: 'Đạt',
    target_not_met: 'Chưa đạt',
    target_within_margin: 'Chưa đạt nhưng trong sai số',
    target_no_data: 'Chưa có số liệu',
    quality: 'Chất lượng điều tra',
    quality_hint: 'Dấu hiệu cần xem lại trên {0} phiếu: để giám sát viên kiểm tra, không tự loại phiếu.',
    quality_thresholds_round: 'Ngưỡng do Bộ đặt cho đợt khảo sát này.',
    quality_thresholds_default: 'Ngưỡng mặc định (đợt khảo sát chưa đặt ngưỡng riêng).',
    no_flags: 'Không có phiếu nào bị đánh dấu.',
    signal: 'Dấu hiệu',
    rate: 'Tỷ lệ',
    enumerators_by_score: 'Điều tra viên cần xem trước (điểm cao nhất)',
    enumerator: 'Điều tra viên',
    score: 'Điểm',
    top_signals: 'Dấu hiệu chính',
    sig_too_short: 'Thời gian phỏng vấn quá ngắn',
    sig_too_fast: 'Nhanh bất thường so với đợt',
    sig_finished_before_started: 'Kết thúc trước khi bắt đầu',
    sig_future_time: 'Thời gian ở tương lai',
    sig_implausible_hour: 'Giờ phỏng vấn bất thường',
    sig_straight_line: 'Trả lời một mức liên tục',
    sig_low_variance: 'Ít khác biệt giữa các câu',
    sig_dont_know: 'Nhiều câu "không biết"',
    sig_gps_missing: 'Thiếu GPS',
    sig_same_minute: 'Nhiều phiếu cùng một phút',
    sig_near_duplicate: 'Gần trùng phiếu khác',
    sig_gps_identical: 'Trùng toạ độ GPS',
    sig_gps_cluster: 'Mọi phiếu ở một chỗ',
    sig_far_from_village: 'GPS xa vị trí thôn',
    sig_clock_skew: 'Đồng hồ thiết bị lệch',
    sig_device_time_disagrees: 'Giờ thiết bị không khớp giờ nhận',
    sig_pace: 'Quá nhiều phiếu một ngày',
    sig_distribution: 'Phân bố trả lời khác thôn/xã',
    not_available: 'Chưa có trên máy chủ này.',
    session_over: 'Phiên đăng nhập đã hết. Hãy đăng nhập lại.',
  },
  en: {
    title: 'SIPAS · Dashboard',
    login_title: 'Log in',
    login_hint: 'For Departments of Home Affairs and the Ministry: indices, year-over-year changes, rankings, fieldwork progress.',
    username: 'Username',
    password: 'Password',
    login: 'Log in',
    logout: 'Log out',
    language: 'VI',
    round: 'Survey round',
    compare_with: 'Compare with',
    none: '(no comparison)',
    unit: 'Unit',
    nation: 'Nation',
    loading: 'Loading…',
    sipas: 'SIPAS index',
    forms: 'forms',
    n_forms: 'Forms',
    ci: '95% confidence interval',
    rank: 'Rank',
    rank_of: 'Rank {0}/{1}',
    rank_change_up: 'up {0}',
    rank_change_down: 'down {0}',
    rank_same: 'same rank',
    change: 'Change',
    previous: 'Previous',
    current: 'Current',
    significant: 'statistically significant',
    not_significant: 'not significant',
    sig_legend: '▲/▼ significant change (the 95% interval of the change excludes 0); △/▽ not significant.',
    indices: 'Indices',
    indicator: 'Indicator',
    value: 'Value',
    items: 'Items',
    groups_chart: 'Index by group of criteria',
    yoy: 'Year over year',
    league: 'Provinces ranked',
    subunits: 'By lower-level unit',
    progress: 'Fieldwork progress',
    received: 'Received',
    approved: 'Approved',
    rejected: 'Returned',
    pending: 'Pending review',
    quota: 'Sample quota (households drawn)',
    outstanding_quota: 'Short of the sample',
    assigned: 'Assigned',
    outstanding: 'Outstanding',
    downloads: 'Downloads',
    report_html: 'Report (HTML)',
    report_docx: 'Report (Word)',
    export_csv: 'Form data (CSV, zip)',
    export_xlsx: 'Form data (Excel)',
    downloading: 'Downloading…',
    downloaded: 'Downloaded {0}.',
    withheld: 'Sample too small to publish (under {0} forms): figures withheld.',
    no_data: 'No data yet.',
    forbidden: 'This account may not see this.',
    error: 'Error: {0}',
    design: 'Sampling design: {0}',
    design_recorded: 'as recorded',
    design_assumed: 'assumed design',
    targets: 'Targets and plans',
    no_targets: 'No targets or plans set for this round.',
    province: 'Province',
    target: 'Target',
    result: 'Result',
    task: 'Task',
    lead_agency: 'Lead / cooperating agencies',
    deadline: 'Deadline',
    status: 'Status',
    criteria_change: 'Change of the linked criteria',
    last_progress: 'Latest progress note',
    target_met: 'Met',
    target_not_met: 'Not met',
    target_within_margin: 'Not met, within the margin of error',
    target_no_data: 'No figure yet',
    quality: 'Fieldwork quality',
    quality_hint: 'Signals worth a look over {0} forms: for supervisors to check, never to drop forms by themselves.',
    quality_thresholds_round: 'Thresholds set by the ministry for this round.',
    quality_thresholds_default: 'Default thresholds (the round has not set its own).',
    no_flags: 'No form is flagged.',
    signal: 'Signal',
    rate: 'Rate',
    enumerators_by_score: 'Enumerators to look at first (highest score)',
    enumerator: 'Enumerator',
    score: 'Score',
    top_signals: 'Main signals',
    sig_too_short: 'Interview too short',
    sig_too_fast: 'Unusually fast for the round',
    sig_finished_before_started: 'Finished before it started',
    sig_future_time: 'Time in the future',
    sig_implausible_hour: 'Implausible hour',
    sig_straight_line: 'Same level in a long run',
    sig_low_variance: 'Little variation across items',
    sig_dont_know: 'Many "don\'t know"',
    sig_gps_missing: 'No GPS',
    sig_same_minute: 'Many forms in one minute',
    sig_near_duplicate: 'Near-duplicate of another form',
    sig_gps_identical: 'Identical GPS points',
    sig_gps_cluster: 'All forms in one place',
    sig_far_from_village: 'Far from its village',
    sig_clock_skew: 'Device clock skewed',
    sig_device_time_disagrees: 'Device time disagrees with receipt',
    sig_pace: 'Too many forms a day',
    sig_distribution: 'Answers unlike the village/commune',
    not_available: 'Not available on this server.',
    session_over: 'The session has ended. Log in again.',
  },
};

let lang = localStorage.getItem('sipas.dashboard.lang') === 'en' ? 'en' : 'vi';

/** The current language, `vi` or `en`. */
export function getLang() {
  return lang;
}

/** Switches the language (kept for the next visit). */
export function setLang(l) {
  lang = l === 'en' ? 'en' : 'vi';
  localStorage.setItem('sipas.dashboard.lang', lang);
  document.documentElement.lang = lang;
}

/** The dashboard's text for `key`, with `{0}`, `{1}` … filled in. */
export function t(key, ...args) {
  const s = TEXT[lang][key] ?? TEXT.vi[key] ?? key;
  return s.replace(/\{(\d+)\}/g, (_, i) => String(args[Number(i)] ?? ''));
}

/** A questionnaire label in the current language (Vietnamese when there is no English). */
export function label(l, fallback = '') {
  if (!l) return fallback;
  return (lang === 'en' && l.en) || l.vi || fallback;
}

/** A server message (`detail`/`detail_en`) in the current language. */
export function serverText(vi, en) {
  return (lang === 'en' && en) || vi || en || '';
}

/**
 * A figure as published: two decimals, decimal comma in Vietnamese, point in English; `—` when
 * there is none (withheld or no valid answer). `signed` puts a `+` before positive numbers.
 */
export function num(x, { digits = 2, signed = false } = {}) {
  if (x === null || x === undefined || Number.isNaN(x)) return '—';
  const s = Math.abs(x).toFixed(digits);
  const [int, dec] = s.split('.');
  const sep = lang === 'vi' ? '.' : ',';
  const grouped = int.replace(/\B(?=(\d{3})+(?!\d))/g, sep);
  const body = dec ? `${grouped}${lang === 'vi' ? ',' : '.'}${dec}` : grouped;
  const sign = x < 0 && Number(s) !== 0 ? '−' : signed && x > 0 && Number(s) !== 0 ? '+' : '';
  return sign + body;
}

/** A whole number with thousands separated as the language does. */
export function count(n) {
  return num(n, { digits: 0 });
}
