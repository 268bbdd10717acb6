// Exact resource.Quantity arithmetic (k8s.io/apimachinery/pkg/api/resource). Quota sums must
// never pick up a float rounding error (0.1 + 0.2 cpu is 300m, not 300.00000000000006m), so a
// quantity is held as a bigint count of nano-units, the finest precision Kubernetes keeps:
// anything finer is rounded away from zero, as ParseQuantity does.

export type QuantityFormat = 'DecimalSI' | 'BinarySI' | 'DecimalExponent';

const NANO_PER_UNIT = 1_000_000_000n;
/** Exponents beyond this are refused rather than turned into enormous bigints on request. */
const MAX_EXPONENT = 64;

const binarySuffixes = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'] as const;
const decimalSuffixes: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const decimalSuffixByExponent = new Map(Object.entries(decimalSuffixes).map(([s, e]) => [e, s]));

const grammar = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(?:([KMGTPE]i)|([numkMGTPE])|[eE]([+-]?\d+))?$/;

export class QuantityError extends Error {
  constructor(
    readonly input: unknown,
    reason: string,
  ) {
    super(`quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'${reason ? `: ${reason}` : ''}`);
    this.name = 'QuantityError';
  }
}

export class Quantity {
  private constructor(
    /** The value in units of 10^-9. */
    readonly nano: bigint,
    readonly format: QuantityFormat,
  ) {}

  static zero(format: QuantityFormat = 'DecimalSI'): Quantity {
    return new Quantity(0n, format);
  }

  static fromNano(nano: bigint, format: QuantityFormat = 'DecimalSI'): Quantity {
    return new Quantity(nano, format);
  }

  /**
   * Parses the wire form. Go's decoder also accepts a bare JSON number, whose text is parsed the
   * same way; JavaScript has already turned it into a double, so only its shortest decimal
   * spelling (String(n)) is available, which is exact for every number a person types.
   */
  static parse(input: string | number): Quantity {
    if (typeof input === 'number') {
      if (!Number.isFinite(input)) throw new QuantityError(input, 'not a finite number');
      input = String(input).replace('e+', 'e');
    }
    if (typeof input !== 'string') throw new QuantityError(input, 'not a string');
    const m = grammar.exec(input.trim() === input ? input : '');
    if (!m) throw new QuantityError(input, 'unable to parse quantity');
    const [, sign, number, binary, decimal, exponent] = m;
    const [whole, fraction = ''] = number.split('.');
    let digits = BigInt((whole || '0') + fraction);
    // value = digits * 10^power10 * 1024^power1024
    let power10 = -fraction.length;
    let format: QuantityFormat = 'DecimalSI';
    if (binary) {
      format = 'BinarySI';
      digits *= 1024n ** BigInt(binarySuffixes.indexOf(binary as (typeof binarySuffixes)[number]));
    } else if (decimal) {
      power10 += decimalSuffixes[decimal];
    } else if (exponent !== undefined) {
      format = 'DecimalExponent';
      const e = Number(exponent);
      if (Math.abs(e) > MAX_EXPONENT) throw new QuantityError(input, 'exponent out of range');
      power10 += e;
    }
    const shift = power10 + 9;
    let nano: bigint;
    if (shift >= 0) {
      nano = digits * 10n ** BigInt(shift);
    } else {
      const divisor = 10n ** BigInt(-shift);
      nano = digits / divisor + (digits % divisor === 0n ? 0n : 1n);
    }
    return new Quantity(sign === '-' ? -nano : nano, format);
  }

  /** True when `input` parses. */
  static isValid(input: unknown): boolean {
    if (typeof input !== 'string' && typeof input !== 'number') return false;
    try {
      Quantity.parse(input);
      return true;
    } catch {
      return false;
    }
  }

  /** Like Quantity.Add: the sum keeps this quantity's format, unless this one is zero. */
  add(other: Quantity): Quantity {
    return new Quantity(this.nano + other.nano, this.nano === 0n ? other.format : this.format);
  }

  sub(other: Quantity): Quantity {
    return new Quantity(this.nano - other.nano, this.nano === 0n ? other.format : this.format);
  }

  cmp(other: Quantity): -1 | 0 | 1 {
    return this.nano < other.nano ? -1 : this.nano > other.nano ? 1 : 0;
  }

  isZero(): boolean {
    return this.nano === 0n;
  }
  isNegative(): boolean {
    return this.nano < 0n;
  }
  /** Whether the value is a whole number (as MilliValue() % 1000 == 0 checks in Go). */
  isInteger(): boolean {
    return this.nano % NANO_PER_UNIT === 0n;
  }

  /** The canonical form Kubernetes writes: 300m, 2Gi, 1500m, 1e3, 1536Ki, 1k. */
  toString(): string {
    if (this.nano === 0n) return '0';
    const sign = this.nano < 0n ? '-' : '';
    const abs = this.nano < 0n ? -this.nano : this.nano;
    // Binary suffixes only fit whole numbers of at least 1024; anything else is written in decimal
    // rather than lose precision, exactly as CanonicalizeBytes does.
    if (this.format === 'BinarySI' && abs % NANO_PER_UNIT === 0n && abs >= 1024n * NANO_PER_UNIT) {
      let units = abs / NANO_PER_UNIT;
      let power = 0;
      while (power < binarySuffixes.length - 1 && units % 1024n === 0n) {
        units /= 1024n;
        power++;
      }
      return `${sign}${units}${binarySuffixes[power]}`;
    }
    // The largest exponent (a multiple of 3) that leaves a whole mantissa.
    const maxExponent = this.format === 'DecimalExponent' ? Infinity : 18;
    let exponent = -9;
    let mantissa = abs;
    while (exponent + 3 <= maxExponent && mantissa % 1000n === 0n) {
      mantissa /= 1000n;
      exponent += 3;
    }
    if (this.format === 'DecimalExponent') return `${sign}${mantissa}${exponent === 0 ? '' : `e${exponent}`}`;
    return `${sign}${mantissa}${decimalSuffixByExponent.get(exponent)}`;
  }

  toJSON(): string {
    return this.toString();
  }
}

/** Sums quantities exactly; an empty sum is "0". */
export function sumQuantities(values: Iterable<Quantity>): Quantity {
  let total = Quantity.zero();
  for (const v of values) total = total.add(v);
  return total;
}

/** The canonical spelling of a wire quantity, or the input unchanged when it does not parse. */
export function canonicalQuantity(input: unknown): unknown {
  if (typeof input !== 'string' && typeof input !== 'number') return input;
  try {
    return Quantity.parse(input).toString();
  } catch {
    return input;
  }
}

/** Rewrites every parseable quantity in place in the canonical form Kubernetes would return. */
export function canonicalizeResourceList(list: Record<string, string | number> | undefined): void {
  if (!list || typeof list !== 'object') return;
  for (const [k, v] of Object.entries(list)) list[k] = canonicalQuantity(v) as string | number;
}
