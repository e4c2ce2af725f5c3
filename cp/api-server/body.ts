/**
 * Reading and parsing request bodies. The body is read with a hard cap so that a
 * hostile client can never make the server buffer without bound; parse errors name
 * the position (line and column) so users can find the typo.
 */
import type { IncomingMessage } from 'node:http';
import YAML from 'yaml';
import { HttpError, badRequest } from './http-error';
import { jsonErrorOffset } from './json-error-position';

/** Largest body the API accepts: 1 MiB, like Kuma's API server. */
export const MAX_BODY_BYTES = 1024 * 1024;
/** After refusing an oversize body we read and discard at most this much, then drop the connection. */
const MAX_DISCARD_BYTES = 64 * 1024 * 1024;

function tooLarge(limit: number): HttpError {
  return new HttpError(413, 'ERR_BODY_TOO_LARGE', `request body is larger than ${limit} bytes`, { headers: { connection: 'close' } });
}

/**
 * Reads the whole body, at most `limit` bytes. Over the limit, rejects with 413 once
 * the client has finished sending (the excess is discarded, not kept), so that the
 * client reliably receives the answer.
 */
export function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = Number.isFinite(declared) && declared > limit;
    const done = (err?: Error) => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
      if (err) reject(err);
      else resolve(Buffer.concat(chunks));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        over = true;
        chunks.length = 0;
      }
      if (size > MAX_DISCARD_BYTES) {
        req.socket.destroy();
        done(tooLarge(limit));
        return;
      }
      if (!over) chunks.push(chunk);
    };
    const onEnd = () => done(over ? tooLarge(limit) : undefined);
    const onError = (err: Error) => done(badRequest(`could not read the request body: ${err.message}`, [], err));
    // A client that goes away mid-body may not produce 'error' on every Node version.
    const onClose = () => {
      if (!req.complete) done(badRequest('the client closed the connection before sending the whole body'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
}

/** The media type of a Content-Type header, lower-cased, without parameters. */
export function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0].trim().toLowerCase();
}

const YAML_TYPES = new Set(['application/yaml', 'application/x-yaml', 'text/yaml', 'text/x-yaml']);
// curl -d sends application/x-www-form-urlencoded unless told otherwise; treat it as JSON.
const JSON_TYPES = new Set(['', 'application/json', 'text/json', 'application/x-www-form-urlencoded']);

/** True when the body should be parsed as YAML. */
export function isYamlMediaType(type: string): boolean {
  return YAML_TYPES.has(type);
}

function lineCol(text: string, pos: number): string {
  const before = text.slice(0, pos);
  const line = before.split('\n').length;
  const col = pos - before.lastIndexOf('\n');
  return `line ${line}, column ${col}`;
}

/**
 * Parses a body as JSON (default) or YAML (by Content-Type). Empty bodies give undefined.
 * 415 for other media types, 400 with the position for syntax errors.
 */
export function parseBody(buf: Buffer, contentType: string | undefined): unknown {
  const type = mediaType(contentType);
  const text = buf.toString('utf8');
  if (text.trim() === '') return undefined;
  if (isYamlMediaType(type)) {
    try {
      return YAML.parse(text, { prettyErrors: true });
    } catch (err) {
      const e = err as Error & { linePos?: { line: number; col: number }[] };
      const where = e.linePos?.[0] ? `line ${e.linePos[0].line}, column ${e.linePos[0].col}` : 'unknown position';
      throw badRequest(`body is not valid YAML at ${where}: ${e.message.split('\n')[0]}`, [], err);
    }
  }
  if (!JSON_TYPES.has(type)) {
    throw new HttpError(415, 'ERR_UNSUPPORTED_MEDIA_TYPE', `unsupported Content-Type ${JSON.stringify(type)}; use application/json or application/yaml`);
  }
  try {
    return JSON.parse(text);
  } catch (err) {
    const msg = (err as Error).message;
    const m = /position (\d+)/.exec(msg);
    const pos = m ? Number(m[1]) : jsonErrorOffset(text);
    const where = pos >= 0 && pos < text.length ? lineCol(text, pos) : 'end of input';
    throw badRequest(`body is not valid JSON at ${where}: ${msg}`, [], err);
  }
}
