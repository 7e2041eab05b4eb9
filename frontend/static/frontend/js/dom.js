/**
 * Small helpers the page modules share: JSON calls to the API with the session's
 * CSRF token and the API's own error message, the server's enumerations,
 * building DOM nodes, and Plotly.js once it has loaded.
 */

/** A failed API call: `status` is the HTTP status (0: no answer), `message` says what to do. */
export class ApiError extends Error {
  constructor(status, message, code = "") {
    super(message);
    this.status = status;
    this.code = code; // the API's "code" for refusals a page acts on, e.g. "already_submitted"
  }
}

export function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  if (match) return decodeURIComponent(match[1]);
  // CSRF_COOKIE_HTTPONLY deployments: the token of a form on the page.
  return document.querySelector("input[name=csrfmiddlewaretoken]")?.value ?? "";
}

/** The API's message: its `detail`, else each field's errors, else the status. */
function describe(data, status) {
  if (data?.detail) return String(data.detail);
  if (data && typeof data === "object") {
    const parts = Object.entries(data).map(([field, errors]) =>
      `${field === "non_field_errors" ? "" : `${field}: `}${[].concat(errors).join(" ")}`,
    );
    if (parts.length) return parts.join(" ");
  }
  return `The server answered ${status}. Try again, or reload the page.`;
}

/** Fetch JSON from the API: the data, or null for 204; throws an ApiError. */
export async function api(url, { method = "GET", body, headers = {} } = {}) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json", ...headers } };
  if (method !== "GET") init.headers["X-CSRFToken"] = csrfToken();
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, init);
  } catch {
    throw new ApiError(0, "The server cannot be reached. Check the connection and try again.");
  }
  if (response.status === 204) return null;
  let data = null;
  try {
    data = await response.json();
  } catch {
    // an empty or non-JSON body: described by its status
  }
  if (!response.ok) throw new ApiError(response.status, describe(data, response.status), data?.code ?? "");
  return data;
}

/** A user-facing string in the page's language (Django's JavaScript catalog,
 * loaded by base.html; the text as written when it is absent). */
export function gettext(text) {
  return typeof window.gettext === "function" ? window.gettext(text) : text;
}

/** Fill `%(name)s` placeholders of an already translated `text` from `values`. */
function fill(text, values) {
  return text.replace(/%\((\w+)\)s/g, (whole, name) => (name in values ? String(values[name]) : whole));
}

/** `gettext` with `%(name)s` placeholders filled from `values`. */
export function interpolate(text, values) {
  return fill(gettext(text), values);
}

/** The singular or plural sentence for `count` (Django's catalog `ngettext`),
 * with `%(name)s` placeholders filled from `values`. */
export function ninterpolate(singular, plural, count, values) {
  const text =
    typeof window.ngettext === "function" ? window.ngettext(singular, plural, count) : count === 1 ? singular : plural;
  return fill(text, values);
}

let enumCache = null;

/** The server's enumerations (base.html's `enums` script): `{name: [{value, label}…]}`. */
export function enums() {
  enumCache ??= JSON.parse(document.getElementById("enums")?.textContent || "{}");
  return enumCache;
}

/** One enumeration as a Map from value to label, in the server's order. */
export function enumLabels(name) {
  return new Map((enums()[name] || []).map(({ value, label }) => [value, label]));
}

/** `el("td", {class: "x", onclick: f}, child, "text", ...)`: a new element. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Whether keys typed at `node` are text (so page shortcuts must leave them alone). */
export function isTextField(node) {
  if (!(node instanceof HTMLElement)) return false;
  if (node.isContentEditable || node.tagName === "TEXTAREA" || node.tagName === "SELECT") return true;
  return node.tagName === "INPUT" && !["checkbox", "radio", "button", "submit", "reset"].includes(node.type);
}

/** Show `message` in the page's error box (#page-error); an empty message hides it. */
export function showError(message) {
  const box = document.getElementById("page-error");
  box.textContent = message;
  box.hidden = !message;
}

/** Say `message` in a live region; a fresh text node makes repeated messages heard too. */
export function announce(region, message) {
  region.textContent = "";
  requestAnimationFrame(() => {
    region.textContent = message;
  });
}

let plotlyPromise = null;

/** Plotly.js once it has run (the page includes /vendor/plotly-<version>.min.js). */
export function plotlyReady() {
  if (window.Plotly) return Promise.resolve(window.Plotly);
  if (!plotlyPromise) {
    plotlyPromise = new Promise((resolve, reject) => {
      const script = document.querySelector('script[src*="/vendor/plotly-"]');
      if (!script) {
        reject(new Error("Plotly.js is not on this page (/vendor/plotly-<version>.min.js)."));
        return;
      }
      script.addEventListener("load", () => resolve(window.Plotly));
      script.addEventListener("error", () => reject(new Error("Plotly.js failed to load.")));
    });
  }
  return plotlyPromise;
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Resolves when the tab is visible: polling waits while nobody looks. */
export function visible() {
  if (!document.hidden) return Promise.resolve();
  return new Promise((resolve) => {
    document.addEventListener("visibilitychange", function wait() {
      if (!document.hidden) {
        document.removeEventListener("visibilitychange", wait);
        resolve();
      }
    });
  });
}

// Ages at or above this are stored as it and mean "this or older" (AGE_CAP in
// annotator/models/exams.py, whose age_text() says the same on the server).
export const AGE_CAP = 90;

/** An exam's age as every page shows it: "63", "90+" at the cap; with `unit`,
 * "63 years", "90+ years". "" when the age is unknown. */
export function ageText(exam, { unit = false } = {}) {
  const age = exam?.age;
  if (!Number.isFinite(age)) return "";
  const text = age >= AGE_CAP ? `${AGE_CAP}+` : String(age);
  return unit ? interpolate("%(age)s years", { age: text }) : text;
}

/** How reader and adjudicator pages name an exam: by its display key, never
 * the source id (which can carry the acquisition time). */
export function examTitle(displayKey) {
  return interpolate("Exam %(key)s", { key: displayKey });
}

/** The day an exam was recorded (`acquired_on`, "YYYY-MM-DD"), in the reader's
 * locale; "" when the campaign hides it or it is unknown. */
export function dayText(isoDay) {
  if (!isoDay) return "";
  const [year, month, day] = isoDay.split("-").map(Number);
  return new Date(year, month - 1, day).toLocaleDateString();
}

// The machine's measurements an exam may carry (ingest: *_ms, *_bpm, *_deg keys).
const MEASUREMENTS = [
  ["hr_bpm", "HR", "bpm"],
  ["rr_ms", "RR", "ms"],
  ["pr_ms", "PR", "ms"],
  ["qrs_ms", "QRS", "ms"],
  ["qt_ms", "QT", "ms"],
  ["qtc_ms", "QTc", "ms"],
  ["p_axis_deg", gettext("P axis"), "°"],
  ["qrs_axis_deg", gettext("QRS axis"), "°"],
  ["t_axis_deg", gettext("T axis"), "°"],
];

/** Show the machine's measurements in `section` (its <dl> gets one <div><dt><dd> per
 * value, in reading order); the section is hidden when there are none. */
export function showMeasurements(section, measurements) {
  const known = measurements && typeof measurements === "object" ? measurements : {};
  const items = MEASUREMENTS.filter(([key]) => Number.isFinite(known[key])).map(([key, name, unit]) =>
    el("div", {}, el("dt", {}, name), el("dd", {}, `${Math.round(known[key])}${unit === "°" ? "" : " "}${unit}`)),
  );
  section.hidden = items.length === 0;
  section.querySelector("dl").replaceChildren(...items);
}
