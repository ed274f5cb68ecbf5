// The shell: login, header (live status, notification badge), role-based navigation,
// the seed's toasts for every real-time event, and the hash router.

import { ApiError, get, hasSession, login, logout, onAuthLost, publicPost, scheduleRefresh } from './api.js';
import { setZone } from './dates.js';
import { failureText } from './forms.js';
import * as live from './live.js';
import { noticeText } from './notif-text.js';
import { $, ROLES, clear, h, toast } from './ui.js';
import * as agenda from './views/agenda.js';
import * as booking from './views/booking.js';
import * as bookings from './views/bookings.js';
import * as horaires from './views/horaires.js';
import * as inscription from './views/inscription.js';
import * as journee from './views/journee.js';
import * as messages from './views/messages.js';
import * as notifications from './views/notifications.js';
import * as preferences from './views/preferences.js';
import * as profil from './views/profil.js';
import * as publish from './views/publish.js';
import * as reglages from './views/reglages.js';

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
  ['profil', 'Mon profil', profil],
];
const STAFF_ROUTES = [
  ['agenda', 'Agenda', agenda],
  ['horaires', 'Horaires et absences', horaires],
  ['creneaux', 'Publier des créneaux', publish],
  ['reglages', 'Motifs et règles', reglages],
  ['messages', 'Messages', messages],
  ['notifications', 'Notifications', notifications],
  ['profil', 'Mon profil', profil],
];
// The secretary opens on the practice's day, every doctor side by side.
const SECRETARY_ROUTES = [['journee', 'Journée du cabinet', journee], ...STAFF_ROUTES];
// A doctor may subscribe a calendar application to their agenda.
const DOCTOR_ROUTES = [...STAFF_ROUTES.slice(0, -1), ['preferences', 'Mon agenda', preferences], ...STAFF_ROUTES.slice(-1)];

// Events the server keeps in the notification centre (the others are live-only).
const STORED = new Set([
  'rendezvous:created', 'rendezvous:new', 'rendezvous:confirmed', 'rendezvous:cancelled',
  'rendezvous:moved', 'message:new', 'notification:general', 'rappel:reminder', 'creneau:offered',
]);

const ctx = {
  me: null,
  wantedRoute: null, // the route a page opened on, kept through the log-in screen
  activeConversation: null,
  unread: 0,
  unreadMessages: 0,
  unreadKnown: false, // the first counts are loaded silently; later rises are announced
  go,
  setUnread,
  setUnreadMessages,
  routes: [],
  // Every session of the account closed (the profile's "log out everywhere").
  loggedOut: (message) => showLogin(undefined, message),
  // The header's name again, from ctx.me (the profile saved a new one).
  showName: () => { const el = $('#who-name'); if (el) el.textContent = accountName(ctx.me); },
};
let current = null; // {name, unmount}
const app = document.getElementById('app');

// The unread counts: a visible badge (a bare number, hidden from screen readers), the
// control's accessible name carrying the count in words, and a polite announcement when
// a count goes up (not on the first load, not when it goes down).
const plural = (n, one, many) => (n > 1 ? many : one);
const unreadWords = (n) => (n ? `${n} ${plural(n, 'notification non lue', 'notifications non lues')}` : 'aucune notification non lue');
const messageWords = (n) => `${n} ${plural(n, 'message non lu', 'messages non lus')}`;

function announce(text) {
  const box = $('#sr-status');
  if (!box) return;
  // Cleared first so the same sentence twice is announced twice.
  box.textContent = '';
  setTimeout(() => { box.textContent = text; }, 100);
}

function setUnread(n) {
  const before = ctx.unread;
  ctx.unread = Math.max(0, n);
  const el = $('#unread-badge');
  if (el) { el.textContent = String(ctx.unread); el.hidden = ctx.unread === 0; }
  const bell = $('#bell');
  if (bell) bell.setAttribute('aria-label', `Notifications : ${unreadWords(ctx.unread)}`);
  if (bell && ctx.unread > before && ctx.unreadKnown) announce(unreadWords(ctx.unread));
}

