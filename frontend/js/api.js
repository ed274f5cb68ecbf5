// The public REST API, with the JWT kept in localStorage like the seed's snippet
// (localStorage.getItem('jwt-token')), refreshed a minute before it expires.

const ACCESS = 'jwt-token';
const REFRESH = 'jwt-refresh';
const EARLY_SECONDS = 60;

export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `Erreur ${status}`);
    this.status = status;
    this.code = body && body.code;
    this.details = body && body.details;
    this.body = body;
  }
}

export class AuthLost extends Error {}

const tokenListeners = new Set();
let refreshTimer = null;
let inflight = null;
let authLostHandler = () => {};

export const accessToken = () => localStorage.getItem(ACCESS);
export const hasSession = () => Boolean(localStorage.getItem(ACCESS) && localStorage.getItem(REFRESH));
export const onTokenChange = (fn) => tokenListeners.add(fn);
export const onAuthLost = (fn) => { authLostHandler = fn; };

function claims(token) {
  try {
    const part = token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/');
    return JSON.parse(atob(part.padEnd(part.length + ((4 - (part.length % 4)) % 4), '=')));
  } catch {
    return {};
  }
}

export const tokenExpiry = (token) => claims(token).exp || 0;

// Refresh a minute before expiry (a quarter of the lifetime for short-lived tokens).
function earlySeconds(token) {
  const { exp, iat } = claims(token);
  return exp && iat ? Math.min(EARLY_SECONDS, Math.max(5, (exp - iat) / 4)) : EARLY_SECONDS;
}

export const secondsLeft = (token = accessToken()) => (token ? tokenExpiry(token) - Date.now() / 1000 : -1);

function store({ access, refresh }) {
  localStorage.setItem(ACCESS, access);
  if (refresh) localStorage.setItem(REFRESH, refresh);
  scheduleRefresh();
  for (const fn of tokenListeners) fn(access);
}

// A new session given by the API (a password change): replace both tokens; the socket
// reconnects with the new access token (onTokenChange).
export function adoptTokens(pair) {
  store(pair);
}

export function clearSession() {
  localStorage.removeItem(ACCESS);
  localStorage.removeItem(REFRESH);
  clearTimeout(refreshTimer);
}

export function scheduleRefresh() {
  clearTimeout(refreshTimer);
  const token = accessToken();
  if (!token) return;
  const delay = Math.max(5, secondsLeft(token) - earlySeconds(token)) * 1000;
  refreshTimer = setTimeout(() => refreshTokens().catch(() => authLostHandler()), Math.min(delay, 2 ** 31 - 1));
}

// Another tab refreshed (or logged out): follow it rather than spending our refresh token,
// which rotation has just blacklisted.
window.addEventListener('storage', (event) => {
  if (event.key !== ACCESS) return;
  if (!event.newValue) { authLostHandler(); return; }
  scheduleRefresh();
  for (const fn of tokenListeners) fn(event.newValue);
});

async function post(path, body, token) {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  if (token) headers.Authorization = `Bearer ${token}`;
  return fetch(path, { method: 'POST', headers, body: JSON.stringify(body) });
}

async function doRefresh(seen) {
  const current = accessToken();
  if (current && current !== seen && secondsLeft(current) > earlySeconds(current)) return current; // another tab did it
  const refresh = localStorage.getItem(REFRESH);
  if (!refresh) throw new AuthLost('Session expirée');
  const response = await post('/api/auth/token/refresh/', { refresh });
  if (!response.ok) {
    if (response.status === 401 || response.status === 400) {
      clearSession();
      throw new AuthLost('Session expirée');
    }
    throw new ApiError(response.status, await response.json().catch(() => null));
  }
  const pair = await response.json();
  store(pair);
  return pair.access;
}

// One refresh at a time, across tabs too when the browser has Web Locks.
export function refreshTokens() {
  if (!inflight) {
    const seen = accessToken();
    const run = () => doRefresh(seen);
    inflight = (navigator.locks ? navigator.locks.request('jwt-refresh', run) : run())
      .finally(() => { inflight = null; });
  }
  return inflight;
}

export async function login(email, password) {
  const response = await post('/api/auth/token/', { email, password });
  const body = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, body);
  store(body);
  return body;
}

// An anonymous request (password reset): JSON in, JSON out, errors as ApiError.
export async function publicPost(path, body) {
  const response = await post(`/api/${path.replace(/^\//, '')}`, body);
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export async function logout() {
  const refresh = localStorage.getItem(REFRESH);
  const token = accessToken();
  clearSession();
  if (refresh && token) {
    try { await post('/api/auth/logout/', { refresh }, token); } catch { /* offline: tokens expire anyway */ }
  }
}

async function send(method, path, body, token) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  return fetch(`/api/${path.replace(/^\//, '')}`, {
    method, headers, body: body === undefined ? undefined : JSON.stringify(body),
  });
}

export async function api(method, path, body) {
  if (accessToken() && secondsLeft() < 10) {
    try { await refreshTokens(); } catch (error) { authLostHandler(); throw error; }
  }
  let response = await send(method, path, body, accessToken());
  if (response.status === 401 && localStorage.getItem(REFRESH)) {
    try {
      await refreshTokens();
    } catch (error) {
      authLostHandler();
      throw error;
    }
    response = await send(method, path, body, accessToken());
  }
  const text = await response.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = { message: text.slice(0, 200) }; }
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const get = (path) => api('GET', path);

// Every page of a paginated list (bounded: this is a UI, not an export).
export async function getAll(path, maxPages = 10) {
  const sep = path.includes('?') ? '&' : '?';
  let page = await get(`${path}${sep}page_size=200`);
  if (!page || !Array.isArray(page.results)) return Array.isArray(page) ? page : [];
  const results = [...page.results];
  for (let i = 1; page.next && i < maxPages; i += 1) {
    const next = new URL(page.next, window.location.origin);
    page = await get(`${next.pathname.replace(/^\/api\//, '')}${next.search}`);
    results.push(...page.results);
  }
  return results;
}

export const qs = (params) => new URLSearchParams(
  Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== ''),
).toString();
