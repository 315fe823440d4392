#!/usr/bin/env node
// Calibrates the pre-call token estimator (src/llm/token_estimator.h) against Anthropic's
// published tokenizer, @anthropic-ai/tokenizer (the Claude 1/2 BPE; Anthropic calls it only an
// approximation for Claude 3, whose tokenizer is not public).
//
//   1. builds a labelled text set: the intent messages (shared/data/intent train → fit,
//      dev → test) and catalog renderings (shared/data/catalog + data/catalog, split by row);
//   2. counts each text's tokens with the reference tokenizer (after NFKC, as it does itself);
//   3. fits the per-script coefficients by non-negative least squares on relative error, then
//      scales them so that estimates sit on the high side (see --quantile);
//   4. writes data/tokens/calibration_set.jsonl and config/token_calibration.yaml.
//
// The tokenizer is not a dependency of the repo; install it into a throwaway directory:
//   npm install --prefix /tmp/tok-npm @anthropic-ai/tokenizer
//   node scripts/calibrate-tokens.mjs --tokenizer /tmp/tok-npm
// Options: --shared DIR (default ../shared beside the repo), --quantile Q (default 0.8),
//          --dry-run (print the fit, write nothing).
// Deterministic: the same inputs give byte-identical outputs (apart from --date).

import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function parseArgs(argv) {
  const args = {
    tokenizer: '/tmp/tok-npm',
    shared: path.resolve(repo, '..', 'shared'),
    quantile: 0.8,
    date: new Date().toISOString().slice(0, 10),
    dryRun: false,
  };
  for (let i = 2; i < argv.length; ++i) {
    const a = argv[i];
    if (a === '--dry-run') args.dryRun = true;
    else if (a === '--tokenizer') args.tokenizer = argv[++i];
    else if (a === '--shared') args.shared = argv[++i];
    else if (a === '--quantile') args.quantile = Number(argv[++i]);
    else if (a === '--date') args.date = argv[++i];
    else {
      console.error(`unknown argument ${a}`);
      process.exit(2);
    }
  }
  return args;
}

const args = parseArgs(process.argv);

// ---------------------------------------------------------------------------------------------
// The reference tokenizer.

let tokenizerModule;
try {
  const req = createRequire(path.join(path.resolve(args.tokenizer), 'package.json'));
  tokenizerModule = req('@anthropic-ai/tokenizer');
} catch (e) {
  console.error(`cannot load @anthropic-ai/tokenizer from ${args.tokenizer}: ${e.message}`);
  console.error('install it with: npm install --prefix /tmp/tok-npm @anthropic-ai/tokenizer');
  process.exit(1);
}
const tokenizerVersion = JSON.parse(
  fs.readFileSync(
    createRequire(path.join(path.resolve(args.tokenizer), 'package.json')).resolve(
      '@anthropic-ai/tokenizer/package.json'),
    'utf8')).version;
// countTokens() builds a new BPE per call; one instance is enough (and ~100x faster).
const bpe = tokenizerModule.getTokenizer();
const countTokens = (text) => bpe.encode(text.normalize('NFKC'), 'all').length;

// ---------------------------------------------------------------------------------------------
// Language, as core::DetectLanguage decides it (src/core/language.cc; shared LABELS.md).

function isJapanese(cp) {
  return (cp >= 0x3040 && cp <= 0x30ff) || (cp >= 0x31f0 && cp <= 0x31ff) ||
      (cp >= 0xff66 && cp <= 0xff9f) || (cp >= 0x3400 && cp <= 0x4dbf) ||
      (cp >= 0x4e00 && cp <= 0x9fff) || (cp >= 0xf900 && cp <= 0xfaff) ||
      (cp >= 0x20000 && cp <= 0x3134f) || cp === 0x3005 || cp === 0x3006 || cp === 0x303b;
}

