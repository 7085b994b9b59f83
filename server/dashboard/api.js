// Calls to the server's API with the logged-in user's token. The access token lives in memory
// only; the refresh token in this tab's sessionStorage, so a reload keeps the session and closing
// the tab ends it. Tokens never go into a URL. An expired access token is refreshed once and the
// call retried; a session that cannot be refreshed ends with `SessionOver`.

const REFRESH_KEY = 'sipas.dashboard.refresh';

/** An answer other than 2xx, with the server's problem+json body when there is one. */
export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.code)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || null;
    this.code = problem ? problem.code : null;
  }
}

/** The session is over (logged out, refresh refused): the page goes back to the login form. */
export class SessionOver extends Error {}

export class Api {
  constructor() {
    this.access = null;
    this.refreshing = null;
  }

  /** Whether a session can be resumed (a refresh token is kept in this tab). */
  hasSession() {
    return Boolean(sessionStorage.getItem(REFRESH_KEY));
  }

  async login(username, password) {
    const r = await fetch('/api/v1/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ username, password }),
    });
    const body = await r.json().catch(() => null);
    if (!r.ok) throw new ApiError(r.status, body);
    this.keep(body);
  }

  keep(tokens) {
    this.access = tokens.access_token;
    sessionStorage.setItem(REFRESH_KEY, tokens.refresh_token);
  }

  async refresh() {
    // One refresh at a time: concurrent calls wait for the same one (refresh tokens are single use).
    if (!this.refreshing)
      this.refreshing = (async () => {
        const token = sessionStorage.getItem(REFRESH_KEY);
        if (!token) throw new SessionOver();
        const r = await fetch('/api/v1/auth/refresh', {
          method: 'POST',
          headers: { 'content-type': 'application/json', accept: 'application/json' },
          body: JSON.stringify({ refresh_token: token }),
        });
        if (!r.ok) {
          sessionStorage.removeItem(REFRESH_KEY);
          this.access = null;
          throw new SessionOver();
        }
        this.keep(await r.json());
      })().finally(() => {
        this.refreshing = null;
      });
    return this.refreshing;
  }

  async logout() {
    const token = sessionStorage.getItem(REFRESH_KEY);
    sessionStorage.removeItem(REFRESH_KEY);
    this.access = null;
    if (token)
      await fetch('/api/v1/auth/logout', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ refresh_token: token }),
      }).catch(() => {});
  }

  /** A raw authorised request (refreshing the access token when needed). */
  async fetch(path, init = {}) {
    if (!this.access) await this.refresh();
    const go = () => fetch(path, { ...init, headers: { ...(init.headers || {}), authorization: `Bearer ${this.access}` } });
    let r = await go();
    if (r.status === 401) {
      await this.refresh();
      r = await go();
    }
    if (r.status === 401) throw new SessionOver();
    return r;
  }

  /** GET (or another method) of a JSON answer. */
  async json(path, { method = 'GET', body } = {}) {
    const r = await this.fetch(path, {
      method,
      headers: { accept: 'application/json', ...(body ? { 'content-type': 'application/json' } : {}) },
      body: body ? JSON.stringify(body) : undefined,
    });
    const data = await r.json().catch(() => null);
    if (!r.ok) throw new ApiError(r.status, data);
    return data;
  }

  /** Downloads a file the API answers (exports, reports) and hands it to the browser to save. */
  async download(path, fallbackName) {
    const r = await this.fetch(path, { headers: { accept: '*/*' } });
    if (!r.ok) throw new ApiError(r.status, await r.json().catch(() => null));
    const blob = await r.blob();
    const cd = r.headers.get('content-disposition') || '';
    const m = /filename\*?=(?:UTF-8'')?"?([^";]+)"?/i.exec(cd);
    const name = m ? decodeURIComponent(m[1]) : fallbackName;
    const url = URL.createObjectURL(blob);
    const a = document.createElement('a');
    a.href = url;
    a.download = name;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
    return { name, size: blob.size };
  }
}
