// Load generator: the official socket.io-client v4, websocket transport, over loopback.
//
//   node load.mjs CONFIG.json
//
// Modes (config.mode):
//   fanout   connect N sockets, POST M broadcasts, time every notification:general delivery
//   booking  connect N sockets, POST one booking every `intervalMs`, time rendezvous:created
//            at the patient and rendezvous:new at the doctor
//   held     connect N sockets, report "ready", hold them `holdSeconds`, report drops
//   storm    connect N sockets, then on the driver's commands (stdin): prime, down, all
//            reconnect at once with lastEventId, count replayed/live/lost/duplicated
//   crowd    connect N sockets, then send every request of `requests` at once (one
//            connection each); count creneau:conflict per socket; a probe user's GETs
//            one after the other meanwhile
//
// Output: JSON lines on stdout ({"event": "ready"|"result"|"progress", ...}); the Python
// driver prints the tables. Every loop is bounded in count and in time.
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { io } from "socket.io-client";

const cfg = JSON.parse(readFileSync(process.argv[2], "utf8"));
const now = () => performance.now();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const emit = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");

const hardDeadline = Date.now() + (cfg.hardTimeoutSeconds ?? 900) * 1000;
setTimeout(() => {
  emit({ event: "error", error: "hard timeout" });
  process.exit(3);
}, (cfg.hardTimeoutSeconds ?? 900) * 1000).unref();

function pct(sorted, p) {
  if (!sorted.length) return null;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}
function summary(values) {
  const s = Float64Array.from(values).sort();
  return {
    n: s.length,
    p50: pct(s, 50), p90: pct(s, 90), p99: pct(s, 99),
    max: s.length ? s[s.length - 1] : null,
    mean: s.length ? s.reduce((a, b) => a + b, 0) / s.length : null,
  };
}

// ---- connecting ---------------------------------------------------------------------
const sockets = [];
let connectErrors = 0;
let disconnects = 0;
const connectErrorMessages = {};
const eventCounts = {}; // every event received, by name (config.countEvents)

// Socket i's URL, token and client options (every mode's; `auth` the storm's function).
function socketOf(i, auth) {
  const urls = cfg.urls;
  const token = cfg.tokens ? cfg.tokens[i % cfg.tokens.length] : undefined;
  const k = cfg.sourceAddresses ?? 1;
  const opts = {
    transports: ["websocket"],
    forceNew: true,
    reconnection: false,
    timeout: cfg.connectTimeoutMs ?? 60000,
    auth: auth ? (cb) => auth(token, cb) : token ? { token } : {},
  };
  if (k > 1) opts.localAddress = `127.0.0.${2 + (i % k)}`;
  return io(urls[i % urls.length], opts);
}

function openSocket(i, onEvent) {
  return new Promise((resolve) => {
    const s = socketOf(i);
    for (const [name, fn] of Object.entries(onEvent(i))) s.on(name, fn);
    if (cfg.countEvents) s.onAny((name) => { eventCounts[name] = (eventCounts[name] || 0) + 1; });
    s.once("connect", () => {
      s.on("disconnect", () => { disconnects += 1; });
      resolve(s);
    });
    s.once("connect_error", (err) => {
      connectErrors += 1;
      const m = String(err && err.message);
      connectErrorMessages[m] = (connectErrorMessages[m] || 0) + 1;
      s.close();
      resolve(null);
    });
  });
}