function setUnreadMessages(n) {
  const before = ctx.unreadMessages;
  ctx.unreadMessages = Math.max(0, n);
  const text = String(ctx.unreadMessages);
  for (const el of [$('#nav-messages-badge'), $('#menu-badge')]) {
    if (el) { el.textContent = text; el.hidden = ctx.unreadMessages === 0; }
  }
  const words = ctx.unreadMessages ? ` (${messageWords(ctx.unreadMessages)})` : '';
  const navWords = $('#nav-messages-words');
  if (navWords) navWords.textContent = words;
  const menuWords = $('#menu-words');
  if (menuWords) menuWords.textContent = words;
  if (navWords && ctx.unreadMessages > before && ctx.unreadKnown) announce(messageWords(ctx.unreadMessages));
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

function showLogin(message, info) {
  live.disconnect();
  ctx.me = null; // logged out: the router shows the sign-up screen, not the app's routes
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
      await start({ focusTitle: true });
    } catch (err) {
      error.textContent = err instanceof ApiError && err.status !== 429 ? err.message : failureText(err);
      error.hidden = false;
    } finally {
      submit.disabled = false;
    }
  } },
  h('label', { for: 'email', text: 'Adresse e-mail' }), email,
  h('label', { for: 'password', text: 'Mot de passe' }), password,
  error, submit);
  const notice = h('p', { class: 'alert alert-success', id: 'login-info', role: 'status', hidden: !info, text: info || '' });
  const resetBox = h('div', { id: 'reset-box' });
  const forgot = h('button', { type: 'button', class: 'linklike link', id: 'forgot', 'aria-expanded': 'false',
    text: 'Mot de passe oublié, ou compte créé par votre cabinet ?', onclick: () => {
      if (resetBox.firstChild) { clear(resetBox); forgot.setAttribute('aria-expanded', 'false'); return; }
      forgot.setAttribute('aria-expanded', 'true');
      resetRequest(resetBox, email.value.trim());
    } });
  const demo = h('div', { class: 'demo-accounts' },
    h('p', { class: 'muted', text: 'Comptes de démonstration (mot de passe demo1234) :' }),
    h('div', { class: 'demo-list' }, DEMO.map(([mail, role]) => h('button', {
      type: 'button', class: 'chip', 'data-demo': mail, title: role,
      onclick: () => { email.value = mail; password.value = 'demo1234'; password.focus(); },
    }, h('strong', { text: mail.split('@')[0] }), ' ', h('span', { class: 'muted', text: role })))));
  clear(app, h('main', { class: 'login-page', id: 'contenu', tabindex: '-1' },
    h('section', { class: 'card login-card' },
      h('h1', { class: 'brand brand-large' }, h('span', { class: 'brand-logo', 'aria-hidden': 'true', text: '✚' }), 'Cabinet en ligne'),
      h('p', { class: 'muted', text: 'Prise de rendez-vous médicaux en temps réel.' }),
      notice, form, forgot, resetBox,
      h('p', { class: 'signup-link' }, 'Pas encore de compte ? ', h('a', { href: '#/inscription', id: 'to-signup', text: 'Créer un compte' })),
      demo)));
  email.focus();
}

// Sign-up (#/inscription): logged in at once, or told to open the e-mail (a record made
// on the phone is claimed through its link).
function showSignup() {
  live.disconnect();
  if (current) { current.unmount?.(); current = null; }
  document.body.dataset.screen = 'inscription';
  inscription.mount(app, {
    done: () => { window.history.replaceState(null, '', '/'); start(); },
    back: () => showLogin(),
  });
}

