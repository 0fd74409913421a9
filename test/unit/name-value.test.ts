import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeParams, encodeParams, type Param } from '../../src/fastcgi/name-value.ts';

const allBytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('latin1');

describe('encodeParams', () => {
  it('uses one-byte lengths below 128', () => {
    expect([...encodeParams([['AB', 'xyz']])]).toEqual([2, 3, 0x41, 0x42, 0x78, 0x79, 0x7a]);
    expect([...encodeParams([['', '']])]).toEqual([0, 0]);
  });

  it('uses the one-byte form for 127 and the four-byte form from 128', () => {
    const n127 = 'n'.repeat(127);
    const v128 = 'v'.repeat(128);
    const a = encodeParams([[n127, v128]]);
    expect(a[0]).toBe(127);
    expect([...a.subarray(1, 5)]).toEqual([0x80, 0, 0, 128]);
    expect(a.length).toBe(1 + 4 + 127 + 128);
    expect(a.toString('latin1', 5, 5 + 127)).toBe(n127);

    const b = encodeParams([['v'.repeat(128), 'x'.repeat(127)]]);
    expect([...b.subarray(0, 4)]).toEqual([0x80, 0, 0, 128]);
    expect(b[4]).toBe(127);
  });

  it('writes a 70 KB value length as four bytes big-endian with the top bit set', () => {
    const n = 70_000; // 0x00011170
    const buf = encodeParams([['HTTP_COOKIE', 'c'.repeat(n)]]);
    expect(buf[0]).toBe(11);
    expect([...buf.subarray(1, 5)]).toEqual([0x80, 0x01, 0x11, 0x70]);
    expect(buf.length).toBe(1 + 4 + 11 + n);
  });

  it('writes a 70 KB name length in the four-byte form too', () => {
    const buf = encodeParams([['N'.repeat(70_000), 'v']]);
    expect([...buf.subarray(0, 4)]).toEqual([0x80, 0x01, 0x11, 0x70]);
    expect(buf[4]).toBe(1);
  });

  it('encodes one byte per char (latin1), never UTF-8', () => {
    const buf = encodeParams([['X', '\u00e9\u00ff']]);
    expect([...buf]).toEqual([1, 2, 0x58, 0xe9, 0xff]);
  });

  it('keeps order and duplicates', () => {
    const params: Param[] = [['A', '1'], ['B', '2'], ['A', '3']];
    expect(decodeParams(encodeParams(params))).toEqual([
      ['A', '1'],
      ['B', '2'],
      ['A', '3'],
    ]);
  });
});

describe('decodeParams', () => {
  it('round-trips both length forms at the boundaries', () => {
    for (const len of [0, 1, 127, 128, 129, 255, 256, 65535, 65536, 70_000]) {
      const pairs: Param[] = [
        ['N'.repeat(len), 'v'],
        ['k', 'V'.repeat(len)],
        ['X'.repeat(len), 'Y'.repeat(len)],
      ];
      expect(decodeParams(encodeParams(pairs))).toEqual(pairs);
    }
  });

  it('round-trips all 256 byte values in names and values', () => {
    const pairs: Param[] = [
      [allBytes, allBytes],
      ['V', allBytes.slice(0, 127)],
      ['\0', '\0'],
    ];
    const buf = encodeParams(pairs);
    const back = decodeParams(buf);
    expect(back).toEqual(pairs);
    expect([...Buffer.from(back[0]![1], 'latin1')]).toEqual(Array.from({ length: 256 }, (_, i) => i));
  });

  it('decodes a four-byte length even when a short length would do', () => {
    expect(decodeParams(Buffer.from([0x80, 0, 0, 1, 1, 0x41, 0x42]))).toEqual([['A', 'B']]);
  });

  it('ignores the top bit of a four-byte length', () => {
    expect(decodeParams(Buffer.from([0x80, 0, 0, 2, 0x80, 0, 0, 0, 0x41, 0x42]))).toEqual([['AB', '']]);
  });

  it('throws RangeError on truncated input', () => {
    const good = encodeParams([['NAME', 'v'.repeat(200)]]);
    for (let cut = 1; cut < good.length; cut++) {
      expect(() => decodeParams(good.subarray(0, cut)), `cut at ${cut}`).toThrow(RangeError);
    }
    expect(decodeParams(Buffer.alloc(0))).toEqual([]);
  });

  it('property: decode(encode(x)) === x for random byte strings', () => {
    const byteString = fc.oneof(
      { weight: 4, arbitrary: fc.uint8Array({ maxLength: 200 }) },
      { weight: 1, arbitrary: fc.uint8Array({ minLength: 120, maxLength: 140 }) },
    ).map((a) => Buffer.from(a).toString('latin1'));
    fc.assert(
      fc.property(fc.array(fc.tuple(byteString, byteString), { maxLength: 10 }), (pairs) => {
        const buf = encodeParams(pairs);
        const expectedSize = pairs.reduce(
          (n, [k, v]) => n + (k.length > 127 ? 4 : 1) + (v.length > 127 ? 4 : 1) + k.length + v.length,
          0,
        );
        expect(buf.length).toBe(expectedSize);
        expect(decodeParams(buf)).toEqual(pairs);
      }),
    );
  });

  it('property: random bytes decode or throw RangeError, nothing else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        try {
          decodeParams(Buffer.from(bytes));
        } catch (e) {
          if (!(e instanceof RangeError)) throw e;
        }
      }),
      { numRuns: 1000 },
    );
  });
});
