// Every date and time the front shows, in French and in the practice's time zone, whatever
// the browser's locale and zone (issue 14): a patient whose browser says en-US / New York
// reads "lundi 7 décembre 2026 à 09:30", the practice's wall clock.
//
// The zone: a slot carries its practice's (`creneau.timezone`); anything else (a
// notification's instant, "today") uses the account's zone from GET /api/me/ (`timezone`:
// its practice's, or the server's for a patient), set once at sign-in with setZone().
// Calendar days ("2026-12-07") are plain dates: formatted as such, in no zone.

const LOCALE = 'fr-FR';
let accountZone = 'UTC'; // until setZone(); the API always gives one

function isZone(timeZone) {
  try {
    new Intl.DateTimeFormat(LOCALE, { timeZone }).format(0);
    return true;
  } catch {
    return false;
  }
}

export function setZone(timeZone) {
  if (typeof timeZone === 'string' && isZone(timeZone)) accountZone = timeZone;
  return accountZone;
}

// The zone of a slot, of a booking (its slot's), or the account's.
export function zoneOf(thing) {
  const tz = thing && (thing.timezone || (thing.creneau && thing.creneau.timezone));
  return typeof tz === 'string' && isZone(tz) ? tz : accountZone;
}

const formatters = new Map();
function formatter(options, timeZone) {
  const key = `${timeZone}|${JSON.stringify(options)}`;
  if (!formatters.has(key)) formatters.set(key, new Intl.DateTimeFormat(LOCALE, { ...options, timeZone }));
  return formatters.get(key);
}

const DAY = { weekday: 'long', day: 'numeric', month: 'long' };
const DAY_YEAR = { ...DAY, year: 'numeric' };
const TIME = { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' };

const capitalize = (text) => text.charAt(0).toUpperCase() + text.slice(1);

// --- instants (ISO strings with an offset, or Date): shown in a zone

// "2026-12-07T09:30:00+01:00" -> "lundi 7 décembre 2026 à 09:30" (year: false drops it).
export function formatDateTime(iso, timeZone = accountZone, { year = true } = {}) {
  if (!iso) return '';
  return formatter({ ...(year ? DAY_YEAR : DAY), ...TIME }, timeZone).format(new Date(iso));
}

// "09:30" in the zone.
export function formatTime(iso, timeZone = accountZone) {
  if (!iso) return '';
  return formatter(TIME, timeZone).format(new Date(iso));
}

// A slot (or anything with `debut` and `timezone`): "Lundi 7 décembre 2026 à 09:30".
export function formatSlot(slot) {
  return capitalize(formatDateTime(slot.debut, zoneOf(slot)));
}

// An instant (ISO string or Date) on the practice's wall clock; the zone defaults to the account's.
export function formatWhen(iso, timeZone = accountZone) {
  return formatDateTime(iso, timeZone);
}

// A recent instant (a message, a notification): "09:30" today, else "7 déc. 2026 à 09:30".
export function formatInstant(iso, timeZone = accountZone) {
  if (!iso) return '';
  if (localDate(iso, timeZone) === today(timeZone)) return formatTime(iso, timeZone);
  return formatter({ day: 'numeric', month: 'short', year: 'numeric', ...TIME }, timeZone).format(new Date(iso));
}

// --- calendar days ("AAAA-MM-JJ")

function parts(date, timeZone) {
  const out = {};
  for (const p of formatter({ year: 'numeric', month: '2-digit', day: '2-digit', ...TIME }, timeZone)
    .formatToParts(date)) out[p.type] = p.value;
  return out;
}

// The day of an instant in a zone. An API string with its offset already in the
// practice's zone ("2026-12-07T09:30:00+01:00") is its own first ten characters.
export function localDate(iso, timeZone) {
  if (timeZone === undefined && typeof iso === 'string' && /^\d{4}-\d{2}-\d{2}T/.test(iso)) return iso.slice(0, 10);
  const p = parts(new Date(iso), timeZone || accountZone);
  return `${p.year}-${p.month}-${p.day}`;
}

// "HH:MM" of an API string (already on the practice's wall clock) or of an instant in a zone.
export function localTime(iso, timeZone) {
  if (timeZone === undefined && typeof iso === 'string' && /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(iso)) {
    return iso.slice(11, 16);
  }
  return formatTime(iso, timeZone || accountZone);
}

// Today in the zone (the practice's day, not the browser's).
export function today(timeZone = accountZone) {
  return localDate(new Date(), timeZone);
}

function utc(dateStr) {
  const [y, m, d] = dateStr.split('-').map(Number);
  return new Date(Date.UTC(y, m - 1, d));
}

export function addDays(dateStr, days) {
  const date = utc(dateStr);
  date.setUTCDate(date.getUTCDate() + days);
  return date.toISOString().slice(0, 10);
}

export function mondayOf(dateStr) {
  const dow = (utc(dateStr).getUTCDay() + 6) % 7; // Monday = 0
  return addDays(dateStr, -dow);
}

// A calendar day: "lundi 7 décembre" (options as Intl's).
export function formatDay(dateStr, options = DAY) {
  return formatter(options, 'UTC').format(utc(dateStr));
}

// --- the other way: a wall-clock time in a zone to an ISO string with its offset

function offsetMinutes(timeZone, ms) {
  const p = parts(new Date(ms), timeZone);
  const hour = p.hour === '24' ? 0 : +p.hour;
  const asUtc = Date.UTC(+p.year, +p.month - 1, +p.day, hour, +p.minute);
  return Math.round((asUtc - Math.floor(ms / 60000) * 60000) / 60000);
}

// "2025-05-12" + "09:00" in "Europe/Paris" -> "2025-05-12T09:00:00+02:00"
export function zonedIso(dateStr, timeStr, timeZone = accountZone) {
  const [y, m, d] = dateStr.split('-').map(Number);
  const [hh, mm] = timeStr.split(':').map(Number);
  const wall = Date.UTC(y, m - 1, d, hh, mm);
  let instant = wall;
  for (let i = 0; i < 3; i += 1) instant = wall - offsetMinutes(timeZone, instant) * 60000;
  const off = offsetMinutes(timeZone, instant);
  const sign = off < 0 ? '-' : '+';
  const abs = Math.abs(off);
  const pad = (n) => String(n).padStart(2, '0');
  return `${dateStr}T${pad(hh)}:${pad(mm)}:00${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}