// "Send me a link": the same answer whether the address is known or not (no account probing).
function resetRequest(box, prefill) {
  const input = h('input', { type: 'email', id: 'reset-email', required: true, autocomplete: 'email', value: prefill || '' });
  const result = h('div', { class: 'banner-area' });
  const submit = h('button', { type: 'submit', class: 'btn btn-ghost', id: 'reset-submit', text: 'Recevoir un lien par e-mail' });
  clear(box, h('form', { class: 'login-form', id: 'reset-form', onsubmit: async (event) => {
    event.preventDefault();
    submit.disabled = true;
    try {
      const answer = await publicPost('auth/password-reset/', { email: input.value.trim() });
      clear(result, h('p', { class: 'alert alert-success', role: 'status', id: 'reset-sent', text: answer.message }));
    } catch (err) {
      clear(result, h('p', { class: 'alert alert-error', role: 'alert', id: 'reset-refused', text: failureText(err) }));
    } finally {
      submit.disabled = false;
    }
  } },
  h('p', { class: 'muted', text: "Recevez un lien pour choisir votre mot de passe. Si votre cabinet vous a inscrit par téléphone, c'est ainsi que vous activez votre compte (votre historique est conservé)." }),
  h('label', { for: 'reset-email', text: 'Adresse e-mail' }), input, submit, result));
  input.focus();
}

