/**
 * The JSON error locator agrees with JSON.parse on validity for valid documents,
 * hand-picked breakages and thousands of random mutations, and points at the break.
 */
import t from 'tap';
import { jsonErrorOffset } from '../../../cp/api-server/json-error-position';

function valid(s: string): boolean {
  try {
    JSON.parse(s);
    return true;
  } catch {
    return false;
  }
}

t.test('positions of typical mistakes', async (t) => {
  t.equal(jsonErrorOffset('{"a": 1}'), -1);
  t.equal(jsonErrorOffset(' [1, {"b": [true, null, -1.5e3, "x\\n\\u00e9"]}] '), -1);
  t.equal(jsonErrorOffset('{"type": "Dataplane",\n "name": }'), 31);
  t.equal(jsonErrorOffset('{"a": 1,}'), 8, 'trailing comma: at the brace');
  t.equal(jsonErrorOffset('{"a" 1}'), 5, 'missing colon');
  t.equal(jsonErrorOffset('{"a": tru}'), 6);
  t.equal(jsonErrorOffset('{"a": 1'), 7, 'ends too early');
  t.equal(jsonErrorOffset('{"a": 1} x'), 9, 'trailing garbage');
  t.equal(jsonErrorOffset("{'a': 1}"), 1, 'single quotes');
  t.equal(jsonErrorOffset(''), 0);
  t.equal(jsonErrorOffset('['.repeat(100000)), 100000, 'deep nesting does not overflow');
});

t.test('agrees with JSON.parse on random mutations', async (t) => {
  const seed = JSON.stringify({ type: 'Dataplane', mesh: 'default', name: 'dp-1', networking: { address: '1.2.3.4', inbound: [{ port: 80, tags: { a: 'b' } }], x: [true, false, null, 0.5] } });
  const alphabet = '{}[]:,"\\ 0-1eE.tfnu';
  let state = 42;
  const rnd = (k: number) => {
    state = (state * 1103515245 + 12345) & 0x7fffffff;
    return state % k;
  };
  let disagreements = 0;
  for (let i = 0; i < 5000; i++) {
    const chars = seed.split('');
    for (let j = 0, m = 1 + rnd(3); j < m; j++) {
      const pos = rnd(chars.length);
      const what = rnd(3);
      if (what === 0) chars.splice(pos, 1);
      else if (what === 1) chars.splice(pos, 0, alphabet[rnd(alphabet.length)]);
      else chars[pos] = alphabet[rnd(alphabet.length)];
    }
    const s = chars.join('');
    const off = jsonErrorOffset(s);
    if ((off === -1) !== valid(s)) disagreements++;
  }
  t.equal(disagreements, 0, 'same verdict as JSON.parse on 5000 mutations');
});
