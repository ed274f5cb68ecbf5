// Conversations: live messages (room conversation:{id}) and read receipts.

import { ApiError, api, get, getAll, qs } from '../api.js';
import * as live from '../live.js';
import { clear, errorMessage, formatInstant, h, personName, toast } from '../ui.js';

export function mount(view, ctx, params) {
  const me = ctx.me;
  // reads: receipts (message id -> lu_at) that may arrive before our own copy of the message.
  const state = { conversations: new Map(), open: null, room: null, messages: new Map(), reads: new Map() };
  const convList = h('div', { class: 'conv-list', id: 'conv-list' });
  const contactSelect = h('select', { id: 'contact-select', 'aria-label': 'Destinataire' });
  // A chat log: new messages are read out politely as they arrive.
  const thread = h('div', { class: 'thread', id: 'thread', role: 'log', 'aria-live': 'polite', 'aria-labelledby': 'thread-title', tabindex: '0' });
  const threadTitle = h('h2', { id: 'thread-title', text: 'Messages' });
  const input = h('textarea', { id: 'message-input', rows: 2, maxLength: 5000, placeholder: 'Votre message…', 'aria-label': 'Votre message', disabled: true });
  const send = h('button', { type: 'submit', class: 'btn btn-primary', id: 'message-send', text: 'Envoyer', disabled: true });
  const composer = h('form', { class: 'composer', onsubmit: (e) => { e.preventDefault(); sendMessage(); } }, input, send);
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); sendMessage(); }
  });

  clear(view, h('div', { class: 'columns messages' },
    h('section', { class: 'card sidebar' },
      h('h2', { text: 'Conversations' }),
      h('form', { class: 'new-conv', onsubmit: (e) => { e.preventDefault(); if (contactSelect.value) openWith(Number(contactSelect.value)); } },
        contactSelect, h('button', { type: 'submit', class: 'btn btn-ghost', id: 'contact-open', text: 'Écrire' })),
      convList),
    h('section', { class: 'card main-col chat' }, threadTitle, thread, composer)));

  const other = (conv) => conv.participants.find((p) => p.id !== me.id) || conv.participants[0];

  function renderList() {
    const convs = [...state.conversations.values()].sort((a, b) => (b.updated_at || '').localeCompare(a.updated_at || ''));
    clear(convList, convs.length ? convs.map((conv) => {
      const last = conv.dernier_message;
      return h('button', {
        type: 'button', class: `conv${state.open === conv.id ? ' active' : ''}`, 'data-conversation': conv.id,
        onclick: () => open(conv.id),
      }, h('strong', { text: personName(other(conv)) }),
      conv.non_lus && state.open !== conv.id ? [
        h('span', { class: 'count', 'aria-hidden': 'true', text: conv.non_lus }),
        h('span', { class: 'sr-only', text: ` (${conv.non_lus} non lu${conv.non_lus > 1 ? 's' : ''})` })] : null,
      h('span', { class: 'muted preview', text: last ? `${last.auteur && last.auteur.id === me.id ? 'Vous : ' : ''}${last.contenu}` : 'Aucun message' }));
    }) : h('p', { class: 'muted', text: 'Aucune conversation pour le moment.' }));
    ctx.setUnreadMessages(convs.reduce((sum, c) => sum + (state.open === c.id ? 0 : c.non_lus || 0), 0));
  }

  function bubble(msg) {
    const mine = msg.auteur && msg.auteur.id === me.id;
    return h('div', { class: `msg ${mine ? 'mine' : 'theirs'}`, 'data-message': msg.id, 'data-lu': msg.lu_at ? 'true' : 'false' },
      h('div', { class: 'msg-text', text: msg.contenu }),
      h('div', { class: 'msg-meta' }, formatInstant(msg.created_at),
        mine ? h('span', { class: `receipt${msg.lu_at ? ' read' : ''}`, title: msg.lu_at ? `Lu ${formatInstant(msg.lu_at)}` : 'Envoyé',
          text: msg.lu_at ? ' ✓✓ Lu' : ' ✓ Envoyé' }) : null));
  }

  function renderThread() {
    const msgs = [...state.messages.values()].sort((a, b) => (a.created_at.localeCompare(b.created_at) || a.id - b.id));
    clear(thread, msgs.length ? msgs.map(bubble) : h('p', { class: 'muted', text: 'Commencez la conversation.' }));
    thread.scrollTop = thread.scrollHeight;
  }

  async function loadConversations() {
    const convs = await getAll('conversations/', 2);
    state.conversations = new Map(convs.map((c) => [c.id, c]));
    renderList();
  }

  async function loadContacts() {
    const names = new Map();
    try {
      for (const rdv of await getAll('rendezvous/', 2)) {
        const person = me.role === 'PATIENT' ? { ...rdv.medecin, role: 'MEDECIN' } : rdv.patient;
        if (person && person.id !== me.id) names.set(person.id, personName(person));
      }
      if (me.role !== 'PATIENT' && me.cabinet) {
        for (const m of await getAll(`medecins/?${qs({ cabinet: me.cabinet })}`)) if (m.id !== me.id) names.set(m.id, personName(m));
      }
    } catch { /* the list stays short */ }
    clear(contactSelect, h('option', { value: '', text: names.size ? 'Nouvelle conversation avec…' : 'Aucun contact' }),
      [...names.entries()].sort((a, b) => a[1].localeCompare(b[1])).map(([id, name]) => h('option', { value: id, text: name })));
  }

  async function openWith(userId) {
    try {
      const conv = await api('POST', 'conversations/', { participant: userId });
      state.conversations.set(conv.id, conv);
      await open(conv.id);
    } catch (error) {
      toast(error instanceof ApiError ? errorMessage(error) : 'Impossible d’ouvrir la conversation', 'error');
    }
  }

  async function open(id) {
    if (state.room && state.open !== id) live.leaveRoom(state.room);
    state.open = id;
    ctx.activeConversation = id;
    state.room = `conversation:${id}`;
    const conv = state.conversations.get(id);
    threadTitle.textContent = conv ? `Conversation avec ${personName(other(conv))}` : 'Conversation';
    input.disabled = false;
    send.disabled = false;
    renderList();
    const joined = live.joinRoom(state.room);
    try {
      const page = await get(`conversations/${id}/messages/?page_size=200`);
      if (state.open !== id) return;
      state.messages = new Map(page.results.map((m) => [m.id, { ...m, lu_at: m.lu_at || state.reads.get(m.id) || null }]));
      renderThread();
      const ack = await joined;
      if (ack && ack.type === 'error') toast(ack.message, 'warning');
      await markRead(id);
    } catch (error) {
      toast(errorMessage(error), 'error');
    }
    input.focus();
  }

  async function markRead(id) {
    const conv = state.conversations.get(id);
    const unread = [...state.messages.values()].some((m) => !m.lu_at && m.auteur && m.auteur.id !== me.id);
    if (!unread && !(conv && conv.non_lus)) return;
    await api('POST', `conversations/${id}/read/`);
    const now = new Date().toISOString();
    for (const m of state.messages.values()) if (!m.lu_at && m.auteur && m.auteur.id !== me.id) m.lu_at = now;
    if (conv) conv.non_lus = 0;
    renderList();
  }

  async function sendMessage() {
    const contenu = input.value.trim();
    if (!contenu || !state.open) return;
    send.disabled = true;
    try {
      const msg = await api('POST', `conversations/${state.open}/messages/`, { contenu });
      input.value = '';
      addMessage(msg);
    } catch (error) {
      toast(errorMessage(error), 'error');
    } finally {
      send.disabled = false;
      input.focus();
    }
  }

  function addMessage(msg) {
    const conv = state.conversations.get(msg.conversation);
    if (conv) {
      conv.dernier_message = msg;
      conv.updated_at = msg.created_at;
    }
    if (msg.conversation === state.open) {
      const known = state.messages.get(msg.id) || {};
      state.messages.set(msg.id, { ...known, ...msg, lu_at: msg.lu_at || known.lu_at || state.reads.get(msg.id) || null });
      renderThread();
    }
    renderList();
  }

  const unsubscribe = [
    live.on('message:new', (payload) => {
      const msg = payload.data;
      if (!msg || !msg.conversation) return;
      if (!state.conversations.has(msg.conversation)) { loadConversations().catch(() => {}); return; }
      const fromOther = msg.auteur && msg.auteur.id !== me.id;
      if (fromOther && msg.conversation !== state.open) {
        const conv = state.conversations.get(msg.conversation);
        conv.non_lus = (conv.non_lus || 0) + 1;
      }
      addMessage(msg);
      if (fromOther && msg.conversation === state.open && document.visibilityState === 'visible') {
        markRead(msg.conversation).catch(() => {});
      }
    }),
    live.on('message:read', (payload) => {
      const data = payload.data || {};
      if (data.conversation !== state.open || data.lecteur === me.id) return;
      for (const id of data.messages || []) {
        state.reads.set(id, data.lu_at);
        const m = state.messages.get(id);
        if (m) m.lu_at = data.lu_at;
      }
      renderThread();
    }),
    live.on(':connect', () => { if (state.room) live.joinRoom(state.room); }),
  ];
  const onVisible = () => { if (document.visibilityState === 'visible' && state.open) markRead(state.open).catch(() => {}); };
  document.addEventListener('visibilitychange', onVisible);

  (async () => {
    try {
      await Promise.all([loadConversations(), loadContacts()]);
      const withUser = Number(params.avec);
      if (withUser) await openWith(withUser);
      else if (params.conversation) await open(Number(params.conversation));
    } catch (error) {
      toast(errorMessage(error), 'error');
    }
  })();

  return () => {
    unsubscribe.forEach((off) => off());
    document.removeEventListener('visibilitychange', onVisible);
    if (state.room) live.leaveRoom(state.room);
    ctx.activeConversation = null;
  };
}
