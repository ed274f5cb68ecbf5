// A slot picker shared by "move a booking" (patient and staff) and the staff's day view:
// the next free slots of one doctor from a chosen date, kept live (a slot taken or
// withdrawn meanwhile disappears; a freed one appears).

import { getAll, qs } from '../api.js';
import * as live from '../live.js';
import { addDays, clear, errorMessage, formatDay, h, localDate, localTime, personName, today } from '../ui.js';

const LIMIT = 30;

// Renders into `box`; `onPick(slot)` is called with the chosen slot. `medecins` lists the
// doctors the caller may choose from (one: no choice). Returns {reload, destroy}.
export function slotPicker(box, { medecins, medecinId, day, exclude = () => false, onPick, idPrefix = 'pick' }) {
  const state = { medecinId, day: day && day >= today() ? day : today(), slots: [] };
  const list = h('div', { class: 'pick-list', id: `${idPrefix}-list`, role: 'list', 'aria-live': 'polite' });
  const dateInput = h('input', {
    type: 'date', id: `${idPrefix}-date`, value: state.day, min: today(),
    onchange: () => { if (dateInput.value) { state.day = dateInput.value; load(); } },
  });
  const doctor = medecins.length > 1
    ? h('label', { class: 'stack' }, 'Médecin',
      h('select', { id: `${idPrefix}-medecin`, onchange: (e) => { state.medecinId = Number(e.target.value); follow(); load(); } },
        medecins.map((m) => h('option', { value: m.id, selected: m.id === state.medecinId, text: personName(m) }))))
    : null;
  clear(box,
    h('div', { class: 'pick-head' }, doctor, h('label', { class: 'stack' }, 'À partir du', dateInput)),
    list);

  async function load() {
    const { medecinId: wantedMedecin, day: wantedDay } = state;
    list.setAttribute('aria-busy', 'true');
    try {
      const slots = await getAll(`creneaux/?${qs({
        medecin: wantedMedecin, disponible: 'true', date_from: `${wantedDay}T00:00:00`, date_to: `${addDays(wantedDay, 60)}T00:00:00`,
      })}`, 1);
      if (wantedMedecin !== state.medecinId || wantedDay !== state.day) return;
      state.slots = slots.filter((s) => s.disponible && !exclude(s)).slice(0, LIMIT);
      render();
    } catch (error) {
      clear(list, h('p', { class: 'alert alert-error', role: 'alert', text: errorMessage(error) }));
    } finally {
      list.removeAttribute('aria-busy');
    }
  }

  function render() {
    if (!state.slots.length) {
      clear(list, h('p', { class: 'muted', text: 'Aucun créneau libre à partir de cette date.' }));
      return;
    }
    const groups = new Map();
    for (const slot of [...state.slots].sort((a, b) => a.debut.localeCompare(b.debut))) {
      const d = localDate(slot.debut);
      if (!groups.has(d)) groups.set(d, []);
      groups.get(d).push(slot);
    }
    clear(list, [...groups].map(([d, slots]) => h('div', { class: 'pick-day', role: 'listitem' },
      h('span', { class: 'pick-day-label', text: formatDay(d, { weekday: 'short', day: 'numeric', month: 'short' }) }),
      h('div', { class: 'pick-slots' }, slots.map((slot) => h('button', {
        type: 'button', class: 'slot move-target', 'data-creneau': slot.id, text: localTime(slot.debut),
        'aria-label': `${formatDay(d, { weekday: 'long', day: 'numeric', month: 'long' })} à ${localTime(slot.debut)}`,
        onclick: () => onPick(slot),
      }))))));
  }

  function remove(id) {
    const before = state.slots.length;
    state.slots = state.slots.filter((s) => s.id !== id);
    if (state.slots.length !== before) render();
  }

  let unfollow = () => {};
  function follow() {
    unfollow();
    unfollow = live.follow(`creneaux:${state.medecinId}`);
  }
  follow();
  const offs = [
    live.on('creneau:unavailable', (p) => { if (p.data) remove(p.data.id); }),
    live.on('creneau:available', (p) => {
      const s = p.data;
      if (!s || s.medecin !== state.medecinId || !s.disponible || exclude(s) || localDate(s.debut) < state.day) return;
      if (state.slots.some((x) => x.id === s.id)) return;
      state.slots.push(s);
      render();
    }),
  ];
  load();
  return {
    reload: load,
    remove,
    destroy: () => { unfollow(); offs.forEach((off) => off()); },
  };
}
