// Patient: find a doctor, a week of open slots kept live, book.

import { ApiError, api, get, getAll, qs } from '../api.js';
import * as live from '../live.js';
import {
  addDays, clear, errorMessage, flash, formatDay, formatInZone, formatSlot, h, localDate, localTime, mondayOf,
  personName, toast, today,
} from '../ui.js';
import { motifLabel, motifsOf } from './bookfor.js';

// The practice's rules as a patient reads them before booking (SPEC "Practice workflow").
export function rulesNotes(medecin, slot) {
  const regles = medecin && (medecin.regles || (medecin.cabinet && medecin.cabinet.regles));
  const notes = [];
  if (medecin && medecin.nouveaux_patients_en_ligne === false) {
    notes.push("Ce médecin ne prend pas de nouveaux patients en ligne : si vous ne l'avez jamais consulté, appelez le cabinet.");
  }
  if (!regles) return notes;
  const delai = regles.delai_annulation_heures || 0;
  if (delai && slot) {
    const limit = new Date(new Date(slot.debut).getTime() - delai * 3600000);
    notes.push(`Annulation ou déplacement possible jusqu'au ${formatInZone(limit, slot.timezone)} (${delai} h avant).`);
  } else if (delai) {
    notes.push(`Annulation ou déplacement en ligne possible jusqu'à ${delai} h avant le rendez-vous.`);
  }
  if (regles.preavis_minimum_minutes) {
    const m = regles.preavis_minimum_minutes;
    notes.push(`Réservation en ligne jusqu'à ${m >= 120 && m % 60 === 0 ? `${m / 60} h` : `${m} min`} avant le créneau.`);
  }
  if (regles.max_rdv_a_venir) notes.push(`Au plus ${regles.max_rdv_a_venir} rendez-vous à venir par patient dans ce cabinet.`);
  return notes;
}

const preavisMs = (medecin) => {
  const regles = medecin && (medecin.regles || (medecin.cabinet && medecin.cabinet.regles));
  return regles ? (regles.preavis_minimum_minutes || 0) * 60000 : 0;
};

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

  const specialite = h('select', { name: 'specialite', id: 'f-specialite', 'aria-label': 'Spécialité' }, h('option', { value: '', text: 'Toutes les spécialités' }));
  const ville = h('input', { name: 'ville', id: 'f-ville', placeholder: 'Ville', 'aria-label': 'Ville' });
  const q = h('input', { name: 'q', id: 'f-q', placeholder: 'Nom ou spécialité', type: 'search', 'aria-label': 'Nom ou spécialité' });
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

  // Slots the practice's minimum notice already closed to online booking are not offered.
  function inWeek(slot) {
    const day = localDate(slot.debut);
    return slot.disponible !== false && day >= state.monday && day <= addDays(state.monday, 6)
      && new Date(slot.debut).getTime() - Date.now() >= preavisMs(state.medecin);
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
    const medecin = state.medecin;
    const motif = h('textarea', { id: 'motif', name: 'motif', rows: 3, maxLength: 500, placeholder: 'Précisions pour le médecin (facultatif)' });
    const confirm = h('button', { type: 'submit', class: 'btn btn-primary', id: 'book-confirm', text: 'Confirmer la réservation' });
    const motifBox = h('div', { id: 'motif-box' });
    const notes = rulesNotes(medecin, slot);
    clear(panel,
      h('h3', { text: 'Réserver ce créneau' }),
      h('p', {}, h('strong', { text: formatSlot(slot) })),
      h('p', { class: 'muted', text: `${personName(medecin)} — ${medecin.specialite}` }),
      notes.length ? h('ul', { class: 'rules-note', id: 'rules-note' }, notes.map((n) => h('li', { text: n }))) : null,
      h('p', { class: 'panel-note', id: 'panel-note', hidden: true }),
      h('form', { onsubmit: (e) => {
        e.preventDefault();
        const chosen = panel.querySelector('#motif-consultation');
        book(slot, motif.value, confirm, chosen && chosen.value ? Number(chosen.value) : null);
      } },
      motifBox,
      h('label', { for: 'motif', text: 'Précisions' }), motif,
      h('div', { class: 'actions' }, confirm,
        h('button', { type: 'button', class: 'btn btn-ghost', id: 'book-cancel', text: 'Fermer', onclick: closePanel }))));
    panel.hidden = false;
    renderGrid();
    // The visit reasons: one is required when the doctor has any (too long for the slot: disabled).
    const minutes = (new Date(slot.fin) - new Date(slot.debut)) / 60000;
    motifsOf(medecin).then((motifs) => {
      if (state.selected !== slot || !motifs.length) return;
      clear(motifBox, h('label', { for: 'motif-consultation', text: 'Motif de consultation' }),
        h('select', { id: 'motif-consultation', name: 'motif_consultation', required: true },
          h('option', { value: '', text: 'Choisissez un motif' }),
          motifs.map((m) => h('option', {
            value: m.id, disabled: m.duree_minutes > minutes,
            text: m.duree_minutes > minutes ? `${motifLabel(m)} — créneau trop court` : motifLabel(m),
          }))));
    }).catch(() => {});
  }

  function closePanel() {
    state.selected = null;
    panel.hidden = true;
    clear(panel);
    if (state.slots.size) renderGrid();
  }

  async function book(slot, motif, button, motifConsultation) {
    button.disabled = true;
    state.booking = slot.id;
    try {
      const body = { creneau: slot.id, motif };
      if (motifConsultation) body.motif_consultation = motifConsultation;
      const rdv = await api('POST', 'rendezvous/', body);
      change('remove', slot);
      closePanel();
      toast('Rendez-vous créé avec succès', 'success');
      showBanner('success', `Rendez-vous réservé : ${formatSlot(rdv.creneau)} avec ${personName(rdv.medecin)} — en attente de confirmation.`,
        h('a', { href: '#/mes-rdv', class: 'alert-link', text: 'Voir mes rendez-vous' }));
    } catch (error) {
      if (error instanceof ApiError && error.code === 'creneau_indisponible') conflict(slot.id);
      else if (error instanceof ApiError && error.status < 500) {
        // A practice rule (notice, cap, new patients, visit reason): said where it bites.
        toast(errorMessage(error), 'error');
        showBanner('error', errorMessage(error));
      } else toast(errorMessage(error), 'error');
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
