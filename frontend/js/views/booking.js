// Patient: find a doctor, a week of open slots kept live, book.

import { ApiError, api, get, getAll, qs } from '../api.js';
import * as live from '../live.js';
import {
  addDays, clear, errorMessage, flash, formatDay, formatSlot, h, localDate, localTime, mondayOf,
  personName, toast, today,
} from '../ui.js';

export function mount(view, ctx, params) {
  const state = {
    medecins: [],
    medecin: null,
    monday: mondayOf(params.date || today()),
    slots: new Map(),
    selected: null, // the slot in the booking panel
    booking: null, // the slot id being booked by us right now
    loading: 0, // slot loads in flight
    journal: [], // live changes seen while loading, replayed on the fresh list
  };

  const specialite = h('select', { name: 'specialite', id: 'f-specialite' }, h('option', { value: '', text: 'Toutes les spécialités' }));
  const ville = h('input', { name: 'ville', id: 'f-ville', placeholder: 'Ville' });
  const q = h('input', { name: 'q', id: 'f-q', placeholder: 'Nom ou spécialité', type: 'search' });
  const doctorList = h('div', { class: 'doctor-list', id: 'doctor-list' });
  const searchForm = h('form', { class: 'search-form', onsubmit: (e) => { e.preventDefault(); search(); } },
    q, specialite, ville, h('button', { type: 'submit', class: 'btn btn-primary', text: 'Rechercher' }));

  const title = h('h2', { id: 'week-title', text: 'Créneaux disponibles' });
  const weekLabel = h('span', { class: 'week-label', id: 'week-label' });
  const dateInput = h('input', { type: 'date', id: 'week-date', 'aria-label': 'Aller à la date', onchange: () => {
    if (dateInput.value) { state.monday = mondayOf(dateInput.value); loadSlots(); }
  } });
  const banner = h('div', { id: 'booking-banner', class: 'banner-area' });
  const grid = h('div', { class: 'week-grid', id: 'week-grid' });
  const panel = h('aside', { class: 'booking-panel card', id: 'booking-panel', hidden: true });

  const weekNav = h('div', { class: 'week-nav' },
    h('button', { type: 'button', class: 'btn btn-ghost', id: 'week-prev', text: '◀ Semaine précédente', onclick: () => { state.monday = addDays(state.monday, -7); loadSlots(); } }),
    weekLabel,
    h('button', { type: 'button', class: 'btn btn-ghost', id: 'week-next', text: 'Semaine suivante ▶', onclick: () => { state.monday = addDays(state.monday, 7); loadSlots(); } }),
    dateInput,
    h('button', { type: 'button', class: 'btn btn-ghost', id: 'week-first', text: 'Prochain créneau libre', onclick: firstFree }));

  clear(view,
    h('div', { class: 'columns' },
      h('section', { class: 'card sidebar' }, h('h2', { text: 'Trouver un médecin' }), searchForm, doctorList),
      h('section', { class: 'card main-col' }, title, weekNav, banner, h('div', { class: 'grid-and-panel' }, grid, panel))));

  function showBanner(kind, text, extra) {
    clear(banner, h('div', { class: `alert alert-${kind}`, role: kind === 'error' ? 'alert' : 'status', 'data-testid': `banner-${kind}` },
      h('span', { text }), extra || null,
      h('button', { type: 'button', class: 'alert-close', 'aria-label': 'Fermer', text: '×', onclick: () => clear(banner) })));
  }

  async function search() {
    try {
      state.medecins = await getAll(`medecins/?${qs({ specialite: specialite.value, ville: ville.value.trim(), q: q.value.trim() })}`);
    } catch (error) {
      toast(errorMessage(error), 'error');
      return;
    }
    renderDoctors();
    if (!state.medecin || !state.medecins.some((m) => m.id === state.medecin.id)) {
      const wanted = Number(params.medecin);
      select(state.medecins.find((m) => m.id === wanted) || state.medecins[0] || null);
    }
  }

  function renderDoctors() {
    clear(doctorList, state.medecins.length ? state.medecins.map((m) => h('button', {
      type: 'button', class: `doctor${state.medecin && state.medecin.id === m.id ? ' active' : ''}`, 'data-medecin': m.id,
      onclick: () => select(m),
    }, h('strong', { text: personName(m) }), h('span', { text: m.specialite }),
    h('span', { class: 'muted', text: m.cabinet ? `${m.cabinet.nom}, ${m.cabinet.ville}` : '' })))
      : h('p', { class: 'muted', text: 'Aucun médecin ne correspond à la recherche.' }));
  }

  let unfollow = () => {};
  function select(medecin) {
    state.medecin = medecin;
    unfollow();
    // Slot changes of this doctor (a slot booked or withdrawn disappears at once).
    unfollow = medecin ? live.follow(`creneaux:${medecin.id}`) : () => {};
    closePanel();
    renderDoctors();
    loadSlots();
  }

  async function loadSlots() {
    const medecin = state.medecin;
    const monday = state.monday;
    weekLabel.textContent = `Semaine du ${formatDay(monday, { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' })}`;
    dateInput.value = monday;
    if (!medecin) {
      title.textContent = 'Créneaux disponibles';
      clear(grid, h('p', { class: 'muted', text: 'Choisissez un médecin.' }));
      return;
    }
    title.textContent = `Créneaux de ${personName(medecin)} — ${medecin.specialite}`;
    grid.setAttribute('aria-busy', 'true');
    let slots;
    const mark = state.journal.length;
    state.loading += 1;
    try {
      // One day of margin each side: the API filters in server time, we show practice time.
      slots = await getAll(`creneaux/?${qs({
        medecin: medecin.id, disponible: 'true',
        date_from: `${addDays(monday, -1)}T00:00:00`, date_to: `${addDays(monday, 8)}T00:00:00`,
      })}`);
    } catch (error) {
      toast(errorMessage(error), 'error');
      return;
    } finally {
      grid.removeAttribute('aria-busy');
      state.loading -= 1;
    }
    if (medecin !== state.medecin || monday !== state.monday) return; // a newer request won
    state.slots = new Map(slots.filter(inWeek).map((s) => [s.id, s]));
    for (const [op, slot] of state.journal.slice(mark)) apply(op, slot);
    if (!state.loading) state.journal.length = 0;
    renderGrid();
  }

  function apply(op, slot) {
    if (op === 'remove') return state.slots.delete(slot.id);
    if (!state.medecin || slot.medecin !== state.medecin.id || !slot.disponible || !inWeek(slot)) return false;
    state.slots.set(slot.id, slot);
    return true;
  }

  // A live change: applied now, and again on top of any list being fetched meanwhile.
  function change(op, slot) {
    if (state.loading) state.journal.push([op, slot]);
    return apply(op, slot);
  }

  function inWeek(slot) {
    const day = localDate(slot.debut);
    return slot.disponible !== false && day >= state.monday && day <= addDays(state.monday, 6);
  }

  function renderGrid() {
    const days = [...Array(7).keys()].map((i) => addDays(state.monday, i));
    const byDay = Object.fromEntries(days.map((d) => [d, []]));
    for (const slot of state.slots.values()) byDay[localDate(slot.debut)]?.push(slot);
    clear(grid, days.map((day) => h('div', { class: `day${day === today() ? ' today' : ''}`, 'data-day': day },
      h('div', { class: 'day-head' },
        h('strong', { text: formatDay(day, { weekday: 'long' }) }),
        h('span', { text: formatDay(day, { day: 'numeric', month: 'short' }) })),
      h('div', { class: 'day-slots' }, byDay[day].length
        ? byDay[day].sort((a, b) => a.debut.localeCompare(b.debut)).map((slot) => h('button', {
          type: 'button', class: `slot${state.selected && state.selected.id === slot.id ? ' selected' : ''}`,
          'data-creneau': slot.id, title: formatSlot(slot), text: localTime(slot.debut), onclick: () => openPanel(slot),
        }))
        : h('span', { class: 'muted empty', text: '—' })))));
    if (!state.slots.size) {
      grid.append(h('p', { class: 'muted no-slots', text: 'Aucun créneau disponible cette semaine.' }));
    }
  }

  async function firstFree() {
    if (!state.medecin) return;
    try {
      const page = await get(`creneaux/?${qs({ medecin: state.medecin.id, disponible: 'true', page_size: 1 })}`);
      const slot = page.results && page.results[0];
      if (!slot) { toast('Aucun créneau disponible pour ce médecin', 'warning'); return; }
      state.monday = mondayOf(localDate(slot.debut));
      await loadSlots();
      flash(grid.querySelector(`[data-creneau="${slot.id}"]`));
    } catch (error) {
      toast(errorMessage(error), 'error');
    }
  }

  function openPanel(slot) {
    state.selected = slot;
    const motif = h('textarea', { id: 'motif', name: 'motif', rows: 3, maxLength: 500, placeholder: 'Motif de la consultation (facultatif)' });
    const confirm = h('button', { type: 'submit', class: 'btn btn-primary', id: 'book-confirm', text: 'Confirmer la réservation' });
    clear(panel,
      h('h3', { text: 'Réserver ce créneau' }),
      h('p', {}, h('strong', { text: formatSlot(slot) })),
      h('p', { class: 'muted', text: `${personName(state.medecin)} — ${state.medecin.specialite}` }),
      h('p', { class: 'panel-note', id: 'panel-note', hidden: true }),
      h('form', { onsubmit: (e) => { e.preventDefault(); book(slot, motif.value, confirm); } },
        h('label', { for: 'motif', text: 'Motif' }), motif,
        h('div', { class: 'actions' }, confirm,
          h('button', { type: 'button', class: 'btn btn-ghost', id: 'book-cancel', text: 'Fermer', onclick: closePanel }))));
    panel.hidden = false;
    renderGrid();
  }

  function closePanel() {
    state.selected = null;
    panel.hidden = true;
    clear(panel);
    if (state.slots.size) renderGrid();
  }

  async function book(slot, motif, button) {
    button.disabled = true;
    state.booking = slot.id;
    try {
      const rdv = await api('POST', 'rendezvous/', { creneau: slot.id, motif });
      change('remove', slot);
      closePanel();
      toast('Rendez-vous créé avec succès', 'success');
      showBanner('success', `Rendez-vous réservé : ${formatSlot(rdv.creneau)} avec ${personName(rdv.medecin)} — en attente de confirmation.`,
        h('a', { href: '#/mes-rdv', class: 'alert-link', text: 'Voir mes rendez-vous' }));
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) conflict(slot.id);
      else toast(errorMessage(error), 'error');
    } finally {
      state.booking = null;
      button.disabled = false;
    }
  }

  // The seed: showNotification('Ce créneau n'est plus disponible', 'error'); refreshAvailableSlots();
  function conflict(slotId) {
    toast("Ce créneau n'est plus disponible", 'error');
    showBanner('error', "Ce créneau n'est plus disponible : un autre patient vient de le réserver. La grille a été actualisée, choisissez un autre horaire.");
    change('remove', { id: slotId });
    if (state.selected && state.selected.id === slotId) closePanel();
    renderGrid();
    loadSlots();
  }

  const unsubscribe = [
    live.on('creneau:conflict', (payload) => conflict(payload.data && payload.data.id)),
    live.on('creneau:unavailable', (payload) => {
      const slot = payload.data || {};
      if (state.booking === slot.id) return; // our own booking
      if (change('remove', slot)) renderGrid();
      if (state.selected && state.selected.id === slot.id) {
        const note = panel.querySelector('#panel-note');
        if (note) {
          note.hidden = false;
          note.textContent = 'Attention : ce créneau vient d’être réservé ou retiré.';
        }
      }
    }),
    live.on('creneau:available', (payload) => {
      const slot = payload.data || {};
      if (!change('add', slot)) return;
      renderGrid();
      flash(grid.querySelector(`[data-creneau="${slot.id}"]`));
      toast(`${payload.message || 'Nouveau créneau disponible'} : ${formatSlot(slot)}`, 'info');
    }),
    live.on(':connect', () => { if (state.medecin) loadSlots(); }),
  ];

  // Specialties for the filter, then the first search.
  getAll('medecins/').then((all) => {
    for (const s of [...new Set(all.map((m) => m.specialite))].sort()) specialite.append(h('option', { value: s, text: s }));
  }).catch(() => {});
  search();

  return () => { unfollow(); unsubscribe.forEach((off) => off()); };
}
