// Account forms (sign-up, profile, password): a labelled field with its own error line
// (aria-describedby, aria-invalid), the API's French messages put next to the fields they
// name (`details: {field: ["…"]}`), and the text of a refusal for the form's banner.

import { ApiError } from './api.js';
import { errorMessage, h } from './ui.js';

// {wrap, input, error}: `input` is an <input> (its id is the field's id).
export function field(label, input, hint) {
  const error = h('p', { class: 'field-error', id: `${input.id}-error`, hidden: true });
  const help = hint ? h('p', { class: 'muted field-hint', id: `${input.id}-hint`, text: hint }) : null;
  input.setAttribute('aria-describedby', [help && help.id, error.id].filter(Boolean).join(' '));
  const wrap = h('div', { class: 'field', 'data-field': input.name || input.id },
    h('label', { for: input.id, text: label }), input, help, error);
  return { wrap, input, error };
}

export function clearFieldErrors(fields) {
  for (const f of Object.values(fields)) {
    f.error.hidden = true;
    f.error.textContent = '';
    f.input.removeAttribute('aria-invalid');
  }
}

export function setFieldError(f, message) {
  f.error.textContent = message;
  f.error.hidden = false;
  f.input.setAttribute('aria-invalid', 'true');
}

// Puts each message of `error.details` under its field; the first field in error gets the
// focus. Returns the names of the fields shown, in the form's order.
export function showFieldErrors(fields, error) {
  clearFieldErrors(fields);
  const shown = [];
  const details = error && error.details && typeof error.details === 'object' ? error.details : {};
  for (const [name, f] of Object.entries(fields)) {
    const messages = details[name];
    const list = (Array.isArray(messages) ? messages : [messages]).filter((m) => typeof m === 'string');
    if (!list.length) continue;
    setFieldError(f, list.join(' '));
    shown.push(name);
  }
  if (shown.length) fields[shown[0]].input.focus();
  return shown;
}

// "dans 3 minutes" / "dans 40 secondes"
function delay(seconds) {
  const s = Math.max(1, Math.ceil(Number(seconds) || 0));
  if (s < 60) return `${s} seconde${s > 1 ? 's' : ''}`;
  const m = Math.ceil(s / 60);
  if (m < 60) return `${m} minute${m > 1 ? 's' : ''}`;
  const hours = Math.ceil(m / 60);
  return `${hours} heure${hours > 1 ? 's' : ''}`;
}

// The banner's text for a failed request. A 429 (brute-force protection on login, sign-up
// and password reset) says how long to wait.
export function failureText(error, { fieldsShown = [] } = {}) {
  if (!(error instanceof ApiError)) return 'Serveur injoignable, réessayez.';
  if (error.status === 429) {
    const wait = error.details && error.details.retry_after;
    return wait ? `Trop de tentatives. Réessayez dans ${delay(wait)}.` : 'Trop de tentatives. Réessayez plus tard.';
  }
  return fieldsShown.length ? error.message : errorMessage(error);
}