async function connectAll(n, onEvent) {
  const t0 = now();
  const concurrency = cfg.connectConcurrency ?? 100;
  let next = 0;
  let lastReport = t0;
  async function worker() {
    while (next < n && Date.now() < hardDeadline) {
      const i = next++;
      sockets[i] = await openSocket(i, onEvent);
      if (now() - lastReport > 5000) {
        lastReport = now();
        emit({ event: "progress", connected: sockets.filter(Boolean).length, of: n });
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return (now() - t0) / 1000;
}

function closeAll() {
  for (const s of sockets) if (s) s.close();
}

async function post(url, token, body) {
  const t = now();
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, ms: now() - t, text };
}

// ---- fanout -------------------------------------------------------------------------
async function fanout() {
  const n = cfg.sockets;
  const m = cfg.broadcasts;
  const tag = `bench-${process.pid}-${Date.now()}`;
  const sent = new Float64Array(m).fill(NaN);
  const counts = new Uint16Array(n * m);
  const latencies = [];
  let delivered = 0, duplicates = 0, foreign = 0, lastDelivery = 0;
  let wrongShape = 0;
  const onEvent = (i) => ({
    "notification:general": (payload) => {
      const t = now();
      const msg = payload && payload.message;
      const match = typeof msg === "string" && msg.startsWith(tag + " #") ? Number(msg.slice(tag.length + 2)) : -1;
      if (!(match >= 0 && match < m)) { foreign += 1; return; }
      if (!(payload.type && "data" in payload && "eventId" in payload && "emittedAt" in payload)) wrongShape += 1;
      const c = counts[i * m + match]++;
      if (c > 0) { duplicates += 1; return; }
      delivered += 1;
      lastDelivery = t;
      latencies.push(t - sent[match]);
    },
  });
  const connectSeconds = await connectAll(n, onEvent);
  const connected = sockets.filter(Boolean).length;
  emit({ event: "ready", connected, connectSeconds });
  await sleep(cfg.settleMs ?? 1000);

  const posts = [];
  const cpu0 = process.cpuUsage();
  const targets = cfg.broadcastUrls;
  const t0 = now();
  const interval = cfg.intervalMs ?? 0;
  for (let k = 0; k < m && Date.now() < hardDeadline; k++) {
    if (interval > 0) {
      const wait = t0 + k * interval - now();
      if (wait > 0) await sleep(wait);
    }
    sent[k] = now();
    const body = { ...cfg.broadcastBody, message: `${tag} #${k}` };
    const p = post(targets[k % targets.length], cfg.adminToken, body);
    if (interval > 0) posts.push(p); else posts.push(await p);
  }
  const responses = await Promise.all(posts);
  const lastPost = now();
  const expected = connected * m;
  const deadline = lastPost + (cfg.deliveryTimeoutMs ?? 60000);
  while (delivered < expected && now() < deadline) await sleep(5);
  await sleep(cfg.tailMs ?? 300); // catch late duplicates
  const elapsed = (lastDelivery - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const bad = responses.filter((r) => r.status >= 300);
  emit({
    event: "result", mode: "fanout", sockets: n, connected, broadcasts: m, connectSeconds,
    expected, delivered, lost: expected - delivered, duplicates, foreign, wrongShape,
    seconds: elapsed, deliveriesPerSecond: delivered / elapsed,
    clientCpu: (cpu.user + cpu.system) / 1e6,
    latencyMs: summary(latencies),
    postMs: summary(responses.map((r) => r.ms)),
    postErrors: bad.length, postErrorSample: bad.length ? bad[0].text.slice(0, 300) : null,
    connectErrors, connectErrorMessages, disconnects,
  });
}

// ---- booking ------------------------------------------------------------------------
async function booking() {
  const n = cfg.sockets; // socket i uses tokens[i]; doctors are cfg.doctorSockets
  const b = cfg.bookings.length; // [{patientIndex, creneau}]
  const sent = new Map(); // creneau id -> t
  const created = new Map(), fresh = new Map();
  let dupCreated = 0, dupNew = 0;
  const creneauOf = (p) => {
    const c = p && p.data && p.data.creneau;
    return typeof c === "object" && c ? c.id : c;
  };
  const doctors = new Set(cfg.doctorSockets);
  const onEvent = (i) => doctors.has(i) ? {
    "rendezvous:new": (p) => {
      const t = now(), c = creneauOf(p);
      if (!sent.has(c)) return;
      if (fresh.has(c)) dupNew += 1; else fresh.set(c, t - sent.get(c));
    },
  } : {
    "rendezvous:created": (p) => {
      const t = now(), c = creneauOf(p);
      if (!sent.has(c)) return;
      if (created.has(c)) dupCreated += 1; else created.set(c, t - sent.get(c));
    },
  };
  const connectSeconds = await connectAll(n, onEvent);
  const connected = sockets.filter(Boolean).length;
  emit({ event: "ready", connected, connectSeconds });
  await sleep(cfg.settleMs ?? 1000);

  let firstBookingMs = null;
  if (cfg.warmupBooking) {
    // the first booking after start, on its own: cold code paths, reported apart
    const { patientIndex, creneau } = cfg.warmupBooking;
    sent.set(creneau, now());
    await post(cfg.bookingUrl, cfg.tokens[patientIndex], { creneau, motif: "bench warm-up" });
    const until = now() + 10000;
    while (!(created.has(creneau) && fresh.has(creneau)) && now() < until) await sleep(2);
    firstBookingMs = created.get(creneau) ?? null;
    sent.delete(creneau); created.delete(creneau); fresh.delete(creneau);
    await sleep(cfg.settleMs ?? 1000);
    for (const name of Object.keys(eventCounts)) delete eventCounts[name]; // count the measured run only
  }

  const t0 = now();
  const posts = [];
  for (let k = 0; k < b && Date.now() < hardDeadline; k++) {
    const wait = t0 + k * cfg.intervalMs - now();
    if (wait > 0) await sleep(wait);
    const { patientIndex, creneau } = cfg.bookings[k];
    sent.set(creneau, now());
    posts.push(post(cfg.bookingUrl, cfg.tokens[patientIndex], { creneau, motif: "bench" }));
  }
  const responses = await Promise.all(posts);
  const deadline = now() + (cfg.deliveryTimeoutMs ?? 30000);
  while ((created.size < b || fresh.size < b) && now() < deadline) await sleep(5);
  await sleep(300);
  const bad = responses.filter((r) => r.status !== 201);
  emit({
    event: "result", mode: "booking", sockets: n, connected, connectSeconds, bookings: b,
    created: summary([...created.values()]), new: summary([...fresh.values()]),
    // per booking, in send order: where in the run the slow ones are
    createdSeries: cfg.bookings.map((x) => created.get(x.creneau) ?? null),
    firstBookingMs,
    missingCreated: b - created.size, missingNew: b - fresh.size, dupCreated, dupNew, eventCounts,
    postMs: summary(responses.map((r) => r.ms)),
    postErrors: bad.length, postErrorSample: bad.length ? `${bad[0].status} ${bad[0].text.slice(0, 300)}` : null,
    connectErrors, connectErrorMessages, disconnects,
  });
}

// ---- held ---------------------------------------------------------------------------
async function held() {
  const n = cfg.sockets;
  const first = cfg.offset ?? 0;
  const connectSeconds = await connectAll(n, () => ({}));
  const connected = sockets.filter(Boolean).length;
  emit({ event: "ready", connected, connectSeconds, connectErrors, connectErrorMessages });
  // Hold until holdSeconds pass or the driver sends SIGUSR2 (it has measured).
  let release = false;
  process.on("SIGUSR2", () => { release = true; });
  const until = Date.now() + cfg.holdSeconds * 1000;
  while (!release && Date.now() < until && Date.now() < hardDeadline) await sleep(250);
  const alive = sockets.filter((s) => s && s.connected).length;
  emit({ event: "result", mode: "held", sockets: n, first, connected, alive, disconnects, connectSeconds, connectErrors });
}

// ---- crowd ---------------------------------------------------------------------------
async function crowd() {
  const n = cfg.sockets ?? 0; // socket i is the patient of requests[i]
  const reqs = cfg.requests; // [{url, token, body}]
  const conflicts = new Uint16Array(reqs.length), created = new Uint16Array(reqs.length);
  let wrongShape = 0;
  const onEvent = (i) => ({
    "creneau:conflict": (p) => {
      conflicts[i] += 1;
      const ok = p && p.type === "error" && p.message === cfg.conflictMessage && p.data && p.data.id === cfg.creneau;
      if (!ok) wrongShape += 1;
    },
    "rendezvous:created": () => { created[i] += 1; },
  });
  const connectSeconds = n ? await connectAll(n, onEvent) : 0;
  const connected = sockets.filter(Boolean).length;
  emit({ event: "ready", connected, connectSeconds });
  await sleep(cfg.settleMs ?? 1000);

  // The probe user: GET probe.url, then POST probe.writeUrl (an ordinary write), in turn.
  let probing = Boolean(cfg.probe);
  const probe = [];
  async function probeLoop() {
    for (let k = 0; probing && Date.now() < hardDeadline; k++) {
      const write = Boolean(cfg.probe.writeUrl) && k % 2 === 1;
      const t = now();
      try {
        const res = await fetch(write ? cfg.probe.writeUrl : cfg.probe.url, {
          method: write ? "POST" : "GET",
          headers: { authorization: `Bearer ${cfg.probe.token}`, "content-type": "application/json" },
          body: write ? "{}" : undefined,
        });
        await res.text();
        probe.push({ write, status: res.status, ms: now() - t });
      } catch (err) {
        probe.push({ write, status: 0, ms: now() - t });
      }
    }
  }
  const probeDone = probeLoop();
  const cpu0 = process.cpuUsage();
  const t0 = now();
  const responses = await Promise.all(reqs.map((r) => post(r.url, r.token, r.body).catch(
    (err) => ({ status: 0, ms: now() - t0, text: String(err && err.cause || err) }))));
  const seconds = (now() - t0) / 1000;
  probing = false;
  await probeDone;
  // One creneau:conflict per 409 whose patient has a socket: wait for them, then a tail
  // in which a duplicate would show.
  const losers = responses.map((r, i) => (r.status === 409 && sockets[i] ? i : -1)).filter((i) => i >= 0);
  const deadline = now() + (cfg.deliveryTimeoutMs ?? 30000);
  while (losers.some((i) => conflicts[i] === 0) && now() < deadline) await sleep(10);
  await sleep(cfg.tailMs ?? 1000);
  const statuses = {};
  for (const r of responses) statuses[r.status] = (statuses[r.status] || 0) + 1;
  const others = responses.map((r, i) => i).filter((i) => responses[i].status !== 409 && sockets[i]);
  const cpu = process.cpuUsage(cpu0);
  const bad = responses.filter((r) => r.status >= 500 || r.status === 0);
  emit({
    event: "result", mode: "crowd", sockets: n, connected, connectSeconds, requests: reqs.length, seconds,
    statuses, postMs: summary(responses.map((r) => r.ms)),
    conflictsExpected: losers.length,
    conflictsExactlyOne: losers.filter((i) => conflicts[i] === 1).length,
    conflictsMissing: losers.filter((i) => conflicts[i] === 0).length,
    conflictsExtra: losers.reduce((a, i) => a + Math.max(0, conflicts[i] - 1), 0),
    conflictsToNonLosers: others.reduce((a, i) => a + conflicts[i], 0),
    createdEvents: created.reduce((a, b) => a + b, 0), wrongShape,
    probeMs: summary(probe.filter((p) => !p.write).map((p) => p.ms)),
    probeWriteMs: summary(probe.filter((p) => p.write).map((p) => p.ms)),
    probeErrors: probe.filter((p) => p.status < 200 || p.status >= 300).length,
    clientCpu: (cpu.user + cpu.system) / 1e6,
    errorSample: bad.length ? `${bad[0].status} ${String(bad[0].text).slice(0, 300)}` : null,
    connectErrors, connectErrorMessages, disconnects,
  });
}

// ---- storm ----------------------------------------------------------------------------
// Commands arrive as JSON lines on stdin (the driver, bench/storm.py, sequences them):
//   {"cmd": "prime", "count": k}  wait until every socket got k "prime" broadcasts
//   {"cmd": "down"}               wait until every socket saw its server go away
//   {"cmd": "storm", "missed": [eventId...]}  every socket reconnects at once with
//                                 auth {token, lastEventId} (the auth function, as the
//                                 web front does); report "connected" then "back"
//                                 (connected, replayed every missed id, got a live event)
//   {"cmd": "finish", "expected": [eventId...]}  count lost/duplicated/out-of-order ids
async function storm() {
  const n = cfg.sockets;
  const tag = cfg.tag;
  const kindOf = (msg) => {
    if (typeof msg !== "string" || !msg.startsWith(tag + " ")) return null;
    return msg.slice(tag.length + 1).split(" ")[0]; // prime | missed | live
  };
  const st = Array.from({ length: n }, () => ({
    last: null, primed: 0, inStorm: false, ids: [], missedSeen: 0,
    backAt: NaN, replayedAt: NaN, liveAt: NaN, before: null,
  }));
  const socks = sockets; // the module's array: closeAll() closes the storm's sockets too
  for (let i = 0; i < n; i++) socks.push(null);
  let missed = new Set();
  let t0 = 0;
  let down = 0, stormDisconnects = 0, stormErrors = 0, stormConnected = 0, failedAttempts = 0;
  const stormErrorMessages = {};
  let nReplayed = 0, nLive = 0;

  function handlers(i, s) {
    s.on("notification:general", (p) => {
      const kind = kindOf(p && p.message);
      if (!kind || typeof p.eventId !== "number") return;
      const x = st[i];
      if (x.last === null || p.eventId > x.last) x.last = p.eventId;
      if (kind === "prime") { x.primed += 1; return; }
      if (!x.inStorm) return;
      x.ids.push(p.eventId);
      const t = now() - t0;
      if (kind === "missed" && missed.has(p.eventId)) {
        x.missedSeen += 1;
      }
      if (Number.isNaN(x.replayedAt) && x.missedSeen >= missed.size) { x.replayedAt = t; nReplayed += 1; }
      if (kind === "live" && Number.isNaN(x.liveAt) && !Number.isNaN(x.replayedAt)) { x.liveAt = t; nLive += 1; }
    });
    s.on("disconnect", () => {
      if (!st[i].inStorm) down += 1;
      else if (!Number.isNaN(st[i].backAt)) stormDisconnects += 1; // dropped after it was back
    });
  }

  // One connection attempt: true once connected; false on connect_error, or when the
  // transport closes before the CONNECT was answered (the official client then emits
  // "disconnect", not connect_error: without this an attempt could wait forever).
  function attempt(i, s) {
    return new Promise((resolve) => {
      const done = (value, message) => {
        s.off("connect", ok); s.off("connect_error", bad); s.off("disconnect", closed);
        if (message !== undefined) {
          const book = st[i].inStorm ? stormErrorMessages : connectErrorMessages;
          book[message] = (book[message] || 0) + 1;
        }
        resolve(value);
      };
      const ok = () => done(true);
      const bad = (err) => done(false, String(err && err.message));
      const closed = (reason) => done(false, `closed before connected: ${reason}`);
      s.once("connect", ok);
      s.once("connect_error", bad);
      s.once("disconnect", closed);
    });
  }

  function open(i) {
    const s = socketOf(i, (token, cb) => {
      const a = token ? { token } : {};
      if (st[i].last !== null) a.lastEventId = st[i].last;
      cb(a);
    });
    handlers(i, s);
    return s;
  }

  // Initial connection, bounded concurrency (not measured as the storm).
  const tInit = now();
  let next = 0;
  async function worker() {
    while (next < n && Date.now() < hardDeadline) {
      const i = next++;
      const s = open(i);
      if (await attempt(i, s)) socks[i] = s; else { connectErrors += 1; s.close(); }
    }
  }
  await Promise.all(Array.from({ length: Math.min(cfg.connectConcurrency ?? 100, n) }, worker));
  const connected = socks.filter(Boolean).length;
  emit({ event: "ready", connected, connectSeconds: (now() - tInit) / 1000, connectErrors, connectErrorMessages });

  const waitFor = async (cond, ms) => {
    const until = now() + ms;
    while (!cond() && now() < until && Date.now() < hardDeadline) await sleep(20);
    return cond();
  };
  const live = () => socks.map((s, i) => (s ? i : -1)).filter((i) => i >= 0);
  let cpu0 = null;
  const commands = { async prime(c) {
      const ok = await waitFor(() => live().every((i) => st[i].primed >= c.count), c.timeoutMs ?? 60000);
      const lasts = new Set(live().map((i) => st[i].last));
      emit({ event: "primed", ok, primed: live().filter((i) => st[i].primed >= c.count).length, distinctLast: lasts.size });
    },
    async down(c) {
      const ok = await waitFor(() => down >= live().length, c.timeoutMs ?? 60000);
      emit({ event: "down", ok, down });
    },
    async storm(c) {
      missed = new Set(c.missed || []);
      const targets = live();
      for (const i of targets) { st[i].inStorm = true; st[i].before = st[i].last; }
      cpu0 = process.cpuUsage();
      t0 = now();
      const conc = cfg.stormConcurrency || targets.length;
      let j = 0;
      const times = [];
      // As the official client's reconnection does (reconnectionDelay 1 s doubling to 5 s,
      // randomizationFactor 0.5) when cfg.retry: a failed attempt is tried again until
      // the storm's deadline; every failed attempt is counted, a socket never back is an error.
      const deadline = t0 + (c.timeoutMs ?? 240000);
      const backoff = (k) => Math.min(5000, 1000 * 2 ** k) * (0.5 + Math.random());
      async function stormOne(i) {
        const s = socks[i];
        for (let k = 0; ; k++) {
          s.connect();
          if (await attempt(i, s)) {
            st[i].backAt = now() - t0; times.push(st[i].backAt); stormConnected += 1;
            if (missed.size === 0 && Number.isNaN(st[i].replayedAt)) { st[i].replayedAt = st[i].backAt; nReplayed += 1; }
            return;
          }
          failedAttempts += 1;
          s.disconnect();
          if (!cfg.retry || now() + backoff(k) > deadline) { stormErrors += 1; return; }
          await sleep(backoff(k));
        }
      }
      async function stormWorker() {
        while (j < targets.length) await stormOne(targets[j++]);
      }
      await Promise.all(Array.from({ length: Math.min(conc, targets.length) }, stormWorker));
      emit({ event: "connected", connected: stormConnected, errors: stormErrors, failedAttempts,
             errorMessages: stormErrorMessages,
             seconds: (now() - t0) / 1000, connectMs: summary(times) });
      const ok = await waitFor(() => nLive >= stormConnected, c.timeoutMs ?? 240000);
      const replayed = targets.filter((i) => !Number.isNaN(st[i].replayedAt)).map((i) => st[i].replayedAt);
      const lived = targets.filter((i) => !Number.isNaN(st[i].liveAt)).map((i) => st[i].liveAt);
      const cpu = process.cpuUsage(cpu0);
      emit({ event: "back", ok, seconds: (now() - t0) / 1000, replayed: replayed.length, live: lived.length,
             replayedMs: summary(replayed), liveMs: summary(lived), clientCpu: (cpu.user + cpu.system) / 1e6 });
    },
    async finish(c) {
      const expected = Array.from(c.expected || []).sort((a, b) => a - b);
      let lost = 0, dup = 0, outOfOrder = 0, unexpected = 0, checked = 0;
      for (const i of live()) {
        const x = st[i];
        if (Number.isNaN(x.backAt)) continue;
        checked += 1;
        const mine = expected.filter((id) => x.before === null || id > x.before);
        const want = new Set(mine);
        const seen = new Map();
        let prev = -Infinity;
        for (const id of x.ids) {
          seen.set(id, (seen.get(id) || 0) + 1);
          if (id < prev) outOfOrder += 1;
          prev = Math.max(prev, id);
          if (!want.has(id)) unexpected += 1;
        }
        for (const id of mine) if (!seen.has(id)) lost += 1;
        for (const v of seen.values()) if (v > 1) dup += v - 1;
      }
      const alive = socks.filter((s) => s && s.connected).length;
      emit({ event: "result", mode: "storm", sockets: n, checked, expected: expected.length, lost, dup, outOfOrder,
             unexpected, alive, stormDisconnects, stormErrors, stormErrorMessages });
      closeAll();
    },
  };
  const { createInterface } = await import("node:readline");
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    let c;
    try { c = JSON.parse(line); } catch { continue; }
    if (!commands[c.cmd]) { emit({ event: "error", error: `unknown command ${c.cmd}` }); continue; }
    await commands[c.cmd](c);
    if (c.cmd === "finish") break;
  }
}

const modes = { fanout, booking, held, crowd, storm };
try {
  await modes[cfg.mode]();
} catch (err) {
  emit({ event: "error", error: String(err && err.stack || err) });
  closeAll();
  process.exit(2);
}
closeAll();
await sleep(200);
process.exit(0);
