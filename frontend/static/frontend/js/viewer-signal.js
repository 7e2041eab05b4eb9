/**
 * The ECG viewer's data: the signal endpoint's binary payload (api/signal.py)
 * and the samples of one lead between two times.
 *
 * Samples arrive as int16 microvolts (with int32 sample indices when the server
 * decimated with M4) and go to Plotly as typed arrays, never as JSON numbers.
 */

import { ApiError } from "./dom.js";

/** Parse the binary signal payload: uint32 header length, JSON header, aligned blocks. */
export function parseSignal(buffer) {
  const view = new DataView(buffer);
  const headerLength = view.getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, headerLength)));
  const dataStart = (4 + headerLength + 3) & ~3;
  const block = (spec, Type) => {
    if (!spec) return null;
    const [offset, byteLength] = spec;
    const at = dataStart + offset;
    // Views need aligned offsets; the server pads, but copy rather than fail.
    if (at % Type.BYTES_PER_ELEMENT === 0) {
      return new Type(buffer, at, byteLength / Type.BYTES_PER_ELEMENT);
    }
    return new Type(buffer.slice(at, at + byteLength));
  };
  const leads = new Map();
  for (const lead of header.leads) {
    leads.set(lead.name, { n: lead.n, y: block(lead.y, Int16Array), x: block(lead.x, Int32Array) });
  }
  const fs = header.sampling_rate;
  return {
    exam: header.exam,
    fs,
    start: header.start,
    end: header.end,
    method: header.method,
    width: header.width,
    x0: header.x0 ?? Math.round(header.start * fs),
    nWindow: header.n_window,
    duration: header.duration ?? header.n_window / fs,
    // {highpass, lowpass, notch, label} the server applied, or null: raw
    filters: header.filters ?? null,
    leads,
    bytes: buffer.byteLength,
    // Pixel columns per second this payload is exact for (raw: any).
    resolution: header.method === "raw" ? Infinity : header.width / Math.max(header.end - header.start, 1e-9),
  };
}

function lowerBound(array, value) {
  let lo = 0;
  let hi = array.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (array[mid] < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** One lead's samples between times a and b (s) as Plotly arrays: µV times
 * `scale` (a gain other than the paper's, or -1 for an inverted lead) plus `offset`. */
export function segment(signal, lead, a, b, offset, scale = 1) {
  const data = signal.leads.get(lead);
  if (!data) return null;
  const { fs } = signal;
  if (!data.x) {
    // Raw: sample i is at start + i / fs.
    const i0 = Math.max(0, Math.ceil((a - signal.start) * fs - 1e-6));
    const i1 = Math.min(data.y.length, Math.floor((b - signal.start) * fs + 1e-6) + 1);
    if (i1 - i0 < 1) return null;
    const y = new Float32Array(i1 - i0);
    const source = data.y;
    for (let i = 0; i < y.length; i++) y[i] = source[i0 + i] * scale + offset;
    return { x0: signal.start + i0 / fs, dx: 1 / fs, y, simplify: true };
  }
  // M4: per-lead sample indices relative to x0, ascending.
  const k0 = lowerBound(data.x, a * fs - signal.x0 - 1e-6);
  const k1 = lowerBound(data.x, b * fs - signal.x0 + 1e-6);
  if (k1 - k0 < 1) return null;
  const x = new Float64Array(k1 - k0);
  const y = new Float32Array(k1 - k0);
  for (let k = 0; k < x.length; k++) {
    x[k] = (signal.x0 + data.x[k0 + k]) / fs;
    y[k] = data.y[k0 + k] * scale + offset;
  }
  // Decimated points are already the pixel-exact minimum: no further simplifying.
  return { x, y, simplify: false };
}

/** A lead's value in µV at time t (s): the nearest sample (raw) or decimated point. */
export function valueAt(signal, lead, t) {
  const data = signal?.leads.get(lead);
  if (!data || t < signal.start || t > signal.end) return null;
  if (!data.x) {
    const i = Math.round((t - signal.start) * signal.fs);
    return i >= 0 && i < data.y.length ? data.y[i] : null;
  }
  const k = Math.min(lowerBound(data.x, t * signal.fs - signal.x0), data.x.length - 1);
  return k >= 0 ? data.y[k] : null;
}

/** The filters to ask the server for at a sampling rate: a low-pass at or above
 * Nyquist (150 Hz on a 250 Hz record) is left out rather than refused. */
export function filtersFor(filters, fs) {
  const out = { ...filters };
  if (fs && out.lowpass != null && out.lowpass >= fs / 2) out.lowpass = null;
  return out;
}

/** The query of a set of display filters ({highpass, lowpass, notch}, null = off). */
export function filterQuery(filters) {
  const params = new URLSearchParams();
  for (const name of ["highpass", "lowpass", "notch"]) {
    if (filters?.[name] != null) params.set(name, String(filters[name]));
  }
  return params;
}

/**
 * GET one exam's signal: `width` pixel columns over [start, end] s (the whole
 * record when both are null), display-filtered on the server, parsed. Throws an ApiError with the API's message.
 */
export async function fetchSignal(apiRoot, examId, { width, start = null, end = null, filters = null, signal = undefined }) {
  const params = filterQuery(filters);
  params.set("width", String(width));
  if (start !== null) params.set("start", String(start));
  if (end !== null) params.set("end", String(end));
  const response = await fetch(`${apiRoot}exams/${encodeURIComponent(examId)}/signal/?${params}`, {
    credentials: "same-origin",
    headers: { Accept: "application/octet-stream" },
    signal,
  });
  if (!response.ok) {
    let detail = `The signal could not be loaded (HTTP ${response.status}).`;
    try {
      detail = (await response.json()).detail || detail;
    } catch {
      // not JSON: keep the generic message
    }
    throw new ApiError(response.status, detail);
  }
  return parseSignal(await response.arrayBuffer());
}
