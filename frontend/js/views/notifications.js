// The notification centre: stored events, unread badge, mark read; admins broadcast.

import { api, get } from '../api.js';
import * as live from '../live.js';
import { noticeText } from '../notif-text.js';
import { clear, errorMessage, flash, formatInstant, h, toast } from '../ui.js';

const LABELS = {
  'rendezvous:created': 'Rendez-vous',
  'rendezvous:new': 'Nouveau rendez-vous',
  'rendezvous:confirmed': 'Confirmation',
  'rendezvous:cancelled': 'Annulation',
  'rendezvous:moved': 'Déplacement',
  'message:new': 'Message',
  'notification:general': 'Annonce',
  'rappel:reminder': 'Rappel',
  'creneau:offered': "Liste d'attente",
};

export function mount(view, ctx) {
  const items = new Map();
  const list = h('div', { class: 'notif-list', id: 'notif-list' });
  const readAll = h('button', { type: 'button', class: 'btn btn-ghost', id: 'read-all', text: 'Tout marquer comme lu', onclick: markAll });
  const sections = [h('section', { class: 'card main-col' },
    h('div', { class: 'card-head' }, h('h2', { text: 'Notifications' }), readAll), list)];
  if (ctx.me.role === 'ADMINCABINET' || ctx.me.role === 'SUPERADMIN') sections.push(broadcastForm(ctx));
  clear(view, h('div', { class: `columns ${sections.length > 1 ? 'reverse' : 'single'}` }, sections));

  function item(n) {
    return h('article', { class: `notif notif-${n.type}${n.lu ? ' read' : ''}`, 'data-notification': n.id, 'data-lu': n.lu ? 'true' : 'false' },
      h('div', { class: 'notif-main' },
        h('span', { class: 'notif-kind', text: LABELS[n.event] || n.event }),
        // The booking named (doctor, day, time), from the row's data; else its message.
        h('strong', { class: 'notif-text', text: noticeText(n.event, n, ctx.me) }),
        h('span', { class: 'muted', text: formatInstant(n.created_at) })),
      n.lu ? h('span', { class: 'muted', text: 'Lu' })
        : h('button', { type: 'button', class: 'btn btn-ghost', 'data-action': 'read', text: 'Marquer comme lu', onclick: () => markOne(n) }));
  }

  function render() {
    const all = [...items.values()].sort((a, b) => b.id - a.id);
    clear(list, all.length ? all.map(item) : h('p', { class: 'muted', text: 'Aucune notification.' }));
    readAll.disabled = !all.some((n) => !n.lu);
  }

  async function load() {
    try {
      const page = await get('notifications/?page_size=100');
      items.clear();
      for (const n of page.results) items.set(n.id, n);
      ctx.setUnread(page.non_lues || 0);
      render();
    } catch (error) {
      toast(errorMessage(error), 'error');
    }
  }

  async function markOne(n) {
    try {
      await api('POST', `notifications/${n.id}/read/`);
      if (!n.lu) ctx.setUnread(ctx.unread - 1);
      n.lu = true;
      render();
    } catch (error) {
      toast(errorMessage(error), 'error');
    }
  }

  async function markAll() {
    try {
      await api('POST', 'notifications/read-all/');
      for (const n of items.values()) n.lu = true;
      ctx.setUnread(0);
      render();
    } catch (error) {
      toast(errorMessage(error), 'error');
    }
  }

  const unsubscribe = [
    live.on('*', (payload, event) => {
      if (!LABELS[event] || !payload.eventId) return;
      if (event === 'message:new' && payload.data && payload.data.auteur && payload.data.auteur.id === ctx.me.id) return;
      items.set(payload.eventId, {
        id: payload.eventId, event, type: payload.type, message: payload.message, data: payload.data,
        lu: false, created_at: payload.emittedAt,
      });
      render();
      flash(list.querySelector(`[data-notification="${payload.eventId}"]`));
    }),
  ];
  load();
  return () => unsubscribe.forEach((off) => off());
}

function broadcastForm(ctx) {
  const message = h('textarea', { id: 'bc-message', rows: 3, maxLength: 1000, required: true, placeholder: 'Message à diffuser' });
  const type = h('select', { id: 'bc-type' }, [['info', 'Information'], ['success', 'Succès'], ['warning', 'Avertissement'], ['error', 'Alerte']]
    .map(([v, l]) => h('option', { value: v, text: l })));
  const superadmin = ctx.me.role === 'SUPERADMIN';
  // A practice broadcasts to itself only (its staff and patients with an upcoming booking).
  const role = h('select', { id: 'bc-role', disabled: !superadmin }, (superadmin
    ? [['', 'Tout le monde'], ['PATIENT', 'Patients'], ['MEDECIN', 'Médecins'], ['ADMINCABINET', 'Secrétariats']]
    : [['', 'Le cabinet et ses patients à venir']]).map(([v, l]) => h('option', { value: v, text: l })));
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', text: 'Diffuser' });
  return h('section', { class: 'card sidebar' },
    h('h2', { text: 'Diffuser une annonce' }),
    h('form', { class: 'stack', onsubmit: async (e) => {
      e.preventDefault();
      submit.disabled = true;
      const body = { message: message.value.trim(), type: type.value };
      if (superadmin && role.value) body.role = role.value;
      try {
        await api('POST', 'notifications/broadcast/', body);
        message.value = '';
        toast('Annonce diffusée', 'success');
      } catch (error) {
        toast(errorMessage(error), 'error');
      } finally {
        submit.disabled = false;
      }
    } }, h('label', { for: 'bc-message', text: 'Message' }), message,
    h('label', { for: 'bc-type', text: 'Type' }), type,
    h('label', { for: 'bc-role', text: 'Destinataires' }), role, submit));
}
