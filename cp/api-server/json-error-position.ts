/**
 * Where a JSON text first breaks the grammar (RFC 8259). Node 20's JSON.parse often
 * says only "Unexpected token" without a position, so when it fails we scan the text
 * once more to tell the user the line and column. Pure; linear in the input; iterative
 * (no recursion), so hostile nesting cannot overflow the stack.
 */

/** Offset of the first syntax error, or the text length when the input ends too early; -1 when the text is valid. */
export function jsonErrorOffset(text: string): number {
  let i = 0;
  const n = text.length;
  const ws = () => {
    while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  // Stack of open containers: '{' or '['. `expect` says what may come next.
  const stack: string[] = [];
  type Expect = 'value' | 'key' | 'colon' | 'commaOrClose' | 'valueOrClose' | 'keyOrClose';
  let expect = 'value' as Expect;
  const afterValue = () => {
    expect = 'commaOrClose';
  };
  const scanString = (): boolean => {
    i++; // opening quote
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 0x22) {
        i++;
        return true;
      }
      if (c < 0x20) return false;
      if (c === 0x5c) {
        const e = text[i + 1];
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) return false;
          i += 6;
          continue;
        }
        if (e === undefined || !'"\\/bfnrt'.includes(e)) return false;
        i += 2;
        continue;
      }
      i++;
    }
    return false;
  };
  const scanScalar = (): boolean => {
    const rest = text.slice(i, i + 64);
    const m = /^(?:true|false|null|-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?)/.exec(rest);
    if (!m) return false;
    i += m[0].length;
    return true;
  };
  for (;;) {
    ws();
    if (i >= n) return stack.length === 0 && expect === 'commaOrClose' ? -1 : n;
    const c = text[i];
    if (stack.length === 0 && expect === 'commaOrClose') return i; // trailing garbage
    switch (expect) {
      case 'value':
      case 'valueOrClose':
        if (expect === 'valueOrClose' && c === ']') {
          stack.pop();
          i++;
          afterValue();
          break;
        }
        if (c === '{') {
          stack.push('{');
          i++;
          expect = 'keyOrClose';
        } else if (c === '[') {
          stack.push('[');
          i++;
          expect = 'valueOrClose';
        } else if (c === '"') {
          if (!scanString()) return i;
          afterValue();
        } else {
          const at = i;
          if (!scanScalar()) return at;
          afterValue();
        }
        break;
      case 'key':
      case 'keyOrClose':
        if (expect === 'keyOrClose' && c === '}') {
          stack.pop();
          i++;
          afterValue();
          break;
        }
        if (c !== '"') return i;
        if (!scanString()) return i;
        expect = 'colon';
        break;
      case 'colon':
        if (c !== ':') return i;
        i++;
        expect = 'value';
        break;
      case 'commaOrClose': {
        const top = stack[stack.length - 1];
        if (c === ',') {
          i++;
          expect = top === '{' ? 'key' : 'value';
        } else if ((c === '}' && top === '{') || (c === ']' && top === '[')) {
          stack.pop();
          i++;
          afterValue();
        } else {
          return i;
        }
        break;
      }
    }
  }
}
