/** The statements that set one request's context on an engine connection (chpipe serve's isolated requests). Pure. */
import { backquote, stringLiteral } from './quote.js';

export function setReadonly(level: number): string {
  return `SET readonly = ${Math.trunc(level)}`;
}

/** `SET a = 'x', b = 'y'`: setting names are identifiers the caller checked; values are quoted as strings (the engine converts them). */
export function setSettings(settings: readonly (readonly [string, string])[]): string {
  return `SET ${settings.map(([name, value]) => `${name} = ${stringLiteral(value)}`).join(', ')}`;
}

export function useDatabase(database: string): string {
  return `USE ${backquote(database)}`;
}

/** What an engine process says about itself when it is ready. */
export const ABOUT_SERVER = 'SELECT version(), timezone(), displayName()';
