// Peer: the Node socket.io 4.x server with the project's shape for the fan-out bench.
//
//   node server.mjs PORT
//
// Every socket joins role:PATIENT on connect (no authentication); POST /broadcast
// {message, type} emits notification:general {type, message, data, eventId, emittedAt}
// to role:PATIENT, the payload this project sends, and answers 201 with it.
import { createServer } from "node:http";
import { Server } from "socket.io";

const port = Number(process.argv[2] || 3100);
let eventId = 0;

const http = createServer((req, res) => {
  if (req.method === "POST" && req.url === "/broadcast") {
    const chunks = [];
    let size = 0;
    req.on("data", (c) => {
      size += c.length;
      if (size > 65536) req.destroy();
      else chunks.push(c);
    });
    req.on("end", () => {
      let body;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      } catch {
        res.writeHead(400, { "content-type": "application/json" }).end('{"code":"parse_error"}');
        return;
      }
      const payload = {
        type: body.type || "info",
        message: String(body.message),
        data: { cible: { role: "PATIENT" } },
        eventId: ++eventId,
        emittedAt: new Date().toISOString(),
      };
      io.to("role:PATIENT").emit("notification:general", payload);
      res.writeHead(201, { "content-type": "application/json" }).end(JSON.stringify(payload));
    });
    return;
  }
  res.writeHead(404).end();
});

const io = new Server(http, {
  path: "/socket.io/",
  cors: { origin: "*" },
  pingInterval: 25000,
  pingTimeout: 20000,
  maxHttpBufferSize: 64 * 1024,
});
io.on("connection", (socket) => {
  socket.join("role:PATIENT");
});

http.listen(port, "127.0.0.1", () => process.stdout.write(`listening ${port}\n`));
for (const sig of ["SIGTERM", "SIGINT"]) process.on(sig, () => process.exit(0));
