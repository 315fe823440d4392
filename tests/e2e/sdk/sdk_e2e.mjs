// End-to-end check of the drop-in endpoints with the official SDKs: the real `openai` and
// `@anthropic-ai/sdk` npm clients call the gateway (non-streamed and streamed) and must get the
// fake upstream's answer and usage, the configured model aliases, and errors they parse into
// their own exception classes. Run by tests/e2e/sdk_e2e.sh, which installs the pinned SDKs into a
// throwaway folder, copies this file there and starts the fake upstream and the gateway.
//
// Environment:
//   GATEWAY_URL       http://127.0.0.1:PORT (no trailing slash, no /v1)
//   EXPECTED_ANSWER   the fake upstream's answer text
//   EXPECTED_MODELS   comma-separated aliases /v1/models must list (default: haiku,auto,llama)
//   EXPECTED_INPUT_TOKENS / EXPECTED_OUTPUT_TOKENS   the fake's usage (default: 30 / 9)
// Prints one line per check; exits 1 if any check failed.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';

const GATEWAY_URL = (process.env.GATEWAY_URL ?? '').replace(/\/+$/, '');
const EXPECTED_ANSWER = process.env.EXPECTED_ANSWER;
const EXPECTED_MODELS = (process.env.EXPECTED_MODELS ?? 'haiku,auto,llama')
  .split(',')
  .map((s) => s.trim())
  .filter(Boolean);
const INPUT_TOKENS = Number(process.env.EXPECTED_INPUT_TOKENS ?? 30);
const OUTPUT_TOKENS = Number(process.env.EXPECTED_OUTPUT_TOKENS ?? 9);

if (!GATEWAY_URL || EXPECTED_ANSWER === undefined) {
  console.error('sdk_e2e: GATEWAY_URL and EXPECTED_ANSWER must be set');
  process.exit(1);
}

// The packages' `exports` hide package.json from import/require; read it from node_modules/.
const versionOf = (pkg) => {
  try {
    const url = new URL(`node_modules/${pkg}/package.json`, import.meta.url);
    return JSON.parse(readFileSync(url, 'utf8')).version;
  } catch {
    return '?';
  }
};
console.log(
  `sdk_e2e: node ${process.version}, openai ${versionOf('openai')}, ` +
    `@anthropic-ai/sdk ${versionOf('@anthropic-ai/sdk')}, gateway ${GATEWAY_URL}`,
);

// openai v4 sends through node-fetch v2 with a keep-alive agent by default. On Node 18 (Debian
// 12's nodejs 18.20.4) node-fetch's chunked-ending detector misfires on every streamed response,
// whatever the server (reproduced against a plain node:http server; node-fetch issue #1767), so
// streams die with "Premature close". There the client gets the SDK's documented `fetch` option
// with Node's built-in fetch instead; from Node 20 on it keeps its default transport.
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
const openaiTransport = NODE_MAJOR < 20 ? { fetch: globalThis.fetch } : {};
console.log(
  `sdk_e2e: openai transport: ${NODE_MAJOR < 20 ? "Node's fetch (node 18 workaround)" : 'default'}`,
);

// No retries: a retried request would hide a gateway error behind a second attempt.
const openai = new OpenAI({
  baseURL: `${GATEWAY_URL}/v1`,
  apiKey: 'sk-unused',
  maxRetries: 0,
  timeout: 30_000,
  ...openaiTransport,
});
const anthropic = new Anthropic({
  baseURL: GATEWAY_URL,
  apiKey: 'unused',
  maxRetries: 0,
  timeout: 30_000,
});

const USER_MESSAGES = [{ role: 'user', content: 'Is One Piece volume 105 in stock?' }];

let passed = 0;
let failed = 0;

async function check(name, fn) {
  try {
    await fn();
    passed += 1;
    console.log(`PASS ${name}`);
  } catch (err) {
    failed += 1;
    console.log(`FAIL ${name}`);
    const detail = err instanceof assert.AssertionError ? err.message : (err?.stack ?? String(err));
    for (const line of String(detail).split('\n')) console.log(`     ${line}`);
    if (err?.status !== undefined) {
      console.log(`     status=${err.status} body=${JSON.stringify(err.error ?? null)}`);
    }
  }
}

