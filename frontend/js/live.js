// The Socket.IO connection: the seed's connection, events and error handling, plus
// replay of missed events on reconnect (auth.lastEventId) and a fresh token each time.

import { io } from '../vendor/socket.io.esm.min.js';
import { accessToken, onTokenChange, refreshTokens, secondsLeft } from './api.js';

export const EVENTS = [
  'rendezvous:created', 'rendezvous:new', 'rendezvous:confirmed', 'rendezvous:cancelled',
  'rendezvous:moved', 'creneau:conflict', 'creneau:available', 'creneau:unavailable',
  'message:new', 'message:read', 'notification:general', 'rappel:reminder', 'creneau:offered',
];

const listeners = new Map(); // event name (or '*') -> Set of callbacks
const seen = new Set();
let socket = null;
let lastEventId = null;
let invalidInARow = 0;
let hooks = { authRequired: () => {}, status: () => {} };

export function on(event, fn) {
  if (!listeners.has(event)) listeners.set(event, new Set());
  listeners.get(event).add(fn);
  // After disconnect() (log-out) the table is empty: a view unmounting later has nothing to remove.
  return () => listeners.get(event)?.delete(fn);
}

function dispatch(event, payload) {
  const id = payload && payload.eventId;
  if (id) {
    if (seen.has(id)) return; // a replayed event we already handled
    seen.add(id);
    if (lastEventId === null || id > lastEventId) lastEventId = id;
  }
  for (const key of [event, '*']) {
    for (const fn of listeners.get(key) || []) {
      try { fn(payload || {}, event); } catch (error) { console.error(event, error); }
    }
  }
}

function status(state, detail = '') {
  hooks.status(state, detail);
}

export function connect({ authRequired, onStatus }) {
  hooks = { authRequired, status: onStatus };
  if (socket) return socket;
  socket = io(window.location.origin, {
    // A function: every (re)connection sends the current token and the last event seen.
    auth: (cb) => cb(lastEventId ? { token: accessToken(), lastEventId } : { token: accessToken() }),
    reconnectionDelayMax: 5000,
  });

  socket.on('connect', () => {
    invalidInARow = 0;
    status('on');
    // Rooms joined by hand are per socket: followed rooms are re-joined on every connect.
    for (const room of followed.keys()) joinRoom(room);
    for (const fn of listeners.get(':connect') || []) fn();
  });

  socket.on('disconnect', (reason) => {
    status('off', reason);
    if (reason === 'io server disconnect') {
      // The server closes a socket when its token expires: reconnect with a fresh one.
      setTimeout(async () => {
        if (!socket) return; // logged out meanwhile (disconnect()): nothing to resume
        try {
          if (secondsLeft() < 90) await refreshTokens();
        } catch {
          hooks.authRequired();
          return;
        }
        if (socket && !socket.connected) socket.connect();
      }, 300);
    }
  });

  socket.on('connect_error', async (error) => {
    if (!socket) return; // logged out meanwhile
    status('off', error.message);
    if (error.message === "Token d'authentification requis") {
      // Rediriger vers la page de connexion
      hooks.authRequired();
    } else if (error.message === 'Token invalide') {
      // Rafraîchir le token, puis se reconnecter (a refusal is not retried by the client)
      invalidInARow += 1;
      if (invalidInARow > 3) { hooks.authRequired(); return; }
      try {
        await refreshTokens();
        if (socket) socket.connect();
      } catch {
        hooks.authRequired();
      }
    } else if (socket && !socket.active) {
      setTimeout(() => socket && socket.connect(), 2000);
    }
  });

  socket.io.on('reconnect_attempt', () => status('connecting'));
  for (const event of EVENTS) socket.on(event, (payload) => dispatch(event, payload));
  status('connecting');
  return socket;
}

// A refreshed token: reconnect now so the socket never outlives the token it opened with.
onTokenChange(() => {
  if (socket && socket.connected) {
    socket.disconnect();
    socket.connect();
  }
});

export function disconnect() {
  if (socket) {
    socket.removeAllListeners();
    socket.disconnect();
  }
  socket = null;
  lastEventId = null;
  seen.clear();
  listeners.clear();
  followed.clear();
}

export const connected = () => Boolean(socket && socket.connected);

function emitWithAck(event, room) {
  return new Promise((resolve) => {
    if (!socket) { resolve({ type: 'error', message: 'Hors ligne' }); return; }
    socket.timeout(5000).emit(event, room, (err, ack) => {
      resolve(err ? { type: 'error', message: 'Pas de réponse du serveur' } : ack);
    });
  });
}

export const joinRoom = (room) => emitWithAck('join-room', room);
export const leaveRoom = (room) => emitWithAck('leave-room', room);

// Rooms a view wants while it is shown (e.g. `creneaux:{medecin}` for a slot grid):
// joined now and after every reconnection; the returned function leaves it. Counted:
// two views following one room (the day view and its slot picker) leave it only when
// both are done.
const followed = new Map(); // room -> number of followers
export function follow(room) {
  const count = followed.get(room) || 0;
  followed.set(room, count + 1);
  if (!count && socket && socket.connected) joinRoom(room);
  let done = false;
  return () => {
    if (done || !followed.has(room)) return;
    done = true;
    const left = followed.get(room) - 1;
    if (left > 0) { followed.set(room, left); return; }
    followed.delete(room);
    if (socket && socket.connected) leaveRoom(room);
  };
}
