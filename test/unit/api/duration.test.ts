import t from 'tap';
import { checkDuration, formatDuration, parseDuration } from '../../../api/duration';

t.test('parses the durations Kuma uses', async (t) => {
  const cases: Array<[string, number]> = [
    ['24h', 86_400_000],
    ['10m', 600_000],
    ['1h30m', 5_400_000],
    ['500ms', 500],
    ['90s', 90_000],
    ['0s', 0],
    ['0', 0],
    ['1.5s', 1500],
    ['100us', 0.1],
    ['2h45m30.5s', 9_930_500],
    ['-5m', -300_000],
    ['.5h', 1_800_000],
  ];
  for (const [text, ms] of cases) t.equal(parseDuration(text), ms, text);
});

t.test('rejects malformed durations and says what is valid', async (t) => {
  for (const text of ['', '10', 'abc', '1d', '1h 30m', 'h', '1.h.', '--1s', '10M', '1e3s']) {
    const msg = checkDuration(text);
    t.ok(msg, `"${text}" rejected`);
    t.match(msg, /e\.g\. "10m"/, 'message lists valid forms');
  }
  t.match(checkDuration(42), /must be a duration string/);
  t.throws(() => parseDuration('1d'), { code: 'ERR_VALIDATION' });
  t.match(checkDuration('99999999h'), /at most/);
});

t.test('formatDuration gives short, round-trippable text', async (t) => {
  const cases: Array<[number, string]> = [
    [0, '0s'],
    [500, '500ms'],
    [90_000, '1m30s'],
    [5_400_000, '1h30m'],
    [86_400_000, '24h'],
    [3_605_000, '1h5s'],
    [1500, '1.5s'],
    [0.1, '100us'],
    [-600_000, '-10m'],
  ];
  for (const [ms, text] of cases) {
    t.equal(formatDuration(ms), text, String(ms));
    t.equal(parseDuration(text), ms, `round trip ${text}`);
  }
  t.throws(() => formatDuration(Infinity), RangeError);
});
