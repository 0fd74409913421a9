// The bench's arithmetic: a paired ratio pairs the runs made side by side, so a machine that
// slows down between rounds does not show up as a cost of the thing under test; and the reading of
// h2load's output.
import { describe, expect, it } from 'vitest';
import { cpuLines, goalsTable, key, memoryLines, pairedCpuRatio, pairedRatio, type Results } from '../../scripts/bench-report.ts';
import { parseH2load, type WrkResult } from '../../scripts/bench-wrk.ts';

const run = (rps: number, p99Ms = 1): WrkResult => ({ rps, p99Ms, requests: rps * 5, non2xx: 0, socketErrors: 0, socket: { connect: 0, read: 0, write: 0, timeout: 0 } });

function results(samples: Record<string, WrkResult[]>, cpu: Record<string, number[]> = {}): Results {
  return {
    cases: [],
    samples: new Map(Object.entries(samples)),
    failures: new Map(),
    bridgePeakKiB: new Map(),
    bridgeIdleKiB: null,
    bridgeListenMs: [],
    startupMs: [],
    startupEnvMs: [],
    extraCaCerts: null,
    startupIdleKiB: null,
    startupTsMs: [],
    startupTsIdleKiB: null,
    slow: null,
    cpuPerRequestMs: new Map(Object.entries(cpu)),
  };
}

describe('pairedRatio', () => {
  it('pairs the i-th runs of two fronts, so a drift of the machine between rounds cancels out', () => {
    // Round speeds 10k, 6k, 9k: B costs 2% in each round. A ratio of medians (9k vs 8.82k) says the
    // same here, but with B's slow round elsewhere it would not; the pairs always say 0.98.
    const r = results({
      [key('ledger', 'off')]: [run(10_000), run(6_000), run(9_000)],
      [key('ledger', 'on')]: [run(9_800), run(5_880), run(8_820)],
    });
    expect(pairedRatio(r, 'ledger', 'on', 'off')).toBeCloseTo(0.98, 6);
  });

  it('is not fooled where a ratio of medians is: the slow moment fell on one side more often', () => {
    const r = results({
      [key('c', 'a')]: [run(10_000), run(10_000), run(5_000), run(5_000)],
      [key('c', 'b')]: [run(10_000), run(5_000), run(5_000), run(5_000)],
    });
    // Medians: 7.5k vs 5k, "1.5x"; side by side, b equals a in three pairs of four.
    expect(pairedRatio(r, 'c', 'a', 'b')).toBe(1);
  });

  it('pairs p99 (or any field) and the CPU per request the same way; null when a side never ran', () => {
    const r = results(
      { [key('s', 'shadow')]: [run(1, 2.2), run(1, 3.3)], [key('s', 'bridge')]: [run(1, 2), run(1, 3)] },
      { [key('s', 'shadow')]: [0.11, 0.2], [key('s', 'bridge')]: [0.1, 0.2] },
    );
    expect(pairedRatio(r, 's', 'shadow', 'bridge', (x) => x.p99Ms)).toBeCloseTo(1.1, 6);
    expect(pairedCpuRatio(r, 's', 'shadow', 'bridge')).toBeCloseTo(1.05, 6);
    expect(pairedRatio(r, 's', 'shadow', 'nobody')).toBeNull();
  });
});

describe('cpuLines', () => {
  it('takes the middle two of an even count of rounds (a paired case runs each front six times)', () => {
    const r = { cpuPerRequestMs: new Map([['ledger/bridge-ledger-on', [0.07, 0.1, 0.09, 0.08]]]) } as unknown as Results;
    expect(cpuLines(r)).toBe("- front CPU per request, ledger/bridge-ledger-on: 85 µs (median over rounds: 70, 100, 90, 80; all the front's processes)");
  });

  it("gives each round's CPU per request beside the median, in the order run, so one slow process shows", () => {
    const r = results({}, { [key('gzip', 'bridge')]: [0.514, 0.878, 0.554], [key('hello', 'nginx')]: [0.064] });
    expect(cpuLines(r).split('\n')).toEqual([
      "- front CPU per request, gzip/bridge: 554 µs (median over rounds: 514, 878, 554; all the front's processes)",
      "- front CPU per request, hello/nginx: 64 µs (median over rounds; all the front's processes)",
    ]);
  });
});

