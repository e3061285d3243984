// docs/format.md's struct tables are generated from src/format/structs.ts, so the document
// cannot drift from the code: this test fails when they differ. Regenerate with
//   UPDATE_FORMAT_DOC=1 npx vitest run --project node test/node/format/format-doc.test.ts
import { describe, expect, it } from 'vitest';
import { readFile, writeFile } from 'node:fs/promises';
import * as S from '../../../src/format/structs.js';
import { ItemType } from '../../../src/format/constants.js';
import type { Struct } from '../../../src/format/struct.js';

const DOC = new URL('../../../docs/format.md', import.meta.url);
const BEGIN = '<!-- generated:structs begin -->';
const END = '<!-- generated:structs end -->';

function fieldsOf(s: Struct<any>): [string, number][] {
  return Object.entries(s.off as Record<string, number>);
}
function table(s: Struct<any>): string {
  const f = fieldsOf(s);
  const rows = f.map(([name, off], i) => {
    const size = (i + 1 < f.length ? f[i + 1][1] : s.size) - off;
    return `| ${off} | 0x${off.toString(16)} | ${size} | ${name} |`;
  });
  return [`### ${s.name} (${s.size} bytes)`, '', '| offset | hex | size | field |', '|---|---|---|---|', ...rows].join('\n');
}

function generate(): string {
  const structs = Object.values(S).filter((v): v is Struct<any> => typeof v === 'object' && v !== null && 'off' in v && 'size' in v && 'name' in v);
  const parts = [BEGIN, '', '## Structs', '', 'Generated from `src/format/structs.ts`; all integers little-endian, packed (no padding).', ''];
  for (const s of structs) parts.push(table(s), '');
  parts.push('## Item types (the key\'s type byte)', '', '| type | name |', '|---|---|');
  for (const [name, v] of Object.entries(ItemType)) parts.push(`| ${v} | ${name} |`);
  parts.push('', END);
  return parts.join('\n');
}

describe('docs/format.md', () => {
  it('lists every struct and item type exactly as the code declares them', async () => {
    const doc = await readFile(DOC, 'utf8');
    const want = generate();
    const a = doc.indexOf(BEGIN);
    const b = doc.indexOf(END);
    if (process.env.UPDATE_FORMAT_DOC) {
      const next = a >= 0 && b > a ? doc.slice(0, a) + want + doc.slice(b + END.length) : `${doc.trimEnd()}\n\n${want}\n`;
      await writeFile(DOC, next);
      return;
    }
    expect(a, 'docs/format.md has no generated section: run with UPDATE_FORMAT_DOC=1').toBeGreaterThanOrEqual(0);
    expect(doc.slice(a, b + END.length)).toBe(want);
  });
});