function detectLanguage(text) {
  const isLatin = (c) => (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) ||
      (c >= 0xff21 && c <= 0xff3a) || (c >= 0xff41 && c <= 0xff5a) ||
      (c >= 0xc0 && c <= 0x24f && c !== 0xd7 && c !== 0xf7);
  const isDigit = (c) => (c >= 0x30 && c <= 0x39) || (c >= 0xff10 && c <= 0xff19);
  const isJoiner = (c) => c === 0x2d || c === 0x27 || c === 0xff0d || c === 0x5f;
  let japanese = false, english = false, letters = 0, digit = false, inToken = false;
  const endToken = () => {
    if (inToken && letters >= 2 && !digit) english = true;
    letters = 0;
    digit = false;
    inToken = false;
  };
  for (const ch of text) {
    const c = ch.codePointAt(0);
    if (isLatin(c)) {
      inToken = true;
      ++letters;
    } else if (isDigit(c)) {
      inToken = true;
      digit = true;
    } else if (inToken && isJoiner(c)) {
      // stays inside the token
    } else {
      endToken();
      if (isJapanese(c)) japanese = true;
    }
  }
  endToken();
  if (!japanese) return 'en';
  return english ? 'mixed' : 'ja';
}

// ---------------------------------------------------------------------------------------------
// The features: a port of CountScripts in src/llm/token_estimator.cc. Keep the two in step; the
// C++ test checks that TokenEstimator reproduces this script's estimate of every text.

const FEATURES = [
  'latin_word', 'latin_letter', 'romaji_letter', 'digit', 'number', 'space', 'punct', 'hiragana',
  'katakana', 'kanji', 'other',
];

// Classes of one code point. Full-width ASCII folds to ASCII as NFKC would.
function classify(cp) {
  if (cp >= 0xff01 && cp <= 0xff5e) cp -= 0xfee0;
  else if (cp === 0x3000) cp = 0x20;  // ideographic space
  if (cp < 0x80) {
    if ((cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a)) return 'letter';
    if (cp >= 0x30 && cp <= 0x39) return 'digit';
    if (cp === 0x20) return 'space';
    return 'punct';  // punctuation, symbols, line breaks, tabs and other controls
  }
  if (cp >= 0x3041 && cp <= 0x309f) return 'hiragana';
  if ((cp >= 0x30a0 && cp <= 0x30ff) || (cp >= 0x31f0 && cp <= 0x31ff) ||
      (cp >= 0xff66 && cp <= 0xff9f)) {
    return 'katakana';
  }
  if (isJapanese(cp)) return 'kanji';  // ideographs and 々〆〻
  return 'other';
}

// Romaji shape: a word of at least 6 letters that reads as Hepburn syllables (Shingekinokyojin,
// Eiichiro, Kimetsu). Such words split into pieces of 2-3 letters, where English words of the
// same length are often one token. Checked one letter at a time: `run` holds the consonants
// since the last vowel (at most 3).
const kRomajiMinLetters = 6;
const isVowel = (c) => c === 'a' || c === 'e' || c === 'i' || c === 'o' || c === 'u';
const isRomajiConsonant = (c) => 'bcdfghjkmnprstwyz'.includes(c);
function validPair(a, b) {
  return a === b || b === 'y' || (b === 'h' && (a === 's' || a === 'c')) || (a === 't' && b === 's') ||
      a === 'n';
}
function validRun(run) {
  switch (run.length) {
    case 0: return true;
    case 1: return run !== 'c';
    case 2: return validPair(run[0], run[1]);
    default: return (run[0] === 'n' || run[0] === run[1]) && validPair(run[1], run[2]);
  }
}

function scriptCounts(text) {
  const f = Object.fromEntries(FEATURES.map((k) => [k, 0]));
  let letters = 0, romaji = true, run = '';
  let prev = '';
  const endWord = () => {
    if (letters >= kRomajiMinLetters && romaji && (run === '' || run === 'n')) f.romaji_letter += letters;
    letters = 0;
    romaji = true;
    run = '';
  };
  for (const ch of text) {
    let cp = ch.codePointAt(0);
    const cls = classify(cp);
    if (cls === 'letter') {
      if (cp >= 0xff01) cp -= 0xfee0;
      const c = String.fromCharCode(cp).toLowerCase();
      if (letters === 0) ++f.latin_word;
      ++letters;
      ++f.latin_letter;
      if (romaji) {
        if (isVowel(c)) {
          romaji = validRun(run);
          run = '';
        } else if (isRomajiConsonant(c) && run.length < 3) {
          run += c;
        } else {
          romaji = false;
        }
      }
    } else {
      if (letters > 0) endWord();
      if (cls === 'digit') {
        if (prev !== 'digit') ++f.number;
        ++f.digit;
      } else {
        ++f[cls];
      }
    }
    prev = cls;
  }
  if (letters > 0) endWord();
  return f;
}

