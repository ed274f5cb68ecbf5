// Secretary: the practice's day, every doctor side by side, kept live. From a cell: book
// a free slot for a patient, confirm, move a booking to another slot, cancel it with the
// patient's phone number on screen (to call them).

import { ApiError, api, get, getAll, qs } from '../api.js';
import * as live from '../live.js';
import { managedMedecins } from './agenda.js';
import { bookFor } from './bookfor.js';
import { confirmRendezvous } from './confirm.js';
import { slotPicker } from './slotpicker.js';
import {
  addDays, badge, clear, errorMessage, flash, formatDay, formatSlot, h, localDate, localTime, personName,
  toast, today,
} from '../ui.js';

export function mount(view, ctx, params) {
  const state = {
    day: params.date || today(),
    medecins: [],
    slots: new Map(), // id -> slot
    rdvs: new Map(), // id -> booking
    phones: new Map(), // patient id -> telephone (looked up when needed)
    absences: new Map(), // doctor id -> absences covering the day
    dragging: null, // the booking being dragged onto another slot
  };
  let closePanel = () => {};

  const toolbar = h('div', { class: 'agenda-toolbar' });
  const summary = h('p', { class: 'muted', id: 'journee-summary', 'aria-live': 'polite' });
  const banner = h('div', { id: 'journee-banner', class: 'banner-area' });
  const panel = h('section', { class: 'card journee-panel', id: 'journee-panel', hidden: true, 'aria-labelledby': 'journee-panel-title' });
  const grid = h('div', { class: 'journee-grid', id: 'journee-grid' });
  clear(view,
    h('section', { class: 'card' }, h('h2', { id: 'journee-title', text: 'Journée du cabinet' }), toolbar, summary, banner),
    panel,
    grid);

  function showBanner(kind, text) {
    clear(banner, h('div', { class: `alert alert-${kind}`, role: kind === 'error' ? 'alert' : 'status', 'data-testid': `journee-${kind}` },
      h('span', { text }),
      h('button', { type: 'button', class: 'alert-close', 'aria-label': 'Fermer', text: '×', onclick: () => clear(banner) })));
  }

  function renderToolbar() {
    const label = formatDay(state.day, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
    const move = (days) => { state.day = addDays(state.day, days); load(); };
    clear(toolbar,
      h('button', { type: 'button', class: 'btn btn-ghost', id: 'journee-prev', text: '◀', 'aria-label': 'Jour précédent', onclick: () => move(-1) }),
      h('strong', { class: 'agenda-label', id: 'journee-label', text: label }),
      h('button', { type: 'button', class: 'btn btn-ghost', id: 'journee-next', text: '▶', 'aria-label': 'Jour suivant', onclick: () => move(1) }),
      h('button', { type: 'button', class: 'btn btn-ghost', id: 'journee-today', text: "Aujourd'hui", onclick: () => { state.day = today(); load(); } }),
      h('input', { type: 'date', id: 'journee-date', value: state.day, 'aria-label': 'Date', onchange: (e) => {
        if (e.target.value) { state.day = e.target.value; load(); }
      } }));
  }

  async function load() {
    renderToolbar();
    const day = state.day;
    const window_ = { date_from: `${addDays(day, -1)}T00:00:00`, date_to: `${addDays(day, 2)}T00:00:00` };
    const cabinet = ctx.me.cabinet ? { cabinet: ctx.me.cabinet } : {};
    grid.setAttribute('aria-busy', 'true');
    try {
      const [slots, rdvs, absences] = await Promise.all([
        getAll(`creneaux/?${qs({ ...window_, ...cabinet })}`),
        getAll(`rendezvous/?${qs(window_)}`),
        absencesOn(day),
      ]);
      if (day !== state.day) return; // a newer request won
      state.absences = absences;
      state.slots = new Map(slots.map((s) => [s.id, s]));
      state.rdvs = new Map(rdvs.map((r) => [r.id, r]));
      render();
    } catch (error) {
      toast(errorMessage(error), 'error');
    } finally {
      grid.removeAttribute('aria-busy');
    }
  }

  // Each doctor's absences covering the day (shown in the column's head).
  async function absencesOn(day) {
    const lists = await Promise.all(state.medecins.map((m) => getAll(`medecins/${m.id}/absences/?a_venir=true`, 1)
      .catch(() => [])));
    return new Map(state.medecins.map((m, i) => [m.id, lists[i].filter(
      (a) => localDate(a.debut) <= day && localDate(a.fin) >= day)]));
  }

  function absenceText(a) {
    // Midnight to 23:59 (or beyond the day) reads as the whole day.
    const from = localDate(a.debut) < state.day || localTime(a.debut) === '00:00' ? null : localTime(a.debut);
    const to = localDate(a.fin) > state.day || localTime(a.fin) >= '23:59' ? null : localTime(a.fin);
    let when = 'toute la journée';
    if (from && to) when = `de ${from} à ${to}`;
    else if (from) when = `à partir de ${from}`;
    else if (to) when = `jusqu'à ${to}`;
    return `Absent ${when}${a.motif ? ` — ${a.motif}` : ''}`;
  }

  const medecinOf = (id) => state.medecins.find((m) => m.id === id);

  // Per doctor: one row per slot of the day, with its active booking, else free.
  function columns() {
    const cols = new Map(state.medecins.map((m) => [m.id, new Map()]));
    const rowOf = (slot) => {
      const col = cols.get(slot.medecin);
      if (!col) return null;
      if (!col.has(slot.id)) col.set(slot.id, { slot, active: null, cancelled: [] });
      return col.get(slot.id);
    };
    for (const slot of state.slots.values()) if (localDate(slot.debut) === state.day && slot.actif !== false) rowOf(slot);
    for (const rdv of state.rdvs.values()) {
      if (localDate(rdv.creneau.debut) !== state.day) continue;
      const row = rowOf({ ...rdv.creneau, medecin: rdv.medecin ? rdv.medecin.id : rdv.creneau.medecin });
      if (!row) continue;
      if (rdv.statut === 'ANNULE') row.cancelled.push(rdv);
      else row.active = rdv;
    }
    return [...cols].map(([id, rows]) => ({
      medecin: medecinOf(id),
      rows: [...rows.values()].filter((r) => r.active || r.cancelled.length || r.slot.actif !== false)
        .sort((a, b) => a.slot.debut.localeCompare(b.slot.debut)),
    }));
  }

  function render() {
    const cols = columns();
    const all = cols.flatMap((c) => c.rows);
    const booked = all.filter((r) => r.active).length;
    const free = all.filter((r) => !r.active && isFree(r.slot)).length;
    summary.textContent = `${state.medecins.length} médecin${state.medecins.length > 1 ? 's' : ''}, ${booked} rendez-vous, ${free} créneau${free > 1 ? 'x' : ''} libre${free > 1 ? 's' : ''}.`;
    clear(grid, cols.map(({ medecin, rows }) => h('section', {
      class: 'card journee-col', 'data-medecin': medecin.id, 'aria-labelledby': `journee-col-${medecin.id}`,
    },
    h('h3', { id: `journee-col-${medecin.id}` }, personName(medecin), ' ', h('span', { class: 'muted', text: medecin.specialite })),
    (state.absences.get(medecin.id) || []).map((a) => h('p', { class: 'absence-note', 'data-absence': a.id, text: absenceText(a) })),
    rows.length ? h('div', { class: 'journee-rows' }, rows.map((r) => cell(medecin, r)))
      : h('p', { class: 'muted', text: 'Aucun créneau ce jour-là.' }))));
  }

  // An empty row: free, past, or taken by a booking this screen has not received yet.
  const freeState = (slot) => {
    if (isFree(slot)) return ['LIBRE', 'Libre'];
    return new Date(slot.debut) > new Date() ? ['OCCUPE', 'Occupé'] : ['PASSE', 'Passé'];
  };
  const isFree = (slot) => slot.actif !== false && slot.disponible !== false && new Date(slot.debut) > new Date();

  function cell(medecin, { slot, active, cancelled }) {
    const time = `${localTime(slot.debut)} – ${localTime(slot.fin)}`;
    const actions = h('div', { class: 'actions' });
    const who = active ? personName(active.patient) : '';
    const el = h('article', {
      class: `jcell${active ? ` rdv-${active.statut.toLowerCase()}` : ' free'}`,
      'data-creneau': slot.id, 'data-medecin': medecin.id, 'data-rdv': active ? active.id : null,
      'data-statut': active ? active.statut : freeState(slot)[0],
    },
    h('div', { class: 'jcell-time', text: time }),
    h('div', { class: 'jcell-main' },
      h('div', {}, active ? badge(active.statut) : h('span', { class: 'badge badge-free', text: freeState(slot)[1] }),
        ' ', active ? h('strong', { class: 'patient-name', text: who }) : null),
      active && active.motif_consultation ? h('div', { class: 'muted', text: `Motif : ${active.motif_consultation.libelle}` }) : null,
      active && active.motif ? h('div', { class: 'muted', text: active.motif_consultation ? active.motif : `Motif : ${active.motif}` }) : null,
      active && active.deplace_at ? h('div', { class: 'muted moved-line', text: 'Déplacé' }) : null,
      cancelled.map((r) => h('div', { class: 'muted cancelled-line', text: `Annulé : ${personName(r.patient)}` }))),
    actions);
    if (active) {
      if (active.statut === 'EN_ATTENTE') {
        actions.append(h('button', { type: 'button', class: 'btn btn-success', 'data-action': 'confirm', text: 'Confirmer',
          'aria-label': `Confirmer le rendez-vous de ${who} à ${localTime(slot.debut)}`, onclick: (e) => confirmRendezvous(active, e.target, upsert) }));
      }
      if (new Date(slot.debut) > new Date()) {
        actions.append(
          h('button', { type: 'button', class: 'btn btn-ghost', 'data-action': 'move', text: 'Déplacer',
            'aria-label': `Déplacer le rendez-vous de ${who} à ${localTime(slot.debut)}`, onclick: () => openMove(active) }),
          h('button', { type: 'button', class: 'btn btn-danger-ghost', 'data-action': 'cancel', text: 'Annuler',
            'aria-label': `Annuler le rendez-vous de ${who} à ${localTime(slot.debut)}`, onclick: () => openCancel(active) }));
      }
    } else if (isFree(slot)) {
      actions.append(h('button', { type: 'button', class: 'btn btn-primary', 'data-action': 'book', text: 'Réserver',
        'aria-label': `Réserver ${time} avec ${personName(medecin)}`, onclick: () => openBook(medecin, slot) }));
    }
    dragAndDrop(el, active, slot);
    return el;
  }

  // Drag a booking onto a free slot (any doctor of the practice): the same move as the
  // "Déplacer" button, which stays the keyboard's way.
  function dragAndDrop(el, active, slot) {
    if (active && new Date(slot.debut) > new Date()) {
      el.draggable = true;
      el.addEventListener('dragstart', (e) => {
        state.dragging = active.id;
        e.dataTransfer.setData('text/plain', String(active.id));
        e.dataTransfer.effectAllowed = 'move';
      });
      el.addEventListener('dragend', () => { state.dragging = null; });
    } else if (!active && isFree(slot)) {
      el.addEventListener('dragover', (e) => {
        if (!state.dragging) return;
        e.preventDefault();
        el.classList.add('drop-target');
      });
      el.addEventListener('dragleave', () => el.classList.remove('drop-target'));
      el.addEventListener('drop', (e) => {
        e.preventDefault();
        el.classList.remove('drop-target');
        const rdv = state.rdvs.get(Number(e.dataTransfer.getData('text/plain')) || state.dragging);
        state.dragging = null;
        if (rdv) dropMove(rdv, slot);
      });
    }
  }

  async function dropMove(rdv, slot) {
    try {
      const moved = await api('POST', `rendezvous/${rdv.id}/move/`, { creneau: slot.id });
      upsert(moved);
      toast('Rendez-vous déplacé', 'success');
      showBanner('success', `Rendez-vous de ${personName(moved.patient)} déplacé au ${formatSlot(moved.creneau)} avec ${personName(moved.medecin)}.`);
    } catch (error) {
      showBanner('error', errorMessage(error));
    }
  }

  // --- the side panel (one action at a time)

  // Escape closes it; focus goes back to the button that opened it (if still there).
  function openPanel(title, fill) {
    closePanel();
    const trigger = document.activeElement;
    const back = trigger && trigger.closest && trigger.closest('[data-creneau]')
      ? [trigger.closest('[data-creneau]').dataset.creneau, trigger.dataset.action] : null;
    let cleanup = () => {};
    const body = h('div', { class: 'stack' });
    clear(panel, h('h2', { id: 'journee-panel-title', class: 'sr-only', text: title }), body);
    panel.hidden = false;
    closePanel = (restore = false) => {
      cleanup();
      panel.hidden = true;
      clear(panel);
      closePanel = () => {};
      if (restore && back) grid.querySelector(`[data-creneau="${back[0]}"] [data-action="${back[1]}"]`)?.focus();
    };
    cleanup = fill(body) || (() => {});
    panel.scrollIntoView({ block: 'nearest' });
  }
  panel.addEventListener('keydown', (e) => { if (e.key === 'Escape') closePanel(true); });

  function openBook(medecin, slot) {
    openPanel('Réserver pour un patient', (body) => bookFor(body, {
      slot, medecin,
      onClose: () => closePanel(true),
      onBooked: (rdv, patient) => {
        if (patient && patient.telephone) state.phones.set(patient.id, patient.telephone);
        closePanel();
        upsert(rdv);
        toast(`Rendez-vous réservé pour ${personName(rdv.patient)}`, 'success');
        showBanner('success', `Rendez-vous réservé : ${formatSlot(rdv.creneau)}, ${personName(rdv.patient)} avec ${personName(rdv.medecin)}.`);
      },
    }));
  }

  function openMove(rdv) {
    openPanel('Déplacer un rendez-vous', (body) => {
      const error = h('div', { class: 'banner-area', id: 'move-error-box' });
      const pickerBox = h('div', { id: 'move-picker' });
      clear(body,
        h('div', { class: 'card-head' },
          h('h3', { text: `Déplacer le rendez-vous de ${personName(rdv.patient)}` }),
          h('button', { type: 'button', class: 'btn btn-ghost', id: 'move-close', text: 'Fermer', onclick: () => closePanel(true) })),
        h('p', { class: 'muted', text: `Actuellement : ${formatSlot(rdv.creneau)} avec ${personName(rdv.medecin)}. Choisissez le nouveau créneau :` }),
        error, pickerBox);
      const picker = slotPicker(pickerBox, {
        medecins: state.medecins, medecinId: rdv.medecin.id, day: localDate(rdv.creneau.debut), idPrefix: 'move',
        exclude: (s) => s.id === rdv.creneau.id,
        onPick: (slot) => doMove(rdv, slot, error, picker),
      });
      pickerBox.querySelector('select, input')?.focus();
      return picker.destroy;
    });
  }

  async function doMove(rdv, slot, errorBox, picker) {
    clear(errorBox);
    for (const b of panel.querySelectorAll('.move-target')) b.disabled = true;
    try {
      const moved = await api('POST', `rendezvous/${rdv.id}/move/`, { creneau: slot.id });
      closePanel();
      upsert(moved);
      toast('Rendez-vous déplacé', 'success');
      showBanner('success', `Rendez-vous de ${personName(moved.patient)} déplacé au ${formatSlot(moved.creneau)}.`);
    } catch (error) {
      clear(errorBox, h('p', { class: 'alert alert-error', role: 'alert', 'data-testid': 'move-error', text: errorMessage(error) }));
      if (error instanceof ApiError && error.status === 409) picker.remove(slot.id);
      for (const b of panel.querySelectorAll('.move-target')) b.disabled = false;
    }
  }

  async function phoneOf(patient) {
    if (state.phones.has(patient.id)) return state.phones.get(patient.id);
    try {
      const page = await get(`patients/?${qs({ q: patient.last_name || patient.first_name })}`);
      const found = (page.results || []).find((p) => p.id === patient.id);
      const tel = found ? found.telephone || '' : '';
      state.phones.set(patient.id, tel);
      return tel;
    } catch {
      return '';
    }
  }

  function openCancel(rdv) {
    openPanel('Annuler un rendez-vous', (body) => {
      const phone = h('p', { class: 'phone-line', id: 'cancel-phone', text: 'Téléphone : recherche…' });
      const motif = h('input', { id: 'cancel-motif', name: 'motif', maxLength: 500 });
      const yes = h('button', { type: 'submit', class: 'btn btn-danger', id: 'cancel-confirm', 'data-action': 'cancel-confirm', text: "Confirmer l'annulation" });
      const error = h('div', { class: 'banner-area' });
      clear(body,
        h('div', { class: 'card-head' },
          h('h3', { text: `Annuler le rendez-vous de ${personName(rdv.patient)}` }),
          h('button', { type: 'button', class: 'btn btn-ghost', id: 'cancel-close', text: 'Fermer', onclick: () => closePanel(true) })),
        h('p', { text: `${formatSlot(rdv.creneau)} avec ${personName(rdv.medecin)}` }),
        phone, error,
        h('form', { class: 'inline-form', onsubmit: async (e) => {
          e.preventDefault();
          yes.disabled = true;
          try {
            const cancelled = await api('POST', `rendezvous/${rdv.id}/cancel/`, { motif: motif.value });
            closePanel();
            upsert(cancelled);
            toast('Rendez-vous annulé', 'warning');
          } catch (err) {
            clear(error, h('p', { class: 'alert alert-error', role: 'alert', text: errorMessage(err) }));
            yes.disabled = false;
          }
        } },
        h('label', { for: 'cancel-motif', class: 'stack grow' }, "Motif de l'annulation", motif), yes));
      motif.focus();
      phoneOf(rdv.patient).then((tel) => {
        phone.textContent = '';
        phone.append('Prévenir le patient : ', tel
          ? h('a', { href: `tel:${tel.replace(/[^\d+]/g, '')}`, class: 'phone', text: tel })
          : h('span', { class: 'muted', text: 'pas de numéro enregistré' }));
      });
    });
  }

  function upsert(rdv, old) {
    const before = state.rdvs.get(rdv.id);
    state.rdvs.set(rdv.id, rdv);
    state.slots.set(rdv.creneau.id, { ...rdv.creneau, disponible: rdv.statut === 'ANNULE' ? rdv.creneau.disponible : false });
    // A move frees the old slot (it comes back as free; creneau:available confirms it).
    const freed = old || (before && before.creneau.id !== rdv.creneau.id ? before.creneau : null);
    if (freed && state.slots.has(freed.id)) {
      const slot = state.slots.get(freed.id);
      state.slots.set(freed.id, { ...slot, disponible: new Date(slot.debut) > new Date() });
    }
    render();
    flash(grid.querySelector(`[data-creneau="${rdv.creneau.id}"]`));
  }

  const known = (id) => state.medecins.some((m) => m.id === id);
  const onRdv = (payload) => {
    const rdv = payload.data;
    if (!rdv || !rdv.creneau || (rdv.medecin && !known(rdv.medecin.id))) return;
    upsert(rdv, payload.data.ancien_creneau);
  };
  const onSlot = (payload) => {
    const slot = payload.data;
    if (!slot || !known(slot.medecin)) return;
    const held = [...state.rdvs.values()].some((r) => r.creneau.id === slot.id && r.statut !== 'ANNULE');
    if (slot.actif || held) state.slots.set(slot.id, held ? { ...slot, disponible: false } : slot);
    else state.slots.delete(slot.id);
    render();
  };
  const unfollows = [];
  const unsubscribe = [
    live.on('rendezvous:new', onRdv),
    live.on('rendezvous:confirmed', onRdv),
    live.on('rendezvous:cancelled', onRdv),
    live.on('rendezvous:moved', onRdv),
    live.on('creneau:available', onSlot),
    live.on('creneau:unavailable', onSlot),
    live.on(':connect', () => { if (state.medecins.length) load(); }),
  ];

  managedMedecins(ctx.me).then((medecins) => {
    state.medecins = medecins;
    if (!medecins.length) {
      clear(grid, h('p', { class: 'muted', text: 'Aucun médecin à afficher.' }));
      return;
    }
    // Slots published, withdrawn, taken or freed on any of the practice's agendas.
    for (const m of medecins) unfollows.push(live.follow(`creneaux:${m.id}`));
    load();
  }).catch((error) => toast(errorMessage(error), 'error'));

  return () => {
    closePanel();
    unfollows.forEach((off) => off());
    unsubscribe.forEach((off) => off());
  };
}
