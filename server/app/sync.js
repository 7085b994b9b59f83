// The sync engine, as `sync_protocol::engine` (the reference client's) behaves, over IndexedDB:
// handshake; reconcile forms left in flight through `status`; push ready forms in batches; pull
// changes. Guarantees (as the Rust engine's):
// - a batch is marked `in_flight` durably *before* it is sent; a form is marked `synced` only
//   after the server's answer says it holds it;
// - after a push without an answer (network error, timeout, 5xx) the batch is reconciled through
//   `status` before anything is resent, and forms found in flight at the start of a sync are
//   reconciled first;
// - permanent outcomes (invalid, conflict, forbidden, …) are kept with the server's reason and
//   never retried;
// - 408/429/5xx and network errors are transient: retried with full-jitter backoff, honouring
//   `Retry-After`; 401 `token_expired` refreshes the session once and retries.
// Tokens travel only in the `Authorization` header, never in a URL, and are never logged.

import * as store from './store.js';

export const APP_VERSION = '0.1.0';
export const PROTOCOL_VERSIONS = [1];
const MAX_BATCH_FORMS = 500;
const STORED = new Set(['accepted', 'duplicate', 'updated']);

/** Why a call got no usable answer. `status` is absent for a network error. */
export class CallError extends Error {
  constructor(status, problem, retryAfter) {
    super(
      problem
        ? `HTTP ${status} ${problem.code}: ${problem.detail || ''}`
        : status
          ? `HTTP ${status}`
          : 'network error',
    );
    this.status = status;
    this.problem = problem;
    this.retryAfter = retryAfter;
  }

  get code() {
    return this.problem ? this.problem.code : null;
  }

  /** `transient`, `unauthorized`, `cursor_invalid` or `permanent`, as `ErrorClass`. */
  get kind() {
    if (!this.status) return 'transient';
    if ([408, 429, 500, 502, 503, 504].includes(this.status)) return 'transient';
    if (this.status === 401) return 'unauthorized';
    if (this.status === 410 && this.code === 'cursor_invalid') return 'cursor_invalid';
    return 'permanent';
  }
}

/** A sync run that stopped: `reason` is `offline`, `unauthorized`, `revoked`, `rejected`. */
export class SyncStop extends Error {
  constructor(reason, cause, report) {
    super(cause ? cause.message : reason);
    this.reason = reason;
    this.cause = cause;
    this.report = report;
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Full jitter: uniform in [0, min(cap, base·2^attempt)]. */
export function backoffMs(attempt, baseMs, capMs) {
  return Math.random() * Math.min(capMs, baseMs * 2 ** Math.min(attempt, 30));
}

/** HTTP to this origin with the session; refreshes an expired access token once per call. */
export class Api {
  constructor({ timeoutMs = 30000 } = {}) {
    this.timeoutMs = timeoutMs;
  }

  async raw(method, path, body, { auth = true, protocol = true } = {}) {
    const headers = { accept: 'application/json' };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (protocol) headers['x-sipas-protocol'] = '1';
    if (auth) {
      const s = await store.getMeta('session');
      if (s) headers.authorization = `Bearer ${s.access_token}`;
    }
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), this.timeoutMs);
    let resp;
    try {
      resp = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: ctrl.signal,
        cache: 'no-store',
        credentials: 'omit',
      });
    } catch {
      throw new CallError(0, null, null);
    } finally {
      clearTimeout(timer);
    }
    let data = null;
    try {
      data = await resp.json();
    } catch {
      // A body lost half-way is a lost answer.
      if (resp.ok) throw new CallError(0, null, null);
    }
    if (!resp.ok) {
      const ra = Number(resp.headers.get('retry-after'));
      throw new CallError(resp.status, data && data.code ? data : null, ra > 0 ? ra : null);
    }
    return data;
  }

  /** A call with the session; on 401 `token_expired` refreshes once, then retries once. */
  async call(method, path, body, opts) {
    try {
      return await this.raw(method, path, body, opts);
    } catch (e) {
      if (e instanceof CallError && e.status === 401 && e.code === 'token_expired') {
        await this.refresh();
        return this.raw(method, path, body, opts);
      }
      throw e;
    }
  }

  /** Renews the session with the refresh token, stored durably before it is used again. */
  async refresh() {
    const s = await store.getMeta('session');
    if (!s || !s.refresh_token) throw new CallError(401, { code: 'unauthenticated' }, null);
    const t = await this.raw(
      'POST',
      '/api/v1/auth/refresh',
      { refresh_token: s.refresh_token },
      { auth: false, protocol: false },
    );
    await store.setMeta('session', { ...s, ...tokensOf(t) });
  }

  async login(username, password) {
    const device_id = await store.deviceId();
    const t = await this.raw(
      'POST',
      '/api/v1/auth/login',
      { username, password, device_id, app_version: APP_VERSION },
      { auth: false, protocol: false },
    );
    await store.setMeta('session', { username, ...tokensOf(t) });
  }
}

