// Staff: book a slot for a patient — find them (name, phone, e-mail) or create their
// record on the phone, pick the visit reason, confirm. Confirmed at once (SPEC).

import { ApiError, api, get, getAll } from '../api.js';
import { clear, errorMessage, formatSlot, h, personName } from '../ui.js';

// The doctor's active visit reasons ([] when none). A doctor's payload without
// `nouveaux_patients_en_ligne` comes from a server that has no visit reasons at all.
export async function motifsOf(medecin) {
  if (!medecin || !('nouveaux_patients_en_ligne' in medecin)) return [];
  try {
    return (await getAll(`medecins/${medecin.id}/motifs/`, 1)).filter((m) => m.actif !== false);
  } catch (error) {
    if (error instanceof ApiError && (error.status === 404 || error.status === 405)) return [];
    throw error;
  }
}

export function motifLabel(m) {
  return `${m.libelle} (${m.duree_minutes} min)`;
}

// A <select> of visit reasons, or null when the doctor has none.
export function motifSelect(motifs, { id, required = false }) {
  if (!motifs.length) return null;
  return h('label', { class: 'stack', for: id }, 'Motif de consultation',
    h('select', { id, name: 'motif_consultation', required },
      h('option', { value: '', text: required ? 'Choisissez un motif' : '— Aucun —' }),
      motifs.map((m) => h('option', { value: m.id, text: motifLabel(m) }))));
}

