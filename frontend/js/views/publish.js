// Doctor / secretary: publish slots (one, or a series back to back), withdraw free ones.

import { api, getAll, qs } from '../api.js';
import { addDays, clear, errorMessage, formatSlot, h, today, toast, zonedIso } from '../ui.js';
import { managedMedecins, medecinPicker } from './agenda.js';

export function mount(view, ctx) {
  const state = { medecins: [], medecinId: null };
  const pickerBox = h('div', { class: 'picker-box' });
  const date = h('input', { type: 'date', id: 'pub-date', name: 'date', required: true, value: addDays(today(), 1) });
  const start = h('input', { type: 'time', id: 'pub-time', name: 'heure', required: true, value: '09:00', step: 300 });
  const duree = h('select', { id: 'pub-duree', name: 'duree' }, [15, 20, 30, 45, 60].map((m) => h('option', { value: m, selected: m === 30, text: `${m} min` })));
  const count = h('input', { type: 'number', id: 'pub-count', name: 'nombre', min: 1, max: 24, value: 1, required: true });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary', id: 'pub-submit', text: 'Publier' });
  const result = h('div', { id: 'pub-result' });
  const list = h('div', { class: 'slot-list', id: 'pub-list' });

  const form = h('form', { class: 'publish-form', id: 'publish-form', onsubmit: (e) => { e.preventDefault(); publish(); } },
    pickerBox,
    h('div', { class: 'form-row' },
      h('label', {}, 'Date', date), h('label', {}, 'Heure de début', start),
      h('label', {}, 'Durée', duree), h('label', {}, 'Nombre de créneaux consécutifs', count)),
    h('div', { class: 'actions' }, submit));

  clear(view,
    h('div', { class: 'columns' },
      h('section', { class: 'card sidebar wide' },
        h('h2', { text: 'Publier des créneaux' }),
        h('p', { class: 'muted', text: "Heures dans le fuseau du cabinet. Les patients voient les nouveaux créneaux s'afficher en direct." }),
        form, result),
      h('section', { class: 'card main-col' }, h('h2', { text: 'Prochains créneaux libres' }), list)));

  const medecin = () => state.medecins.find((m) => m.id === state.medecinId);

  async function publish() {
    const m = medecin();
    if (!m) return;
    const tz = (m.cabinet && m.cabinet.timezone) || 'Europe/Paris';
    const minutes = Number(duree.value);
    const n = Math.max(1, Math.min(24, Number(count.value) || 1));
    const debut = zonedIso(date.value, start.value, tz);
    const fin = new Date(new Date(debut).getTime() + n * minutes * 60000).toISOString();
    const who = ctx.me.role === 'MEDECIN' ? {} : { medecin: m.id };
    submit.disabled = true;
    try {
      if (n === 1) {
        const slot = await api('POST', 'creneaux/', { ...who, debut, fin });
        clear(result, h('p', { class: 'alert alert-success', 'data-testid': 'published', text: `Créneau publié : ${formatSlot(slot)}` }));
      } else {
        const res = await api('POST', 'creneaux/serie/', { ...who, debut, fin, duree_minutes: minutes });
        clear(result, h('p', { class: 'alert alert-success', 'data-testid': 'published', text: `${res.count} créneaux publiés à partir du ${formatSlot({ debut })}` }));
      }
      toast('Créneaux publiés', 'success');
      loadList();
    } catch (error) {
      clear(result, h('p', { class: 'alert alert-error', role: 'alert', text: errorMessage(error) }));
    } finally {
      submit.disabled = false;
    }
  }

  async function loadList() {
    if (!state.medecinId) return;
    try {
      const page = await getAll(`creneaux/?${qs({ medecin: state.medecinId, disponible: 'true' })}`, 1);
      clear(list, page.length ? page.slice(0, 60).map((slot) => h('div', { class: 'slot-line', 'data-creneau': slot.id },
        h('span', { text: formatSlot(slot) }),
        h('button', { type: 'button', class: 'btn btn-ghost', 'data-action': 'withdraw', text: 'Retirer', onclick: async (e) => {
          e.target.disabled = true;
          try {
            await api('DELETE', `creneaux/${slot.id}/`);
            toast('Créneau retiré', 'info');
            loadList();
          } catch (error) {
            toast(errorMessage(error), 'error');
            e.target.disabled = false;
          }
        } })))
        : h('p', { class: 'muted', text: 'Aucun créneau libre à venir.' }));
    } catch (error) {
      toast(errorMessage(error), 'error');
    }
  }

  managedMedecins(ctx.me).then((medecins) => {
    state.medecins = medecins;
    state.medecinId = medecins[0] ? medecins[0].id : null;
    clear(pickerBox, medecinPicker(medecins, state.medecinId, (id) => { state.medecinId = id; loadList(); }));
    loadList();
  }).catch((error) => toast(errorMessage(error), 'error'));

  return () => {};
}
