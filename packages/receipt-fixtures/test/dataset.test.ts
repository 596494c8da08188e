import { describe, expect, it } from 'vitest';
import { buildDataset, cosineSimilarity, countVectors, embedText } from '../src/index.js';

describe('embedText', () => {
  it('is deterministic, unit length and of the requested dimension', () => {
    const a = embedText('TOTAL 12.99');
    expect(a).toHaveLength(384);
    expect(embedText('TOTAL 12.99')).toEqual(a);
    expect(cosineSimilarity(a, a)).toBeCloseTo(1, 6);
    const empty = embedText('', { dimension: 8 });
    expect(empty).toHaveLength(8);
    expect(cosineSimilarity(empty, empty)).toBeCloseTo(1, 6);
  });

  it('puts texts sharing n-grams closer than unrelated texts', () => {
    const total = embedText('TOTAL 25.10');
    expect(cosineSimilarity(total, embedText('SUBTOTAL 22.92'))).toBeGreaterThan(
      cosineSimilarity(total, embedText('ORGANIC AVOCADO')),
    );
    expect(
      cosineSimilarity(embedText('COSTCO WHOLESALE'), embedText('Costco Wholesale')),
    ).toBeCloseTo(1, 6);
  });
});

describe('buildDataset', () => {
  it('is reproducible from its seed and realistic in shape', () => {
    const a = buildDataset({ receipts: 10, seed: 7 });
    expect(buildDataset({ receipts: 10, seed: 7 })).toEqual(a);
    expect(buildDataset({ receipts: 10, seed: 8 })).not.toEqual(a);
    const first = a[0]!;
    expect(first.imageId).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    );
    expect(first.lines.some((l) => l.text.startsWith('TOTAL '))).toBe(true);
    const labelled = first.lines
      .flatMap((l) => l.words)
      .filter((w) => Object.keys(w.labels).length > 0);
    expect(labelled.length).toBeGreaterThan(5);
    const counts = countVectors(a);
    expect(counts.words).toBeGreaterThan(counts.lines);
    expect(new Set(a.map((r) => r.imageId)).size).toBe(10);
  });
});
