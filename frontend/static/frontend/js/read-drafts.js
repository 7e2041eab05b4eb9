/**
 * Drafts of reads: what a reader ticked but has not submitted, kept in this
 * browser's localStorage per assignment, so a reload or a crashed tab loses
 * nothing. A draft is cleared when its read is submitted; drafts older than
 * `MAX_AGE_MS` are dropped when the page starts.
 *
 *   saveDraft(assignment, read)   // labels, quality, comment… as the page sends them
 *   loadDraft(assignment)         // the read, or null
 *   clearDraft(assignment)
 *   pruneDrafts()
 *
 * Storage may be refused (private mode, quota): then drafts last as long as the page.
 */

const PREFIX = "ecg-annotator.draft.";
const MAX_AGE_MS = 14 * 24 * 3600 * 1000;
const memory = new Map(); // the fallback when localStorage refuses

function storage() {
  try {
    return window.localStorage;
  } catch {
    return null;
  }
}

/** Whether a read holds anything worth keeping. */
export function isBlank(read) {
  if (!read) return true;
  const filled = (value) => (Array.isArray(value) ? value.length > 0 : value && typeof value === "object" ? Object.keys(value).length > 0 : Boolean(value));
  return !Object.entries(read).some(([key, value]) => key !== "duration_ms" && filled(value));
}

export function saveDraft(assignment, read) {
  const key = PREFIX + assignment;
  if (isBlank(read)) {
    clearDraft(assignment);
    return;
  }
  const text = JSON.stringify({ savedAt: Date.now(), read });
  memory.set(key, text);
  try {
    storage()?.setItem(key, text);
  } catch {
    // quota or privacy settings: the in-memory copy lasts for this page
  }
}

export function loadDraft(assignment) {
  const key = PREFIX + assignment;
  let text = memory.get(key) ?? null;
  try {
    text = storage()?.getItem(key) ?? text;
  } catch {
    // no storage: the in-memory copy, if any
  }
  if (!text) return null;
  try {
    const { read } = JSON.parse(text);
    return read && typeof read === "object" && !isBlank(read) ? read : null;
  } catch {
    return null; // a damaged entry is no draft
  }
}

export function clearDraft(assignment) {
  memory.delete(PREFIX + assignment);
  try {
    storage()?.removeItem(PREFIX + assignment);
  } catch {
    // nothing stored
  }
}

export function pruneDrafts(now = Date.now()) {
  const store = storage();
  if (!store) return;
  try {
    for (let i = store.length - 1; i >= 0; i--) {
      const key = store.key(i);
      if (!key?.startsWith(PREFIX)) continue;
      let savedAt = 0;
      try {
        savedAt = JSON.parse(store.getItem(key)).savedAt ?? 0;
      } catch {
        // unreadable: dropped below
      }
      if (now - savedAt > MAX_AGE_MS) store.removeItem(key);
    }
  } catch {
    // storage went away while pruning
  }
}