// ---------------------------------------------------------------------------------------------
// The text set.

function readJsonl(file) {
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '').map(
      (l) => JSON.parse(l));
}

// A small deterministic hash (FNV-1a, 32 bit) to sample and split catalog rows by id.
function fnv1a(s) {
  let h = 0x811c9dc5;
  for (const b of Buffer.from(s, 'utf8')) {
    h ^= b;
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h;
}

const items = [];
function add(text, source, split) {
  text = text.normalize('NFKC').trim();
  if (text === '') return;
  items.push({ text, source, split });
}

const intentDir = path.join(args.shared, 'data', 'intent');
for (const row of readJsonl(path.join(intentDir, 'train.jsonl'))) add(row.text, 'intent', 'fit');
for (const row of readJsonl(path.join(intentDir, 'dev.jsonl'))) add(row.text, 'intent', 'test');

// The MADB catalog (Japanese titles and authors, machine-romanized titles): rendered as the
// compact lines a retrieval context would carry, three works to a text.
const madb = readJsonl(path.join(args.shared, 'data', 'catalog', 'manga_catalog.jsonl'))
    .filter((r) => r.title_ja)
    .sort((a, b) => fnv1a(a.id) - fnv1a(b.id) || (a.id < b.id ? -1 : 1))
    .slice(0, 480);
for (let i = 0; i + 3 <= madb.length; i += 3) {
  const group = madb.slice(i, i + 3);
  const romaji = (i / 3) % 2 === 1;  // every other block also carries the romanized title
  const lines = group.map((r) => {
    const authors = (r.authors || []).join('、');
    const start = r.start_date ? ` 連載開始 ${r.start_date}` : '';
    const title = romaji && r.title ? `${r.title_ja} (${r.title})` : `『${r.title_ja}』`;
    return `${title} 作者: ${authors}${start}`;
  });
  add(lines.join('\n'), 'madb', (i / 3) % 4 < 2 ? 'fit' : 'test');
}

// MangaAssist's own catalog (English synopses, official Japanese titles): a product card and,
// separately, the bare synopsis.
const own = readJsonl(path.join(repo, 'data', 'catalog', 'catalog.jsonl'));
own.forEach((r, i) => {
  const split = i % 2 === 0 ? 'fit' : 'test';
  const when = r.end_date ? `${r.start_date}–${r.end_date}` : `${r.start_date}–`;
  const vols = r.volumes ? `, ${r.volumes} volumes` : '';
  const card = `${r.title} (${r.title_ja}) by ${r.authors.join(', ')} / ${(r.authors_ja || []).join('、')}. ` +
      `${r.genres.join(', ')}; ${r.demographic || 'general'}, ${r.status || 'unknown'} (${when}${vols}).`;
  if (i % 3 === 0) add(`${card}\n${r.synopsis || ''}`, 'catalog', split);
  else if (r.synopsis) add(r.synopsis, 'catalog', split);
});

// Drop exact duplicates (keep the first: fit before test).
{
  const seen = new Set();
  for (let i = 0; i < items.length; ++i) {
    if (seen.has(items[i].text)) items.splice(i--, 1);
    else seen.add(items[i].text);
  }
}
for (const it of items) {
  it.lang = detectLanguage(it.text);
  it.tokens = countTokens(it.text);
  it.f = scriptCounts(it.text);
}

// ---------------------------------------------------------------------------------------------
// Fit: non-negative least squares, each residual divided by sqrt(reference tokens) (a count's
// spread grows with its length; dividing by the count itself would let the 2,000 short chat
// messages drown the catalog texts, not dividing would do the reverse). Solved by projected
// coordinate descent on the normal equations (11 unknowns).

function nnls(rows, y) {
  const n = rows[0].length;
  const ata = Array.from({ length: n }, () => new Array(n).fill(0));
  const aty = new Array(n).fill(0);
  rows.forEach((r, k) => {
    for (let i = 0; i < n; ++i) {
      aty[i] += r[i] * y[k];
      for (let j = 0; j < n; ++j) ata[i][j] += r[i] * r[j];
    }
  });
  const x = new Array(n).fill(0);
  for (let sweep = 0; sweep < 100000; ++sweep) {
    let moved = 0;
    for (let i = 0; i < n; ++i) {
      if (ata[i][i] === 0) continue;
      let g = aty[i];
      for (let j = 0; j < n; ++j) if (j !== i) g -= ata[i][j] * x[j];
      const xi = Math.max(0, g / ata[i][i]);
      moved = Math.max(moved, Math.abs(xi - x[i]));
      x[i] = xi;
    }
    if (moved < 1e-13) break;
  }
  return x;
}

const fit = items.filter((it) => it.split === 'fit');
const test = items.filter((it) => it.split === 'test');
const raw = nnls(fit.map((it) => FEATURES.map((k) => it.f[k] / Math.sqrt(it.tokens))),
                 fit.map((it) => Math.sqrt(it.tokens)));

// Headroom: the `quantile` of reference/fitted over the fit set; every coefficient is multiplied
// by it, so that about 1-q of the fit texts come out low. A budget reservation that is a little
// high is released at settlement; one that is low lets a request overspend its budget.
const linear = (it, coef) => FEATURES.reduce((s, k, i) => s + coef[i] * it.f[k], 0);
const ratios = fit.map((it) => it.tokens / Math.max(1e-9, linear(it, raw))).sort((a, b) => a - b);
const headroom = Math.round(
    ratios[Math.min(ratios.length - 1, Math.floor(args.quantile * ratios.length))] * 1e4) / 1e4;
const coef = raw.map((c) => Math.round(c * headroom * 1e4) / 1e4);

// Framing, measured with the reference tokenizer in the Human/Assistant prompt format it was
// built for: "\n\nHuman:" before each message, "\n\nAssistant:" once at the end. Claude 3's
// Messages-API framing is not public; the estimator's online correction absorbs the difference.
const framing = {
  per_message: countTokens('\n\nHuman: x') - countTokens(' x'),
  per_request: countTokens('\n\nAssistant:'),
};

// The estimator's rounding (TokenEstimator::Estimate): ceil of the linear form, at least 1 for
// non-empty text. The sum runs in FEATURES order, as the C++ does, so both round alike.
const kRoundingSlack = 1e-9;
const estimate = (it) => Math.max(1, Math.ceil(linear(it, coef) - kRoundingSlack));

function errors(set) {
  if (set.length === 0) return null;
  let ape = 0, under = 0, sumEst = 0, sumRef = 0;
  const apes = [];
  for (const it of set) {
    const e = estimate(it);
    const a = Math.abs(e - it.tokens) / it.tokens;
    apes.push(a);
    ape += a;
    if (e < it.tokens) ++under;
    sumEst += e;
    sumRef += it.tokens;
  }
  apes.sort((a, b) => a - b);
  return {
    n: set.length,
    mape: (100 * ape) / set.length,
    p90ape: 100 * apes[Math.floor(0.9 * (apes.length - 1))],
    under: (100 * under) / set.length,
    bias: (100 * (sumEst - sumRef)) / sumRef,  // token-weighted: what a budget sees
  };
}

const fmt = (e) => e === null ? 'n/a' :
    `n=${String(e.n).padStart(4)}  MAPE ${e.mape.toFixed(1).padStart(4)}%  p90 APE ${e.p90ape.toFixed(1).padStart(4)}%  ` +
    `under ${e.under.toFixed(1).padStart(4)}%  total ${e.bias >= 0 ? '+' : ''}${e.bias.toFixed(1)}%`;
const report = [];
for (const [name, set] of [['fit', fit], ['test', test]]) {
  for (const lang of ['en', 'ja', 'mixed']) {
    report.push(`${name.padEnd(4)} ${lang.padEnd(7)} ${fmt(errors(set.filter((it) => it.lang === lang)))}`);
  }
  report.push(`${name.padEnd(4)} ${'all'.padEnd(7)} ${fmt(errors(set))}`);
}
for (const source of ['intent', 'madb', 'catalog']) {
  report.push(`test ${source.padEnd(7)} ${fmt(errors(test.filter((it) => it.source === source)))}`);
}
const cppDefaults = FEATURES.map((k, i) => `  c.${k} = ${coef[i]};`).join('\n') +
    `\n  c.per_message = ${framing.per_message};\n  c.per_request = ${framing.per_request};` +
    `\n  c.headroom = ${headroom};`;
console.log(`reference: @anthropic-ai/tokenizer ${tokenizerVersion}`);
console.log(`fitted:   ${FEATURES.map((k, i) => `${k}=${raw[i].toFixed(4)}`).join(' ')}`);
console.log(`headroom (q=${args.quantile}): ${headroom}`);
console.log(`framing: ${JSON.stringify(framing)}`);
console.log(report.join('\n'));
console.log(`compiled-in defaults (src/llm/token_estimator.cc, TokenCalibration::Default):\n${cppDefaults}`);
if (args.dryRun) process.exit(0);

// ---------------------------------------------------------------------------------------------
// Outputs. `estimate` is this script's estimate with the coefficients below; the C++ test checks
// that TokenEstimator reproduces it for every text (the two feature extractors agree).

const setFile = path.join(repo, 'data', 'tokens', 'calibration_set.jsonl');
fs.mkdirSync(path.dirname(setFile), { recursive: true });
fs.writeFileSync(setFile, items.map((it) => JSON.stringify({
  text: it.text, lang: it.lang, tokens: it.tokens, estimate: estimate(it), split: it.split,
  source: it.source,
})).join('\n') + '\n');

const counts = (set) => ['en', 'ja', 'mixed'].map((l) => `${set.filter((it) => it.lang === l).length} ${l}`).join(', ');
const yaml = `# Token estimator calibration (src/llm/token_estimator.h, docs/token-estimator.md).
# Generated by scripts/calibrate-tokens.mjs on ${args.date}; re-run the script rather than editing,
# and keep TokenCalibration::Default() (token_estimator.cc) equal to these values.
# Reference: @anthropic-ai/tokenizer ${tokenizerVersion} (npm): Anthropic's Claude 1/2 BPE, which Anthropic
#   says only approximates Claude 3's tokenizer; applied after NFKC.
# Fit set:  ${fit.length} texts (${counts(fit)}): shared intent train.jsonl + half the catalog texts.
# Test set: ${test.length} texts (${counts(test)}): shared intent dev.jsonl + the other half.
#   (data/tokens/calibration_set.jsonl, field "split"; languages as core::DetectLanguage says.)
# Method: non-negative least squares (residuals / sqrt(tokens)), then every coefficient times
#   headroom = ${headroom}, the p${Math.round(args.quantile * 100)} of reference/fitted over the fit set;
#   estimate = ceil(sum of coefficient x count), at least 1 for non-empty text.
# Errors against the reference (MAPE: mean absolute % error; p90 APE: 90th percentile of the
#   absolute % error; under: share of texts estimated low; total: sum of estimates vs sum of tokens):
${report.map((l) => `#   ${l}`).join('\n')}
# Framing: "\\n\\nHuman:" per message and "\\n\\nAssistant:" per request, measured with the same tokenizer
#   (Claude 3's Messages-API framing is not public; the online correction absorbs the difference).
version: 1
reference: "@anthropic-ai/tokenizer ${tokenizerVersion}"
generated: "${args.date}"
per_unit:            # tokens per counted unit (see ScriptCounts in token_estimator.h)
${FEATURES.map((k, i) => `  ${k}: ${coef[i]}`).join('\n')}
framing:
  per_message: ${framing.per_message}
  per_request: ${framing.per_request}
headroom: ${headroom}    # already in per_unit; the online correction keeps estimates this high
`;
fs.writeFileSync(path.join(repo, 'config', 'token_calibration.yaml'), yaml);
console.log(`wrote ${path.relative(repo, setFile)} (${items.length} texts, ${fs.statSync(setFile).size} bytes)`);
console.log('wrote config/token_calibration.yaml');
bpe.free();
