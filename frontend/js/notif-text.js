// What a booking notification is about, in words: "Rendez-vous confirmé avec Dr Martin le
// lundi 7 décembre à 09:30" (issue 14). Built here from the event's data (the booking, its
// slot and doctor, as the REST API shows them), for the toasts and the notification
// centre alike (its REST rows carry the same `data`). The events' own `message` strings
// are the seed's contract and stay as they are: this text is the front's.

import { formatDateTime, formatSlot, formatTime, localDate, today, zoneOf } from './dates.js';
import { personName } from './ui.js';

// "le lundi 7 décembre à 09:30" on the practice's wall clock; the year only when it is not
// this one.
export function when(slot) {
  if (!slot || !slot.debut) return '';
  const tz = zoneOf(slot);
  const year = localDate(slot.debut, tz).slice(0, 4) !== today(tz).slice(0, 4);
  return formatDateTime(slot.debut, tz, { year });
}

// A waiting-list offer ({creneau, expire_at}) as the toast, the notification centre and
// "Mes rendez-vous" say it: "Un créneau s'est libéré pour vous : Lundi 7 décembre 2026 à
// 09:30, réservé jusqu'à 14:05" (expire_at on the practice's wall clock).
export function offerText(offer) {
  if (!offer || !offer.creneau || !offer.creneau.debut) return "Un créneau s'est libéré pour vous";
  const until = offer.expire_at ? `, réservé jusqu'à ${formatTime(offer.expire_at, zoneOf(offer.creneau))}` : '';
  return `Un créneau s'est libéré pour vous : ${formatSlot(offer.creneau)}${until}`;
}

const isBooking = (data) => Boolean(data && data.creneau && typeof data.creneau === 'object' && data.creneau.debut);

// The detailed text of a stored or live event for `me`, or null when the event's own
// message says it all (a message, an announcement) or the data lacks a booking.
export function describe(event, payload, me) {
  const data = payload && payload.data;
  if (!isBooking(data)) return null;
  if (event === 'creneau:offered') return offerText(data);
  const doctor = data.medecin ? personName({ ...data.medecin, role: 'MEDECIN' }) : '';
  const at = when(data.creneau);
  const withDoctor = doctor ? ` avec ${doctor}` : '';

  if (!me || me.role === 'PATIENT') {
    switch (event) {
      case 'rendezvous:created':
        return data.statut === 'CONFIRME'
          ? `Rendez-vous pris pour vous${withDoctor} le ${at} (confirmé)`
          : `Rendez-vous demandé${withDoctor} le ${at}, en attente de confirmation`;
      case 'rendezvous:confirmed':
        return `Rendez-vous confirmé${withDoctor} le ${at}`;
      case 'rendezvous:cancelled':
        return data.annule_par === 'PATIENT'
          ? `Votre annulation est prise en compte : rendez-vous${withDoctor} le ${at}`
          : `Votre rendez-vous${withDoctor} le ${at} a été annulé`;
      case 'rendezvous:moved':
        return `Rendez-vous${withDoctor} déplacé au ${at}${movedFrom(data)}`;
      case 'rappel:reminder':
        return `Rappel : rendez-vous${withDoctor} le ${at}`;
      default:
        return null;
    }
  }
  // Staff: whose booking, and with which doctor unless it is the reader.
  const patient = data.patient ? personName({ ...data.patient, role: 'PATIENT' }) : '';
  const other = data.medecin && data.medecin.id !== me.id ? withDoctor : '';
  const who = `${patient}${other}`;
  switch (event) {
    case 'rendezvous:new':
      return `${data.statut === 'CONFIRME' ? 'Nouveau rendez-vous confirmé (pris par le cabinet)' : 'Nouveau rendez-vous en attente de confirmation'} : ${who} le ${at}`;
    case 'rendezvous:confirmed':
      return `Rendez-vous confirmé : ${who} le ${at}`;
    case 'rendezvous:cancelled':
      return `Rendez-vous annulé${data.annule_par === 'PATIENT' ? ' par le patient' : ''} : ${who} le ${at}`;
    case 'rendezvous:moved':
      return `Rendez-vous déplacé : ${who} au ${at}${movedFrom(data)}`;
    default:
      return null;
  }
}

function movedFrom(data) {
  const old = data.ancien_creneau;
  return old && typeof old === 'object' && old.debut ? ` (au lieu du ${when(old)})` : '';
}

// The text to show: the detailed one, else the event's message.
export const noticeText = (event, payload, me) => describe(event, payload, me) || (payload && payload.message) || '';
