// The shell: login, header (live status, notification badge), role-based navigation,
// the seed's toasts for every real-time event, and the hash router.

import { ApiError, get, hasSession, login, logout, onAuthLost, scheduleRefresh } from './api.js';
import * as live from './live.js';
import { $, ROLES, clear, h, toast } from './ui.js';
import * as agenda from './views/agenda.js';
import * as booking from './views/booking.js';
import * as bookings from './views/bookings.js';
import * as messages from './views/messages.js';
import * as notifications from './views/notifications.js';
import * as preferences from './views/preferences.js';
import * as publish from './views/publish.js';

const DEMO = [
  ['alice@demo.fr', 'Patiente'], ['bob@demo.fr', 'Patient'], ['chloe@demo.fr', 'Patiente'],
  ['dr.martin@demo.fr', 'Médecin'], ['dr.bernard@demo.fr', 'Médecin'],
  ['secretariat@demo.fr', 'Secrétariat'], ['admin@demo.fr', 'Super admin'],
];

const PATIENT_ROUTES = [
  ['rdv', 'Prendre rendez-vous', booking],
  ['mes-rdv', 'Mes rendez-vous', bookings],
  ['messages', 'Messages', messages],
  ['notifications', 'Notifications', notifications],
  ['preferences', 'Préférences', preferences],
];
const STAFF_ROUTES = [
  ['agenda', 'Agenda', agenda],
  ['creneaux', 'Publier des créneaux', publish],
  ['messages', 'Messages', messages],
  ['notifications', 'Notifications', notifications],
];

// Events the server keeps in the notification centre (the others are live-only).
const STORED = new Set([
  'rendezvous:created', 'rendezvous:new', 'rendezvous:confirmed', 'rendezvous:cancelled',
  'message:new', 'notification:general', 'rappel:reminder',
]);

const ctx = {
  me: null,
  activeConversation: null,
  unread: 0,
  unreadMessages: 0,
  go,
  setUnread,
  setUnreadMessages,
  routes: [],
};
let current = null; // {name, unmount}
const app = document.getElementById('app');

function setUnread(n) {
  ctx.unread = Math.max(0, n);
  const el = $('#unread-badge');
  if (el) { el.textContent = String(ctx.unread); el.hidden = ctx.unread === 0; }
}

function setUnreadMessages(n) {
  ctx.unreadMessages = Math.max(0, n);
  const el = $('#nav-messages-badge');
  if (el) { el.textContent = String(ctx.unreadMessages); el.hidden = ctx.unreadMessages === 0; }
}

function go(route, params = {}) {
  const query = new URLSearchParams(params).toString();
  const hash = `#/${route}${query ? `?${query}` : ''}`;
  if (window.location.hash === hash) render();
  else window.location.hash = hash;
}

