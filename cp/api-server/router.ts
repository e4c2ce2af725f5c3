/**
 * A small path router: patterns are `/`-separated segments where `{name}` captures one
 * segment. When several patterns match a path, the one with the most literal segments
 * wins (so `/zones+insights` beats `/{collection}`), ties go to the first registered.
 */
import { HttpError, badRequest } from './http-error';

/** HTTP methods the API serves. */
export type Method = 'GET' | 'POST' | 'PUT' | 'DELETE';

/** A compiled route. */
export interface Route<H> {
  method: Method;
  pattern: string;
  handler: H;
}

interface Compiled {
  segments: { literal?: string; param?: string }[];
  literals: number;
}

function compile(pattern: string): Compiled {
  const segments = pattern
    .split('/')
    .filter((s) => s !== '')
    .map((s) => (/^\{[A-Za-z0-9_]+\}$/.test(s) ? { param: s.slice(1, -1) } : { literal: s }));
  return { segments, literals: segments.filter((s) => s.literal !== undefined).length };
}

/** Splits a URL path into decoded segments; 400 on broken percent-encoding. */
export function splitPath(pathname: string): string[] {
  try {
    return pathname
      .split('/')
      .filter((s) => s !== '')
      .map((s) => decodeURIComponent(s));
  } catch (err) {
    throw badRequest(`path ${JSON.stringify(pathname)} has invalid percent-encoding`, [], err);
  }
}

function matchSegments(c: Compiled, parts: string[]): Record<string, string> | undefined {
  if (c.segments.length !== parts.length) return undefined;
  const params: Record<string, string> = {};
  for (let i = 0; i < parts.length; i++) {
    const s = c.segments[i];
    if (s.literal !== undefined) {
      if (s.literal !== parts[i]) return undefined;
    } else {
      params[s.param!] = parts[i];
    }
  }
  return params;
}

/** Finds the handler for a request: the match, 405 (with Allow) when only other methods match, or undefined. */
export function route<H>(routes: readonly Route<H>[], method: string, parts: string[]): { handler: H; params: Record<string, string> } | undefined {
  let best: { handler: H; params: Record<string, string>; literals: number } | undefined;
  const allowed = new Set<string>();
  for (const r of routes) {
    const c = compile(r.pattern);
    const params = matchSegments(c, parts);
    if (!params) continue;
    if (r.method !== method) {
      allowed.add(r.method);
      continue;
    }
    if (!best || c.literals > best.literals) best = { handler: r.handler, params, literals: c.literals };
  }
  if (best) return { handler: best.handler, params: best.params };
  if (allowed.size > 0) {
    const allow = [...allowed].sort().join(', ');
    throw new HttpError(405, 'ERR_METHOD_NOT_ALLOWED', `method ${method} is not allowed on /${parts.join('/')}; allowed: ${allow}`, { headers: { allow } });
  }
  return undefined;
}
