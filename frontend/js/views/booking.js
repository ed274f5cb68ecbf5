// Patient: find a doctor, a week of open slots kept live, book.

import { ApiError, accessToken, api, get, getAll, qs } from '../api.js';
import * as live from '../live.js';
import {
  addDays, clear, errorMessage, flash, formatDay, formatSlot, formatWhen, h, localDate, localTime, mondayOf,
  personName, toast, today,
} from '../ui.js';
import { formatTime, zoneOf } from '../dates.js';
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
    notes.push(`Annulation ou déplacement possible jusqu'au ${formatWhen(limit, slot.timezone)} (${delai} h avant).`);
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
    hold: null, // {slot, expireAt, offre, timer, warned, lapsed}: the slot held for us in the panel
    holding: null, // the slot id whose hold we are taking right now
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
    // Our own held slot is listed as unavailable: it stays in our grid while we hold it.
    if (state.selected && inWeek({ ...state.selected, disponible: true })) state.slots.set(state.selected.id, state.selected);
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
    // A live change re-draws the week: the keyboard's focus stays on its slot.
    const active = document.activeElement;
    const focusedSlot = active && grid.contains(active) ? active.dataset.creneau : null;
    drawGrid();
    if (focusedSlot) grid.querySelector(`[data-creneau="${focusedSlot}"]`)?.focus({ preventScroll: true });
  }

  function drawGrid() {
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
          'aria-label': `${formatDay(day, { weekday: 'long', day: 'numeric', month: 'long' })} à ${localTime(slot.debut)}`,
          'aria-pressed': state.selected && state.selected.id === slot.id ? 'true' : 'false',
        }))
        : h('span', { class: 'muted empty', text: '—' })))));
    if (!state.slots.size) {
      grid.append(h('div', { class: 'no-slots' },
        h('p', { class: 'muted', text: 'Aucun créneau disponible cette semaine.' }),
        h('button', { type: 'button', class: 'btn btn-ghost', id: 'waitlist-open', 'aria-expanded': 'false',
          text: "M'inscrire sur la liste d'attente", onclick: (e) => waitlistForm(e.currentTarget) }),
        h('div', { id: 'waitlist-box' })));
    }
  }

  // --- the waiting list: this doctor, the days shown (from today), an optional reason.
  const WAITLIST_ERRORS = {
    periode_invalide: 'La date de fin doit suivre la date de début.',
    periode_passee: 'Cette période est déjà passée : choisissez des dates à venir.',
    deja_en_attente: "Vous êtes déjà sur la liste d'attente de ce médecin pour ces dates.",
    motif_inconnu: "Ce motif de consultation n'est pas proposé par ce médecin.",
  };

  async function waitlistForm(button) {
    const box = grid.querySelector('#waitlist-box');
    if (!box) return;
    if (box.querySelector('#waitlist-form')) { clear(box); button.setAttribute('aria-expanded', 'false'); return; }
    button.setAttribute('aria-expanded', 'true');
    const medecin = state.medecin;
    const from = state.monday < today() ? today() : state.monday;
    const du = h('input', { type: 'date', id: 'wl-from', name: 'date_from', required: true, value: from, min: today() });
    const au = h('input', { type: 'date', id: 'wl-to', name: 'date_to', required: true, value: addDays(state.monday, 6), min: today() });
    const reason = h('div', {});
    const error = h('div', { class: 'banner-area', id: 'wl-error' });
    const submit = h('button', { type: 'submit', class: 'btn btn-primary', id: 'wl-submit', text: "M'inscrire" });
    clear(box, h('form', { class: 'waitlist-form', id: 'waitlist-form', onsubmit: async (e) => {
      e.preventDefault();
      submit.disabled = true;
      clear(error);
      const chosen = box.querySelector('#wl-motif');
      try {
        const body = { medecin: medecin.id, date_from: du.value, date_to: au.value };
        if (chosen && chosen.value) body.motif = Number(chosen.value);
        await api('POST', 'liste-attente/', body);
        clear(box, h('p', { class: 'alert alert-success', role: 'status', id: 'wl-done',
          text: `Vous êtes inscrit sur la liste d'attente de ${personName(medecin)} du ${formatDay(du.value)} au ${formatDay(au.value)}. Un créneau libéré vous sera proposé.` },
        ' ', h('a', { href: '#/mes-rdv', class: 'alert-link', text: 'Voir mes inscriptions' })));
        button.setAttribute('aria-expanded', 'false');
      } catch (err) {
        const text = err instanceof ApiError && WAITLIST_ERRORS[err.code] ? WAITLIST_ERRORS[err.code] : errorMessage(err);
        clear(error, h('p', { class: 'alert alert-error', role: 'alert', 'data-testid': 'wl-error', 'data-code': err.code || '', text }));
        submit.disabled = false;
      }
    } },
    h('p', { class: 'muted', text: "Un créneau libéré ou ouvert sur ces dates vous sera proposé et réservé quelques minutes pour vous." }),
    h('div', { class: 'form-row' },
      h('div', {}, h('label', { for: 'wl-from', text: 'Du' }), du),
      h('div', {}, h('label', { for: 'wl-to', text: 'Au' }), au)),
    reason, error,
    h('div', { class: 'actions' }, submit,
      h('button', { type: 'button', class: 'btn btn-ghost', id: 'wl-cancel', text: 'Annuler', onclick: () => {
        clear(box); button.setAttribute('aria-expanded', 'false'); button.focus();
      } }))));
    du.focus();
    const motifs = await motifsOf(medecin).catch(() => []);
    if (!motifs.length || !box.contains(reason)) return;
    clear(reason, h('label', { for: 'wl-motif', text: 'Motif de consultation (facultatif)' }),
      h('select', { id: 'wl-motif', name: 'motif' }, h('option', { value: '', text: '— Aucun —' }),
        motifs.map((m) => h('option', { value: m.id, text: motifLabel(m) }))));
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

  // --- the booking panel: choosing a slot holds it for us (POST …/hold/) while we fill the
  // form; the countdown shows how long; closing releases it (DELETE); a refusal says why.
  const HOLD_ERRORS = {
    creneau_retenu: 'Ce créneau est retenu par un autre patient qui est en train de réserver. Choisissez un autre horaire, ou réessayez dans quelques minutes.',
    creneau_indisponible: "Ce créneau n'est plus disponible : il vient d'être réservé ou retiré.",
    creneau_passe: 'Ce créneau est déjà passé.',
  };
  let opening = 0;
  // Hold requests go one after the other: a release still on its way must not land after
  // the next hold of the same slot (Escape, then Enter again).
  let released = Promise.resolve();
  const release = (id) => { released = api('DELETE', `creneaux/${id}/hold/`).catch(() => {}); };

  async function openPanel(slot) {
    if (state.selected && state.selected.id === slot.id && state.hold && !state.hold.lapsed) {
      focusPanel();
      return;
    }
    const ticket = ++opening;
    state.holding = slot.id;
    const motifsReady = motifsOf(state.medecin).catch(() => []);
    let held;
    try {
      await released;
      held = await api('POST', `creneaux/${slot.id}/hold/`);
    } catch (error) {
      if (ticket !== opening) return;
      state.holding = null;
      holdRefused(slot, error);
      return;
    }
    if (ticket !== opening) {
      // Closed while the hold was being taken (and no other taken since): give it back.
      if (state.holding === null && !held.offre && !(state.hold && state.hold.slot.id === held.creneau.id)) {
        release(held.creneau.id);
      }
      return;
    }
    state.holding = null;
    // A new hold replaces our previous one on the server (one request, no gap).
    stopHold();
    const fresh = { ...slot, ...held.creneau };
    if (inWeek({ ...fresh, disponible: true })) state.slots.set(fresh.id, fresh);
    state.hold = { slot: fresh, expireAt: new Date(held.expire_at), offre: held.offre, timer: null, warned: false, lapsed: false };
    renderPanel(fresh, await motifsReady, ticket);
  }

  function holdRefused(slot, error) {
    const text = error instanceof ApiError && HOLD_ERRORS[error.code] ? HOLD_ERRORS[error.code] : errorMessage(error);
    toast(text, 'error');
    showBanner('error', text);
    if (error instanceof ApiError && HOLD_ERRORS[error.code]) {
      // Held by someone else, booked, withdrawn or past: gone from the grid (a released
      // hold brings it back live, creneau:available).
      change('remove', slot);
      renderGrid();
    }
  }

  function renderPanel(slot, motifs, ticket) {
    if (ticket !== opening) return;
    state.selected = slot;
    const medecin = state.medecin;
    const motif = h('textarea', { id: 'motif', name: 'motif', rows: 3, maxLength: 500, placeholder: 'Précisions pour le médecin (facultatif)' });
    const confirm = h('button', { type: 'submit', class: 'btn btn-primary', id: 'book-confirm', text: 'Confirmer la réservation' });
    const notes = rulesNotes(medecin, slot);
    // The visit reasons: one is required when the doctor has any (too long for the slot: disabled).
    const minutes = (new Date(slot.fin) - new Date(slot.debut)) / 60000;
    const reasons = motifs.length ? [h('label', { for: 'motif-consultation', text: 'Motif de consultation' }),
      h('select', { id: 'motif-consultation', name: 'motif_consultation', required: true },
        h('option', { value: '', text: 'Choisissez un motif' }),
        motifs.map((m) => h('option', {
          value: m.id, disabled: m.duree_minutes > minutes,
          text: m.duree_minutes > minutes ? `${motifLabel(m)} — créneau trop court` : motifLabel(m),
        })))] : [];
    const heading = h('h3', { id: 'booking-panel-title', text: 'Réserver ce créneau' });
    clear(panel,
      heading,
      h('p', {}, h('strong', { text: formatSlot(slot) })),
      h('p', { class: 'muted', text: `${personName(medecin)} — ${medecin.specialite}` }),
      h('div', { class: 'hold-box', id: 'hold-box' },
        h('p', { class: 'hold-countdown', id: 'hold-countdown', 'aria-hidden': 'true' }),
        // Said to screen readers at the start, at one minute left and when it lapses only.
        h('p', { class: 'sr-only', id: 'hold-announce', 'aria-live': 'polite', 'aria-atomic': 'true' }),
        h('div', { id: 'hold-lapsed', hidden: true })),
      notes.length ? h('ul', { class: 'rules-note', id: 'rules-note' }, notes.map((n) => h('li', { text: n }))) : null,
      h('p', { class: 'panel-note', id: 'panel-note', hidden: true }),
      h('form', { id: 'booking-form', onsubmit: (e) => {
        e.preventDefault();
        const chosen = panel.querySelector('#motif-consultation');
        book(slot, motif.value, confirm, chosen && chosen.value ? Number(chosen.value) : null);
      } },
      h('div', { id: 'motif-box' }, reasons),
      h('label', { for: 'motif', text: 'Précisions' }), motif,
      h('div', { class: 'actions' }, confirm,
        h('button', { type: 'button', class: 'btn btn-ghost', id: 'book-cancel', text: 'Fermer', onclick: () => closePanel({ refocus: true }) }))));
    panel.setAttribute('aria-labelledby', 'booking-panel-title');
    panel.hidden = false;
    renderGrid();
    startCountdown();
    focusPanel();
  }

  // The form in view, the focus in its first field (a phone: the panel is under the week).
  function focusPanel() {
    const first = panel.querySelector('#motif-consultation, #motif');
    if (!first) return;
    first.focus({ preventScroll: true });
    panel.scrollIntoView({ block: 'start', behavior: 'auto' });
  }

  const mmss = (ms) => {
    const total = Math.max(0, Math.ceil(ms / 1000));
    return `${Math.floor(total / 60)}:${String(total % 60).padStart(2, '0')}`;
  };

  function startCountdown() {
    const hold = state.hold;
    if (!hold) return;
    const left = hold.expireAt - Date.now();
    // A hold of a minute or less is said in seconds, and not warned about again.
    hold.warned = left <= 60000;
    panel.querySelector('#hold-announce').textContent = hold.offre
      ? `Créneau proposé depuis la liste d'attente, réservé pour vous jusqu'à ${formatTime(hold.expireAt, zoneOf(hold.slot))}.`
      : `Créneau réservé pour vous pendant ${hold.warned ? `${Math.ceil(left / 1000)} secondes` : `${Math.round(left / 60000)} minutes`}.`;
    tick();
    clearInterval(hold.timer);
    hold.timer = setInterval(tick, 1000);
  }

  function tick() {
    const hold = state.hold;
    const countdown = panel.querySelector('#hold-countdown');
    if (!hold || !countdown) return;
    const left = hold.expireAt - Date.now();
    if (left <= 0) { lapse(); return; }
    countdown.textContent = `Créneau réservé pour vous pendant ${mmss(left)}`;
    countdown.classList.toggle('hold-soon', left <= 60000);
    if (left <= 60000 && !hold.warned) {
      hold.warned = true;
      panel.querySelector('#hold-announce').textContent = 'Plus qu’une minute : confirmez la réservation, sinon le créneau sera rendu aux autres patients.';
    }
  }

  // The hold lapsed: said clearly; the form waits until the patient takes the slot again.
  function lapse() {
    const hold = state.hold;
    if (!hold || hold.lapsed) return;
    hold.lapsed = true;
    clearInterval(hold.timer);
    const text = 'Le délai est dépassé : ce créneau n’est plus réservé pour vous et peut être pris par un autre patient.';
    panel.querySelector('#hold-countdown').textContent = '';
    panel.querySelector('#hold-announce').textContent = text;
    const confirm = panel.querySelector('#book-confirm');
    if (confirm) confirm.disabled = true;
    const again = h('button', { type: 'button', class: 'btn btn-primary', id: 'hold-again', text: 'Reprendre ce créneau', onclick: retake });
    const box = panel.querySelector('#hold-lapsed');
    clear(box, h('p', { class: 'alert alert-warning', 'data-testid': 'hold-lapsed', text }), again);
    box.hidden = false;
    again.focus();
  }

  async function retake() {
    const hold = state.hold;
    if (!hold) return;
    const button = panel.querySelector('#hold-again');
    if (button) button.disabled = true;
    // Ours while the request runs: its creneau:unavailable may arrive before the answer.
    state.holding = hold.slot.id;
    try {
      const held = await api('POST', `creneaux/${hold.slot.id}/hold/`);
      state.holding = null;
      Object.assign(hold, { expireAt: new Date(held.expire_at), offre: held.offre, warned: false, lapsed: false });
      clear(panel.querySelector('#hold-lapsed')).hidden = true;
      const confirm = panel.querySelector('#book-confirm');
      if (confirm) confirm.disabled = false;
      startCountdown();
      focusPanel();
    } catch (error) {
      state.holding = null;
      const slot = hold.slot;
      stopHold();
      closePanel();
      holdRefused(slot, error);
    }
  }

  function stopHold() {
    if (state.hold) clearInterval(state.hold.timer);
    state.hold = null;
  }

  // Our hold goes back to the others (an offer from the waiting list is kept: it stays
  // theirs until it lapses, "Mes rendez-vous" reopens it).
  function releaseHold() {
    const hold = state.hold;
    stopHold();
    if (!hold || hold.lapsed || hold.offre) return;
    release(hold.slot.id); // lapsed meanwhile: nothing to give back
  }

  function closePanel({ refocus = false, release = true } = {}) {
    const slot = state.selected;
    opening += 1;
    state.holding = null;
    if (release) releaseHold(); else stopHold();
    state.selected = null;
    panel.hidden = true;
    clear(panel);
    if (state.slots.size || slot) renderGrid();
    if (refocus && slot) {
      const button = grid.querySelector(`[data-creneau="${slot.id}"]`);
      if (button) button.focus();
    }
  }

  panel.addEventListener('keydown', (event) => {
    if (event.key === 'Escape' && !panel.hidden) {
      event.preventDefault();
      closePanel({ refocus: true });
    }
  });

  async function book(slot, motif, button, motifConsultation) {
    button.disabled = true;
    state.booking = slot.id;
    try {
      const body = { creneau: slot.id, motif };
      if (motifConsultation) body.motif_consultation = motifConsultation;
      const rdv = await api('POST', 'rendezvous/', body);
      stopHold(); // used up by the booking
      change('remove', slot);
      closePanel({ release: false });
      toast('Rendez-vous créé avec succès', 'success');
      showBanner('success', `Rendez-vous réservé : ${formatSlot(rdv.creneau)} avec ${personName(rdv.medecin)} — en attente de confirmation.`,
        h('a', { href: '#/mes-rdv', class: 'alert-link', text: 'Voir mes rendez-vous' }));
    } catch (error) {
      if (error instanceof ApiError && (error.code === 'creneau_indisponible' || error.code === 'creneau_retenu')) conflict(slot.id, error);
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
  function conflict(slotId, error) {
    toast("Ce créneau n'est plus disponible", 'error');
    showBanner('error', error && error.code === 'creneau_retenu'
      ? "Ce créneau n'est plus disponible : votre délai était dépassé et un autre patient est en train de le réserver. La grille a été actualisée, choisissez un autre horaire."
      : "Ce créneau n'est plus disponible : un autre patient vient de le réserver. La grille a été actualisée, choisissez un autre horaire.");
    change('remove', { id: slotId });
    if (state.selected && state.selected.id === slotId) closePanel({ release: false });
    renderGrid();
    loadSlots();
  }

  const unsubscribe = [
    live.on('creneau:conflict', (payload) => conflict(payload.data && payload.data.id)),
    live.on('creneau:unavailable', (payload) => {
      const slot = payload.data || {};
      if (state.booking === slot.id) return; // our own booking
      if (state.holding === slot.id || (state.hold && state.hold.slot.id === slot.id && !state.hold.lapsed)) return; // our own hold
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
      if (state.hold && state.hold.slot.id === slot.id && !state.hold.lapsed) return; // ours, still held
      if (state.selected && state.selected.id === slot.id) { change('add', slot); return; } // ours, lapsed
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
  // A slot given by "Mes rendez-vous" (a waiting-list offer, already held for us): its
  // panel opens once the doctor's week is shown.
  search().then(() => { if (params.creneau) openPanel({ id: Number(params.creneau) }); });

  // The tab closed or reloaded while holding: the release is sent as the page goes
  // (keepalive), so the slot is back at once rather than when the hold lapses.
  const onHide = () => {
    const hold = state.hold;
    if (!hold || hold.lapsed || hold.offre || !accessToken()) return;
    fetch(`/api/creneaux/${hold.slot.id}/hold/`, {
      method: 'DELETE', keepalive: true, headers: { Authorization: `Bearer ${accessToken()}` },
    }).catch(() => {});
    stopHold();
  };
  window.addEventListener('pagehide', onHide);

  return () => { window.removeEventListener('pagehide', onHide); releaseHold(); unfollow(); unsubscribe.forEach((off) => off()); };
}
