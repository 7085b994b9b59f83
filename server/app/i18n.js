// Interface text, Vietnamese first with English. Questionnaire text comes from the questionnaire
// itself (`label.vi` / `label.en`); this file holds only the app's own words.

const TEXT = {
  vi: {
    app_title: 'SIPAS · Điều tra',
    login_title: 'Đăng nhập',
    login_hint: 'Đăng nhập một lần khi có mạng; sau đó ứng dụng làm việc được khi không có mạng.',
    username: 'Tên đăng nhập',
    password: 'Mật khẩu',
    login: 'Đăng nhập',
    logging_in: 'Đang đăng nhập…',
    login_needs_network: 'Cần có mạng để đăng nhập lần đầu.',
    logout: 'Đăng xuất',
    online: 'Có mạng',
    offline: 'Không có mạng',
    sync: 'Đồng bộ',
    syncing: 'Đang đồng bộ…',
    sync_done: 'Đã đồng bộ: {0} phiếu được nhận, {1} phiếu cần xử lý.',
    sync_offline: 'Chưa gửi được (không có mạng hoặc máy chủ bận). Phiếu vẫn an toàn trên máy; sẽ gửi khi có mạng.',
    sync_unauthorized: 'Phiên đăng nhập hết hiệu lực. Hãy đăng nhập lại; các phiếu vẫn được giữ trên máy.',
    sync_revoked: 'Thiết bị hoặc tài khoản này đã bị thu hồi quyền. Liên hệ giám sát viên. Các phiếu vẫn được giữ trên máy.',
    sync_rejected: 'Máy chủ từ chối: {0}',
    last_sync: 'Lần đồng bộ gần nhất: {0}',
    never_synced: 'Chưa đồng bộ lần nào.',
    new_form: '+ Phiếu mới',
    forms: 'Các phiếu',
    no_forms: 'Chưa có phiếu nào.',
    scope: 'Địa bàn được giao',
    no_scope: 'Chưa có địa bàn: hãy đồng bộ khi có mạng.',
    st_draft: 'Nháp',
    st_ready: 'Sẵn sàng gửi',
    st_in_flight: 'Đang gửi',
    st_synced: 'Đã nhận',
    st_failed: 'Cần xử lý',
    st_superseded: 'Đã sửa thành phiếu mới',
    household: 'Mã hộ',
    round: 'Đợt điều tra',
    province: 'Tỉnh/Thành phố',
    district: 'Quận/Huyện',
    commune: 'Xã/Phường',
    village: 'Thôn/Bản/Tổ dân phố',
    choose: '— Chọn —',
    section: 'Phần {0}/{1}',
    prev: '‹ Trước',
    next: 'Tiếp ›',
    finish: 'Hoàn thành',
    save_draft: 'Lưu nháp',
    saved: 'Đã lưu nháp',
    back: '‹ Danh sách',
    delete_draft: 'Xóa nháp',
    confirm_delete: 'Xóa phiếu nháp này?',
    form_errors: 'Phiếu còn {0} lỗi. Hãy sửa các câu được đánh dấu.',
    header_missing: 'Hãy chọn đợt điều tra, địa bàn và nhập mã hộ.',
    not_decidable: 'Chưa xác định được câu này có áp dụng không (câu trước có lỗi).',
    get_gps: 'Lấy vị trí',
    gps_wait: 'Đang lấy vị trí…',
    gps_failed: 'Không lấy được vị trí: {0}',
    clear: 'Xóa',
    chars: '{0}/{1} ký tự',
    reason: 'Lý do',
    fix_as_new: 'Sửa và gửi thành phiếu mới',
    oc_invalid: 'Không hợp lệ',
    oc_conflict: 'Trùng mã với nội dung khác',
    oc_forbidden: 'Ngoài địa bàn được giao',
    oc_unknown_questionnaire: 'Phiên bản bảng hỏi không dùng cho đợt này',
    oc_questionnaire_closed: 'Phiên bản bảng hỏi đã đóng',
    oc_unknown_round: 'Không có đợt điều tra này',
    oc_unknown: 'Lỗi chưa rõ',
    no_questionnaire: 'Chưa có bảng hỏi trên máy: hãy đồng bộ khi có mạng.',
    language: 'EN',
    progress: '{0}/{1} câu đã trả lời',
    ready_count: '{0} phiếu chờ gửi',
  },
  en: {
    app_title: 'SIPAS · Survey',
    login_title: 'Log in',
    login_hint: 'Log in once while online; the app then works without network.',
    username: 'Username',
    password: 'Password',
    login: 'Log in',
    logging_in: 'Logging in…',
    login_needs_network: 'The first login needs a network connection.',
    logout: 'Log out',
    online: 'Online',
    offline: 'Offline',
    sync: 'Sync',
    syncing: 'Syncing…',
    sync_done: 'Synced: {0} forms accepted, {1} need attention.',
    sync_offline: 'Not sent yet (no network or the server is busy). Forms are safe on this device and will be sent when online.',
    sync_unauthorized: 'The session has ended. Log in again; forms stay on this device.',
    sync_revoked: 'This device or account has been revoked. Contact your supervisor. Forms stay on this device.',
    sync_rejected: 'Refused by the server: {0}',
    last_sync: 'Last sync: {0}',
    never_synced: 'Never synced.',
    new_form: '+ New form',
    forms: 'Forms',
    no_forms: 'No forms yet.',
    scope: 'Assigned area',
    no_scope: 'No area yet: sync while online.',
    st_draft: 'Draft',
    st_ready: 'Ready to send',
    st_in_flight: 'Sending',
    st_synced: 'Accepted',
    st_failed: 'Needs attention',
    st_superseded: 'Fixed as a new form',
    household: 'Household ref',
    round: 'Survey round',
    province: 'Province',
    district: 'District',
    commune: 'Commune',
    village: 'Village',
    choose: '— Choose —',
    section: 'Part {0}/{1}',
    prev: '‹ Back',
    next: 'Next ›',
    finish: 'Finish',
    save_draft: 'Save draft',
    saved: 'Draft saved',
    back: '‹ Forms',
    delete_draft: 'Delete draft',
    confirm_delete: 'Delete this draft?',
    form_errors: 'The form has {0} problems. Fix the marked questions.',
    header_missing: 'Choose the round and the area, and enter the household ref.',
    not_decidable: 'Cannot tell yet whether this applies (an earlier answer has a problem).',
    get_gps: 'Get location',
    gps_wait: 'Getting location…',
    gps_failed: 'No location: {0}',
    clear: 'Clear',
    chars: '{0}/{1} characters',
    reason: 'Reason',
    fix_as_new: 'Fix and send as a new form',
    oc_invalid: 'Invalid',
    oc_conflict: 'Same id, other content',
    oc_forbidden: 'Outside the assigned area',
    oc_unknown_questionnaire: 'Questionnaire version not used by this round',
    oc_questionnaire_closed: 'Questionnaire version closed',
    oc_unknown_round: 'No such round',
    oc_unknown: 'Unknown problem',
    no_questionnaire: 'No questionnaire on this device yet: sync while online.',
    language: 'VI',
    progress: '{0}/{1} questions answered',
    ready_count: '{0} forms waiting to be sent',
  },
};

let lang = (typeof localStorage !== 'undefined' && localStorage.getItem('sipas.lang')) || 'vi';

export function getLang() {
  return lang;
}

export function setLang(l) {
  lang = l === 'en' ? 'en' : 'vi';
  localStorage.setItem('sipas.lang', lang);
  document.documentElement.lang = lang;
}

/** The app's text for `key`, with `{0}`, `{1}` … filled in. */
export function t(key, ...args) {
  const s = TEXT[lang][key] ?? TEXT.vi[key] ?? key;
  return s.replace(/\{(\d+)\}/g, (_, i) => String(args[Number(i)] ?? ''));
}

/** A questionnaire label in the current language (Vietnamese when there is no English). */
export function label(l) {
  if (!l) return '';
  return (lang === 'en' && l.en) || l.vi;
}

/** A server message (`message`/`message_en`, `detail`/`detail_en`) in the current language. */
export function serverText(vi, en) {
  return (lang === 'en' && en) || vi || en || '';
}
