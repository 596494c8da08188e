import type { ValidationStatus } from './table-keys.js';

/**
 * Metadata keys every vector carries so that one receipt's vectors can be found with a
 * `where` filter (`{ $and: [{ image_id }, { receipt_id }] }`) in both collections.
 */
export const VECTOR_KEY_FIELDS = {
  imageId: 'image_id',
  receiptId: 'receipt_id',
  lineId: 'line_id',
  wordId: 'word_id',
} as const;

/** How a word's labels are summarised in its metadata (see design.md, "Vector ids and metadata"). */
export interface LabelSummary {
  /** Delimited list `,TOTAL,TAX,` (or `''`) so `$contains`-style filters work. */
  valid_labels: string;
  invalid_labels: string;
  label_status: 'validated' | 'invalid' | 'pending' | 'none';
  /** Who proposed the label that decided `label_status`; `''` when there is none. */
  label_proposed_by: string;
}

/** The current state of one label item on a word. */
export interface WordLabelState {
  status: ValidationStatus;
  proposedBy?: string | undefined;
}

/** Encodes a label list as `,A,B,` (sorted, deduplicated), or `''` when empty. */
export function encodeLabelList(labels: Iterable<string>): string {
  const sorted = [...new Set(labels)].sort();
  return sorted.length === 0 ? '' : `,${sorted.join(',')},`;
}

/** Decodes `,A,B,` back to `['A', 'B']`. */
export function decodeLabelList(encoded: unknown): string[] {
  if (typeof encoded !== 'string' || encoded === '') return [];
  return encoded.split(',').filter((s) => s !== '');
}

/**
 * Summarises all label items of one word. The status is decided by precedence:
 * any VALID label → `validated`; else any INVALID → `invalid`; else any PENDING or
 * NEEDS_REVIEW → `pending`; else `none`. The proposer is that of the first label
 * (alphabetically) of the deciding kind, so the result does not depend on arrival order.
 *
 * @example
 * summarizeLabels({ TOTAL: { status: 'VALID', proposedBy: 'llm' } })
 * // { valid_labels: ',TOTAL,', invalid_labels: '', label_status: 'validated', label_proposed_by: 'llm' }
 */
export function summarizeLabels(labels: Readonly<Record<string, WordLabelState>>): LabelSummary {
  const names = Object.keys(labels).sort();
  const byStatus = (...statuses: ValidationStatus[]): string[] =>
    names.filter((n) => statuses.includes(labels[n]!.status));
  const valid = byStatus('VALID');
  const invalid = byStatus('INVALID');
  const pending = byStatus('PENDING', 'NEEDS_REVIEW');
  const [status, deciding]: [LabelSummary['label_status'], string[]] =
    valid.length > 0
      ? ['validated', valid]
      : invalid.length > 0
        ? ['invalid', invalid]
        : pending.length > 0
          ? ['pending', pending]
          : ['none', []];
  const first = deciding[0];
  return {
    valid_labels: encodeLabelList(valid),
    invalid_labels: encodeLabelList(invalid),
    label_status: status,
    label_proposed_by: (first !== undefined ? labels[first]!.proposedBy : undefined) ?? '',
  };
}
