// Doctor / secretary: visit reasons per doctor (label, duration, open online, open to new
// patients), whether the doctor takes new patients online, and the practice's rules
// (read by staff, written by the practice's admin).

import { ApiError, api, get } from '../api.js';
import { clear, errorMessage, h, personName, toast } from '../ui.js';
import { managedMedecins, medecinPicker } from './agenda.js';

const RULES = [
  ['delai_annulation_heures', "Délai d'annulation et de déplacement (heures avant le rendez-vous, 0 : jusqu'au dernier moment)", 0, 720],
  ['preavis_minimum_minutes', 'Préavis minimum pour réserver en ligne (minutes, 0 : aucun)', 0, 43200],
  ['max_rdv_a_venir', 'Rendez-vous à venir par patient dans le cabinet (vide : sans limite)', 1, 100],
];

export function mount(view, ctx) {
  const state = { medecins: [], medecinId: null, motifs: [] };
  const pickerBox = h('div', { class: 'picker-box' });
  const newPatients = h('input', { type: 'checkbox', id: 'nouveaux-patients' });
  const newPatientsResult = h('div', { class: 'banner-area' });
  const motifList = h('div', { class: 'slot-list', id: 'motif-list' });
  const motifResult = h('div', { class: 'banner-area', id: 'motif-result' });
  const libelle = h('input', { id: 'motif-libelle', required: true, maxLength: 120 });
  const duree = h('input', { id: 'motif-duree', type: 'number', min: 5, max: 480, step: 5, value: 20, required: true });
  const enLigne = h('input', { id: 'motif-en-ligne', type: 'checkbox', checked: true });
  const nouveaux = h('input', { id: 'motif-nouveaux', type: 'checkbox', checked: true });
  const rulesForm = h('form', { id: 'regles-form', class: 'stack', onsubmit: (e) => { e.preventDefault(); saveRules(); } });
  const rulesResult = h('div', { class: 'banner-area', id: 'regles-result' });
  const canWriteRules = ctx.me.role === 'ADMINCABINET' || ctx.me.role === 'SUPERADMIN';

  clear(view,
    h('section', { class: 'card' }, h('h2', { id: 'reglages-title', text: 'Motifs et règles' }), pickerBox),
    h('div', { class: 'columns even' },
      h('section', { class: 'card', 'aria-labelledby': 'motifs-title' },
        h('h2', { id: 'motifs-title', text: 'Motifs de consultation' }),
        h('label', { class: 'inline-label', for: 'nouveaux-patients' }, newPatients,
          'Ce médecin accepte de nouveaux patients en ligne'),
        newPatientsResult,
        motifList, motifResult,
        h('form', { id: 'motif-form', class: 'stack', onsubmit: (e) => { e.preventDefault(); createMotif(); } },
          h('h3', { text: 'Nouveau motif' }),
          h('div', { class: 'form-row' },
            h('label', { for: 'motif-libelle' }, 'Libellé', libelle),
            h('label', { for: 'motif-duree' }, 'Durée (minutes)', duree)),
          h('label', { class: 'inline-label', for: 'motif-en-ligne' }, enLigne, 'Réservable en ligne'),
          h('label', { class: 'inline-label', for: 'motif-nouveaux' }, nouveaux, 'Ouvert aux nouveaux patients'),
          h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn btn-primary', id: 'motif-submit', text: 'Ajouter le motif' })))),
      h('section', { class: 'card', 'aria-labelledby': 'regles-title' },
        h('h2', { id: 'regles-title', text: 'Règles du cabinet' }),
        h('p', { class: 'muted', text: "Elles s'appliquent aux patients qui réservent en ligne ; le cabinet n'y est pas soumis." }),
        rulesForm, rulesResult)));

  async function loadMotifs() {
    const id = state.medecinId;
    try {
      const [medecin, motifs] = await Promise.all([get(`medecins/${id}/`), get(`medecins/${id}/motifs/`)]);
      if (id !== state.medecinId) return;
      newPatients.checked = medecin.nouveaux_patients_en_ligne !== false;
      state.motifs = Array.isArray(motifs) ? motifs : motifs.results || [];
      motifList.dataset.medecin = String(id);
      renderMotifs();
    } catch (error) {
      clear(motifList, h('p', { class: 'alert alert-error', role: 'alert', text: errorMessage(error) }));
    }
  }

  function renderMotifs() {
    clear(motifList, state.motifs.length ? state.motifs.map((m) => h('div', { class: 'slot-line', 'data-motif': m.id },
      h('span', {}, h('strong', { text: m.libelle }), ` — ${m.duree_minutes} min`,
        m.en_ligne ? '' : ' — au cabinet seulement', m.nouveaux_patients ? '' : ' — patients déjà suivis'),
      h('button', { type: 'button', class: 'btn btn-ghost', 'data-action': 'delete-motif', text: 'Retirer',
        'aria-label': `Retirer le motif ${m.libelle}`, onclick: (e) => removeMotif(m, e.target) })))
      : h('p', { class: 'muted', id: 'motifs-empty', text: 'Aucun motif : les patients réservent sans en choisir.' }));
  }

  async function createMotif() {
    try {
      await api('POST', `medecins/${state.medecinId}/motifs/`, {
        libelle: libelle.value.trim(), duree_minutes: Number(duree.value), en_ligne: enLigne.checked, nouveaux_patients: nouveaux.checked,
      });
      clear(motifResult);
      libelle.value = '';
      toast('Motif ajouté', 'success');
      loadMotifs();
    } catch (error) {
      clear(motifResult, h('p', { class: 'alert alert-error', role: 'alert', 'data-testid': 'motif-error', text: errorMessage(error) }));
    }
  }

  async function removeMotif(motif, button) {
    button.disabled = true;
    try {
      await api('DELETE', `medecins/${state.medecinId}/motifs/${motif.id}/`);
      loadMotifs();
    } catch (error) {
      toast(errorMessage(error), 'error');
      button.disabled = false;
    }
  }

  newPatients.addEventListener('change', async () => {
    try {
      await api('PATCH', `medecins/${state.medecinId}/`, { nouveaux_patients_en_ligne: newPatients.checked });
      clear(newPatientsResult, h('p', { class: 'alert alert-success', role: 'status', text: 'Enregistré' }));
    } catch (error) {
      newPatients.checked = !newPatients.checked;
      clear(newPatientsResult, h('p', { class: 'alert alert-error', role: 'alert', text: errorMessage(error) }));
    }
  });

  async function loadRules() {
    const cabinet = ctx.me.cabinet || (state.medecins[0] && state.medecins[0].cabinet && state.medecins[0].cabinet.id);
    if (!cabinet) return;
    rulesForm.dataset.cabinet = String(cabinet);
    try {
      const regles = await get(`cabinets/${cabinet}/regles/`);
      clear(rulesForm, RULES.map(([key, label, min, max]) => h('label', { class: 'stack', for: `regle-${key}` }, label,
        h('input', { id: `regle-${key}`, name: key, type: 'number', min, max, value: regles[key] ?? '', disabled: !canWriteRules,
          required: key !== 'max_rdv_a_venir' }))),
      canWriteRules ? h('div', { class: 'actions' }, h('button', { type: 'submit', class: 'btn btn-primary', id: 'regles-save', text: 'Enregistrer les règles' })) : null);
    } catch (error) {
      const text = error instanceof ApiError && error.status === 404 ? 'Règles indisponibles.' : errorMessage(error);
      clear(rulesForm, h('p', { class: 'alert alert-error', role: 'alert', text }));
    }
  }

  async function saveRules() {
    const body = {};
    for (const [key] of RULES) {
      const value = rulesForm.querySelector(`[name="${key}"]`).value;
      body[key] = value === '' ? null : Number(value);
    }
    try {
      await api('PATCH', `cabinets/${rulesForm.dataset.cabinet}/regles/`, body);
      clear(rulesResult, h('p', { class: 'alert alert-success', role: 'status', 'data-testid': 'regles-saved', text: 'Règles enregistrées.' }));
    } catch (error) {
      clear(rulesResult, h('p', { class: 'alert alert-error', role: 'alert', 'data-testid': 'regles-error', text: errorMessage(error) }));
    }
  }

  function select(id) {
    state.medecinId = id;
    const m = state.medecins.find((x) => x.id === id);
    view.querySelector('#reglages-title').textContent = m ? `Motifs et règles — ${personName(m)}` : 'Motifs et règles';
    loadMotifs();
  }

  managedMedecins(ctx.me).then((medecins) => {
    state.medecins = medecins;
    if (!medecins.length) return;
    clear(pickerBox, medecinPicker(medecins, medecins[0].id, select));
    select(medecins[0].id);
    loadRules();
  }).catch((error) => toast(errorMessage(error), 'error'));

  return () => {};
}
