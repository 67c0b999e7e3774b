/** The tokenizer against REFERENCE.md §4 (ids and token counts measured with the Python `tokenizers`). */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { defaults } from '../../src/core/defaults';
import { encodeFileOffThread, TextTokenizer } from '../../src/core/text/tokenizer';
import { isTrimError } from '../../src/core/errors';

const tok = TextTokenizer.fromFolder(defaults.model());

test('the reference sentence gives the reference ids', () => {
  const ids = tok.encode('Hello world! TRIM prunes rows: 80% sparsity, naïve café.');
  assert.deepEqual(
    Array.from(ids),
    [
      40, 564, 79, 904, 1, 339, 50, 2550, 634, 411, 280, 6849, 83, 26, 6222, 5, 530, 883, 436, 12, 300, 65, 128, 108, 307, 1848, 70, 128,
      103, 14,
    ],
  );
});

test('calib.txt: 94,309 tokens, first and last ids', () => {
  const ids = tok.encode(fs.readFileSync(defaults.calib(), 'utf8'));
  assert.equal(ids.length, 94309);
  assert.deepEqual(Array.from(ids.subarray(0, 8)), [429, 438, 630, 267, 5764, 7961, 508, 1349]);
  assert.deepEqual(Array.from(ids.subarray(-4)), [14, 1803, 14, 707]);
});

test('eval-brown.txt: 159,023 tokens, first ids', () => {
  const ids = tok.encode(fs.readFileSync(defaults.evalText(), 'utf8'));
  assert.equal(ids.length, 159023);
  assert.deepEqual(Array.from(ids.subarray(0, 8)), [37, 481, 7796, 741, 1901, 1045, 648, 3525]);
});

test('calib.txt tokenized on a worker thread: the same ids (REFERENCE.md §4); its errors keep their codes', async () => {
  const ids = await encodeFileOffThread(defaults.model(), defaults.calib(), 'Calibration');
  assert.equal(ids.length, 94309);
  assert.deepEqual(Array.from(ids.subarray(0, 8)), [429, 438, 630, 267, 5764, 7961, 508, 1349]);
  assert.deepEqual(Array.from(ids.subarray(-4)), [14, 1803, 14, 707]);
  await assert.rejects(
    encodeFileOffThread(defaults.model(), '/nonexistent/calib.txt', 'Calibration'),
    (e: unknown) => isTrimError(e) && e.code === 'E_TEXT' && /Calibration text \/nonexistent\/calib.txt: cannot be read/.test(e.message),
  );
  await assert.rejects(
    encodeFileOffThread('/nonexistent-model', defaults.calib(), 'Calibration'),
    (e: unknown) => isTrimError(e) && e.code === 'E_TOKENIZER' && /no tokenizer.json/.test(e.message),
  );
});
