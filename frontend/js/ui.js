// Small DOM and toast helpers (dates: dates.js, re-exported here). No framework: h() builds elements (text is always
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

// --- dates: in French and in the practice's zone, from one module (dates.js).

export {
  addDays, formatDay, formatInstant, formatSlot, formatWhen, localDate, localTime, mondayOf, today,
  zonedIso,
} from './dates.js';

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