function tokensOf(t) {
  return {
    access_token: t.access_token,
    refresh_token: t.refresh_token,
    access_expires_at: Date.now() + t.expires_in * 1000,
  };
}

/** The submission as sent: the draft's fields, nothing local. */
function submission(f) {
  return f.submission;
}

/**
 * One sync run. `onProgress(text)` is told what it does. Resolves with a report, or rejects with
 * a `SyncStop` (forms are safe either way: whatever is in flight is reconciled next time).
 */
export async function sync(api, { onProgress = () => {}, maxAttempts = 5, baseMs = 500, capMs = 8000 } = {}) {
  const report = { pushed: 0, accepted: 0, duplicates: 0, reconciled: 0, failed: 0, pulled: 0, retries: 0, hashMismatches: 0 };
  const withRetry = async (fn) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (!(e instanceof CallError) || e.kind !== 'transient' || attempt + 1 >= maxAttempts) throw e;
        report.retries++;
        const wait = e.retryAfter ? Math.min(e.retryAfter * 1000, 60000) : backoffMs(attempt, baseMs, capMs);
        await sleep(wait);
      }
    }
  };
  const stop = (e) => {
    if (!(e instanceof CallError)) return new SyncStop('error', e, report);
    if (e.kind === 'transient') return new SyncStop('offline', e, report);
    if (e.code === 'device_revoked') return new SyncStop('revoked', e, report);
    if (e.kind === 'unauthorized') return new SyncStop('unauthorized', e, report);
    return new SyncStop('rejected', e, report);
  };
  try {
    onProgress('handshake');
    const hs = await handshake(api, withRetry);
    await fetchQuestionnaires(api, hs, withRetry);
    const inFlight = await store.formsIn('in_flight');
    if (inFlight.length) {
      onProgress('reconcile');
      await reconcile(api, inFlight, withRetry, report);
    }
    onProgress('push');
    await pushReady(api, hs, withRetry, report, { maxAttempts, baseMs, capMs });
    onProgress('pull');
    await pull(api, withRetry, report);
    await store.setMeta('last_sync', new Date().toISOString());
    return report;
  } catch (e) {
    throw e instanceof SyncStop ? e : stop(e);
  }
}

async function handshake(api, withRetry) {
  const device_id = await store.deviceId();
  const hs = await withRetry(() =>
    api.call('POST', '/api/v1/sync/handshake', {
      protocol_versions: PROTOCOL_VERSIONS,
      app_version: APP_VERSION,
      device_id,
      device_time: new Date().toISOString(),
    }),
  );
  if (!PROTOCOL_VERSIONS.includes(hs.protocol_version))
    throw new SyncStop('rejected', new Error(`protocol ${hs.protocol_version}`));
  await store.setMeta('handshake', hs);
  return hs;
}

/** Downloads each open questionnaire version the device does not hold with that content. */
async function fetchQuestionnaires(api, hs, withRetry) {
  for (const q of hs.questionnaires) {
    const have = await store.getQuestionnaire(q.code, q.version);
    if (have && have.contentHash === q.content_hash) continue;
    const v = await withRetry(() =>
      api.call('GET', `/api/v1/questionnaires/${encodeURIComponent(q.code)}/versions/${q.version}`),
    );
    await store.saveQuestionnaire(q.code, q.version, q.content_hash, v.definition);
  }
}

const problem = (field, code, vi, en) => ({ field, code, message: vi, message_en: en });

/** Settles in-flight forms from the server's `status` answer (as `Engine::reconcile`). */
async function reconcile(api, forms, withRetry, report) {
  for (let i = 0; i < forms.length; i += 1000) {
    const chunk = forms.slice(i, i + 1000);
    const resp = await withRetry(() =>
      api.call('POST', '/api/v1/sync/status', {
        forms: chunk.map((f) => ({ id: f.id, content_hash: f.content_hash })),
      }),
    );
    const byId = new Map(resp.forms.map((s) => [s.id, s]));
    const synced = [];
    const missing = [];
    const failed = [];
    for (const f of chunk) {
      const s = byId.get(f.id);
      if (!s) continue;
      if (s.state === 'missing') missing.push(f.id);
      else if (s.state === 'quarantined') {
        let outcome = s.reason || 'unknown';
        if (STORED.has(outcome)) outcome = 'unknown';
        failed.push({
          id: f.id,
          outcome,
          problems: [problem('form', 'quarantined', 'Máy chủ đã nhận phiếu nhưng đưa vào khu cách ly.', 'The server received the form but quarantined it.')],
        });
      } else {
        const same = s.same_content ?? (s.content_hash ? s.content_hash === f.content_hash : true);
        if (same) synced.push(f.id);
        else
          failed.push({
            id: f.id,
            outcome: 'conflict',
            problems: [problem('id', 'conflict', 'Máy chủ đã có một phiếu cùng mã với nội dung khác.', 'The server holds a form with this id and different content.')],
          });
      }
    }
    report.reconciled += synced.length + failed.length + missing.length;
    report.accepted += synced.length;
    await store.transition(synced, ['in_flight'], 'synced', () => ({ outcome: 'accepted', problems: [] }));
    for (const f of failed) await store.transition([f.id], ['in_flight'], 'failed', () => ({ outcome: f.outcome, problems: f.problems }));
    report.failed += failed.length;
    await store.transition(missing, ['in_flight'], 'ready');
  }
}

