// Doctor / secretary: the day's and the week's agenda, live; confirm, cancel, withdraw.

import { api, get, getAll, qs } from '../api.js';
import * as live from '../live.js';
import { askCancel as cancelForm } from './cancel.js';
import { confirmRendezvous } from './confirm.js';
import { slotPicker } from './slotpicker.js';
import {
  addDays, badge, clear, errorMessage, flash, formatDay, h, localDate, localTime, mondayOf, personName,
  toast, today,
} from '../ui.js';

// The doctors this staff member manages: a doctor, themself; a secretary, their practice.
export async function managedMedecins(me) {
  if (me.role === 'MEDECIN') return [await get(`medecins/${me.id}/`)];
  if (me.role === 'ADMINCABINET') return getAll(`medecins/?${qs({ cabinet: me.cabinet })}`);
  return getAll('medecins/');
}

export function medecinPicker(medecins, selectedId, onChange) {
  if (medecins.length <= 1) return null;
  return h('label', { class: 'inline-label' }, 'Médecin ',
    h('select', { id: 'medecin-select', onchange: (e) => onChange(Number(e.target.value)) },
      medecins.map((m) => h('option', { value: m.id, selected: m.id === selectedId, text: `${personName(m)} — ${m.specialite}` }))));
}

export function mount(view, ctx, params) {
  const state = {
    mode: params.vue === 'semaine' ? 'week' : 'day',
    day: params.date || today(),
    medecins: [],
    medecinId: null,
    slots: new Map(),
    rdvs: new Map(),
  };

  const toolbar = h('div', { class: 'agenda-toolbar' });
  const summary = h('p', { class: 'muted', id: 'agenda-summary' });
  const body = h('div', { id: 'agenda-body' });
  clear(view, h('section', { class: 'card' }, h('h2', { id: 'agenda-title', text: 'Agenda' }), toolbar, summary, body));

  const range = () => (state.mode === 'day'
    ? [state.day, state.day]
    : [mondayOf(state.day), addDays(mondayOf(state.day), 6)]);

  function renderToolbar() {
    const step = state.mode === 'day' ? 1 : 7;
    const [from, to] = range();
    const label = state.mode === 'day'
      ? formatDay(from, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' })
      : `Semaine du ${formatDay(from, { day: 'numeric', month: 'long' })} au ${formatDay(to, { day: 'numeric', month: 'long', year: 'numeric' })}`;
    const dateInput = h('input', { type: 'date', id: 'agenda-date', value: state.day, 'aria-label': 'Date', onchange: (e) => {
      if (e.target.value) { state.day = e.target.value; load(); }
    } });
    clear(toolbar,
      h('div', { class: 'segmented', role: 'group', 'aria-label': 'Vue' },
        h('button', { type: 'button', id: 'mode-day', class: state.mode === 'day' ? 'active' : '', text: 'Jour', onclick: () => { state.mode = 'day'; load(); } }),
        h('button', { type: 'button', id: 'mode-week', class: state.mode === 'week' ? 'active' : '', text: 'Semaine', onclick: () => { state.mode = 'week'; load(); } })),
      h('button', { type: 'button', class: 'btn btn-ghost', id: 'agenda-prev', text: '◀', 'aria-label': 'Précédent', onclick: () => { state.day = addDays(state.day, -step); load(); } }),
      h('strong', { class: 'agenda-label', id: 'agenda-label', text: label }),
      h('button', { type: 'button', class: 'btn btn-ghost', id: 'agenda-next', text: '▶', 'aria-label': 'Suivant', onclick: () => { state.day = addDays(state.day, step); load(); } }),
      h('button', { type: 'button', class: 'btn btn-ghost', id: 'agenda-today', text: "Aujourd'hui", onclick: () => { state.day = today(); load(); } }),
      dateInput,
      medecinPicker(state.medecins, state.medecinId, (id) => { state.medecinId = id; followSlots(); load(); }));
  }

  async function load() {
    renderToolbar();
    const [from, to] = range();
    const medecinId = state.medecinId;
    const window_ = { date_from: `${addDays(from, -1)}T00:00:00`, date_to: `${addDays(to, 2)}T00:00:00`, medecin: medecinId };
    body.setAttribute('aria-busy', 'true');
    try {
      const [slots, rdvs] = await Promise.all([
        getAll(`creneaux/?${qs(window_)}`),
        getAll(`rendezvous/?${qs(window_)}`),
      ]);
      if (medecinId !== state.medecinId || from !== range()[0]) return; // a newer request won
      state.slots = new Map(slots.map((s) => [s.id, s]));
      state.rdvs = new Map(rdvs.map((r) => [r.id, r]));
      render();
    } catch (error) {
      toast(errorMessage(error), 'error');
    } finally {
      body.removeAttribute('aria-busy');
    }
  }

  function inRange(iso) {
    const [from, to] = range();
    const day = localDate(iso);
    return day >= from && day <= to;
  }

  // One row per slot: its active booking if any, else free; cancelled bookings stay listed.
  function rows() {
    const bySlot = new Map();
    for (const slot of state.slots.values()) if (inRange(slot.debut)) bySlot.set(slot.id, { slot, active: null, cancelled: [] });
    for (const rdv of state.rdvs.values()) {
      if (!inRange(rdv.creneau.debut) || (rdv.medecin && rdv.medecin.id !== state.medecinId)) continue;
      if (!bySlot.has(rdv.creneau.id)) bySlot.set(rdv.creneau.id, { slot: rdv.creneau, active: null, cancelled: [] });
      const row = bySlot.get(rdv.creneau.id);
      if (rdv.statut === 'ANNULE') row.cancelled.push(rdv);
      else row.active = rdv;
    }
    return [...bySlot.values()].sort((a, b) => a.slot.debut.localeCompare(b.slot.debut));
  }

  function render() {
    if (picker) { picker.destroy(); picker = null; }
    const all = rows();
    const booked = all.filter((r) => r.active);
    const pending = booked.filter((r) => r.active.statut === 'EN_ATTENTE').length;
    const free = all.filter((r) => !r.active && r.slot.disponible !== false && new Date(r.slot.debut) > new Date()).length;
    summary.textContent = `${booked.length} rendez-vous (${pending} en attente de confirmation), ${free} créneau${free > 1 ? 'x' : ''} libre${free > 1 ? 's' : ''}.`;
    const medecin = state.medecins.find((m) => m.id === state.medecinId);
    view.querySelector('#agenda-title').textContent = medecin ? `Agenda de ${personName(medecin)}` : 'Agenda';
    if (state.mode === 'day') renderDay(all);
    else renderWeek(all);
  }

  function renderDay(all) {
    clear(body, all.length
      ? h('div', { class: 'agenda-day' }, all.map(row))
      : h('p', { class: 'muted', text: 'Aucun créneau ce jour-là.' }));
  }

  function row({ slot, active, cancelled }) {
    const actions = h('div', { class: 'actions' });
    const status = active ? badge(active.statut) : h('span', { class: 'badge badge-free', text: 'Libre' });
    const el = h('article', {
      class: `agenda-row${active ? ` rdv-${active.statut.toLowerCase()}` : ' free'}`,
      'data-creneau': slot.id, 'data-rdv': active ? active.id : null, 'data-statut': active ? active.statut : 'LIBRE',
    },
    h('div', { class: 'agenda-time', text: `${localTime(slot.debut)} – ${localTime(slot.fin)}` }),
    h('div', { class: 'agenda-main' },
      h('div', {}, status, ' ', active ? h('strong', { class: 'patient-name', text: personName(active.patient) }) : null),
      active && active.motif ? h('div', { class: 'muted', text: `Motif : ${active.motif}` }) : null,
      cancelled.map((r) => h('div', { class: 'muted cancelled-line', text: `Annulé : ${personName(r.patient)}${r.motif_annulation ? ` (${r.motif_annulation})` : ''}` }))),
    actions);
    if (active) {
      if (active.statut === 'EN_ATTENTE') {
        actions.append(h('button', { type: 'button', class: 'btn btn-success', 'data-action': 'confirm', text: 'Confirmer', onclick: (e) => confirmRendezvous(active, e.target, upsert) }));
      }
      if (new Date(slot.debut) > new Date()) {
        actions.append(h('button', { type: 'button', class: 'btn btn-ghost', 'data-action': 'move', text: 'Déplacer', onclick: () => askMove(active, actions) }));
      }
      actions.append(
        h('button', { type: 'button', class: 'btn btn-danger-ghost', 'data-action': 'cancel', text: 'Annuler', onclick: () => askCancel(active, actions) }),
        h('button', { type: 'button', class: 'btn btn-ghost', 'data-action': 'message', text: 'Écrire', onclick: () => ctx.go('messages', { avec: active.patient.id }) }));
    } else if (new Date(slot.debut) > new Date()) {
      actions.append(h('button', { type: 'button', class: 'btn btn-ghost', 'data-action': 'withdraw', text: 'Retirer', onclick: (e) => withdraw(slot, e.target) }));
    }
    return el;
  }

  function renderWeek(all) {
    const monday = mondayOf(state.day);
    const days = [...Array(7).keys()].map((i) => addDays(monday, i));
    clear(body, h('div', { class: 'week-grid agenda-week' }, days.map((day) => {
      const items = all.filter((r) => localDate(r.slot.debut) === day);
      return h('div', { class: `day${day === today() ? ' today' : ''}`, 'data-day': day },
        h('button', { type: 'button', class: 'day-head linklike', title: 'Voir la journée', onclick: () => { state.mode = 'day'; state.day = day; load(); } },
          h('strong', { text: formatDay(day, { weekday: 'long' }) }), h('span', { text: formatDay(day, { day: 'numeric', month: 'short' }) })),
        h('div', { class: 'day-slots' }, items.length ? items.map(({ slot, active }) => h('div', {
          class: `cell${active ? ` rdv-${active.statut.toLowerCase()}` : ' free'}`,
          'data-creneau': slot.id, 'data-rdv': active ? active.id : null, 'data-statut': active ? active.statut : 'LIBRE',
          title: active ? `${personName(active.patient)} — ${active.statut === 'CONFIRME' ? 'confirmé' : 'en attente'}` : 'Libre',
        }, h('span', { class: 'cell-time', text: localTime(slot.debut) }),
        h('span', { class: 'cell-who', text: active ? personName(active.patient) : 'Libre' }),
        // The status is a colour on screen: in words for screen readers.
        active ? h('span', { class: 'sr-only', text: active.statut === 'CONFIRME' ? ' (confirmé)' : ' (en attente de confirmation)' }) : null))
          : h('span', { class: 'muted empty', text: '—' })));
    })));
  }

  function askCancel(rdv, actions) {
    cancelForm(rdv, actions, { placeholder: "Motif de l'annulation", onCancelled: upsert, onBack: render });
  }

  // Move: a slot picker in place of the row's buttons (another doctor of the practice for a secretary).
  let picker = null;
  function askMove(rdv, actions) {
    const error = h('div', { class: 'banner-area' });
    const box = h('div', { class: 'agenda-move' });
    clear(actions, h('div', { class: 'stack grow' }, error, box,
      h('button', { type: 'button', class: 'btn btn-ghost', text: 'Retour', onclick: render })));
    picker = slotPicker(box, {
      medecins: state.medecins, medecinId: rdv.medecin.id, day: localDate(rdv.creneau.debut), idPrefix: 'agenda-move',
      exclude: (s) => s.id === rdv.creneau.id,
      onPick: async (target) => {
        try {
          const moved = await api('POST', `rendezvous/${rdv.id}/move/`, { creneau: target.id });
          toast('Rendez-vous déplacé', 'success');
          upsert(moved);
        } catch (err) {
          clear(error, h('p', { class: 'alert alert-error', role: 'alert', 'data-testid': 'move-error', text: errorMessage(err) }));
          picker?.remove(target.id);
        }
      },
    });
  }

  async function withdraw(slot, button) {
    button.disabled = true;
    try {
      await api('DELETE', `creneaux/${slot.id}/`);
      state.slots.delete(slot.id);
      render();
      toast('Créneau retiré', 'info');
    } catch (error) {
      toast(errorMessage(error), 'error');
      button.disabled = false;
    }
  }

  function upsert(rdv) {
    state.rdvs.set(rdv.id, rdv);
    if (rdv.creneau && !state.slots.has(rdv.creneau.id)) state.slots.set(rdv.creneau.id, rdv.creneau);
    render();
    flash(body.querySelector(`[data-creneau="${rdv.creneau.id}"]`));
  }

  const onRdv = (payload) => {
    const rdv = payload.data;
    if (!rdv || !rdv.creneau || (rdv.medecin && rdv.medecin.id !== state.medecinId)) return;
    upsert(rdv);
  };
  // Slots published or withdrawn by someone else (a secretary, the doctor elsewhere).
  let unfollow = () => {};
  function followSlots() {
    unfollow();
    unfollow = state.medecinId ? live.follow(`creneaux:${state.medecinId}`) : () => {};
  }
  const onSlot = (payload) => {
    const slot = payload.data;
    if (!slot || slot.medecin !== state.medecinId) return;
    if (slot.actif) state.slots.set(slot.id, slot);
    else if (![...state.rdvs.values()].some((r) => r.creneau && r.creneau.id === slot.id
      && r.statut !== 'ANNULE')) state.slots.delete(slot.id);
    render();
  };
  const unsubscribe = [
    live.on('creneau:available', onSlot),
    live.on('creneau:unavailable', onSlot),
    live.on('rendezvous:new', onRdv),
    live.on('rendezvous:confirmed', onRdv),
    live.on('rendezvous:cancelled', onRdv),
    live.on('rendezvous:moved', onRdv), // the booking leaves its old row (now free) for the new one
    live.on(':connect', () => { if (state.medecinId) load(); }),
  ];

  managedMedecins(ctx.me).then((medecins) => {
    state.medecins = medecins;
    const wanted = Number(params.medecin);
    state.medecinId = (medecins.find((m) => m.id === wanted) || medecins[0] || {}).id ?? null;
    if (state.medecinId === null) {
      clear(body, h('p', { class: 'muted', text: 'Aucun médecin à afficher.' }));
      return;
    }
    followSlots();
    load();
  }).catch((error) => toast(errorMessage(error), 'error'));

  return () => { picker?.destroy(); unfollow(); unsubscribe.forEach((off) => off()); };
}
