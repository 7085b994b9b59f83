// The device's durable storage, in IndexedDB: drafts and the outbox (one `forms` store), the
// session, the device id, the latest handshake, questionnaire definitions, pulled changes and the
// pull cursor. Every function is one committed transaction: when its promise resolves, the
// change survives the tab being closed or the phone losing power.
//
// Form states: `draft` (being filled), `ready` (complete, waiting to be sent: the engine's
// pending), `in_flight` (sent or about to be, answer unknown), `synced` (the server holds it),
// `failed` (a permanent answer: needs attention), `returned` (a reviewer sent it back: edited here
// and resent as the next revision of the same form).

const DB_NAME = 'sipas-enumerator';
const DB_VERSION = 1;
let dbPromise = null;

function req(r) {
  return new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
}

/** Opens (and on first use creates) the database. */
export function open() {
  if (dbPromise) return dbPromise;
  dbPromise = new Promise((resolve, reject) => {
    const r = indexedDB.open(DB_NAME, DB_VERSION);
    r.onupgradeneeded = () => {
      const db = r.result;
      db.createObjectStore('meta');
      const forms = db.createObjectStore('forms', { keyPath: 'id' });
      forms.createIndex('state', 'state');
      db.createObjectStore('questionnaires', { keyPath: 'key' });
      db.createObjectStore('changes', { keyPath: 'seq' });
    };
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
    r.onblocked = () => reject(new Error('IndexedDB blocked'));
  });
  return dbPromise;
}

/** Runs `fn(stores)` in one transaction and resolves when it has committed. */
async function tx(names, mode, fn) {
  const db = await open();
  return new Promise((resolve, reject) => {
    const t = db.transaction(names, mode, { durability: 'strict' });
    const stores = Object.fromEntries(names.map((n) => [n, t.objectStore(n)]));
    let result;
    Promise.resolve(fn(stores))
      .then((r) => {
        result = r;
      })
      .catch((e) => {
        try {
          t.abort();
        } catch {
          // already finished
        }
        reject(e);
      });
    t.oncomplete = () => resolve(result);
    t.onerror = () => reject(t.error);
    t.onabort = () => reject(t.error || new Error('transaction aborted'));
  });
}

/** The enumerator's assignments as pulled, by id (`sync_protocol::Assignment`). */
export async function listAssignments() {
  return Object.values((await getMeta('assignments')) || {});
}

export async function getMeta(key) {
  return tx(['meta'], 'readonly', (s) => req(s.meta.get(key)));
}

export async function setMeta(key, value) {
  return tx(['meta'], 'readwrite', (s) => req(s.meta.put(value, key)));
}

export async function deleteMeta(key) {
  return tx(['meta'], 'readwrite', (s) => req(s.meta.delete(key)));
}

/** The installation's device id: made once, at first start, and kept. */
export async function deviceId() {
  return tx(['meta'], 'readwrite', async (s) => {
    const have = await req(s.meta.get('device_id'));
    if (have) return have;
    const id = `web-${crypto.randomUUID()}`;
    await req(s.meta.put(id, 'device_id'));
    return id;
  });
}

export async function getForm(id) {
  return tx(['forms'], 'readonly', (s) => req(s.forms.get(id)));
}

/** Writes a form record as it is (drafts: at every change). */
export async function putForm(form) {
  form.updated_at = new Date().toISOString();
  return tx(['forms'], 'readwrite', (s) => req(s.forms.put(form)));
}

export async function deleteForm(id) {
  return tx(['forms'], 'readwrite', (s) => req(s.forms.delete(id)));
}

/** Every form, oldest first. */
export async function listForms() {
  const all = await tx(['forms'], 'readonly', (s) => req(s.forms.getAll()));
  return all.sort((a, b) => (a.order ?? 0) - (b.order ?? 0));
}

/** Forms in a state, oldest first (at most `limit`). */
export async function formsIn(state, limit = Infinity) {
  const all = await tx(['forms'], 'readonly', (s) => req(s.forms.index('state').getAll(state)));
  return all.sort((a, b) => (a.order ?? 0) - (b.order ?? 0)).slice(0, limit);
}