// The e-mail's link: /reinitialiser?uid=…&token=… — choose a password, then log in.
function showReset(uid, token) {
  live.disconnect();
  document.body.dataset.screen = 'reinitialiser';
  const password = h('input', { type: 'password', id: 'new-password', autocomplete: 'new-password', required: true, minLength: 8 });
  const again = h('input', { type: 'password', id: 'new-password-2', autocomplete: 'new-password', required: true, minLength: 8 });
  const error = h('div', { class: 'banner-area', id: 'reset-error' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', id: 'new-password-submit', text: 'Enregistrer le mot de passe' });
  clear(app, h('main', { class: 'login-page', id: 'contenu', tabindex: '-1' },
    h('section', { class: 'card login-card' },
      h('div', { class: 'brand brand-large' }, h('span', { class: 'brand-logo', 'aria-hidden': 'true', text: '✚' }), 'Cabinet en ligne'),
      h('h1', { class: 'page-title', text: 'Choisir votre mot de passe' }),
      h('form', { class: 'login-form', id: 'new-password-form', onsubmit: async (event) => {
        event.preventDefault();
        if (password.value !== again.value) {
          clear(error, h('p', { class: 'alert alert-error', role: 'alert', text: 'Les deux mots de passe ne sont pas identiques.' }));
          return;
        }
        submit.disabled = true;
        try {
          const answer = await publicPost('auth/password-reset/confirm/', { uid, token, password: password.value });
          window.history.replaceState(null, '', '/login');
          showLogin(undefined, answer.message);
        } catch (err) {
          clear(error, h('p', { class: 'alert alert-error', role: 'alert', 'data-testid': 'reset-error', text: failureText(err) }));
          submit.disabled = false;
        }
      } },
      h('label', { for: 'new-password', text: 'Nouveau mot de passe (8 caractères au moins)' }), password,
      h('label', { for: 'new-password-2', text: 'Confirmez-le' }), again,
      error, submit),
      h('a', { href: '/login', text: 'Retour à la connexion' }))));
  password.focus();
}

// --- the signed-in shell

// focusTitle: after signing in, focus lands on the first screen's title; on a page load it
// stays at the top of the document, so the skip link is the first Tab stop.
async function start({ focusTitle = false } = {}) {
  try {
    ctx.me = await get('me/');
    setZone(ctx.me.timezone); // every date in the practice's zone, whatever the browser's
  } catch (err) {
    showLogin(err instanceof ApiError && err.status === 401 ? 'Session expirée, reconnectez-vous.' : undefined);
    return;
  }
  if (window.location.pathname !== '/') window.history.replaceState(null, '', `/${ctx.wantedRoute || window.location.hash}`);
  ctx.wantedRoute = null;
  scheduleRefresh();
  ctx.routes = { PATIENT: PATIENT_ROUTES, ADMINCABINET: SECRETARY_ROUTES, MEDECIN: DOCTOR_ROUTES }[ctx.me.role]
    || STAFF_ROUTES;
  renderShell();
  live.connect({
    authRequired: () => showLogin('Session expirée, reconnectez-vous.'),
    onStatus: setLiveStatus,
  });
  live.on('*', globalEvent);
  ctx.unreadKnown = false;
  Promise.allSettled([
    get('notifications/?page_size=1').then((page) => setUnread(page.non_lues || 0)),
    get('conversations/?page_size=200').then((page) => setUnreadMessages(
      (page.results || []).reduce((sum, c) => sum + (c.non_lus || 0), 0))),
  ]).then(() => { ctx.unreadKnown = true; });
  if (!ctx.routes.some(([name]) => name === parseHash().name)) {
    window.history.replaceState(null, '', `/#/${ctx.routes[0][0]}`);
  }
  render({ focusTitle });
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
  // The current screen's own tab re-opens it (and folds the phone menu) instead of doing nothing.
  const nav = h('nav', { class: 'tabs', id: 'main-nav', 'aria-label': 'Navigation principale', onclick: (event) => {
    const tab = event.target.closest('.tab');
    if (tab && tab.getAttribute('href') === window.location.hash) { event.preventDefault(); render(); }
  } }, ctx.routes.map(([name, label]) => h('a', {
    href: `#/${name}`, 'data-route': name, class: 'tab',
  }, label, name === 'messages' ? [
    h('span', { class: 'count', id: 'nav-messages-badge', 'aria-hidden': 'true', hidden: true, text: '0' }),
    h('span', { class: 'sr-only', id: 'nav-messages-words' }),
  ] : null)));
  // On a phone the navigation and the account block fold under a "Menu" disclosure button.
  const menu = h('button', {
    type: 'button', class: 'btn btn-ghost menu-toggle', id: 'menu-toggle', 'aria-expanded': 'false',
    'aria-controls': 'main-nav account', onclick: () => setMenu(menu.getAttribute('aria-expanded') !== 'true'),
  }, h('span', { class: 'menu-icon', 'aria-hidden': 'true' }), 'Menu',
  h('span', { class: 'count', id: 'menu-badge', 'aria-hidden': 'true', hidden: true, text: '0' }),
  h('span', { class: 'sr-only', id: 'menu-words' }));
  clear(app,
    h('header', { class: 'topbar' },
      h('div', { class: 'brand' }, h('span', { class: 'brand-logo', 'aria-hidden': 'true', text: '✚' }), h('span', { class: 'brand-name', text: 'Cabinet en ligne' })),
      h('span', { id: 'live', class: 'live', 'data-live': 'connecting', text: 'Temps réel : connexion…' }),
      h('div', { class: 'spacer' }),
      h('button', { type: 'button', class: 'bell', id: 'bell', title: 'Notifications', 'aria-label': 'Notifications', onclick: () => go('notifications') },
        bellIcon(), h('span', { class: 'count', id: 'unread-badge', 'data-testid': 'unread-badge', 'aria-hidden': 'true', hidden: true, text: '0' })),
      menu,
      h('div', { class: 'account', id: 'account' },
        h('div', { class: 'who' },
          h('strong', { id: 'who-name', text: accountName(me) }),
          h('span', { class: 'muted', id: 'who-role', 'data-role': me.role, text: ROLES[me.role] || me.role })),
        h('button', { type: 'button', class: 'btn btn-ghost', id: 'logout', text: 'Déconnexion', onclick: async () => {
          await logout();
          showLogin();
        } }))),
    nav,
    // The screen's one <h1> (the route's name) heads <main>; each view renders into #view.
    h('main', { id: 'contenu', class: 'main', tabindex: '-1' },
      h('h1', { id: 'page-title', class: 'sr-only', tabindex: '-1' }),
      h('div', { id: 'view', class: 'view' })));
  setUnread(ctx.unread);
  setUnreadMessages(ctx.unreadMessages);
}

// The account's name in the header: "Dr Jean Martin", "Emma Stone", else the e-mail.
function accountName(me) {
  return `${me.role === 'MEDECIN' ? 'Dr ' : ''}${me.first_name} ${me.last_name}`.trim() || me.email;
}

function setMenu(open, { focusButton = false } = {}) {
  const button = $('#menu-toggle');
  if (!button) return;
  button.setAttribute('aria-expanded', String(open));
  document.body.dataset.menu = open ? 'open' : 'closed';
  if (open) ($('#main-nav .tab.active') || $('#main-nav .tab'))?.focus();
  else if (focusButton) button.focus();
}

function bellIcon() {
  const span = h('span', { class: 'bell-icon', 'aria-hidden': 'true' });
  // A static, trusted SVG (headless browsers often lack an emoji font).
  span.innerHTML = '<svg viewBox="0 0 24 24" width="20" height="20" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round"><path d="M18 8a6 6 0 0 0-12 0c0 7-3 9-3 9h18s-3-2-3-9"/><path d="M13.7 21a2 2 0 0 1-3.4 0"/></svg>';
  return span;
}

function render({ focusTitle = true } = {}) {
  if (!ctx.me) {
    // Logged out: the sign-up screen, or back (the browser's Back) to the login.
    if (parseHash().name === 'inscription' && !hasSession()) showSignup();
    else if (document.body.dataset.screen === 'inscription') showLogin();
    return;
  }
  const { name, params } = parseHash();
  const route = ctx.routes.find(([n]) => n === name) || ctx.routes[0];
  if (current) current.unmount?.();
  ctx.activeConversation = null;
  for (const tab of document.querySelectorAll('.tab')) {
    tab.classList.toggle('active', tab.dataset.route === route[0]);
    if (tab.dataset.route === route[0]) tab.setAttribute('aria-current', 'page');
    else tab.removeAttribute('aria-current');
  }
  setMenu(false);
  const view = $('#view');
  clear(view);
  document.body.dataset.screen = route[0];
  const title = $('#page-title');
  title.textContent = route[1];
  document.title = `${route[1]} — Cabinet en ligne`;
  current = { name: route[0], unmount: route[2].mount(view, ctx, params) };
  // A new screen: focus goes to its title (screen readers read it, the next Tab starts at
  // the top of the content), unless the view has already put it somewhere useful.
  if (focusTitle && !view.contains(document.activeElement)) {
    title.focus({ preventScroll: true });
    window.scrollTo(0, 0);
  }
}

// The skip link ("Aller au contenu", the first Tab stop) focuses <main> without touching the
// hash, which the router owns.
document.addEventListener('click', (event) => {
  if (!event.target.closest('#skip-link')) return;
  event.preventDefault();
  const main = $('main');
  if (main) { main.focus(); main.scrollIntoView(); }
});
// A click outside the header and the navigation folds the phone menu back.
document.addEventListener('click', (event) => {
  if (document.body.dataset.menu === 'open' && !event.target.closest('.topbar, #main-nav')) setMenu(false);
});
// Escape folds the phone menu back, focus on its button.
document.addEventListener('keydown', (event) => {
  if (event.key === 'Escape' && document.body.dataset.menu === 'open') setMenu(false, { focusButton: true });
});

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
  // Bookings named with their doctor, day and time ("Rendez-vous confirmé avec Dr Martin le …");
  // a waiting-list offer (which slot, until when) stays up longer.
  toast(noticeText(event, payload, me), payload.type, { timeout: event === 'creneau:offered' ? 20000 : undefined });
}

onAuthLost(() => showLogin('Session expirée, reconnectez-vous.'));
window.addEventListener('hashchange', () => render());

const resetLink = new URLSearchParams(window.location.search);
if (window.location.pathname === '/reinitialiser' && resetLink.get('uid') && resetLink.get('token')) {
  showReset(resetLink.get('uid'), resetLink.get('token'));
} else {
  // The page opened on a route (a portal's booking deep link, `#/rdv?…&creneau=`): it
  // outlives a log-in screen on the way (start() takes it once; a log-out forgets it).
  if (parseHash().name && parseHash().name !== 'inscription') ctx.wantedRoute = window.location.hash;
  if (hasSession()) start();
  else if (parseHash().name === 'inscription') showSignup();
  else showLogin();
}
