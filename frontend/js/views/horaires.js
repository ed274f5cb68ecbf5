// Doctor / secretary: a doctor's weekly opening hours (slots are generated from them) and
// absences (an absence withdraws the free slots it covers and lists the bookings to move,
// with the patient's phone).

import { api, get, getAll } from '../api.js';
import { clear, errorMessage, formatSlot, formatWhen, h, localDate, personName, toast, today, zonedIso } from '../ui.js';
import { managedMedecins, medecinPicker } from './agenda.js';

export const JOURS = ['Lundi', 'Mardi', 'Mercredi', 'Jeudi', 'Vendredi', 'Samedi', 'Dimanche'];
const DUREES = [10, 15, 20, 30, 45, 60];

export function mount(view, ctx) {
  const state = { medecins: [], medecinId: null, plages: [], timezone: 'Europe/Paris' };
  const pickerBox = h('div', { class: 'picker-box' });
  const rows = h('div', { class: 'plages', id: 'plages' });
  const hoursResult = h('div', { id: 'horaires-result', class: 'banner-area' });
  const save = h('button', { type: 'submit', class: 'btn btn-primary', id: 'horaires-save', text: 'Enregistrer la semaine' });
  const tzNote = h('p', { class: 'muted', id: 'horaires-tz' });

  const absDebutDate = h('input', { type: 'date', id: 'abs-debut-date', required: true, min: today(), value: today() });
  const absDebutTime = h('input', { type: 'time', id: 'abs-debut-time', required: true, value: '00:00' });
  const absFinDate = h('input', { type: 'date', id: 'abs-fin-date', required: true, min: today(), value: today() });
  const absFinTime = h('input', { type: 'time', id: 'abs-fin-time', required: true, value: '23:59' });
  const absMotif = h('input', { id: 'abs-motif', maxLength: 200, placeholder: 'Congés, formation… (facultatif)' });
  const absSubmit = h('button', { type: 'submit', class: 'btn btn-primary', id: 'abs-submit', text: "Déclarer l'absence" });
  const absResult = h('div', { id: 'abs-result' });
  const absList = h('div', { class: 'slot-list', id: 'abs-list' });

  clear(view,
    h('section', { class: 'card' }, h('h2', { text: 'Horaires et absences' }), pickerBox, tzNote),
    h('div', { class: 'columns even' },
      h('section', { class: 'card', 'aria-labelledby': 'horaires-title' },
        h('h2', { id: 'horaires-title', text: "Horaires d'ouverture hebdomadaires" }),
        h('p', { class: 'muted', text: "Les créneaux libres sont générés à partir de ces plages sur les semaines à venir ; enregistrer retire les créneaux libres qui n'en font plus partie (les rendez-vous pris restent)." }),
        h('form', { id: 'horaires-form', class: 'stack', onsubmit: (e) => { e.preventDefault(); saveHours(); } },
          rows,
          h('div', { class: 'actions' },
            h('button', { type: 'button', class: 'btn btn-ghost', id: 'plage-add', text: 'Ajouter une plage', onclick: () => {
              const last = state.plages[state.plages.length - 1];
              state.plages.push(last ? { ...last, jour: Math.min(6, last.jour + 1) } : { jour: 0, debut: '09:00', fin: '12:00', duree_minutes: 30 });
              renderRows();
              rows.querySelector('.plage:last-child select')?.focus();
            } }),
            save)),
        hoursResult),
      h('section', { class: 'card', 'aria-labelledby': 'absences-title' },
        h('h2', { id: 'absences-title', text: 'Absences' }),
        h('form', { id: 'absence-form', class: 'stack', onsubmit: (e) => { e.preventDefault(); declare(); } },
          h('fieldset', { class: 'form-row' },
            h('legend', { text: 'Du' }),
            h('label', { for: 'abs-debut-date' }, 'Date de début', absDebutDate),
            h('label', { for: 'abs-debut-time' }, 'Heure de début', absDebutTime)),
          h('fieldset', { class: 'form-row' },
            h('legend', { text: 'Au' }),
            h('label', { for: 'abs-fin-date' }, 'Date de fin', absFinDate),
            h('label', { for: 'abs-fin-time' }, 'Heure de fin', absFinTime)),
          h('label', { for: 'abs-motif', class: 'stack' }, 'Motif', absMotif),
          h('div', { class: 'actions' }, absSubmit)),
        absResult,
        h('h3', { text: 'Absences à venir' }),
        absList)));

  const medecin = () => state.medecins.find((m) => m.id === state.medecinId);

  function renderRows() {
    clear(rows, state.plages.length ? state.plages.map((p, i) => {
      const n = i + 1;
      const set = (key, value) => { state.plages[i][key] = value; };
      return h('div', { class: 'plage', 'data-index': i },
        h('select', { 'aria-label': `Jour de la plage ${n}`, class: 'plage-jour', onchange: (e) => set('jour', Number(e.target.value)) },
          JOURS.map((j, k) => h('option', { value: k, selected: k === p.jour, text: j }))),
        h('input', { type: 'time', class: 'plage-debut', 'aria-label': `Début de la plage ${n}`, value: p.debut, required: true, onchange: (e) => set('debut', e.target.value) }),
        h('input', { type: 'time', class: 'plage-fin', 'aria-label': `Fin de la plage ${n}`, value: p.fin, required: true, onchange: (e) => set('fin', e.target.value) }),
        h('select', { class: 'plage-duree', 'aria-label': `Durée des créneaux de la plage ${n}`, onchange: (e) => set('duree_minutes', Number(e.target.value)) },
          [...new Set([...DUREES, p.duree_minutes])].sort((a, b) => a - b).map((d) => h('option', { value: d, selected: d === p.duree_minutes, text: `${d} min` }))),
        h('button', { type: 'button', class: 'btn btn-danger-ghost', 'data-action': 'remove', 'aria-label': `Supprimer la plage ${n}`, text: 'Supprimer', onclick: () => {
          state.plages.splice(i, 1);
          renderRows();
        } }));
    }) : h('p', { class: 'muted', id: 'plages-empty', text: 'Aucune plage : aucun créneau ne sera généré.' }));
  }

  async function loadHours() {
    const id = state.medecinId;
    try {
      const data = await get(`medecins/${id}/horaires/`);
      if (id !== state.medecinId) return;
      state.timezone = data.timezone;
      state.plages = data.horaires.map((p) => ({ ...p }));
      tzNote.textContent = `Heures du cabinet (${data.timezone}).`;
      rows.dataset.medecin = String(id); // loaded
      clear(hoursResult);
      renderRows();
    } catch (error) {
      clear(hoursResult, h('p', { class: 'alert alert-error', role: 'alert', text: errorMessage(error) }));
    }
  }

  async function saveHours() {
    save.disabled = true;
    try {
      const plages = [...state.plages].sort((a, b) => a.jour - b.jour || a.debut.localeCompare(b.debut));
      const done = await api('PUT', `medecins/${state.medecinId}/horaires/`, plages);
      state.plages = done.horaires.map((p) => ({ ...p }));
      renderRows();
      clear(hoursResult, h('p', { class: 'alert alert-success', role: 'status', 'data-testid': 'horaires-saved',
        text: `Horaires enregistrés : ${done.crees} créneau${done.crees > 1 ? 'x' : ''} généré${done.crees > 1 ? 's' : ''}, ${done.retires} retiré${done.retires > 1 ? 's' : ''}.` }));
      toast('Horaires enregistrés', 'success');
    } catch (error) {
      clear(hoursResult, h('p', { class: 'alert alert-error', role: 'alert', 'data-testid': 'horaires-error', text: errorMessage(error) }));
    } finally {
      save.disabled = false;
    }
  }

  async function loadAbsences() {
    const id = state.medecinId;
    try {
      const list = await getAll(`medecins/${id}/absences/?a_venir=true`, 1);
      if (id !== state.medecinId) return;
      clear(absList, list.length ? list.sort((a, b) => a.debut.localeCompare(b.debut)).map((a) => h('div', { class: 'slot-line', 'data-absence': a.id },
        h('span', { text: `Du ${formatWhen(a.debut)} au ${formatWhen(a.fin)}${a.motif ? ` — ${a.motif}` : ''}` }),
        h('button', { type: 'button', class: 'btn btn-ghost', 'data-action': 'delete-absence', text: 'Supprimer',
          'aria-label': `Supprimer l'absence du ${formatWhen(a.debut)}`, onclick: (e) => removeAbsence(a, e.target) })))
        : h('p', { class: 'muted', text: 'Aucune absence à venir.' }));
    } catch (error) {
      clear(absList, h('p', { class: 'alert alert-error', role: 'alert', text: errorMessage(error) }));
    }
  }

  async function declare() {
    absSubmit.disabled = true;
    try {
      const done = await api('POST', `medecins/${state.medecinId}/absences/`, {
        debut: zonedIso(absDebutDate.value, absDebutTime.value, state.timezone),
        fin: zonedIso(absFinDate.value, absFinTime.value, state.timezone),
        motif: absMotif.value,
      });
      const toMove = done.rendezvous_a_deplacer || [];
      clear(absResult,
        h('p', { class: 'alert alert-success', role: 'status', 'data-testid': 'absence-declared',
          text: `Absence enregistrée : ${done.creneaux_retires} créneau${done.creneaux_retires > 1 ? 'x' : ''} libre${done.creneaux_retires > 1 ? 's' : ''} retiré${done.creneaux_retires > 1 ? 's' : ''}.` }),
        toMove.length ? h('div', { class: 'alert alert-warning', role: 'alert', id: 'a-deplacer' },
          h('div', { class: 'stack' },
            h('strong', { text: `${toMove.length} rendez-vous à déplacer (appelez les patients) :` }),
            toMove.map((r) => h('div', { class: 'to-move', 'data-rdv': r.id },
              `${formatSlot(r.creneau)} — ${personName(r.patient)} `,
              r.patient.telephone ? h('a', { href: `tel:${r.patient.telephone.replace(/[^\d+]/g, '')}`, class: 'phone', text: r.patient.telephone }) : h('span', { text: '(pas de numéro)' }),
              ' ',
              ctx.me.role === 'ADMINCABINET'
                ? h('a', { href: `#/journee?date=${localDate(r.creneau.debut)}`, text: 'Ouvrir la journée' })
                : h('a', { href: `#/agenda?date=${localDate(r.creneau.debut)}`, text: "Ouvrir l'agenda" }))))) : null);
      toast('Absence enregistrée', 'success');
      loadAbsences();
    } catch (error) {
      clear(absResult, h('p', { class: 'alert alert-error', role: 'alert', 'data-testid': 'absence-error', text: errorMessage(error) }));
    } finally {
      absSubmit.disabled = false;
    }
  }

  async function removeAbsence(absence, button) {
    button.disabled = true;
    try {
      await api('DELETE', `medecins/${state.medecinId}/absences/${absence.id}/`);
      toast('Absence supprimée : les créneaux de la période sont régénérés', 'info');
      loadAbsences();
    } catch (error) {
      toast(errorMessage(error), 'error');
      button.disabled = false;
    }
  }

  function select(id) {
    state.medecinId = id;
    const m = medecin();
    view.querySelector('h2').textContent = m ? `Horaires et absences — ${personName(m)}` : 'Horaires et absences';
    loadHours();
    loadAbsences();
  }

  managedMedecins(ctx.me).then((medecins) => {
    state.medecins = medecins;
    if (!medecins.length) { clear(rows, h('p', { class: 'muted', text: 'Aucun médecin.' })); return; }
    clear(pickerBox, medecinPicker(medecins, medecins[0].id, select));
    select(medecins[0].id);
  }).catch((error) => toast(errorMessage(error), 'error'));

  return () => {};
}