/**
 * Moves forms from one of the `from` states to `to`, applying `patch(form)`; forms in another
 * state are left alone (a late answer never reopens a settled form). One transaction.
 */
export async function transition(ids, from, to, patch = () => ({})) {
  if (ids.length === 0) return;
  return tx(['forms'], 'readwrite', async (s) => {
    const now = new Date().toISOString();
    for (const id of ids) {
      const f = await req(s.forms.get(id));
      if (!f || !from.includes(f.state)) continue;
      Object.assign(f, patch(f), { state: to, updated_at: now });
      await req(s.forms.put(f));
    }
  });
}

export async function saveQuestionnaire(code, version, contentHash, definition) {
  return tx(['questionnaires'], 'readwrite', (s) =>
    req(s.questionnaires.put({ key: `${code}/${version}`, code, version, contentHash, definition })),
  );
}

export async function getQuestionnaire(code, version) {
  return tx(['questionnaires'], 'readonly', (s) => req(s.questionnaires.get(`${code}/${version}`)));
}

/**
 * Stores a page of pulled changes and the cursor after it, and applies what they mean to this
 * device, all in one transaction: a form a reviewer sent back becomes `returned` (with the
 * comment), an assignment is kept or withdrawn.
 */
export async function storeChanges(changes, cursor) {
  return tx(['changes', 'meta', 'forms'], 'readwrite', async (s) => {
    let assignments = null;
    for (const c of changes) {
      await req(s.changes.put(c));
      if (c.kind === 'form_returned') await applyReturn(s, c);
      else if (c.kind === 'assignment_changed') {
        assignments = assignments || (await req(s.meta.get('assignments'))) || {};
        applyAssignment(assignments, c.payload);
      }
    }
    if (assignments) await req(s.meta.put(assignments, 'assignments'));
    await req(s.meta.put(cursor, 'cursor'));
  });
}

/**
 * A `form_returned` change. The form becomes `returned` only while the device holds exactly the
 * revision that was sent back, as accepted: a later revision (already corrected, or a pull
 * replayed from the start) is left alone. A form this device does not hold (reinstalled) is
 * listed with its household, village and the comment, without answers to edit.
 */
async function applyReturn(s, c) {
  const forms = s.forms;
  const p = c.payload || {};
  if (!p.form_id) return;
  const returned = { revision: p.revision, comment: p.comment || '', by: p.by || null, at: c.at, seq: c.seq };
  const f = await req(forms.get(p.form_id));
  if (!f) {
    const order = ((await req(s.meta.get('order'))) || 0) + 1;
    await req(s.meta.put(order, 'order'));
    await req(
      forms.put({
        id: p.form_id,
        order,
        state: 'returned',
        orphan: true,
        round: p.round,
        revision: p.revision,
        units: { village: p.village },
        household_ref: p.household_ref,
        returned,
        created_at: c.at,
        updated_at: new Date().toISOString(),
      }),
    );
    return;
  }
  if (f.state !== 'synced' || (f.revision || 1) !== p.revision) return;
  if (f.returned && f.returned.seq === c.seq) return;
  Object.assign(f, { state: 'returned', returned, updated_at: new Date().toISOString() });
  await req(forms.put(f));
}

/** An `assignment_changed` change: a later one of the same id replaces it; quantity 0 withdraws. */
export function applyAssignment(assignments, a) {
  if (!a || a.id == null) return assignments;
  if (!a.quantity) delete assignments[a.id];
  else assignments[a.id] = a;
  return assignments;
}

export async function listChanges() {
  return tx(['changes'], 'readonly', (s) => req(s.changes.getAll()));
}

/** The next value of the form order counter (forms list and outbox order). */
export async function nextOrder() {
  return tx(['meta'], 'readwrite', async (s) => {
    const n = ((await req(s.meta.get('order'))) || 0) + 1;
    await req(s.meta.put(n, 'order'));
    return n;
  });
}