function parseHash() {
  const [path, query] = window.location.hash.replace(/^#\/?/, '').split('?');
  return { name: path || '', params: Object.fromEntries(new URLSearchParams(query || '')) };
}

// --- login

function showLogin(message) {
  live.disconnect();
  if (current) { current.unmount?.(); current = null; }
  document.body.dataset.screen = 'login';
  if (window.location.pathname !== '/login') window.history.replaceState(null, '', '/login');
  const error = h('p', { class: 'alert alert-error', id: 'login-error', role: 'alert', hidden: !message, text: message || '' });
  const email = h('input', { type: 'email', name: 'email', id: 'email', autocomplete: 'username', required: true, placeholder: 'vous@exemple.fr' });
  const password = h('input', { type: 'password', name: 'password', id: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', text: 'Se connecter' });
  const form = h('form', { class: 'login-form', id: 'login-form', onsubmit: async (event) => {
    event.preventDefault();
    submit.disabled = true;
    error.hidden = true;
    try {
      await login(email.value.trim(), password.value);
      await start();
    } catch (err) {
      error.textContent = err instanceof ApiError ? err.message : 'Serveur injoignable, réessayez.';
      error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  } },
  h('label', { for: 'email', text: 'Adresse e-mail' }), email,
  h('label', { for: 'password', text: 'Mot de passe' }), password,
  error, submit);
  const demo = h('div', { class: 'demo-accounts' },
    h('p', { class: 'muted', text: 'Comptes de démonstration (mot de passe demo1234) :' }),
    h('div', { class: 'demo-list' }, DEMO.map(([mail, role]) => h('button', {
      type: 'button', class: 'chip', 'data-demo': mail, title: role,
      onclick: () => { email.value = mail; password.value = 'demo1234'; password.focus(); },
    }, h('strong', { text: mail.split('@')[0] }), ' ', h('span', { class: 'muted', text: role })))));
  clear(app, h('main', { class: 'login-page' },
    h('section', { class: 'card login-card' },
      h('div', { class: 'brand brand-large' }, h('span', { class: 'brand-logo', text: '✚' }), 'Cabinet en ligne'),
      h('p', { class: 'muted', text: 'Prise de rendez-vous médicaux en temps réel.' }),
      form, demo)));
  email.focus();
}

// --- the signed-in shell

async function start() {
  try {
    ctx.me = await get('me/');
  } catch (err) {
    showLogin(err instanceof ApiError && err.status === 401 ? 'Session expirée, reconnectez-vous.' : undefined);
    return;
  }
  if (window.location.pathname !== '/') window.history.replaceState(null, '', `/${window.location.hash}`);
  scheduleRefresh();
  ctx.routes = ctx.me.role === 'PATIENT' ? PATIENT_ROUTES : STAFF_ROUTES;
  renderShell();
  live.connect({
    authRequired: () => showLogin('Session expirée, reconnectez-vous.'),
    onStatus: setLiveStatus,
  });
  live.on('*', globalEvent);
  get('notifications/?page_size=1').then((page) => setUnread(page.non_lues || 0)).catch(() => {});
  get('conversations/?page_size=200').then((page) => setUnreadMessages(
    (page.results || []).reduce((sum, c) => sum + (c.non_lus || 0), 0))).catch(() => {});
  if (!ctx.routes.some(([name]) => name === parseHash().name)) {
    window.history.replaceState(null, '', `/#/${ctx.routes[0][0]}`);
  }
  render();
}

function setLiveStatus(state, detail) {
  const el = $('#live');
  if (!el) return;
  const labels = { on: 'Temps réel : connecté', off: 'Temps réel : hors ligne', connecting: 'Temps réel : connexion…' };
  el.dataset.live = state;
  el.textContent = labels[state] || state;
  el.title = detail || '';
}

function renderShell() {
  document.body.dataset.screen = 'app';
  const me = ctx.me;
  const nav = h('nav', { class: 'tabs', 'aria-label': 'Navigation' }, ctx.routes.map(([name, label]) => h('a', {
    href: `#/${name}`, 'data-route': name, class: 'tab',
  }, label, name === 'messages' ? h('span', { class: 'count', id: 'nav-messages-badge', hidden: true, text: '0' }) : null)));
  clear(app,
    h('header', { class: 'topbar' },
      h('div', { class: 'brand' }, h('span', { class: 'brand-logo', text: '✚' }), 'Cabinet en ligne'),
      h('span', { id: 'live', class: 'live', 'data-live': 'connecting', text: 'Temps réel : connexion…' }),
      h('div', { class: 'spacer' }),
      h('button', { type: 'button', class: 'bell', id: 'bell', title: 'Notifications', 'aria-label': 'Notifications', onclick: () => go('notifications') },
        bellIcon(), h('span', { class: 'count', id: 'unread-badge', 'data-testid': 'unread-badge', hidden: true, text: '0' })),
      h('div', { class: 'who' },
        h('strong', { id: 'who-name', text: `${me.role === 'MEDECIN' ? 'Dr ' : ''}${me.first_name} ${me.last_name}`.trim() || me.email }),
        h('span', { class: 'muted', id: 'who-role', 'data-role': me.role, text: ROLES[me.role] || me.role })),
      h('button', { type: 'button', class: 'btn btn-ghost', id: 'logout', text: 'Déconnexion', onclick: async () => {
        await logout();
        showLogin();
      } })),
    nav,
    h('main', { id: 'view', class: 'view' }));
  setUnread(ctx.unread);
  setUnreadMessages(ctx.unreadMessages);
}

function bellIcon() {
  const span = h('span', { class: 'bell-icon', 'aria-hidden': 'true' });
  // A static, trusted SVG (headless browsers often lack an emoji font).
  span.innerHTML = '<svg viewBox="0 0 24 24" width="20" height="20" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><path d="M18 8a6 6 0 0 0-12 0c0 7-3 9-3 9h18s-3-2-3-9"/><path d="M13.7 21a2 2 0 0 1-3.4 0"/></svg>';
  return span;
}

function render() {
  if (!ctx.me) return;
  const { name, params } = parseHash();
  const route = ctx.routes.find(([n]) => n === name) || ctx.routes[0];
  if (current) current.unmount?.();
  ctx.activeConversation = null;
  for (const tab of document.querySelectorAll('.tab')) tab.classList.toggle('active', tab.dataset.route === route[0]);
  const view = $('#view');
  clear(view);
  document.body.dataset.screen = route[0];
  current = { name: route[0], unmount: route[2].mount(view, ctx, params) };
}

function globalEvent(payload, event) {
  const me = ctx.me;
  const data = payload.data || {};
  if (event === 'message:new') {
    const mine = data.auteur && data.auteur.id === me.id;
    if (mine) return;
    setUnread(ctx.unread + 1);
    if (ctx.activeConversation === data.conversation) return;
    // The messages screen keeps its own count; elsewhere, count here.
    if (document.body.dataset.screen !== 'messages') setUnreadMessages(ctx.unreadMessages + 1);
    const who = data.auteur ? `${data.auteur.role === 'MEDECIN' ? 'Dr ' : ''}${data.auteur.first_name} ${data.auteur.last_name}` : '';
    toast(`Nouveau message${who ? ` de ${who}` : ''}`, 'info');
    return;
  }
  if (STORED.has(event)) setUnread(ctx.unread + 1);
  if (event === 'message:read' || event.startsWith('creneau:available') || event === 'creneau:unavailable') return;
  if (event === 'creneau:conflict') {
    toast("Ce créneau n'est plus disponible", 'error');
    return;
  }
  toast(payload.message, payload.type);
}

onAuthLost(() => showLogin('Session expirée, reconnectez-vous.'));
window.addEventListener('hashchange', render);

if (hasSession()) start();
else showLogin();
