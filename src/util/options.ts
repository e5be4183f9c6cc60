import { InvalidOptionError } from './errors.js';

/**
 * Small validators used by every `resolveXxxOptions()`: each returns the value (or the
 * default when the value is undefined) or throws ERR_INVALID_OPTION naming the field.
 */

export function intOption(field: string, value: unknown, fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw new InvalidOptionError(field, value, `expected an integer in [${min}, ${max}]`);
  }
  return value;
}

export function numberOption(field: string, value: unknown, fallback: number, min = 0, max = Number.MAX_VALUE): number {
  if (value === undefined) return fallback;
  if (typeof value !== 'number' || Number.isNaN(value) || value < min || value > max) {
    throw new InvalidOptionError(field, value, `expected a number in [${min}, ${max}]`);
  }
  return value;
}

export function boolOption(field: string, value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new InvalidOptionError(field, value, 'expected true or false');
  return value;
}

export function stringOption(field: string, value: unknown, fallback: string, pattern?: RegExp): string {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || value.length === 0 || (pattern && !pattern.test(value))) {
    throw new InvalidOptionError(field, value, pattern ? `expected a string matching ${pattern}` : 'expected a non-empty string');
  }
  return value;
}

export function enumOption<T extends string>(field: string, value: unknown, fallback: T, allowed: readonly T[]): T {
  if (value === undefined) return fallback;
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    throw new InvalidOptionError(field, value, `expected one of ${allowed.map((a) => JSON.stringify(a)).join(', ')}`);
  }
  return value as T;
}

export function objectOption(field: string, value: unknown): Record<string, unknown> {
  if (value === undefined) return {};
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new InvalidOptionError(field, value, 'expected an object');
  }
  return value as Record<string, unknown>;
}

/** Rejects keys the options interface does not define, so typos fail loudly. */
export function rejectUnknownKeys(field: string, value: Record<string, unknown>, known: readonly string[]): void {
  for (const key of Object.keys(value)) {
    if (!known.includes(key)) {
      throw new InvalidOptionError(field ? `${field}.${key}` : key, value[key], `unknown option (known: ${known.join(', ')})`);
    }
  }
}
