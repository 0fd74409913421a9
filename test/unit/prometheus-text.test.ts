// The strict exposition reader the admin tests rely on must refuse what Prometheus would.
import { describe, expect, it } from 'vitest';
import { parsePrometheusText } from '../helpers/prometheus-text.ts';

describe('parsePrometheusText', () => {
  it('reads counters, gauges and histograms', () => {
    const f = parsePrometheusText('# HELP c a counter\n# TYPE c counter\nc{m="GET",s="2xx"} 3\n# TYPE h histogram\nh_bucket{le="0.1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 0.3\nh_count 2\n');
    expect(f.get('c')!.samples).toEqual([{ name: 'c', labels: { m: 'GET', s: '2xx' }, value: 3 }]);
    expect(f.get('h')!.samples).toHaveLength(4);
  });

  it('refuses undeclared families, bad labels, bad values and broken histograms', () => {
    expect(() => parsePrometheusText('c 1\n')).toThrow(/undeclared/);
    expect(() => parsePrometheusText('# TYPE c counter\nc{m=GET} 1\n')).toThrow(/labels/);
    expect(() => parsePrometheusText('# TYPE c counter\nc one\n')).toThrow(/value/);
    expect(() => parsePrometheusText('# TYPE c counter\nc 1')).toThrow(/newline/);
    expect(() => parsePrometheusText('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\n')).toThrow(/cumulative/);
    expect(() => parsePrometheusText('# TYPE h histogram\nh_bucket{le="+Inf"} 2\nh_count 3\n')).toThrow(/_count/);
  });
});
