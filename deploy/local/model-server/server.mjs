// Local OpenAI-compatible model server for development and tests (no model: answers are scripted).
//
//   node deploy/local/model-server/server.mjs     (deploy/local/model-server.sh start|stop|status)
//
// Listens on 127.0.0.1 only, port $AOETL_MODEL_SERVER_PORT (default 9450; 0 picks a free one). Writes one JSON
// line to stdout when listening: {"msg":"listening","url":"http://127.0.0.1:<port>"}. Node built-ins only.
//
// The OpenAI protocol:
//   GET  /v1/models             the one model, $AOETL_MODEL_SERVER_MODEL (default aoetl-local)
//   POST /v1/chat/completions   answers with the next scripted response (503 `no_script` when none is left)
//   If $AOETL_MODEL_SERVER_API_KEY is set, /v1/* requires `Authorization: Bearer <it>` (else 401).
// The test controls (not part of the OpenAI protocol):
//   POST   /__script   {"responses": [ … ]} appends to the queue; each response is one of
//            {"plan": {language, code, outputColumns, explanation}}   a structured answer (good or hostile code)
//            {"content": "…"}                                         the message content verbatim (malformed JSON, huge)
//            {"status": 429, "headers": {"retry-after": "1"}, "error": "…"}   an HTTP error
//          and may add "delayMs" (wait before answering: timeouts), "finishReason" (default "stop"),
//          "usage" ({prompt_tokens, completion_tokens}; default: 4 characters a token).
//   GET    /__script   {"pending": n}          DELETE /__script   empties the queue
//   GET    /__requests every chat request body received, oldest first: [{"at", "path", "body"}]
//   DELETE /__requests forgets them
//   GET    /healthz    {"ok": true}
import { createServer } from 'node:http';

const HOST = '127.0.0.1';
const port = Number(process.env.AOETL_MODEL_SERVER_PORT ?? 9450);
const model = process.env.AOETL_MODEL_SERVER_MODEL || 'aoetl-local';
const apiKey = process.env.AOETL_MODEL_SERVER_API_KEY || '';
const MAX_REQUEST_BYTES = 4 * 1024 * 1024;

const queue = [];
const requests = [];
let served = 0;

const log = (fields) => process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), ...fields })}\n`);

function send(res, status, body, headers = {}) {
  if (res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
  res.end(text);
}

const openAiError = (message, type, code) => ({ error: { message, type, code, param: null } });
const tokens = (text) => Math.ceil(text.length / 4);

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (chunk) => {
      size += chunk.length;
      if (size > MAX_REQUEST_BYTES) {
        reject(Object.assign(new Error('request body too large'), { status: 413 }));
        req.destroy();
      } else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function parseJson(text) {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

function validResponse(r) {
  if (typeof r !== 'object' || r === null || Array.isArray(r)) return 'a response must be an object';
  const kinds = ['plan', 'content', 'status'].filter((k) => r[k] !== undefined);
  if (kinds.length !== 1) return 'a response needs exactly one of plan, content, status';
  if (r.content !== undefined && typeof r.content !== 'string') return 'content must be a string';
  if (r.status !== undefined && !(Number.isInteger(r.status) && r.status >= 400 && r.status <= 599)) return 'status must be 400..599';
  if (r.delayMs !== undefined && !(Number.isInteger(r.delayMs) && r.delayMs >= 0 && r.delayMs <= 600_000)) return 'delayMs must be 0..600000';
  return undefined;
}

const delay = (ms, res) =>
  new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    res.on('close', () => {
      clearTimeout(timer);
      resolve();
    });
  });

async function chatCompletion(req, res, raw) {
  const parsed = parseJson(raw);
  requests.push({ at: new Date().toISOString(), path: req.url, body: parsed.ok ? parsed.value : raw });
  const body = parsed.ok ? parsed.value : undefined;
  if (!body || typeof body.model !== 'string' || !Array.isArray(body.messages)) {
    return send(res, 400, openAiError('body must be JSON with model and messages', 'invalid_request_error', 'invalid_body'));
  }
  const next = queue.shift();
  if (!next) return send(res, 503, openAiError('model-server: no scripted response left', 'server_error', 'no_script'));
  served++;
  if (next.delayMs) await delay(next.delayMs, res);
  if (res.destroyed) return;
  if (next.status !== undefined) {
    const message = next.error ?? `scripted HTTP ${next.status}`;
    return send(res, next.status, openAiError(message, next.status === 429 ? 'rate_limit_error' : 'server_error', 'scripted'), next.headers ?? {});
  }
  const content = next.content ?? JSON.stringify(next.plan);
  const promptTokens = next.usage?.prompt_tokens ?? tokens(body.messages.map((m) => String(m?.content ?? '')).join('\n'));
  const completionTokens = next.usage?.completion_tokens ?? tokens(content);
  send(res, 200, {
    id: `chatcmpl-local-${served}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: body.model,
    system_fingerprint: 'aoetl-local',
    choices: [
      { index: 0, message: { role: 'assistant', content, refusal: null }, finish_reason: next.finishReason ?? 'stop', logprobs: null },
    ],
    usage: { prompt_tokens: promptTokens, completion_tokens: completionTokens, total_tokens: promptTokens + completionTokens },
  }, next.headers ?? {});
}

async function route(req, res) {
  const path = (req.url ?? '/').split('?')[0];
  const key = `${req.method} ${path}`;
  if (path.startsWith('/v1/') && apiKey && req.headers.authorization !== `Bearer ${apiKey}`) {
    return send(res, 401, openAiError('invalid API key', 'invalid_request_error', 'invalid_api_key'));
  }
  switch (key) {
    case 'GET /healthz':
      return send(res, 200, { ok: true });
    case 'GET /v1/models':
      return send(res, 200, { object: 'list', data: [{ id: model, object: 'model', created: 0, owned_by: 'aoetl' }] });
    case 'POST /v1/chat/completions':
      return chatCompletion(req, res, await readBody(req));
    case 'POST /__script': {
      const parsed = parseJson(await readBody(req));
      const responses = parsed.ok ? parsed.value?.responses : undefined;
      if (!Array.isArray(responses)) return send(res, 400, { error: 'body must be {"responses": [ … ]}' });
      const problems = responses.map((r, i) => [i, validResponse(r)]).filter(([, p]) => p);
      if (problems.length) return send(res, 400, { error: problems.map(([i, p]) => `responses[${i}]: ${p}`).join('; ') });
      queue.push(...responses);
      return send(res, 200, { pending: queue.length });
    }
    case 'GET /__script':
      return send(res, 200, { pending: queue.length });
    case 'DELETE /__script':
      queue.length = 0;
      return send(res, 200, { pending: 0 });
    case 'GET /__requests':
      return send(res, 200, requests);
    case 'DELETE /__requests':
      requests.length = 0;
      return send(res, 200, { requests: 0 });
    default:
      return send(res, 404, openAiError(`no route ${key}`, 'invalid_request_error', 'not_found'));
  }
}

const server = createServer((req, res) => {
  route(req, res).catch((err) => {
    log({ level: 'error', msg: 'request failed', path: req.url, err: String(err?.message ?? err) });
    send(res, err?.status ?? 500, openAiError(String(err?.message ?? err), 'server_error', 'internal'));
  });
});
server.listen(port, HOST, () => log({ level: 'info', msg: 'listening', url: `http://${HOST}:${server.address().port}`, model }));

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
  });
}