// Runs `fn`, which must reject with an instance of `ErrorClass` carrying `status`; returns it.
async function expectError(fn, ErrorClass, status) {
  let caught;
  try {
    const result = await fn();
    assert.fail(`expected ${ErrorClass.name} (${status}), got a result: ${JSON.stringify(result)}`);
  } catch (err) {
    if (err instanceof assert.AssertionError) throw err;
    caught = err;
  }
  assert.ok(
    caught instanceof ErrorClass,
    `expected ${ErrorClass.name}, got ${caught?.constructor?.name}: ${caught?.message}`,
  );
  assert.equal(caught.status, status, `HTTP status of ${ErrorClass.name}`);
  return caught;
}

// --- OpenAI SDK: POST /v1/chat/completions, GET /v1/models ---------------------------------

for (const model of ['haiku', 'auto']) {
  await check(`openai chat.completions.create model=${model} (non-stream)`, async () => {
    const res = await openai.chat.completions.create({ model, messages: USER_MESSAGES });
    assert.equal(res.object, 'chat.completion');
    assert.equal(typeof res.id, 'string');
    assert.equal(res.choices.length, 1);
    assert.equal(res.choices[0].message.role, 'assistant');
    assert.equal(res.choices[0].message.content, EXPECTED_ANSWER);
    assert.equal(res.choices[0].finish_reason, 'stop');
    assert.ok(res.usage, 'usage present');
    assert.equal(res.usage.prompt_tokens, INPUT_TOKENS);
    assert.equal(res.usage.completion_tokens, OUTPUT_TOKENS);
    assert.equal(res.usage.total_tokens, INPUT_TOKENS + OUTPUT_TOKENS);
  });
}

await check('openai chat.completions.create model=llama via openai-type provider', async () => {
  const res = await openai.chat.completions.create({ model: 'llama', messages: USER_MESSAGES });
  assert.equal(res.choices[0].message.content, EXPECTED_ANSWER);
  assert.equal(res.model, 'llama3');
  assert.equal(res.usage.prompt_tokens, INPUT_TOKENS);
  assert.equal(res.usage.completion_tokens, OUTPUT_TOKENS);
});

await check('openai chat.completions.create().withResponse() cost header', async () => {
  const { data, response } = await openai.chat.completions
    .create({ model: 'haiku', messages: USER_MESSAGES })
    .withResponse();
  assert.equal(data.choices[0].message.content, EXPECTED_ANSWER);
  const cost = response.headers.get('x-mangaassist-cost-usd');
  assert.match(cost ?? '', /^\d+\.\d{9}$/, 'x-mangaassist-cost-usd header');
  assert.ok(Number(cost) > 0, `haiku answer costs something (got ${cost})`);
});

await check('openai chat.completions.create stream=true include_usage', async () => {
  const stream = await openai.chat.completions.create({
    model: 'haiku',
    messages: USER_MESSAGES,
    stream: true,
    stream_options: { include_usage: true },
  });
  let text = '';
  let chunks = 0;
  let finishReason = null;
  let usage = null;
  let usageChunkChoices = null;
  for await (const chunk of stream) {
    chunks += 1;
    assert.equal(chunk.object, 'chat.completion.chunk');
    for (const choice of chunk.choices) {
      if (typeof choice.delta?.content === 'string') text += choice.delta.content;
      if (choice.finish_reason) finishReason = choice.finish_reason;
    }
    if (chunk.usage) {
      usage = chunk.usage;
      usageChunkChoices = chunk.choices;
    }
  }
  assert.ok(chunks >= 3, `expected several chunks, got ${chunks}`);
  assert.equal(text, EXPECTED_ANSWER);
  assert.equal(finishReason, 'stop');
  assert.ok(usage, 'a usage chunk arrived');
  assert.deepEqual(usageChunkChoices, [], 'the usage chunk has no choices');
  assert.equal(usage.prompt_tokens, INPUT_TOKENS);
  assert.equal(usage.completion_tokens, OUTPUT_TOKENS);
  assert.equal(usage.total_tokens, INPUT_TOKENS + OUTPUT_TOKENS);
});