describe('idle and peak RSS', () => {
  it("reports the command alone (the start-up check) beside the bench's bridge with its app, each against 55 MiB, and the TypeScript start apart", () => {
    const r = { ...results({}), bridgeIdleKiB: 56 * 1024, startupMs: [190, 200, 210], startupIdleKiB: 53 * 1024, startupTsMs: [480, 500, 520], startupTsIdleKiB: 81 * 1024 };
    expect(memoryLines(r)).toContain('median **200 ms** (190, 200, 210); RSS once listening 53.0 MiB');
    expect(memoryLines(r)).toContain('tsx loaded for it): median 500 ms over 3 starts; RSS once listening 81.0 MiB');
    const goals = goalsTable(r).split('\n');
    expect(goals.find((l) => l.includes('compiled to JavaScript'))).toMatch(/56\.0 MiB \| \*\*no\*\* \|$/);
    expect(goals.find((l) => l.includes('the command alone'))).toMatch(/53\.0 MiB \| yes \|$/);
  });

  it("measures the start-up goal in Node's default environment and reports this machine's NODE_EXTRA_CA_CERTS apart", () => {
    const r = { ...results({}), startupMs: [180, 190, 200], startupEnvMs: [230, 240, 260], extraCaCerts: '/etc/ssl/certs/ca-certificates.crt', startupTsMs: [440, 450, 460] };
    const lines = memoryLines(r);
    expect(lines).toContain("tsx loaded for it, in Node's default environment (no NODE_EXTRA_CA_CERTS)): median 450 ms over 3 starts");
    expect(lines).toContain("no app, in Node's default environment (no NODE_EXTRA_CA_CERTS): median **190 ms** (180, 190, 200)");
    expect(lines).toContain('with this machine\'s NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt (Node parses it before running any JavaScript): median 240 ms (230, 240, 260)');
    const goal = goalsTable(r).split('\n').find((l) => l.includes('start-up to a listening socket'));
    expect(goal).toMatch(/without this machine's NODE_EXTRA_CA_CERTS\) \| 190 ms \| yes \|$/);
    // A machine without it: one line, and the goal row says nothing of it.
    const plain = { ...results({}), startupMs: [260, 270, 280], startupTsMs: [500] };
    expect(memoryLines(plain)).not.toContain('NODE_EXTRA_CA_CERTS');
    expect(goalsTable(plain).split('\n').find((l) => l.includes('start-up to a listening socket'))).toMatch(/\(median\) \| 270 ms \| \*\*no\*\* \|$/);
  });

  it('holds the peak goal to the small-page cases; the 1 MiB bodies are reported, not counted', () => {
    const r = { ...results({}), bridgePeakKiB: new Map([['hello', 70 * 1024], ['static', 75 * 1024], ['1mib', 150 * 1024], ['post', 160 * 1024], ['gzip', 100 * 1024]]) };
    const goals = goalsTable(r).split('\n');
    expect(goals.find((l) => l.includes('small-page cases'))).toMatch(/75\.0 MiB \| yes \|$/);
    expect(memoryLines(r)).toContain('**160.0 MiB** (hello 70.0 MiB, static 75.0 MiB, 1mib 150.0 MiB');
    r.bridgePeakKiB.set('php404', 81 * 1024);
    expect(goalsTable(r).split('\n').find((l) => l.includes('small-page cases'))).toMatch(/81\.0 MiB \| \*\*no\*\* \|$/);
  });
});

describe('parseH2load', () => {
  // h2load 1.52's summary, as it printed it here against the bridge.
  const out = [
    'finished in 5.00s, 6101.20 req/s, 292.06KB/s',
    'requests: 30506 total, 30522 started, 30506 done, 30500 succeeded, 4 failed, 2 errored, 0 timeout',
    'status codes: 30498 2xx, 0 3xx, 2 4xx, 0 5xx',
    'traffic: 1.43MB (1495374) total, 238.96KB (244696) headers (space savings 91.56%), 417.08KB (427084) data',
  ].join('\n');
  // --log-file: start time (µs), status, duration (µs); 100 requests, the slowest two at 9 and 40 ms.
  const log = Array.from({ length: 100 }, (_, i) => `17964977450${String(i).padStart(5, '0')}\t200\t${i === 98 ? 9000 : i === 99 ? 40000 : 1000 + i}`).join('\n') + '\n';

  it('reads req/s, the requests done and the failures from the summary, and the p99 from the per-request log', () => {
    const r = parseH2load(out, log);
    expect(r.rps).toBe(6101.2);
    expect(r.requests).toBe(30506);
    expect(r.non2xx).toBe(2);
    expect(r.socketErrors).toBe(6);
    // The 99th of 100 durations, sorted: 9 ms (the 40 ms one is the 100th).
    expect(r.p99Ms).toBe(9);
  });

  it('refuses output it cannot read, and a log with no request', () => {
    expect(() => parseH2load('connect failed', log)).toThrow(/could not parse h2load/);
    expect(() => parseH2load(out, '')).toThrow(/no request/);
  });
});
