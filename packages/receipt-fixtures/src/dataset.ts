import type { PlaceField, ValidationStatus, WordLabelState } from '@compaction/contracts';
import { SeededRandom } from './random.js';

/** One word of a receipt line, with the label items the labelling pipeline proposed. */
export interface DemoWord {
  wordId: number;
  text: string;
  labels: Record<string, WordLabelState>;
}

export interface DemoLine {
  lineId: number;
  text: string;
  words: DemoWord[];
}

export type DemoPlace = Record<PlaceField, string>;

export interface DemoReceipt {
  imageId: string;
  receiptId: number;
  place: DemoPlace;
  lines: DemoLine[];
}

interface Merchant {
  name: string;
  canonical: string;
  category: string;
  street: string;
  city: string;
  items: readonly string[];
}

const MERCHANTS: readonly Merchant[] = [
  {
    name: 'COSTCO WHOLESALE',
    canonical: 'Costco Wholesale',
    category: 'Warehouse club',
    street: '4500 Sepulveda Blvd',
    city: 'Culver City, CA 90230',
    items: [
      'KS ORGANIC EGGS',
      'ROTISSERIE CHICKEN',
      'KS PAPER TOWELS',
      'BANANAS 3LB',
      'KS OLIVE OIL',
    ],
  },
  {
    name: "TRADER JOE'S",
    canonical: "Trader Joe's",
    category: 'Grocery store',
    street: '10850 National Blvd',
    city: 'Los Angeles, CA 90064',
    items: [
      'MANDARIN ORANGE CHICKEN',
      'EVERYTHING BAGEL SEASONING',
      'CAULIFLOWER GNOCCHI',
      'DARK CHOC PB CUPS',
      'GREEK YOGURT',
    ],
  },
  {
    name: 'WHOLE FOODS MARKET',
    canonical: 'Whole Foods Market',
    category: 'Grocery store',
    street: '11666 National Blvd',
    city: 'Los Angeles, CA 90064',
    items: [
      '365 ALMOND MILK',
      'ORGANIC AVOCADO',
      'SOURDOUGH LOAF',
      'WILD SALMON FILLET',
      'KOMBUCHA GINGER',
    ],
  },
  {
    name: 'TARGET',
    canonical: 'Target',
    category: 'Department store',
    street: '10820 Jefferson Blvd',
    city: 'Culver City, CA 90230',
    items: [
      'UP&UP TISSUES',
      'GOOD&GATHER PASTA',
      'PHONE CHARGER',
      'LAUNDRY DETERGENT',
      'TOOTHPASTE',
    ],
  },
  {
    name: 'CVS PHARMACY',
    canonical: 'CVS Pharmacy',
    category: 'Pharmacy',
    street: '3290 Motor Ave',
    city: 'Los Angeles, CA 90034',
    items: ['IBUPROFEN 200MG', 'VITAMIN D3', 'HAND SANITIZER', 'LIP BALM', 'COUGH DROPS'],
  },
  {
    name: 'SPROUTS FARMERS MKT',
    canonical: 'Sprouts Farmers Market',
    category: 'Grocery store',
    street: '3961 Sepulveda Blvd',
    city: 'Culver City, CA 90230',
    items: ['BULK ALMONDS', 'STRAWBERRIES 1LB', 'SPINACH BUNCH', 'OAT MILK', 'HONEYCRISP APPLE'],
  },
  {
    name: 'STARBUCKS',
    canonical: 'Starbucks',
    category: 'Coffee shop',
    street: '10000 Washington Blvd',
    city: 'Culver City, CA 90232',
    items: ['GRANDE LATTE', 'COLD BREW', 'BUTTER CROISSANT', 'EGG BITES', 'CHAI TEA LATTE'],
  },
  {
    name: 'THE HOME DEPOT',
    canonical: 'The Home Depot',
    category: 'Hardware store',
    street: '12975 W Jefferson Blvd',
    city: 'Los Angeles, CA 90066',
    items: ['LED BULB 4PK', 'PAINTERS TAPE', 'WOOD SCREWS', 'EXTENSION CORD', 'GARDEN HOSE'],
  },
];

const PROPOSERS = ['llm-labeler', 'pattern-matcher', 'human-review'] as const;

export interface DatasetOptions {
  /** How many receipts; default 200. */
  receipts?: number;
  /** PRNG seed; default 42. */
  seed?: number;
}