/** The longest prefix whose push body stays under `maxBytes` (at least one form). */
function fitBytes(forms, maxBytes) {
  let total = 12;
  const out = [];
  for (const f of forms) {
    const size = new TextEncoder().encode(JSON.stringify(submission(f))).length + 1;
    if (out.length && total + size > maxBytes) break;
    total += size;
    out.push(f);
  }
  return out;
}

async function pushReady(api, hs, withRetry, report, { maxAttempts, baseMs, capMs }) {
  let limit = Math.max(1, Math.min(100, hs.max_batch_forms || MAX_BATCH_FORMS, MAX_BATCH_FORMS));
  const maxBytes = hs.max_batch_bytes || Infinity;
  let failures = 0;
  for (;;) {
    const ready = await store.formsIn('ready', limit);
    if (ready.length === 0) return;
    const batch = fitBytes(ready, maxBytes);
    const ids = batch.map((f) => f.id);
    // Durable before the request leaves: a crash from here on is reconciled, never resent blind.
    await store.transition(ids, ['ready'], 'in_flight');
    report.pushed += batch.length;
    let resp;
    try {
      resp = await api.call('POST', '/api/v1/sync/push', { forms: batch.map(submission) });
    } catch (e) {
      if (e instanceof CallError && e.kind === 'transient') {
        failures++;
        if (failures >= maxAttempts) throw e;
        report.retries++;
        await sleep(e.retryAfter ? Math.min(e.retryAfter * 1000, 60000) : backoffMs(failures - 1, baseMs, capMs));
        // The answer is lost, not necessarily the request: ask before resending.
        await reconcile(api, batch, withRetry, report);
        continue;
      }
      if (e instanceof CallError && e.status === 413) {
        await store.transition(ids, ['in_flight'], 'ready');
        if (batch.length > 1) limit = Math.max(1, Math.floor(batch.length / 2));
        else {
          await store.transition(ids, ['in_flight'], 'failed', () => ({
            outcome: 'unknown',
            problems: [problem('form', 'too_large', 'Phiếu quá lớn để gửi lên máy chủ.', 'The form is too large for the server.')],
          }));
          report.failed++;
        }
        continue;
      }
      // Left in flight: the next run reconciles them.
      throw e;
    }
    const results = new Map();
    resp.results.forEach((r, i) => {
      const id = r.id || (batch[i] && batch[i].id);
      if (id) results.set(id, r);
    });
    const uncovered = [];
    for (const f of batch) {
      const r = results.get(f.id);
      if (!r) {
        uncovered.push(f);
        continue;
      }
      if (r.content_hash && r.content_hash !== f.content_hash) report.hashMismatches++;
      if (STORED.has(r.outcome)) {
        if (r.outcome === 'duplicate') report.duplicates++;
        else report.accepted++;
        await store.transition([f.id], ['in_flight'], 'synced', () => ({ outcome: r.outcome, problems: [], server_hash: r.content_hash || null }));
      } else {
        report.failed++;
        await store.transition([f.id], ['in_flight'], 'failed', () => ({ outcome: r.outcome, problems: r.errors || [], server_hash: r.content_hash || null }));
      }
    }
    if (uncovered.length) {
      failures++;
      await reconcile(api, uncovered, withRetry, report);
    } else failures = 0;
    if (failures >= maxAttempts) throw new CallError(0, null, null);
  }
}

async function pull(api, withRetry, report) {
  let cursor = await store.getMeta('cursor');
  let reset = false;
  for (;;) {
    const q = cursor ? `?cursor=${encodeURIComponent(cursor)}&limit=200` : '?limit=200';
    let page;
    try {
      page = await withRetry(() => api.call('GET', `/api/v1/sync/pull${q}`));
    } catch (e) {
      if (e instanceof CallError && e.kind === 'cursor_invalid' && !reset) {
        reset = true;
        await store.deleteMeta('cursor');
        // The replay from the start brings every live assignment again.
        await store.deleteMeta('assignments');
        cursor = null;
        await handshake(api, withRetry);
        continue;
      }
      throw e;
    }
    await store.storeChanges(page.changes, page.cursor);
    report.pulled += page.changes.length;
    const stalled = page.changes.length === 0 && cursor === page.cursor;
    cursor = page.cursor;
    if (!page.more || stalled) return;
  }
}
