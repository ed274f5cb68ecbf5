// A scripted socket.io-client v4, driven by the Python end-to-end tests.
//
// Usage: node client.mjs '<scenario JSON>'   (or the scenario as the first stdin line)
//
// Scenario: {
//   url: "http://127.0.0.1:PORT",          // required
//   token: "<access JWT>" | null,          // null/absent: connect without a token
//   auth: {...},                           // optional: raw auth object (overrides token)
//   transports: ["websocket"] | ["polling"] | ...,   // optional, socket.io default otherwise
//   extraHeaders: {Authorization: "Bearer ..."},  // optional (Node only: non-browser clients)
//   events: ["rendezvous:created", ...],   // listened with socket.on(); default: the seed's list
//   join: ["conversation:1", ...],         // join-room with an ack, once connected
//   expect: 3,                             // exit after this many events (optional)
//   timeoutMs: 30000,                      // exit after this long, whatever happens
//   exitOnConnectError: true,              // exit after a connect_error (default true)
//   replay: true                           // auth as a function: {token, lastEventId} on every
//                                          // (re)connection, as the web front does
// }
//
// Commands, one JSON object per stdin line, once running:
//   {"op": "emit", "event": "join-room", "args": ["conversation:1"], "ack": true, "id": "a1"}
//       ack: true -> socket.timeout(ackTimeoutMs).emit(event, ...args, cb), reported as "ack";
//       ack: false -> socket.emit(event, ...args) exactly like the seed (no callback).
//   {"op": "state", "id": "s1"}  -> reports {kind: "state", connected, sid}
//   {"op": "close"}              -> socket.disconnect() and exit
// Closing stdin exits too, so the client never outlives its test.
//
// Output: one JSON line per thing that happens, each with "kind" and "t" (ms since start):
//   ready, connect, connect_error {message, data}, event {event, payload, listened},
//   ack {id, event, response | error}, state, disconnect {reason}, error, exit {reason, events}.

import { io } from "socket.io-client";
import { createInterface } from "node:readline";

const SEED_EVENTS = [
  "rendezvous:created", "rendezvous:confirmed", "rendezvous:cancelled", "rendezvous:new",
  "creneau:conflict", "creneau:available",
  "message:new", "message:read",
  "notification:general", "rappel:reminder",
];

const started = Date.now();
let eventCount = 0;
let socket = null;
let exiting = false;
let handleCommand = null; // set by start(): what a stdin command line does

function out(kind, fields = {}) {
  process.stdout.write(JSON.stringify({ kind, t: Date.now() - started, ...fields }) + "\n");
}

function finish(reason, code = 0) {
  if (exiting) return;
  exiting = true;
  out("exit", { reason, events: eventCount });
  try {
    if (socket) socket.disconnect();
  } catch {
    // already gone
  }
  // Let stdout drain before leaving.
  process.stdout.write("", () => process.exit(code));
}

function start(scenario) {
  if (!scenario || typeof scenario.url !== "string") {
    out("error", { message: "scenario.url is required" });
    finish("bad-scenario", 2);
    return;
  }
  const listened = Array.isArray(scenario.events) ? scenario.events : SEED_EVENTS;
  const timeoutMs = Number(scenario.timeoutMs ?? 30000);
  const ackTimeoutMs = Number(scenario.ackTimeoutMs ?? 5000);
  const expect = scenario.expect == null ? null : Number(scenario.expect);
  const exitOnConnectError = scenario.exitOnConnectError !== false;

  const options = {};
  let lastEventId = null;
  if (scenario.auth !== undefined) options.auth = scenario.auth;
  else if (scenario.replay) {
    options.auth = (cb) => cb(lastEventId == null ? { token: scenario.token } : { token: scenario.token, lastEventId });
  } else if (scenario.token != null) options.auth = { token: scenario.token };
  if (Array.isArray(scenario.transports)) options.transports = scenario.transports;
  if (scenario.extraHeaders) options.extraHeaders = scenario.extraHeaders;
  if (scenario.reconnection === false) options.reconnection = false;

  // The seed's call: io(URL, {auth: {token}}).
  socket = io(scenario.url, options);

  const onEvent = (event, args, isListened) => {
    eventCount += 1;
    const id = args[0] && args[0].eventId;
    if (Number.isInteger(id) && (lastEventId == null || id > lastEventId)) lastEventId = id;
    out("event", { event, payload: args.length === 1 ? args[0] : args, listened: isListened });
    if (expect !== null && eventCount >= expect) finish("expected-events");
  };
  for (const name of listened) {
    socket.on(name, (...args) => onEvent(name, args, true));
  }
  socket.onAny((name, ...args) => {
    if (!listened.includes(name)) onEvent(name, args, false);
  });

  const emit = ({ event, args = [], ack = true, id = null }) => {
    if (!ack) {
      socket.emit(event, ...args);
      out("emitted", { id, event });
      return;
    }
    socket.timeout(ackTimeoutMs).emit(event, ...args, (err, response) => {
      if (err) out("ack", { id, event, error: String(err && err.message ? err.message : err) });
      else out("ack", { id, event, response });
    });
  };

  socket.on("connect", () => {
    out("connect", { sid: socket.id, transport: socket.io.engine.transport.name });
    for (const room of scenario.join || []) {
      emit({ event: "join-room", args: [room], ack: true, id: `join:${room}` });
    }
  });
  socket.on("connect_error", (error) => {
    out("connect_error", {
      message: error.message,
      data: error.data === undefined ? null : error.data,
      active: socket.active,
    });
    if (exitOnConnectError) finish("connect_error");
  });
  socket.on("disconnect", (reason) => out("disconnect", { reason }));

  handleCommand = (cmd) => {
    if (cmd.op === "emit") emit(cmd);
    else if (cmd.op === "state") out("state", { id: cmd.id ?? null, connected: socket.connected, sid: socket.id ?? null });
    else if (cmd.op === "close") finish("closed");
    else out("error", { message: `unknown op ${cmd.op}` });
  };
  setTimeout(() => finish("timeout"), timeoutMs);
  out("ready", { url: scenario.url, transports: options.transports ?? null, events: listened });
}

process.on("uncaughtException", (e) => {
  out("error", { message: String(e && e.stack ? e.stack : e) });
  finish("uncaught", 1);
});

// One reader for stdin: the scenario first (unless given on argv), then commands.
const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  if (!line.trim()) return;
  let parsed;
  try {
    parsed = JSON.parse(line);
  } catch (e) {
    out("error", { message: `bad JSON on stdin: ${e.message}`, line });
    return;
  }
  if (handleCommand) handleCommand(parsed);
  else if (!socket && !exiting) start(parsed);
});
lines.on("close", () => finish("stdin-closed"));

if (process.argv[2]) {
  let scenario;
  try {
    scenario = JSON.parse(process.argv[2]);
  } catch (e) {
    out("error", { message: `bad scenario: ${e.message}` });
    process.exit(2);
  }
  start(scenario);
}
