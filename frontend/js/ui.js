// Small DOM, toast and date helpers. No framework: h() builds elements (text is always
// set with textContent, never parsed as HTML).

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else if (key in el && typeof value !== 'string') el[key] = value;
    else el.setAttribute(key, value === true ? '' : value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function clear(el, ...children) {
  el.replaceChildren();
  el.append(...children.flat(Infinity).filter((c) => c !== null && c !== undefined && c !== false));
  return el;
}

export function flash(el) {
  if (!el) return;
  el.classList.remove('flash');
  void el.offsetWidth; // restart the animation
  el.classList.add('flash');
}

// --- toasts: the seed's four types (success green, info blue, warning orange, error red)

const TOAST_TYPES = new Set(['success', 'info', 'warning', 'error']);
const TOAST_ICONS = { success: '✔', info: 'ℹ', warning: '⚠', error: '✖' };
const recentToasts = new Map();

export function toast(message, type = 'info', { timeout } = {}) {
  if (!message) return;
  if (!TOAST_TYPES.has(type)) type = 'info';
  // The same message twice within a few seconds (REST answer + socket event) shows once.
  const key = `${type}|${message}`;
  const now = Date.now();
  if (recentToasts.has(key) && now - recentToasts.get(key) < 4000) return;
  recentToasts.set(key, now);
  // #toasts (in index.html from the first paint, so screen readers watch it) is a polite
  // live region: a toast is read when it appears; an error is an alert (read at once).
  let box = $('#toasts');
  if (!box) {
    box = h('div', { id: 'toasts', 'aria-live': 'polite', 'aria-relevant': 'additions' });
    document.body.append(box);
  }
  const item = h('div', { class: `toast toast-${type}`, role: type === 'error' ? 'alert' : null, 'data-type': type },
    h('span', { class: 'toast-icon', 'aria-hidden': 'true', text: TOAST_ICONS[type] }),
    h('span', { class: 'toast-message', text: message }),
    h('button', { class: 'toast-close', type: 'button', 'aria-label': 'Fermer la notification', text: '×', onclick: () => item.remove() }),
  );
  box.append(item);
  while (box.children.length > 5) box.firstElementChild.remove();
  // Not removed while the pointer is on it or the keyboard is in it (time to read it).
  const expire = () => {
    if (item.matches(':hover, :focus-within')) setTimeout(expire, 1500);
    else item.remove();
  };
  setTimeout(expire, timeout ?? (type === 'error' ? 9000 : 6000));
}

// --- dates. Slot times come from the API as ISO strings in the practice's zone
// ("2025-05-12T09:00:00+02:00"): their date and time parts are shown as they are, so a
// patient abroad sees the practice's wall-clock time.

export const localDate = (iso) => iso.slice(0, 10);
export const localTime = (iso) => iso.slice(11, 16);

function utc(dateStr) {
  const [y, m, d] = dateStr.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d));
}

export function addDays(dateStr, days) {
  const date = utc(dateStr);
  date.setUTCDate(date.getUTCDate() + days);
  return date.toISOString().slice(0, 10);
}

export function mondayOf(dateStr) {
  const dow = (utc(dateStr).getUTCDay() + 6) % 7; // Monday = 0
  return addDays(dateStr, -dow);
}

export function today() {
  const now = new Date();
  const pad = (n) => String(n).padStart(2, '0');
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}`;
}

export function formatDay(dateStr, options = { weekday: 'long', day: 'numeric', month: 'long' }) {
  return utc(dateStr).toLocaleDateString('fr-FR', { ...options, timeZone: 'UTC' });
}

export function formatSlot(slot) {
  const text = `${formatDay(localDate(slot.debut), { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' })} à ${localTime(slot.debut).replace(':', 'h')}`;
  return text.charAt(0).toUpperCase() + text.slice(1);
}

// "2026-03-03T10:00:00+01:00" -> "mardi 3 mars 2026 à 10h00" (the practice's wall clock).
export function formatWhen(iso) {
  if (!iso) return '';
  return `${formatDay(localDate(iso), { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' })} à ${localTime(iso).replace(':', 'h')}`;
}

// An instant shown on the practice's wall clock: "mardi 3 mars 2026 à 10h00".
export function formatInZone(date, timeZone = 'Europe/Paris') {
  const text = new Date(date).toLocaleString('fr-FR', {
    timeZone, weekday: 'long', day: 'numeric', month: 'long', year: 'numeric', hour: '2-digit', minute: '2-digit',
  });
  return text.replace(/ (\d{2}):(\d{2})$/, ' à $1h$2').replace(' à à ', ' à ');
}

export function formatInstant(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  const sameDay = date.toDateString() === new Date().toDateString();
  return sameDay
    ? date.toLocaleTimeString('fr-FR', { hour: '2-digit', minute: '2-digit' })
    : date.toLocaleString('fr-FR', { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
}

function offsetMinutes(timeZone, ms) {
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-US', {
    timeZone, hourCycle: 'h23', year: 'numeric', month: '2-digit', day: '2-digit',
    hour: '2-digit', minute: '2-digit', second: '2-digit',
  }).formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  const asUtc = Date.UTC(+parts.year, +parts.month - 1, +parts.day, +parts.hour, +parts.minute, +parts.second);
  return Math.round((asUtc - ms) / 60000);
}

// "2025-05-12" + "09:00" in "Europe/Paris" -> "2025-05-12T09:00:00+02:00"
export function zonedIso(dateStr, timeStr, timeZone = 'Europe/Paris') {
  const [y, m, d] = dateStr.split('-').map(Number);
  const [hh, mm] = timeStr.split(':').map(Number);
  const wall = Date.UTC(y, m - 1, d, hh, mm);
  let instant = wall;
  for (let i = 0; i < 3; i += 1) instant = wall - offsetMinutes(timeZone, instant) * 60000;
  const off = offsetMinutes(timeZone, instant);
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  const pad = (n) => String(n).padStart(2, '0');
  return `${dateStr}T${pad(hh)}:${pad(mm)}:00${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

// --- labels

export const STATUTS = {
  EN_ATTENTE: { label: 'En attente de confirmation', short: 'En attente', cls: 'warning' },
  CONFIRME: { label: 'Confirmé', short: 'Confirmé', cls: 'success' },
  ANNULE: { label: 'Annulé', short: 'Annulé', cls: 'error' },
};

export const ROLES = {
  PATIENT: 'Patient',
  MEDECIN: 'Médecin',
  ADMINCABINET: 'Secrétariat',
  SUPERADMIN: 'Administrateur',
};

export function badge(statut) {
  const s = STATUTS[statut] || { short: statut, cls: 'info' };
  return h('span', { class: `badge badge-${s.cls}`, 'data-statut': statut, text: s.short });
}

export function personName(person) {
  if (!person) return '';
  const name = `${person.first_name || ''} ${person.last_name || ''}`.trim();
  return person.role === 'MEDECIN' || person.specialite !== undefined ? `Dr ${name}` : name;
}

export function errorMessage(error) {
  if (!error) return 'Erreur inconnue';
  // Validation messages ({field: ["…"]}) are shown; other details (a slot, an ISO limit)
  // are data for the screen, not text.
  const collect = (v, listed) => {
    if (typeof v === 'string') return listed ? [v] : [];
    if (Array.isArray(v)) return v.flatMap((x) => collect(x, true));
    if (v && typeof v === 'object') return Object.values(v).flatMap((x) => collect(x, false));
    return [];
  };
  const details = [...new Set(collect(error.details, false))];
  return details.length ? `${error.message} : ${details.join(' ')}` : error.message || String(error);
}