await check('openai chat.completions.create stream=true without include_usage', async () => {
  const stream = await openai.chat.completions.create({
    model: 'auto',
    messages: USER_MESSAGES,
    stream: true,
  });
  let text = '';
  let sawUsage = false;
  for await (const chunk of stream) {
    text += chunk.choices[0]?.delta?.content ?? '';
    if (chunk.usage) sawUsage = true;
  }
  assert.equal(text, EXPECTED_ANSWER);
  assert.equal(sawUsage, false, 'no usage chunk unless asked for');
});

await check('openai beta.chat.completions.stream().finalChatCompletion()', async () => {
  const stream = openai.beta.chat.completions.stream({
    model: 'haiku',
    messages: USER_MESSAGES,
    stream_options: { include_usage: true },
  });
  let contentEvents = '';
  stream.on('content', (delta) => {
    contentEvents += delta;
  });
  const completion = await stream.finalChatCompletion();
  assert.equal(contentEvents, EXPECTED_ANSWER, 'content events');
  assert.equal(completion.choices[0].message.content, EXPECTED_ANSWER);
  assert.equal(completion.choices[0].finish_reason, 'stop');
  assert.equal(completion.usage?.prompt_tokens, INPUT_TOKENS);
  assert.equal(completion.usage?.completion_tokens, OUTPUT_TOKENS);
});

await check('openai models.list returns the configured aliases', async () => {
  const ids = [];
  for await (const m of openai.models.list()) {
    assert.equal(m.object, 'model');
    ids.push(m.id);
  }
  for (const alias of EXPECTED_MODELS) {
    assert.ok(ids.includes(alias), `alias ${alias} listed (got ${JSON.stringify(ids)})`);
  }
});

await check('openai untranslatable field (tools) -> BadRequestError 400', async () => {
  const err = await expectError(
    () =>
      openai.chat.completions.create({
        model: 'haiku',
        messages: USER_MESSAGES,
        tools: [{ type: 'function', function: { name: 'lookup', parameters: { type: 'object' } } }],
      }),
    OpenAI.BadRequestError,
    400,
  );
  assert.match(err.message, /tools/, 'the message names the field');
  assert.ok(err.error && typeof err.error.message === 'string', 'the SDK parsed the error body');
});

await check('openai unknown model -> NotFoundError 404', async () => {
  const err = await expectError(
    () => openai.chat.completions.create({ model: 'gpt-9-unknown', messages: USER_MESSAGES }),
    OpenAI.NotFoundError,
    404,
  );
  assert.match(err.message, /gpt-9-unknown/, 'the message names the model');
});

await check('openai unknown model stream=true -> NotFoundError 404', async () => {
  await expectError(
    async () => {
      const stream = await openai.chat.completions.create({
        model: 'gpt-9-unknown',
        messages: USER_MESSAGES,
        stream: true,
      });
      for await (const _ of stream) {
        // drain
      }
    },
    OpenAI.NotFoundError,
    404,
  );
});

// --- Anthropic SDK: POST /v1/messages, GET /v1/models ---------------------------------------

const ANTHROPIC_PARAMS = { model: 'haiku', max_tokens: 256, messages: USER_MESSAGES };

await check('anthropic messages.create (non-stream)', async () => {
  const msg = await anthropic.messages.create(ANTHROPIC_PARAMS);
  assert.equal(msg.type, 'message');
  assert.equal(msg.role, 'assistant');
  assert.equal(typeof msg.id, 'string');
  assert.equal(msg.content.length, 1);
  assert.equal(msg.content[0].type, 'text');
  assert.equal(msg.content[0].text, EXPECTED_ANSWER);
  assert.equal(msg.stop_reason, 'end_turn');
  assert.equal(msg.usage.input_tokens, INPUT_TOKENS);
  assert.equal(msg.usage.output_tokens, OUTPUT_TOKENS);
});