/**
 * Builds a realistic, reproducible set of receipts: merchants with addresses and phone
 * numbers, item lines with prices, subtotal, tax and total, and word labels
 * (MERCHANT_NAME, PRODUCT_NAME, LINE_TOTAL, SUBTOTAL, TAX, GRAND_TOTAL, DATE, PHONE_NUMBER)
 * mostly VALID, some PENDING.
 *
 * @example
 * const receipts = buildDataset({ receipts: 20, seed: 7 });
 */
export function buildDataset(options: DatasetOptions = {}): DemoReceipt[] {
  const rng = new SeededRandom(options.seed ?? 42);
  const count = options.receipts ?? 200;
  const receipts: DemoReceipt[] = [];
  for (let i = 0; i < count; i++) receipts.push(buildReceipt(rng, rng.uuid(), 1));
  return receipts;
}

/** Builds one receipt for a given image id (also used for receipts that arrive later). */
export function buildReceipt(rng: SeededRandom, imageId: string, receiptId: number): DemoReceipt {
  const merchant = rng.pick(MERCHANTS);
  const phone = `(310) ${rng.int(200, 999)}-${String(rng.int(0, 9999)).padStart(4, '0')}`;
  const place: DemoPlace = {
    merchant_name: merchant.name,
    canonical_merchant_name: merchant.canonical,
    merchant_category: merchant.category,
    address: `${merchant.street}, ${merchant.city}`,
    phone_number: phone,
    place_id: `ChIJ${rng.uuid().replace(/-/g, '').slice(0, 23)}`,
  };
  const texts: Array<{ text: string; labels: Array<string | undefined> }> = [];
  texts.push({ text: merchant.name, labels: merchant.name.split(' ').map(() => 'MERCHANT_NAME') });
  texts.push({ text: merchant.street.toUpperCase(), labels: [] });
  texts.push({ text: merchant.city.toUpperCase(), labels: [] });
  texts.push({ text: phone, labels: phone.split(' ').map(() => 'PHONE_NUMBER') });
  const month = rng.int(1, 12);
  const day = rng.int(1, 28);
  const date = `${String(month).padStart(2, '0')}/${String(day).padStart(2, '0')}/2026`;
  const time = `${rng.int(8, 21)}:${String(rng.int(0, 59)).padStart(2, '0')}`;
  texts.push({ text: `${date} ${time}`, labels: ['DATE', 'TIME'] });
  let subtotal = 0;
  const itemCount = rng.int(3, 12);
  for (let k = 0; k < itemCount; k++) {
    const item = rng.pick(merchant.items);
    const price = rng.int(99, 4999) / 100;
    subtotal += price;
    const words = item.split(' ');
    texts.push({
      text: `${item} ${price.toFixed(2)}`,
      labels: [...words.map(() => 'PRODUCT_NAME'), 'LINE_TOTAL'],
    });
  }
  const tax = Math.round(subtotal * 0.095 * 100) / 100;
  texts.push({ text: `SUBTOTAL ${subtotal.toFixed(2)}`, labels: [undefined, 'SUBTOTAL'] });
  texts.push({ text: `TAX ${tax.toFixed(2)}`, labels: [undefined, 'TAX'] });
  texts.push({ text: `TOTAL ${(subtotal + tax).toFixed(2)}`, labels: [undefined, 'GRAND_TOTAL'] });
  texts.push({ text: rng.pick(['VISA **** 4242', 'MASTERCARD **** 5100', 'CASH']), labels: [] });
  texts.push({ text: 'THANK YOU FOR SHOPPING', labels: [] });

  const lines: DemoLine[] = texts.map((t, index) => ({
    lineId: index + 1,
    text: t.text,
    words: t.text.split(' ').map((text, w) => {
      const label = t.labels[w];
      const labels: Record<string, WordLabelState> = {};
      if (label !== undefined) {
        const status: ValidationStatus = rng.chance(0.8) ? 'VALID' : 'PENDING';
        labels[label] = { status, proposedBy: rng.pick(PROPOSERS) };
      }
      return { wordId: w + 1, text, labels };
    }),
  }));
  return { imageId, receiptId, place, lines };
}

/** Number of line and word vectors a set of receipts yields. */
export function countVectors(receipts: readonly DemoReceipt[]): { lines: number; words: number } {
  let lines = 0;
  let words = 0;
  for (const r of receipts) {
    lines += r.lines.length;
    for (const l of r.lines) words += l.words.length;
  }
  return { lines, words };
}