// Fills `panel` with the form; `onBooked(rdv)` gets the booking, `onClose()` closes.
export function bookFor(panel, { slot, medecin, onBooked, onClose }) {
  let selected = null;
  let timer = null;
  const error = h('div', { id: 'bf-error', class: 'banner-area' });
  const chosen = h('p', { id: 'patient-selected', class: 'selected-patient', hidden: true, 'aria-live': 'polite' });
  const results = h('div', { id: 'patient-results', class: 'patient-results', 'aria-live': 'polite' });
  const q = h('input', {
    type: 'search', id: 'patient-q', name: 'q', autocomplete: 'off', placeholder: 'Nom, téléphone ou e-mail',
    oninput: () => { clearTimeout(timer); timer = setTimeout(search, 250); },
  });
  const first = h('input', { id: 'np-first', name: 'first_name', required: true, autocomplete: 'off' });
  const last = h('input', { id: 'np-last', name: 'last_name', required: true, autocomplete: 'off' });
  const tel = h('input', { id: 'np-tel', name: 'telephone', type: 'tel', required: true, autocomplete: 'off', placeholder: '06 12 34 56 78' });
  const email = h('input', { id: 'np-email', name: 'email', type: 'email', autocomplete: 'off', placeholder: 'facultatif' });
  const createBtn = h('button', { type: 'submit', class: 'btn btn-ghost', id: 'np-submit', text: 'Créer la fiche patient' });
  const newForm = h('form', { id: 'patient-new', class: 'patient-new', hidden: true, onsubmit: (e) => { e.preventDefault(); create(); } },
    h('div', { class: 'form-row' },
      h('label', { for: 'np-first' }, 'Prénom', first), h('label', { for: 'np-last' }, 'Nom', last),
      h('label', { for: 'np-tel' }, 'Téléphone', tel), h('label', { for: 'np-email' }, 'E-mail', email)),
    h('div', { class: 'actions' }, createBtn));
  const motifBox = h('div', { id: 'bf-motif-box' });
  const note = h('input', { id: 'bf-motif', name: 'motif', maxLength: 500, placeholder: 'Précision (facultatif)' });
  const confirm = h('button', { type: 'submit', class: 'btn btn-primary', id: 'bf-confirm', text: 'Réserver', disabled: true });

  clear(panel,
    h('div', { class: 'card-head' },
      h('h3', { id: 'bf-title', text: 'Réserver pour un patient' }),
      h('button', { type: 'button', class: 'btn btn-ghost', id: 'bf-close', text: 'Fermer', onclick: onClose })),
    h('p', {}, h('strong', { text: formatSlot(slot) }), ' — ', personName(medecin)),
    error,
    h('form', { class: 'inline-form', role: 'search', onsubmit: (e) => { e.preventDefault(); search(); } },
      h('label', { for: 'patient-q', class: 'stack grow' }, 'Rechercher un patient', q),
      h('button', { type: 'submit', class: 'btn btn-ghost', id: 'patient-search', text: 'Rechercher' })),
    results,
    h('button', { type: 'button', class: 'btn btn-ghost', id: 'patient-new-toggle', 'aria-expanded': 'false', text: 'Nouveau patient (appel téléphonique)', onclick: (e) => {
      newForm.hidden = !newForm.hidden;
      e.target.setAttribute('aria-expanded', String(!newForm.hidden));
      if (!newForm.hidden) { if (!last.value && q.value && !/\d|@/.test(q.value)) last.value = q.value.trim(); first.focus(); }
    } }),
    newForm,
    chosen,
    h('form', { class: 'stack', id: 'bf-form', onsubmit: (e) => { e.preventDefault(); book(); } },
      motifBox,
      h('label', { for: 'bf-motif', class: 'stack' }, 'Note pour le médecin', note),
      h('div', { class: 'actions' }, confirm)));
  q.focus();

  function showError(text) {
    clear(error, text ? h('p', { class: 'alert alert-error', role: 'alert', 'data-testid': 'bf-error', text }) : null);
  }

  motifsOf(medecin).then((motifs) => clear(motifBox, motifSelect(motifs, { id: 'bf-motif-consultation' })))
    .catch((err) => showError(errorMessage(err)));

  async function search() {
    const text = q.value.trim();
    if (!text) { clear(results); return; }
    try {
      const page = await get(`patients/?q=${encodeURIComponent(text)}`);
      if (text !== q.value.trim()) return;
      const items = page.results || [];
      clear(results, items.length ? items.slice(0, 10).map((p) => h('button', {
        type: 'button', class: 'patient-option', 'data-patient': p.id, onclick: () => select(p),
      }, h('strong', { text: personName(p) }), ' ',
      h('span', { class: 'muted', text: [p.telephone, p.email].filter(Boolean).join(' · ') })))
        : h('p', { class: 'muted', id: 'patient-none', text: 'Aucun patient trouvé : créez sa fiche.' }));
    } catch (err) {
      showError(errorMessage(err));
    }
  }

  function select(patient) {
    selected = patient;
    clear(results);
    chosen.hidden = false;
    chosen.dataset.patient = patient.id;
    chosen.textContent = `Patient : ${personName(patient)}${patient.telephone ? ` — ${patient.telephone}` : ''}`;
    confirm.disabled = false;
    showError('');
    confirm.focus();
  }

  async function create() {
    createBtn.disabled = true;
    showError('');
    const body = { first_name: first.value.trim(), last_name: last.value.trim(), telephone: tel.value.trim() };
    if (email.value.trim()) body.email = email.value.trim();
    try {
      select(await api('POST', 'patients/', body));
      newForm.hidden = true;
    } catch (err) {
      if (err instanceof ApiError && err.code === 'patient_existant' && err.details && err.details.patient) {
        // The caller knows the address: that account is the patient (README).
        select({ id: err.details.patient, ...body });
        chosen.textContent += ' (compte existant)';
        newForm.hidden = true;
      } else {
        showError(errorMessage(err));
      }
    } finally {
      createBtn.disabled = false;
    }
  }

  async function book() {
    if (!selected) return;
    confirm.disabled = true;
    showError('');
    const motifSel = panel.querySelector('#bf-motif-consultation');
    const body = { creneau: slot.id, patient: selected.id, motif: note.value };
    if (motifSel && motifSel.value) body.motif_consultation = Number(motifSel.value);
    try {
      const rdv = await api('POST', 'rendezvous/', body);
      onBooked(rdv, selected);
    } catch (err) {
      showError(errorMessage(err));
      confirm.disabled = false;
    }
  }

  return () => clearTimeout(timer);
}