await check('anthropic messages.create with system prompt, model=auto', async () => {
  const msg = await anthropic.messages.create({
    ...ANTHROPIC_PARAMS,
    model: 'auto',
    system: 'You answer questions about a manga shop.',
  });
  assert.equal(msg.content[0].text, EXPECTED_ANSWER);
  assert.equal(msg.stop_reason, 'end_turn');
});

await check('anthropic messages.stream().finalMessage()', async () => {
  const stream = anthropic.messages.stream(ANTHROPIC_PARAMS);
  let textEvents = '';
  stream.on('text', (delta) => {
    textEvents += delta;
  });
  const msg = await stream.finalMessage();
  assert.equal(textEvents, EXPECTED_ANSWER, 'text events');
  assert.equal(msg.content.length, 1);
  assert.equal(msg.content[0].type, 'text');
  assert.equal(msg.content[0].text, EXPECTED_ANSWER);
  assert.equal(msg.stop_reason, 'end_turn');
  assert.equal(msg.usage.output_tokens, OUTPUT_TOKENS);
  // message_delta carries the provider-reported input usage, which replaces the estimate.
  assert.equal(msg.usage.input_tokens, INPUT_TOKENS);
  assert.equal(msg.model, 'claude-3-5-haiku-20241022', 'one model for the whole stream');
});

await check('anthropic messages.create stream=true raw events', async () => {
  const stream = await anthropic.messages.create({ ...ANTHROPIC_PARAMS, stream: true });
  const types = [];
  let text = '';
  let stopReason = null;
  let outputTokens = null;
  for await (const event of stream) {
    types.push(event.type);
    if (event.type === 'content_block_delta' && event.delta.type === 'text_delta') {
      text += event.delta.text;
    }
    if (event.type === 'message_delta') {
      stopReason = event.delta.stop_reason;
      outputTokens = event.usage.output_tokens;
    }
  }
  assert.equal(types[0], 'message_start', `event order ${types.join(',')}`);
  assert.equal(types[1], 'content_block_start', `event order ${types.join(',')}`);
  assert.equal(types.at(-1), 'message_stop', `event order ${types.join(',')}`);
  assert.equal(types.at(-2), 'message_delta', `event order ${types.join(',')}`);
  assert.ok(types.includes('content_block_stop'), `event order ${types.join(',')}`);
  assert.equal(text, EXPECTED_ANSWER);
  assert.equal(stopReason, 'end_turn');
  assert.equal(outputTokens, OUTPUT_TOKENS);
});

await check('anthropic models.list returns the configured aliases', async () => {
  const ids = [];
  for await (const m of anthropic.models.list()) {
    assert.equal(m.type, 'model');
    ids.push(m.id);
  }
  for (const alias of EXPECTED_MODELS) {
    assert.ok(ids.includes(alias), `alias ${alias} listed (got ${JSON.stringify(ids)})`);
  }
});

await check('anthropic untranslatable content (image) -> BadRequestError 400', async () => {
  const err = await expectError(
    () =>
      anthropic.messages.create({
        ...ANTHROPIC_PARAMS,
        messages: [
          {
            role: 'user',
            content: [
              { type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AA==' } },
            ],
          },
        ],
      }),
    Anthropic.BadRequestError,
    400,
  );
  assert.match(err.message, /image/, 'the message names the content type');
  assert.equal(err.error?.type, 'error', 'the SDK parsed the Anthropic error body');
});

await check('anthropic unknown model -> NotFoundError 404', async () => {
  const err = await expectError(
    () => anthropic.messages.create({ ...ANTHROPIC_PARAMS, model: 'claude-unknown-9' }),
    Anthropic.NotFoundError,
    404,
  );
  assert.match(err.message, /claude-unknown-9/, 'the message names the model');
});

await check('anthropic unknown model messages.stream() -> NotFoundError 404', async () => {
  await expectError(
    () => anthropic.messages.stream({ ...ANTHROPIC_PARAMS, model: 'claude-unknown-9' }).finalMessage(),
    Anthropic.NotFoundError,
    404,
  );
});

console.log(`${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
